// Eight threads use strata for the first time in the process at the same moment
// (and a plugin is opened meanwhile): they meet one state (one ID prefix, distinct
// numbers), and under ThreadSanitizer the meeting itself is race-free.
#include "module_api.hpp"

#include <dlfcn.h>

#include <atomic>
#include <cstdio>
#include <set>
#include <string>
#include <thread>
#include <vector>

int main() {
    constexpr int threads = 8;
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    std::vector<std::string> ids(threads + 1);
    std::vector<std::thread> pool;
    for (int i = 0; i < threads; ++i)
        pool.emplace_back([&, i] {
            ready.fetch_add(1);
            while (!go.load()) {
            }
            ids[i] = strata::handle(strata::make_error<strata::low_level>("first use on thread {}", i)).id;
        });
    while (ready.load() != threads) {
    }
    go.store(true);
    void* h = dlopen(STRATA_TEST_PLUGIN1, RTLD_NOW | RTLD_LOCAL);
    if (!h) return std::printf("dlopen: %s\n", dlerror()), 1;
    auto entry = reinterpret_cast<module_entry>(dlsym(h, "strata_test_module_plugin1"));
    if (!entry) return std::printf("dlsym failed\n"), 1;
    ids[threads] = entry()->handle_id(entry()->make("first use in the plugin"));
    for (auto& t : pool) t.join();
    std::set<std::string> prefixes, all;
    for (const std::string& id : ids) {
        prefixes.insert(id.substr(0, 10));
        all.insert(id);
    }
    const bool one_state = prefixes.size() == 1, distinct = all.size() == ids.size();
    std::printf("%s: one ID prefix across threads and the plugin\n%s: every ID distinct\n", one_state ? "ok" : "FAILED",
                distinct ? "ok" : "FAILED");
    const int failed = !one_state + !distinct;
    std::printf("%d passed, %d failed\n", 2 - failed, failed);
    dlclose(h);
    return failed ? 1 : 0;
}
