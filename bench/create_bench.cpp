// Making an error with its stack, at depth 20 and 64, against a bare
// _Unwind_Backtrace of the same stack, Boost.Stacktrace, and the naive MyError;
// and wrap (a new layer, no stack).
#include <strata/error.hpp>

#include <cstdint>
#include <unwind.h>

#include "common.hpp"

namespace {

struct bare_state {
    std::uintptr_t* out;
    int n;
    int max;
};

_Unwind_Reason_Code bare_step(_Unwind_Context* ctx, void* arg) {
    auto* s = static_cast<bare_state*>(arg);
    if (s->n == s->max) return _URC_END_OF_STACK;
    s->out[s->n++] = _Unwind_GetIP(ctx);
    return _URC_NO_REASON;
}

// The floor: the unwinder alone, writing program counters to a buffer.
[[gnu::noinline]] int bare_unwind(std::uintptr_t* out, int max) {
    bare_state s{out, 0, max};
    _Unwind_Backtrace(&bare_step, &s);
    return s.n;
}

template <int (*Make)()>
void create_at_depth(benchmark::State& state) {
    auto f = [] { return Make(); };
    for (auto _ : state) benchmark::DoNotOptimize(bench::at_depth(static_cast<int>(state.range(0)), f));
}

[[gnu::noinline]] int make_bare_unwind() {
    std::uintptr_t pcs[STRATA_MAX_STACK_DEPTH];
    const int n = bare_unwind(pcs, STRATA_MAX_STACK_DEPTH);
    benchmark::DoNotOptimize(pcs);
    return n;
}

[[maybe_unused]] void BM_create_bare_unwind(benchmark::State& state) { create_at_depth<make_bare_unwind>(state); }

// Each peer makes (and drops) its error in a function of its own, called from
// under the same 20 or 64 frames, so that the stack walked is the same for all.
[[gnu::noinline]] int make_strata() {
    auto e = strata::make_error<strata::low_level>("disk {} is full", 3);
    benchmark::DoNotOptimize(e);
    return 0;
}

[[gnu::noinline]] int make_boost_stacktrace() {
    boost::stacktrace::stacktrace st;
    benchmark::DoNotOptimize(st);
    return 0;
}

[[gnu::noinline]] int make_naive_myerror() {
    auto e = bench::wrap_error(nullptr, "disk 3 is full");
    benchmark::DoNotOptimize(e);
    return 0;
}

[[maybe_unused]] void BM_create_strata(benchmark::State& state) { create_at_depth<make_strata>(state); }

[[maybe_unused]] void BM_create_strata_no_stack(benchmark::State& state) {
    const strata::capture_policy saved = strata::get_capture_policy();
    strata::set_capture_policy(strata::capture_policy::off);
    create_at_depth<make_strata>(state);
    strata::set_capture_policy(saved);
}

[[maybe_unused]] void BM_create_boost_stacktrace(benchmark::State& state) { create_at_depth<make_boost_stacktrace>(state); }

[[maybe_unused]] void BM_create_naive_myerror(benchmark::State& state) { create_at_depth<make_naive_myerror>(state); }

[[maybe_unused]] void BM_wrap_strata(benchmark::State& state) {
    const strata::error base = strata::make_error<strata::low_level>("disk {} is full", 3);
    for (auto _ : state) {
        auto w = strata::wrap<strata::intermediate>(base, "can't save job {}", 7);
        benchmark::DoNotOptimize(w);
    }
}

[[maybe_unused]] void BM_wrap_naive_myerror(benchmark::State& state) {
    const auto base = bench::wrap_error(nullptr, "disk 3 is full");
    for (auto _ : state) {
        auto w = bench::wrap_error(base, "can't save job 7");
        benchmark::DoNotOptimize(w);
    }
}

}  // namespace

#if STRATA_FRAME_POINTERS
BENCHMARK(BM_create_strata)->Arg(20)->Arg(64)->Name("create/strata_fp");
#else
BENCHMARK(BM_create_bare_unwind)->Arg(20)->Arg(64)->Name("create/bare_unwind");
BENCHMARK(BM_create_strata)->Arg(20)->Arg(64)->Name("create/strata");
BENCHMARK(BM_create_strata_no_stack)->Arg(20)->Name("create/strata_no_stack");
BENCHMARK(BM_create_boost_stacktrace)->Arg(20)->Arg(64)->Name("create/boost_stacktrace");
BENCHMARK(BM_create_naive_myerror)->Arg(20)->Arg(64)->Name("create/naive_myerror");
BENCHMARK(BM_wrap_strata)->Name("wrap/strata");
BENCHMARK(BM_wrap_naive_myerror)->Name("wrap/naive_myerror");
#endif
