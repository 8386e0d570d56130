// What strata's structured concurrency costs over doing the same by hand with the
// standard library: with_timeout against a hand-made watchdog thread, first_of
// and task_group against bare threads, and a heartbeat against a clock read.
#include <strata/cancel.hpp>
#include <strata/task_group.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <stop_token>
#include <thread>

#include "common.hpp"

using namespace std::chrono_literals;

namespace {

strata::result<int> work(std::stop_token token) { return token.stop_requested() ? 0 : 1; }

// with_timeout(10s, work): the deadline never passes.
void timeout_strata(benchmark::State& state) {
    for (auto _ : state) {
        strata::result<int> r = strata::with_timeout(10s, work);
        benchmark::DoNotOptimize(r);
    }
}
BENCHMARK(timeout_strata)->Name("timeout/strata");

// The same by hand: a std::jthread that stops a std::stop_source at the deadline
// unless the work finished first, and no cause, no lateness, no error.
void timeout_by_hand(benchmark::State& state) {
    for (auto _ : state) {
        std::stop_source source;
        std::mutex m;
        std::condition_variable cv;
        bool done = false;
        std::jthread watchdog([&] {
            std::unique_lock lock(m);
            if (!cv.wait_for(lock, 10s, [&] { return done; })) source.request_stop();
        });
        strata::result<int> r = work(source.get_token());
        {
            std::lock_guard lock(m);
            done = true;
        }
        cv.notify_one();
        watchdog.join();
        benchmark::DoNotOptimize(r);
    }
}
BENCHMARK(timeout_by_hand)->Name("timeout/by_hand");

// first_of with three replicas that answer at once.
void first_of_strata(benchmark::State& state) {
    for (auto _ : state) {
        strata::result<int> r = strata::first_of(work, work, work);
        benchmark::DoNotOptimize(r);
    }
}
BENCHMARK(first_of_strata)->Name("first_of3/strata");

// By hand: two threads and the caller race for one result under a mutex.
void first_of_by_hand(benchmark::State& state) {
    for (auto _ : state) {
        std::stop_source source;
        std::mutex m;
        std::optional<strata::result<int>> winner;
        auto run = [&] {
            strata::result<int> r = work(source.get_token());
            std::lock_guard lock(m);
            if (r && !winner) {
                winner.emplace(std::move(r));
                source.request_stop();
            }
        };
        std::thread a(run), b(run);
        run();
        a.join();
        b.join();
        benchmark::DoNotOptimize(winner);
    }
}
BENCHMARK(first_of_by_hand)->Name("first_of3/by_hand");

// A group of 8 tasks that succeed.
void group_strata(benchmark::State& state) {
    for (auto _ : state) {
        strata::task_group g;
        for (int i = 0; i < 8; ++i) g.spawn(work);
        strata::result<void> r = g.wait();
        benchmark::DoNotOptimize(r);
    }
}
BENCHMARK(group_strata)->Name("group8/strata");

// By hand: 8 std::jthreads with a shared stop source, joined.
void group_by_hand(benchmark::State& state) {
    for (auto _ : state) {
        std::stop_source source;
        std::jthread threads[8];
        for (auto& t : threads) t = std::jthread([&] { benchmark::DoNotOptimize(work(source.get_token())); });
        for (auto& t : threads) t.join();
    }
}
BENCHMARK(group_by_hand)->Name("group8/by_hand");

// One heartbeat inside a task (strata::beat() walks one enclosing task).
void beat_strata(benchmark::State& state) {
    (void)strata::with_timeout(1h, [&](std::stop_token) -> strata::result<void> {
        for (auto _ : state) benchmark::DoNotOptimize(strata::beat());
        return {};
    });
}
BENCHMARK(beat_strata)->Name("beat/strata");

// The clock read a heartbeat cannot avoid.
void beat_clock(benchmark::State& state) {
    for (auto _ : state) benchmark::DoNotOptimize(std::chrono::steady_clock::now());
}
BENCHMARK(beat_clock)->Name("beat/steady_clock_now");

}  // namespace
