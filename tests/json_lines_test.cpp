// Tests for the one-line form of handle()'s records (<strata/json.hpp>:
// to_json_line, json_line_form, json_lines_sink) and for the order records
// reach a sink in: stamped when delivered, in the order delivered.
#include <catch2/catch.hpp>
#include <strata/handle.hpp>
#include <strata/strata.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

// A stack deeper at each level, so that symbolizing takes a different time for
// each thread's records.
[[gnu::noinline]] strata::error deep_error(int depth, int t, int i) {
    if (depth == 0) return strata::make_error<strata::low_level>("thread {} error {}", t, i).with("i", i);
    strata::error e = deep_error(depth - 1, t, i);
    asm volatile("" ::: "memory");  // no tail call
    return e;
}

}  // namespace

TEST_CASE("records reach the sink in the order of their times, from many threads at once", "[json_lines][order]") {
    struct checker {
        std::mutex mutex;
        std::chrono::system_clock::time_point last{};
        std::size_t records = 0;
        std::size_t out_of_order = 0;
    } seen;
    const strata::log_sink sink = [&seen](const strata::log_record& r) {
        std::lock_guard lock(seen.mutex);
        if (r.time < seen.last) ++seen.out_of_order;
        seen.last = r.time;
        ++seen.records;
    };
    constexpr int threads = 8;
    constexpr int per_thread = 40;
    std::atomic<int> ready{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            ready.fetch_add(1);
            while (ready.load() < threads) std::this_thread::yield();
            for (int i = 0; i < per_thread; ++i)
                (void)strata::handle(deep_error((t * 7 + i) % 13, t, i), {.sink = &sink});
        });
    }
    for (auto& th : pool) th.join();
    CHECK(seen.records == static_cast<std::size_t>(threads * per_thread));
    CHECK(seen.out_of_order == 0);
}
