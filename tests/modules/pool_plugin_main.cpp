// The process-wide pool and timer outlive the plugin that started them: a plugin
// (pool_plugin.cpp) is the first to run a group, a with_timeout and a heartbeat
// in this process, and is then dlclose'd; the executable's own groups and
// timeouts after that run on those threads without crashing (the threads must
// not run the unloaded plugin's code: the module that starts them stays loaded).
// Twice over: the plugin is loaded and closed again once the executable has used
// the pool itself.
#include <strata/strata.hpp>

#include <dlfcn.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <stop_token>
#include <thread>

using namespace std::chrono_literals;

namespace {

int failures = 0;
int passed = 0;

void check(bool ok, const char* what) {
    std::printf("%s: %s\n", ok ? "ok" : "FAILED", what);
    std::fflush(stdout);
    (ok ? passed : failures) += 1;
}

// A flag tasks block on until it is opened. Not std::atomic::wait: libstdc++'s
// waiter pool is an STB_GNU_UNIQUE symbol, which would keep the plugin loaded.
class gate {
public:
    void open() {
        {
            const std::lock_guard lock(m_);
            open_ = true;
        }
        cv_.notify_all();
    }
    void wait() {
        std::unique_lock lock(m_);
        cv_.wait(lock, [this] { return open_; });
    }

private:
    std::mutex m_;
    std::condition_variable cv_;
    bool open_ = false;
};

// Not std::condition_variable_any: it makes a std::shared_ptr, whose type tag is
// an STB_GNU_UNIQUE symbol too.
void wait_for_stop(const std::stop_token& token) {
    gate stopped;
    const std::stop_callback on_stop(token, [&] { stopped.open(); });
    stopped.wait();
}

// The plugin's part: load, run, close. False if it could not be loaded.
bool run_plugin(int round) {
    void* h = dlopen(STRATA_TEST_POOL_PLUGIN, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        std::printf("dlopen: %s\n", dlerror());
        return false;
    }
    auto run = reinterpret_cast<int (*)()>(dlsym(h, "strata_test_pool_plugin_run"));
    if (!run) {
        std::printf("dlsym failed\n");
        dlclose(h);
        return false;
    }
    const int r = run();
    if (r) std::printf("the plugin's parts that failed: %d\n", r);
    check(r == 0, round == 1 ? "the plugin ran a group, with_timeouts and a heartbeat (first in the process)"
                             : "the plugin ran them again (the pool already running)");
    check(dlclose(h) == 0, "dlclose");
    void* probe = dlopen(STRATA_TEST_POOL_PLUGIN, RTLD_NOW | RTLD_NOLOAD);
    const bool still_loaded = probe != nullptr;
    if (probe) dlclose(probe);  // the reference the probe took
    std::printf("note: after dlclose the plugin is %s\n", still_loaded ? "still loaded (pinned)" : "unloaded");
    return true;
}

// The executable's part, on threads the plugin may have started.
void run_here(const char* when) {
    std::printf("-- the executable's work, %s\n", when);
    std::atomic<int> ran{0};
    strata::task_group g(4);
    for (int k = 0; k < 100; ++k)
        g.spawn([&](std::stop_token) -> strata::result<void> {
            ++ran;
            return {};
        });
    check(g.wait().has_value() && ran.load() == 100, "a group of 100 tasks");
    gate last;
    strata::task_group blocking;
    for (int k = 1; k <= 24; ++k)
        blocking.spawn([&, k](std::stop_token) -> strata::result<void> {
            if (k == 24) {
                last.open();
            } else {
                last.wait();
            }
            return {};
        });
    check(blocking.wait().has_value(), "24 tasks blocked until the last one ran");
    const strata::result<void> t = strata::with_timeout(
        20ms, strata::timeout_options{.operation = "in the executable"}, [](std::stop_token token) -> strata::result<void> {
            wait_for_stop(token);
            return strata::canceled_by(token);
        });
    check(!t && t.error().is<strata::timed_out>(), "a with_timeout stopped by the timer");
    strata::task_group hb(strata::task_group_options{.heartbeat = 200ms});
    hb.spawn([](std::stop_token) -> strata::result<void> {
        for (int i = 0; i < 100; ++i) {
            strata::beat();
            std::this_thread::sleep_for(1ms);
        }
        return {};
    });
    check(hb.wait().has_value(), "a group with a heartbeat");
}

}  // namespace

int main() {
    if (!run_plugin(1)) return 1;
    run_here("right after the plugin was closed");
    std::this_thread::sleep_for(2s);  // idle threads, timer entries: whatever the pool does meanwhile
    run_here("two seconds later");
    if (!run_plugin(2)) return 1;
    run_here("after the second close");
    std::printf("%d passed, %d failed\n", passed, failures);
    return failures ? 1 : 0;
}
