// The scenarios of issue 13's table, for one C++ implementation at a time, in a
// fresh process (bench/scale.sh launches it once per measurement):
//
//   scale_bench IMPL SCENARIO N
//
// IMPL: strata_thread (task_group, with_timeout, first_of), strata_coro
// (<strata/asio.hpp>, when it exists), asio (Boost.Asio coroutines on one
// io_context run by the main thread), strata_coro_cores and asio_cores (the
// same over one io_context per CPU, each run by its own thread; the group
// scenarios, and sleep for asio_cores), tbb (oneTBB, when built with it),
// os_threads (the floor of blocking OS threads, written by hand: first_of8's
// replicas on 7 parked std::threads and the caller, with a condition variable;
// sleep and fail_half on 1000 std::threads taking tasks from a counter).
// SCENARIO:
//   sleep          N tasks each sleeping 1 ms, no limit
//   sleep_limit16  the same, at most 16 running
//   fail_half      N tasks of 1 ms; task N/2 fails after its 1 ms and the rest
//                  stop (a task that sees the stop returns at once, a sleeping
//                  one is woken); ok when the failure reported is task N/2's
//   alive          N tasks alive at once: each waits until all N have started
//   timeout_ok     N calls of a with_timeout (1 s) whose function returns at
//                  once: ns per call
//   first_of8      N rounds of first_of with 8 replicas, replica k sleeping k ms
//                  (interruptibly): the median, over the rounds, of the time the
//                  round took beyond the winning replica's own time, in us
//   heartbeat      10 rounds of: N tasks alive at once, each beating every 1 ms
//                  for 1 s, a 100 ms heartbeat required (strata only): ok when
//                  no round reports a stall; `false_stalls` counts the rounds
//                  that did, `starved_waits` the tasks reported starved
//   stall_detect   N rounds of: a task (heartbeat 100 ms) blocks on a mutex;
//                  the time from its last beat to its stop, median and worst
//                  (ms), and whether it was reported stalled and "blocked"
//
// Prints one JSON line: impl, scenario, n, wall_ms, threads_created (every
// pthread_create of the process, counted by the interposer below, so that it
// counts Asio's and TBB's threads as well as strata's), peak_rss_mb (ru_maxrss),
// ok, and the scenario's own fields.
#include <strata/cancel.hpp>
#include <strata/error.hpp>
#include <strata/result.hpp>
#include <strata/task_group.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <latch>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <dlfcn.h>
#include <pthread.h>
#include <sys/resource.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#if __has_include(<strata/asio.hpp>)
#include <strata/asio.hpp>
#define SCALE_HAS_STRATA_CORO 1
#else
#define SCALE_HAS_STRATA_CORO 0
#endif

#ifndef SCALE_HAS_TBB  // set by bench/CMakeLists.txt when oneTBB is found
#define SCALE_HAS_TBB 0
#endif
#if SCALE_HAS_TBB
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>
#endif

// ---- threads created: every pthread_create of the process -------------------

namespace {
std::atomic<long> threads_created{0};
}

extern "C" int pthread_create(pthread_t* thread, const pthread_attr_t* attr, void* (*start)(void*), void* arg) {
    using fn_t = int (*)(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*);
    static const fn_t real = reinterpret_cast<fn_t>(dlsym(RTLD_NEXT, "pthread_create"));
    threads_created.fetch_add(1, std::memory_order_relaxed);
    return real(thread, attr, start, arg);
}

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

double ms_since(clock_type::time_point t0) {
    return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
}

double peak_rss_mb() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_maxrss) / 1024.0;
}

// What a run reports beyond the common fields: ok, and "key": value pairs
// already in JSON.
struct outcome {
    bool ok = false;
    std::string extra;
    void add(const char* key, double v) {
        char buf[96];
        std::snprintf(buf, sizeof buf, ", \"%s\": %.3f", key, v);
        extra += buf;
    }
    void add(const char* key, long long v) {
        char buf[96];
        std::snprintf(buf, sizeof buf, ", \"%s\": %lld", key, v);
        extra += buf;
    }
    void add(const char* key, const std::string& v) {
        extra += ", \"";
        extra += key;
        extra += "\": \"";
        for (char c : v) {
            if (c == '"' || c == '\\') extra += '\\';
            if (static_cast<unsigned char>(c) >= 0x20) extra += c;
        }
        extra += '"';
    }
};

// Tasks running at once, and the most seen.
struct concurrency {
    std::atomic<long> now{0}, peak{0}, done{0};
    void enter() {
        const long n = now.fetch_add(1) + 1;
        long p = peak.load();
        while (n > p && !peak.compare_exchange_weak(p, n)) {
        }
    }
    void leave() {
        now.fetch_sub(1);
        done.fetch_add(1);
    }
};

double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// Sleeps for d unless the token is stopped first; false when it was stopped.
bool sleep_unless_stopped(std::stop_token token, clock_type::duration d) {
    std::mutex m;
    std::condition_variable_any cv;
    std::unique_lock lock(m);
    return !cv.wait_for(lock, token, d, [] { return false; }) && !token.stop_requested();
}

// ---- strata's thread API -----------------------------------------------------

outcome strata_thread(const std::string& scenario, long n) {
    outcome o;
    if (scenario == "sleep" || scenario == "sleep_limit16") {
        concurrency c;
        strata::task_group g(strata::task_group_options{.max_running = scenario == "sleep" ? 0u : 16u});
        for (long i = 0; i < n; ++i)
            g.spawn([&c](std::stop_token) -> strata::result<void> {
                c.enter();
                std::this_thread::sleep_for(1ms);
                c.leave();
                return {};
            });
        const strata::result<void> r = g.wait();
        o.ok = r && c.done == n && (scenario == "sleep" || c.peak <= 16);
        o.add("completed", static_cast<long long>(c.done));
        o.add("peak_running", static_cast<long long>(c.peak));
    } else if (scenario == "fail_half") {
        std::atomic<long> completed{0}, stopped{0};
        strata::task_group g;
        for (long i = 0; i < n; ++i)
            g.spawn([&, i](std::stop_token token) -> strata::result<void> {
                if (token.stop_requested()) {
                    ++stopped;
                    return strata::canceled_by(token);
                }
                if (!sleep_unless_stopped(token, 1ms)) {
                    ++stopped;
                    return strata::canceled_by(token);
                }
                if (i == n / 2) return strata::make_error<strata::low_level>("task {} failed", i);
                ++completed;
                return {};
            });
        strata::result<void> r = g.wait();
        long long failed_task = -1;
        if (!r) {
            if (auto v = r.error().misc().find("failed_task")) failed_task = v->as_signed();
        }
        // failed_task counts from 1 in spawn order: the task with i == n/2 is n/2 + 1.
        o.ok = !r && failed_task == n / 2 + 1;
        o.add("failed_task", failed_task - 1);
        o.add("completed", static_cast<long long>(completed));
        o.add("stopped", static_cast<long long>(stopped));
        if (!r) o.add("error", fmt::format("{}", r.error()));
    } else if (scenario == "alive") {
        std::latch all(n);
        strata::task_group g;
        for (long i = 0; i < n; ++i)
            g.spawn([&all](std::stop_token) -> strata::result<void> {
                all.arrive_and_wait();
                return {};
            });
        const strata::result<void> r = g.wait();
        o.ok = static_cast<bool>(r);
        if (!r) o.add("error", fmt::format("{}", r.error()));
    } else if (scenario == "timeout_ok") {
        const long before = threads_created;
        long good = 0;
        const auto t0 = clock_type::now();
        for (long i = 0; i < n; ++i) {
            const strata::result<void> r = strata::with_timeout(1s, [](std::stop_token) -> strata::result<void> {
                return {};
            });
            good += r ? 1 : 0;
        }
        const double ms = ms_since(t0);
        o.ok = good == n;
        o.add("ns_per_call", ms * 1e6 / static_cast<double>(n));
        o.add("threads_per_call", static_cast<double>(threads_created - before) / static_cast<double>(n));
    } else if (scenario == "first_of8") {
        std::vector<double> added;
        long good = 0;
        for (long round = 0; round < n; ++round) {
            std::atomic<double> winner_us{-1.0};
            auto replica = [&winner_us](int k) {
                return [&winner_us, k](std::stop_token token) -> strata::result<void> {
                    const auto t0 = clock_type::now();
                    if (!sleep_unless_stopped(token, std::chrono::milliseconds(k))) return strata::canceled_by(token);
                    double none = -1.0;
                    winner_us.compare_exchange_strong(none, ms_since(t0) * 1000.0);
                    return {};
                };
            };
            const auto t0 = clock_type::now();
            const strata::result<void> r = strata::first_of(replica(1), replica(2), replica(3), replica(4), replica(5),
                                                            replica(6), replica(7), replica(8));
            const double us = ms_since(t0) * 1000.0;
            if (r && winner_us >= 0) {
                ++good;
                added.push_back(us - winner_us);
            }
        }
        o.ok = good == n;
        o.add("added_us", median(added));
    } else if (scenario == "heartbeat") {
        long stalled_rounds = 0, starved = 0;
        std::string first_error;
        for (int round = 0; round < 10; ++round) {
            strata::task_group g(strata::task_group_options{.heartbeat = 100ms});
            for (long i = 0; i < n; ++i)
                g.spawn([](std::stop_token token) -> strata::result<void> {
                    const auto until = clock_type::now() + 1s;
                    while (clock_type::now() < until && !token.stop_requested()) {
                        std::this_thread::sleep_for(1ms);
                        strata::beat();
                    }
                    return {};
                });
            const strata::result<void> r = g.wait();
            if (!r) {
                const auto reason = r.error().misc().find("stop_reason");
                if (reason && reason->as_string() == "starved")
                    ++starved;
                else
                    ++stalled_rounds;
                if (first_error.empty()) first_error = fmt::format("{}", r.error());
            }
        }
        o.ok = stalled_rounds == 0;
        o.add("false_stalls", static_cast<long long>(stalled_rounds));
        o.add("starved_rounds", static_cast<long long>(starved));
        if (!first_error.empty()) o.add("error", first_error);
    } else if (scenario == "stall_detect") {
        std::vector<double> detect;
        long right = 0;
        for (long round = 0; round < n; ++round) {
            std::mutex m;
            std::atomic<long long> last_beat_ns{0};
            std::atomic<long long> stopped_ns{0};
            std::atomic<bool> locked{false};
            std::thread holder([&] {  // holds the mutex until the task is stopped
                std::lock_guard hold(m);
                locked = true;
                while (stopped_ns == 0) std::this_thread::sleep_for(1ms);
            });
            while (!locked) std::this_thread::sleep_for(1ms);
            strata::task_group g(strata::task_group_options{.heartbeat = 100ms});
            g.spawn([&](std::stop_token token) -> strata::result<void> {
                std::stop_callback on_stop(token, [&] { stopped_ns = clock_type::now().time_since_epoch().count(); });
                strata::beat();
                last_beat_ns = clock_type::now().time_since_epoch().count();
                std::lock_guard blocked(m);  // blocked until the stop
                return {};
            });
            const strata::result<void> r = g.wait();
            holder.join();
            const auto reason = r ? std::nullopt : r.error().misc().find("stop_reason");
            const auto state = r ? std::nullopt : r.error().misc().find("thread_state");
            if (reason && reason->as_string() == "heartbeat" && state && state->as_string() == "blocked") ++right;
            detect.push_back(static_cast<double>(stopped_ns - last_beat_ns) / 1e6);
        }
        o.ok = right == n;
        o.add("detect_ms", median(detect));
        o.add("worst_detect_ms", *std::max_element(detect.begin(), detect.end()));
    } else {
        o.add("error", "scenario not run by strata_thread");
    }
    return o;
}

// ---- Boost.Asio coroutines, and strata's coroutine API -----------------------
// One io_context, run by the main thread (Asio's usual idiom: a context per
// thread); the tasks are coroutines, the 1 ms a steady_timer.

asio::awaitable<void> sleep_ms(clock_type::duration d) {
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    co_await t.async_wait(asio::use_awaitable);
}

// A gate that opens when all n have arrived: the last one opens it, the others
// wait on a timer that never expires until then (one thread: no lock).
struct gate {
    asio::steady_timer timer;
    long left;
    gate(asio::io_context& io, long n) : timer(io, clock_type::time_point::max()), left(n) {}
    asio::awaitable<void> arrive_and_wait() {
        if (--left == 0) {
            timer.expires_at(clock_type::time_point::min());  // wakes the waiters, and any later wait passes
            co_return;
        }
        boost::system::error_code ec;
        co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
};

outcome asio_peer(const std::string& scenario, long n) {
    outcome o;
    asio::io_context io(1);
    if (scenario == "sleep") {
        concurrency c;
        for (long i = 0; i < n; ++i)
            asio::co_spawn(io, [&c]() -> asio::awaitable<void> {
                c.enter();
                co_await sleep_ms(1ms);
                c.leave();
            }, asio::detached);
        io.run();
        o.ok = c.done == n;
        o.add("completed", static_cast<long long>(c.done));
    } else if (scenario == "sleep_limit16") {
        // At most 16 running: 16 worker coroutines take the tasks from a counter.
        concurrency c;
        long next = 0;
        for (int w = 0; w < 16; ++w)
            asio::co_spawn(io, [&]() -> asio::awaitable<void> {
                while (next < n) {
                    ++next;
                    c.enter();
                    co_await sleep_ms(1ms);
                    c.leave();
                }
            }, asio::detached);
        io.run();
        o.ok = c.done == n && c.peak <= 16;
        o.add("completed", static_cast<long long>(c.done));
        o.add("peak_running", static_cast<long long>(c.peak));
    } else if (scenario == "fail_half") {
        // The first failure cancels every timer still waiting (one cancellation
        // signal per task, emitted at the failure), and later tasks see the flag.
        long failed_task = -1, completed = 0, stopped = 0;
        std::vector<asio::cancellation_signal> signals(static_cast<std::size_t>(n));
        for (long i = 0; i < n; ++i)
            asio::co_spawn(io, [&, i]() -> asio::awaitable<void> {
                if (failed_task >= 0) {
                    ++stopped;
                    co_return;
                }
                asio::steady_timer t(co_await asio::this_coro::executor, 1ms);
                boost::system::error_code ec;
                co_await t.async_wait(asio::bind_cancellation_slot(
                    signals[static_cast<std::size_t>(i)].slot(), asio::redirect_error(asio::use_awaitable, ec)));
                if (ec || failed_task >= 0) {
                    ++stopped;
                    co_return;
                }
                if (i == n / 2) {
                    failed_task = i;
                    for (auto& s : signals) s.emit(asio::cancellation_type::terminal);
                    co_return;
                }
                ++completed;
            }, asio::detached);
        io.run();
        o.ok = failed_task == n / 2;
        o.add("failed_task", static_cast<long long>(failed_task));
        o.add("completed", static_cast<long long>(completed));
        o.add("stopped", static_cast<long long>(stopped));
    } else if (scenario == "alive") {
        gate g(io, n);
        long done = 0;
        for (long i = 0; i < n; ++i)
            asio::co_spawn(io, [&]() -> asio::awaitable<void> {
                co_await g.arrive_and_wait();
                ++done;
            }, asio::detached);
        io.run();
        o.ok = done == n;
    } else if (scenario == "timeout_ok") {
        // The Asio idiom: the operation || a timer (awaitable_operators).
        using namespace asio::experimental::awaitable_operators;
        long good = 0;
        const auto t0 = clock_type::now();
        asio::co_spawn(io, [&]() -> asio::awaitable<void> {
            for (long i = 0; i < n; ++i) {
                asio::steady_timer t(co_await asio::this_coro::executor, 1s);
                auto fn = []() -> asio::awaitable<int> { co_return 1; };
                auto r = co_await (fn() || t.async_wait(asio::use_awaitable));
                good += r.index() == 0 ? 1 : 0;
            }
        }, asio::detached);
        io.run();
        const double ms = ms_since(t0);
        o.ok = good == n;
        o.add("ns_per_call", ms * 1e6 / static_cast<double>(n));
    } else if (scenario == "first_of8") {
        // r1 || ... || r8: the first to finish wins, the others are canceled and
        // waited for.
        using namespace asio::experimental::awaitable_operators;
        std::vector<double> added;
        asio::co_spawn(io, [&]() -> asio::awaitable<void> {
            for (long round = 0; round < n; ++round) {
                double winner_us = -1;
                auto replica = [&winner_us](int k) -> asio::awaitable<void> {
                    const auto t0 = clock_type::now();
                    co_await sleep_ms(std::chrono::milliseconds(k));  // throws when canceled
                    if (winner_us < 0) winner_us = ms_since(t0) * 1000.0;
                };
                const auto t0 = clock_type::now();
                co_await (replica(1) || replica(2) || replica(3) || replica(4) || replica(5) || replica(6) ||
                          replica(7) || replica(8));
                const double us = ms_since(t0) * 1000.0;
                if (winner_us >= 0) added.push_back(us - winner_us);
            }
        }, asio::detached);
        io.run();
        o.ok = static_cast<long>(added.size()) == n;
        o.add("added_us", median(added));
    } else {
        o.add("error", "scenario not run by asio");
    }
    return o;
}

// One io_context(1) per CPU, each run by a thread of its own (the main thread
// runs the first): Asio's "a context per thread" idiom over the whole machine,
// as Go's scheduler uses every CPU. The contexts run until work() is dropped.
struct per_cpu_contexts {
    std::vector<std::unique_ptr<asio::io_context>> io;
    std::vector<asio::any_io_executor> executors;
    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;

    per_cpu_contexts() {
        const unsigned k = std::max(1u, std::thread::hardware_concurrency());
        for (unsigned i = 0; i < k; ++i) {
            io.push_back(std::make_unique<asio::io_context>(1));
            executors.push_back(io.back()->get_executor());
            guards.push_back(asio::make_work_guard(*io.back()));
        }
    }
    // Lets context i (every context) end once out of work. A context whose
    // guard goes before it had work is stopped: release it after its spawns.
    void release(std::size_t i) { guards[i].reset(); }
    void release() {
        for (auto& g : guards) g.reset();
    }
    // Runs every context until each is out of work; `before(i)` first, on the
    // thread of context i.
    template <class F>
    void run(F before) {
        std::vector<std::thread> threads;
        for (std::size_t i = 1; i < io.size(); ++i)
            threads.emplace_back([this, i, &before] {
                before(i);
                io[i]->run();
            });
        before(0);
        io[0]->run();
        for (auto& t : threads) t.join();
    }
    void run() {
        run([](std::size_t) {});
    }
};

// strata's coroutine groups over per_cpu_contexts (task_group's constructor
// that takes several executors).
#if SCALE_HAS_STRATA_CORO
using coro_result = asio::awaitable<strata::result<void>>;

// Sleeps for d on a steady_timer unless the token is stopped first (the stop
// cancels the timer); false when it was stopped.
asio::awaitable<bool> co_sleep_unless_stopped(std::stop_token token, clock_type::duration d) {
    if (token.stop_requested()) co_return false;
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    std::stop_callback on_stop(token, [&t] { t.cancel(); });
    boost::system::error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    co_return !ec && !token.stop_requested();
}

// The group scenarios of strata's coroutine API (sleep, sleep_limit16,
// fail_half): a group over `executors`, made and awaited on `home`; run()
// runs the contexts to their end, and release() (called once the group is
// done) lets them end. False for another scenario.
template <class Run, class Release>
bool coro_group_scenario(const std::string& scenario, long n, std::vector<asio::any_io_executor> executors,
                         asio::io_context& home, Run run, Release release, outcome& o) {
    if (scenario == "sleep" || scenario == "sleep_limit16") {
        concurrency c;
        strata::result<void> r;
        asio::co_spawn(home, [&]() -> asio::awaitable<void> {
            strata::asio::task_group g(executors,
                                       strata::task_group_options{.max_running = scenario == "sleep" ? 0u : 16u});
            for (long i = 0; i < n; ++i)
                g.spawn([&c](std::stop_token) -> coro_result {
                    c.enter();
                    co_await sleep_ms(1ms);
                    c.leave();
                    co_return strata::result<void>{};
                });
            r = co_await g.wait();
            release();
        }, asio::detached);
        run();
        o.ok = r && c.done == n && (scenario == "sleep" || c.peak <= 16);
        o.add("completed", static_cast<long long>(c.done));
        o.add("peak_running", static_cast<long long>(c.peak));
        return true;
    }
    if (scenario == "fail_half") {
        std::atomic<long> completed{0}, stopped{0};
        strata::result<void> r;
        asio::co_spawn(home, [&]() -> asio::awaitable<void> {
            strata::asio::task_group g(executors, strata::task_group_options{});
            for (long i = 0; i < n; ++i)
                g.spawn([&, i](std::stop_token token) -> coro_result {
                    if (!co_await co_sleep_unless_stopped(token, 1ms)) {
                        ++stopped;
                        co_return strata::canceled_by(token);
                    }
                    if (i == n / 2) co_return strata::make_error<strata::low_level>("task {} failed", i);
                    ++completed;
                    co_return strata::result<void>{};
                });
            r = co_await g.wait();
            release();
        }, asio::detached);
        run();
        long long failed_task = -1;
        if (!r) {
            if (auto v = r.error().misc().find("failed_task")) failed_task = v->as_signed();
        }
        o.ok = !r && failed_task == n / 2 + 1;
        o.add("failed_task", failed_task - 1);
        o.add("completed", static_cast<long long>(completed));
        o.add("stopped", static_cast<long long>(stopped));
        if (!r) o.add("error", fmt::format("{}", r.error()));
        return true;
    }
    return false;
}

outcome strata_coro(const std::string& scenario, long n) {
    outcome o;
    asio::io_context io(1);
    if (coro_group_scenario(scenario, n, {io.get_executor()}, io, [&] { io.run(); }, [] {}, o)) return o;
    if (scenario == "alive") {
        gate gt(io, n);
        strata::result<void> r;
        asio::co_spawn(io, [&]() -> asio::awaitable<void> {
            strata::asio::task_group g(io.get_executor(), strata::task_group_options{});
            for (long i = 0; i < n; ++i)
                g.spawn([&gt](std::stop_token) -> coro_result {
                    co_await gt.arrive_and_wait();
                    co_return strata::result<void>{};
                });
            r = co_await g.wait();
        }, asio::detached);
        io.run();
        o.ok = static_cast<bool>(r);
    } else if (scenario == "timeout_ok") {
        long good = 0;
        const auto t0 = clock_type::now();
        asio::co_spawn(io, [&]() -> asio::awaitable<void> {
            for (long i = 0; i < n; ++i) {
                strata::result<void> r = co_await strata::asio::with_timeout(
                    1s, [](std::stop_token) -> coro_result { co_return strata::result<void>{}; });
                good += r ? 1 : 0;
            }
        }, asio::detached);
        io.run();
        const double ms = ms_since(t0);
        o.ok = good == n;
        o.add("ns_per_call", ms * 1e6 / static_cast<double>(n));
    } else if (scenario == "first_of8") {
        std::vector<double> added;
        asio::co_spawn(io, [&]() -> asio::awaitable<void> {
            for (long round = 0; round < n; ++round) {
                double winner_us = -1;
                auto replica = [&winner_us](int k) {
                    return [&winner_us, k](std::stop_token token) -> coro_result {
                        const auto t0 = clock_type::now();
                        if (!co_await co_sleep_unless_stopped(token, std::chrono::milliseconds(k)))
                            co_return strata::canceled_by(token);
                        if (winner_us < 0) winner_us = ms_since(t0) * 1000.0;
                        co_return strata::result<void>{};
                    };
                };
                const auto t0 = clock_type::now();
                strata::result<void> r = co_await strata::asio::first_of(
                    replica(1), replica(2), replica(3), replica(4), replica(5), replica(6), replica(7), replica(8));
                const double us = ms_since(t0) * 1000.0;
                if (r && winner_us >= 0) added.push_back(us - winner_us);
            }
        }, asio::detached);
        io.run();
        o.ok = static_cast<long>(added.size()) == n;
        o.add("added_us", median(added));
    } else {
        o.add("error", "scenario not run by strata_coro");
    }
    return o;
}

outcome strata_coro_cores(const std::string& scenario, long n) {
    outcome o;
    per_cpu_contexts cores;
    if (!coro_group_scenario(scenario, n, cores.executors, *cores.io[0], [&] { cores.run(); },
                             [&] { cores.release(); }, o))
        o.add("error", "scenario not run by strata_coro_cores");
    o.add("contexts", static_cast<long long>(cores.io.size()));
    return o;
}
#endif

// Asio's own coroutines over per_cpu_contexts: each context's thread spawns its
// share of the tasks onto its own context, then runs it.
outcome asio_cores_peer(const std::string& scenario, long n) {
    outcome o;
    if (scenario != "sleep") {
        o.add("error", "scenario not run by asio_cores");
        return o;
    }
    per_cpu_contexts cores;
    concurrency c;
    const long k = static_cast<long>(cores.io.size());
    cores.run([&](std::size_t i) {
        const long share = n / k + (static_cast<long>(i) < n % k ? 1 : 0);
        for (long j = 0; j < share; ++j)
            asio::co_spawn(*cores.io[i], [&c]() -> asio::awaitable<void> {
                c.enter();
                co_await sleep_ms(1ms);
                c.leave();
            }, asio::detached);
        cores.release(i);
    });
    o.ok = c.done == n;
    o.add("completed", static_cast<long long>(c.done));
    o.add("contexts", static_cast<long long>(k));
    return o;
}

// ---- Bare OS threads: the floor of blocking threads ------------------------------

// sleep and fail_half on a fixed set of blocking threads (1000: the fastest of
// 100, 300, 1000 and 3000 on a 2-CPU machine) that take the tasks from a
// counter: the floor of any design that blocks an OS thread per running task,
// whatever its pool does.
constexpr int floor_threads = 1000;

outcome os_threads_tasks(const std::string& scenario, long n) {
    outcome o;
    std::atomic<long> next{0}, completed{0}, stopped{0}, failed{-1};
    std::stop_source source;
    std::vector<std::thread> threads;
    threads.reserve(floor_threads);
    for (int k = 0; k < floor_threads; ++k)
        threads.emplace_back([&] {
            for (long i; (i = next.fetch_add(1)) < n;) {
                if (scenario == "sleep") {
                    std::this_thread::sleep_for(1ms);
                    ++completed;
                    continue;
                }
                if (source.stop_requested() || !sleep_unless_stopped(source.get_token(), 1ms)) {
                    ++stopped;
                    continue;
                }
                if (i == n / 2) {
                    failed = i;
                    source.request_stop();
                    continue;
                }
                ++completed;
            }
        });
    for (auto& t : threads) t.join();
    o.ok = scenario == "sleep" ? completed == n : failed == n / 2;
    o.add("completed", static_cast<long long>(completed));
    if (scenario == "fail_half") {
        o.add("failed_task", static_cast<long long>(failed));
        o.add("stopped", static_cast<long long>(stopped));
    }
    o.add("threads", static_cast<long long>(floor_threads));
    return o;
}

outcome os_threads_peer(const std::string& scenario, long n) {
    if (scenario == "sleep" || scenario == "fail_half") return os_threads_tasks(scenario, n);
    outcome o;
    if (scenario != "first_of8") {
        o.add("error", "scenario not run by os_threads");
        return o;
    }
    constexpr int replicas = 8;
    std::mutex m;
    std::condition_variable cv;
    long round = -1;
    int pending = 0;
    bool quit = false;
    std::stop_source source;
    std::vector<std::thread> workers;
    for (int k = 2; k <= replicas; ++k)
        workers.emplace_back([&, k] {
            long seen = -1;
            for (;;) {
                std::stop_token token;
                {
                    std::unique_lock lock(m);
                    cv.wait(lock, [&] { return round != seen || quit; });
                    if (quit) return;
                    seen = round;
                    token = source.get_token();
                }
                sleep_unless_stopped(token, std::chrono::milliseconds(k));
                const std::lock_guard lock(m);
                if (--pending == 0) cv.notify_all();
            }
        });
    std::vector<double> added;
    for (long r = 0; r < n; ++r) {
        const auto t0 = clock_type::now();
        {
            const std::lock_guard lock(m);
            source = std::stop_source();
            pending = replicas - 1;
            round = r;
        }
        cv.notify_all();
        const auto w0 = clock_type::now();
        const bool won = sleep_unless_stopped(source.get_token(), 1ms);
        const double winner_us = ms_since(w0) * 1000.0;
        source.request_stop();
        {
            std::unique_lock lock(m);
            cv.wait(lock, [&] { return pending == 0; });
        }
        if (won) added.push_back(ms_since(t0) * 1000.0 - winner_us);
    }
    {
        const std::lock_guard lock(m);
        quit = true;
    }
    cv.notify_all();
    for (auto& w : workers) w.join();
    o.ok = static_cast<long>(added.size()) == n;
    o.add("added_us", median(added));
    return o;
}

// ---- oneTBB --------------------------------------------------------------------

#if SCALE_HAS_TBB
outcome tbb_peer(const std::string& scenario, long n) {
    outcome o;
    if (scenario == "sleep_limit16") {
        // An arena of 16 (the main thread and 15 workers: the global limit is
        // raised to allow them), tasks blocking in sleep_for.
        tbb::global_control allow(tbb::global_control::max_allowed_parallelism, 16);
        tbb::task_arena arena(16);
        concurrency c;
        arena.execute([&] {
            tbb::task_group tg;
            for (long i = 0; i < n; ++i)
                tg.run([&c] {
                    c.enter();
                    std::this_thread::sleep_for(1ms);
                    c.leave();
                });
            tg.wait();
        });
        o.ok = c.done == n && c.peak <= 16;
        o.add("completed", static_cast<long long>(c.done));
        o.add("peak_running", static_cast<long long>(c.peak));
    } else {
        o.add("error", "scenario not run by tbb");
    }
    return o;
}
#endif

}  // namespace

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: scale_bench IMPL SCENARIO N\n");
        return 2;
    }
    const std::string impl = argv[1], scenario = argv[2];
    const long n = std::atol(argv[3]);
    if (n <= 0) {
        std::fprintf(stderr, "scale_bench: N must be positive\n");
        return 2;
    }
    const auto t0 = clock_type::now();
    outcome o;
    bool known = true;
    if (impl == "strata_thread") {
        o = strata_thread(scenario, n);
    } else if (impl == "asio") {
        o = asio_peer(scenario, n);
    } else if (impl == "os_threads") {
        o = os_threads_peer(scenario, n);
#if SCALE_HAS_STRATA_CORO
    } else if (impl == "strata_coro") {
        o = strata_coro(scenario, n);
    } else if (impl == "strata_coro_cores") {
        o = strata_coro_cores(scenario, n);
#endif
    } else if (impl == "asio_cores") {
        o = asio_cores_peer(scenario, n);
#if SCALE_HAS_TBB
    } else if (impl == "tbb") {
        o = tbb_peer(scenario, n);
#endif
    } else {
        known = false;
    }
    const double wall = ms_since(t0);
    if (!known) {
        std::fprintf(stderr, "scale_bench: implementation '%s' is not built in (strata_thread, asio, asio_cores, os_threads%s%s)\n",
                     impl.c_str(), SCALE_HAS_STRATA_CORO ? ", strata_coro, strata_coro_cores" : "", SCALE_HAS_TBB ? ", tbb" : "");
        return 3;
    }
    std::printf("{\"impl\": \"%s\", \"scenario\": \"%s\", \"n\": %ld, \"wall_ms\": %.3f, \"threads_created\": %ld, "
                "\"peak_rss_mb\": %.1f, \"ok\": %s%s}\n",
                impl.c_str(), scenario.c_str(), n, wall, threads_created.load(), peak_rss_mb(),
                o.ok ? "true" : "false", o.extra.c_str());
    std::fflush(stdout);
    return o.ok ? 0 : 1;
}
