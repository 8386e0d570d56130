// What reporting costs: symbolizing a 20-frame stack (warm, against Boost's own
// to_string of the same addresses, and from strata's cache), formatting {:v},
// and handle() into a sink that drops the record, on 1 and 2 threads.
#include <strata/handle.hpp>
#include <strata/result.hpp>

#include <cstdint>
#include <vector>

#include "common.hpp"

namespace {

[[gnu::noinline]] strata::error error_20_deep() {
    auto f = [] { return strata::error(strata::make_error<strata::low_level>("disk {} is full", 3)); };
    return bench::at_depth(18, f);
}

// The first 20 program counters of a real stack, and the same as a Boost stacktrace.
struct twenty_frames {
    strata::error e = error_20_deep();
    std::vector<std::uintptr_t> pcs;
    boost::stacktrace::stacktrace boost_st;

    twenty_frames() {
        const strata::stack_view st = e.stack();
        pcs.assign(st.begin(), st.begin() + std::min<std::size_t>(20, st.size()));
        boost_st = boost::stacktrace::stacktrace::from_dump(pcs.data(), pcs.size() * sizeof(std::uintptr_t));
        (void)boost::stacktrace::to_string(boost_st);  // load debug information: warm from here
        for (std::uintptr_t pc : pcs) (void)strata::symbolize(pc);
    }
};

const twenty_frames& frames() {
    static const twenty_frames f;
    return f;
}

void BM_symbolize_boost_to_string(benchmark::State& state) {
    const auto& f = frames();
    for (auto _ : state) {
        std::string s = boost::stacktrace::to_string(f.boost_st);
        benchmark::DoNotOptimize(s);
    }
    state.counters["frames"] = static_cast<double>(f.pcs.size());
}

// What formatting a stack does on first sight of its addresses: one look-up for
// all of them, each parsed into a symbol (the cache is bypassed).
void BM_symbolize_strata_warm(benchmark::State& state) {
    const auto& f = frames();
    for (auto _ : state) {
        strata::detail::resolve_symbols(f.pcs.data(), f.pcs.size(), [](std::size_t, std::string text) {
            const strata::symbol s(std::move(text));
            benchmark::DoNotOptimize(s.function.data());
        });
    }
}

void BM_symbolize_strata_cached(benchmark::State& state) {
    const auto& f = frames();
    for (auto _ : state)
        for (std::uintptr_t pc : f.pcs) benchmark::DoNotOptimize(&strata::symbolize(pc));
}

void BM_format_verbose_cached(benchmark::State& state) {
    const auto& f = frames();
    for (auto _ : state) {
        std::string s = fmt::format("{:v}", f.e);
        benchmark::DoNotOptimize(s);
    }
}

const strata::log_sink null_sink = [](const strata::log_record& r) { benchmark::DoNotOptimize(r.text.data()); };

[[gnu::noinline]] strata::error make_shallow(int i) { return strata::make_error<strata::low_level>("job {} failed", i); }

// A new error each time (handle() reports an error once), handled into a sink
// that drops the record: the whole path from failure to report.
void BM_create_and_handle(benchmark::State& state) {
    (void)frames();
    {
        const strata::error warm = make_shallow(0);
        (void)strata::handle(warm, {&null_sink});  // this thread's symbol look-ups and caches
    }
    int i = 0;
    for (auto _ : state) {
        const strata::report r = strata::handle(make_shallow(++i), {&null_sink});
        benchmark::DoNotOptimize(r.id.data());
    }
    state.SetItemsProcessed(state.iterations());
}

}  // namespace

BENCHMARK(BM_symbolize_boost_to_string)->Name("symbolize20/boost_to_string");
BENCHMARK(BM_symbolize_strata_warm)->Name("symbolize20/strata_warm");
BENCHMARK(BM_symbolize_strata_cached)->Name("symbolize20/strata_cached");
BENCHMARK(BM_format_verbose_cached)->Name("format_v20/strata_cached");
BENCHMARK(BM_create_and_handle)->Name("handle/strata")->Threads(1)->Threads(2)->UseRealTime();

namespace {
// Not a timing: the sizes the table reports, from the compiler.
void BM_sizes(benchmark::State& state) {
    for (auto _ : state) benchmark::DoNotOptimize(state.iterations());
    state.counters["error"] = sizeof(strata::error);
    state.counters["result_int"] = sizeof(strata::result<int>);
    state.counters["result_void"] = sizeof(strata::result<void>);
}
}  // namespace
BENCHMARK(BM_sizes)->Name("sizes")->Iterations(1)->Repetitions(1);
