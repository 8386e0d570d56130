// Shared by the tests: a guard for the capture policy, small readers of misc
// entries, waits and guards for threaded tests, and out-of-memory simulation
// (every form of operator new, throwing and nothrow, is replaced in
// support_oom.cpp).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <strata/error.hpp>
#include <strata/stack.hpp>

// Sanitizer runtimes define operator new and delete themselves (a link error with
// clang's static runtimes), so the out-of-memory tests are left out of those builds.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define STRATA_TEST_REPLACE_NEW 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define STRATA_TEST_REPLACE_NEW 0
#endif
#endif
#ifndef STRATA_TEST_REPLACE_NEW
#define STRATA_TEST_REPLACE_NEW 1
#endif

namespace strata_test {

// The whole contents of a file (empty if it cannot be read).
inline std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// Restores the capture policy in force when it was made.
class policy_guard {
public:
    policy_guard() noexcept : saved_(strata::get_capture_policy()) {}
    ~policy_guard() { strata::set_capture_policy(saved_); }
    policy_guard(const policy_guard&) = delete;
    policy_guard& operator=(const policy_guard&) = delete;

private:
    strata::capture_policy saved_;
};

// A misc entry's integer value, or `missing`; its string value, or "<missing>";
// the outermost message as a std::string.
inline constexpr std::int64_t missing = -999999;
inline std::int64_t misc_int(const strata::error& e, std::string_view key) {
    const auto v = e.misc().find(key);
    return v ? v->as_signed() : missing;
}
inline std::string misc_str(const strata::error& e, std::string_view key) {
    const auto v = e.misc().find(key);
    return v ? std::string(v->as_string()) : std::string("<missing>");
}
inline std::string msg(const strata::error& e) { return std::string(e.message()); }

// The outermost frame's secondary error with this label (empty if none).
inline strata::error secondary(const strata::error& e, std::string_view label) {
    const strata::secondary_view v = e.secondaries();
    for (auto it = v.begin(); it != v.end(); ++it)
        if (it.label() == label) return *it;
    return {};
}
// Why a canceled_by(token) error says it stopped: its "stopped because" secondary.
inline strata::error stopped_because(const strata::error& e) { return secondary(e, "stopped because"); }

// Blocks until the token is stopped: no timed wait, the stop is the only way out
// (so tests that need a task to be late never depend on the clock).
inline void wait_for_stop(const std::stop_token& token) {
    std::mutex m;
    std::condition_variable_any cv;
    std::unique_lock lock(m);
    cv.wait(lock, token, [] { return false; });
}

// Waits until pred() holds, or `limit` passes (false then).
template <class P>
bool wait_until(P pred, std::chrono::seconds limit = std::chrono::seconds(60)) {
    const auto give_up = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > give_up) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

// A safety net for a test whose failure would be a hang: unless it is destroyed
// within `limit`, it calls rescue() (once, on a thread of its own), which ends the
// wait another way so that the test fails on its checks instead of hanging. It
// never fires when the library works: the limit is far beyond what any stop takes.
class hang_guard {
public:
    template <class F>
    hang_guard(std::chrono::seconds limit, F rescue)
        : thread_([this, limit, rescue = std::move(rescue)]() mutable {
              std::unique_lock lock(m_);
              if (cv_.wait_for(lock, limit, [this] { return done_; })) return;
              lock.unlock();
              rescue();
          }) {}
    ~hang_guard() {
        {
            std::lock_guard lock(m_);
            done_ = true;
        }
        cv_.notify_all();
        thread_.join();
    }
    hang_guard(const hang_guard&) = delete;
    hang_guard& operator=(const hang_guard&) = delete;

private:
    std::mutex m_;
    std::condition_variable cv_;
    bool done_ = false;
    std::thread thread_;  // last: it uses the others
};

// Runs fn(0) ... fn(n - 1) on n threads that start together (to make them race),
// and joins them.
template <class F>
void run_together(int n, F fn) {
    std::atomic<int> ready{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < n; ++t) {
        threads.emplace_back([&, t] {
            ready.fetch_add(1);
            while (ready.load() < n) std::this_thread::yield();
            fn(t);
        });
    }
    for (std::thread& th : threads) th.join();
}

#if STRATA_TEST_REPLACE_NEW
// > 0: fail that many more nothrow allocations; < 0: fail them all; 0: allocate.
extern std::atomic<int> fail_nothrow_new;
// Nothrow allocations made so far (strata allocates frames and misc entries so).
extern std::atomic<long> nothrow_allocations;

// While it lives, nothrow allocations fail (all of them, or the next `failures`).
class out_of_memory {
public:
    explicit out_of_memory(int failures = -1) noexcept { fail_nothrow_new.store(failures); }
    ~out_of_memory() { fail_nothrow_new.store(0); }
    out_of_memory(const out_of_memory&) = delete;
    out_of_memory& operator=(const out_of_memory&) = delete;
};

// Allocation failures injected on purpose, for sweeping every allocation of an
// operation. While an allocation_faults lives, every allocation the calling thread
// asks of operator new (any form: throwing or nothrow, single or array, aligned or
// not) is counted, 1, 2, 3, ..., and the chosen ones fail: the throwing forms throw
// std::bad_alloc, the nothrow forms return nullptr. Other threads are neither
// counted nor failed. (Built without exceptions, only the nothrow forms fail.)
enum class fail_mode {
    none,      // count only
    only_nth,  // fail the nth allocation from now, and no other
    from_nth,  // fail the nth allocation from now and every one after it
};

// Nests: the innermost one in force decides, and the outer one takes over again
// (with its own counts) when the inner one ends.
class allocation_faults {
public:
    explicit allocation_faults(fail_mode mode = fail_mode::none, long nth = 1) noexcept;
    ~allocation_faults();
    allocation_faults(const allocation_faults&) = delete;
    allocation_faults& operator=(const allocation_faults&) = delete;

    // Allocations asked for since this was made (the failed ones included).
    long allocations() const noexcept;
    // How many of them failed on purpose.
    long failures() const noexcept;

    // The calling thread's state; in support_oom.cpp, where operator new reads it.
    struct state {
        bool armed = false;
        fail_mode mode = fail_mode::none;
        long nth = 0;
        long count = 0;
        long failed = 0;
    };

private:
    state saved_;
};
#endif

}  // namespace strata_test
