// A plugin (dlopen'ed by pool_plugin_main.cpp) whose code is the first in the
// process to use the thread API: its group's tasks start the process-wide pool's
// threads, its with_timeout and heartbeat the timer's. Built with
// -fvisibility=hidden, as the other test modules: the code those threads run is
// this plugin's own copy of strata's.
#include <strata/strata.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stop_token>
#include <thread>

using namespace std::chrono_literals;

namespace {

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

}  // namespace

// 0 when everything worked; otherwise a bit per part that failed.
extern "C" __attribute__((visibility("default"))) int strata_test_pool_plugin_run() {
    int failed = 0;
    // A group whose tasks each run a with_timeout that returns in time.
    std::atomic<int> ran{0};
    {
        strata::task_group g(4);
        for (int k = 0; k < 50; ++k)
            g.spawn([&](std::stop_token) -> strata::result<void> {
                return strata::with_timeout(10s, [&](std::stop_token) -> strata::result<void> {
                    ++ran;
                    return {};
                });
            });
        if (!g.wait() || ran.load() != 50) failed |= 1;
    }
    // Tasks that block until the last one runs: the pool grows, from this code.
    {
        gate last;
        strata::task_group g;
        for (int k = 1; k <= 16; ++k)
            g.spawn([&, k](std::stop_token) -> strata::result<void> {
                if (k == 16) {
                    last.open();
                } else {
                    last.wait();
                }
                return {};
            });
        if (!g.wait()) failed |= 2;
    }
    // A with_timeout that the timer must stop.
    {
        const strata::result<void> r = strata::with_timeout(
            20ms, strata::timeout_options{.operation = "in the plugin"}, [](std::stop_token token) -> strata::result<void> {
                wait_for_stop(token);
                return strata::canceled_by(token);
            });
        if (r || !r.error().is<strata::timed_out>()) failed |= 4;
    }
    // A group with a heartbeat: checks in the timer, from this code.
    {
        strata::task_group g(strata::task_group_options{.heartbeat = 200ms});
        for (int k = 0; k < 4; ++k)
            g.spawn([](std::stop_token) -> strata::result<void> {
                for (int i = 0; i < 100; ++i) {
                    strata::beat();
                    std::this_thread::sleep_for(1ms);
                }
                return {};
            });
        if (!g.wait()) failed |= 8;
    }
    return failed;
}
