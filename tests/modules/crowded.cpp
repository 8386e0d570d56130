// The anchor's first candidate addresses are taken before strata starts: one by
// readable memory that is not strata's, one by memory that cannot be read (a
// guard page). The plugin that uses strata first meets the next candidate, and
// the executable finds it there: still one state, and nothing read that faults.
#include "module_api.hpp"

#include <dlfcn.h>
#include <sys/mman.h>

#include <cstdio>
#include <cstring>
#include <string>

int main() {
    void* junk = reinterpret_cast<void*>(strata::detail::anchor_address(0));
    void* guard = reinterpret_cast<void*>(strata::detail::anchor_address(1));
    if (mmap(junk, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) != junk ||
        mmap(guard, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) != guard)
        return std::printf("could not take the first two candidates\n"), 1;
    std::memset(junk, 0x5a, 4096);

    void* h = dlopen(STRATA_TEST_PLUGIN1, RTLD_NOW | RTLD_LOCAL);
    if (!h) return std::printf("dlopen: %s\n", dlerror()), 1;
    auto entry = reinterpret_cast<module_entry>(dlsym(h, "strata_test_module_plugin1"));
    if (!entry) return std::printf("dlsym failed\n"), 1;
    const module_api* p = entry();
    int failures = 0;
    auto check = [&](bool ok, const char* what) {
        std::printf("%s: %s\n", ok ? "ok" : "FAILED", what);
        failures += !ok;
    };
    check(p->shared(), "the plugin made the state past the taken candidates");
    const std::string plugin_id = p->handle_id(p->make("made in the plugin"));
    const std::string exe_id = strata::handle(strata::make_error<strata::low_level>("made in the executable")).id;
    check(strata::detail::process_state_shared(), "the executable found it");
    check(exe_id.substr(0, 10) == plugin_id.substr(0, 10) && exe_id != plugin_id, "one prefix, two numbers");
    check(static_cast<unsigned char*>(junk)[0] == 0x5a, "the memory that was not strata's is untouched");
    std::printf("%d passed, %d failed\n", 4 - failures, failures);
    return failures ? 1 : 0;
}
