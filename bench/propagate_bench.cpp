// Passing results up 20 calls: the success path (a value at every level) and the
// error path (a failure from the bottom), for strata and its peers. The per-level
// cost of the error path is (time at 20 levels - time at 0) / 20, so the making of
// the error at the bottom cancels out.
#include <strata/result.hpp>

#include <stdexcept>
#include <system_error>

#include <absl/status/status.h>
#include <absl/status/statusor.h>
#include <boost/leaf.hpp>

#include "common.hpp"

namespace leaf = boost::leaf;

namespace {

struct leaf_failure {
    int code;
};

// --- success path ---------------------------------------------------------------

[[gnu::noinline]] int plain_ok(int n) {
    if (n == 0) return 1;
    const int v = plain_ok(n - 1);
    benchmark::DoNotOptimize(v);
    return v + 1;
}

[[gnu::noinline]] strata::result<int> strata_ok(int n) {
    if (n == 0) return 1;
    STRATA_TRY_ASSIGN(const int v, strata_ok(n - 1));
    benchmark::DoNotOptimize(v);
    return v + 1;
}

[[gnu::noinline]] absl::StatusOr<int> absl_ok(int n) {
    if (n == 0) return 1;
    absl::StatusOr<int> r = absl_ok(n - 1);
    if (!r.ok()) return r.status();
    benchmark::DoNotOptimize(*r);
    return *r + 1;
}

[[gnu::noinline]] leaf::result<int> leaf_ok(int n) {
    if (n == 0) return 1;
    BOOST_LEAF_AUTO(v, leaf_ok(n - 1));
    benchmark::DoNotOptimize(v);
    return v + 1;
}

[[gnu::noinline]] int error_code_ok(int n, std::error_code& ec) {
    if (n == 0) return 1;
    const int v = error_code_ok(n - 1, ec);
    if (ec) return 0;
    benchmark::DoNotOptimize(v);
    return v + 1;
}

void BM_success_plain(benchmark::State& state) {
    for (auto _ : state) benchmark::DoNotOptimize(plain_ok(20));
}
void BM_success_strata(benchmark::State& state) {
    for (auto _ : state) {
        auto r = strata_ok(20);
        benchmark::DoNotOptimize(r);
    }
}
void BM_success_absl(benchmark::State& state) {
    for (auto _ : state) {
        auto r = absl_ok(20);
        benchmark::DoNotOptimize(r);
    }
}
void BM_success_leaf(benchmark::State& state) {
    for (auto _ : state) {
        auto r = leaf::try_handle_some([] { return leaf_ok(20); },
                                       [](const leaf_failure&) -> leaf::result<int> { return -1; });
        benchmark::DoNotOptimize(r);
    }
}
void BM_success_error_code(benchmark::State& state) {
    for (auto _ : state) {
        std::error_code ec;
        benchmark::DoNotOptimize(error_code_ok(20, ec));
    }
}
void BM_success_exceptions(benchmark::State& state) {
    for (auto _ : state) {
        try {
            benchmark::DoNotOptimize(plain_ok(20));
        } catch (const std::exception&) {
        }
    }
}

// --- error path -----------------------------------------------------------------

[[gnu::noinline]] strata::result<int> strata_fail(int n, const strata::error& origin) {
    if (n == 0) return origin;  // shares the error: one atomic increment
    STRATA_TRY_ASSIGN(const int v, strata_fail(n - 1, origin));
    benchmark::DoNotOptimize(v);
    return v + 1;
}

[[gnu::noinline]] absl::StatusOr<int> absl_fail(int n) {
    if (n == 0) return absl::UnavailableError("disk 3 is full");
    absl::StatusOr<int> r = absl_fail(n - 1);
    if (!r.ok()) return r.status();
    benchmark::DoNotOptimize(*r);
    return *r + 1;
}

[[gnu::noinline]] leaf::result<int> leaf_fail(int n) {
    if (n == 0) return BOOST_LEAF_NEW_ERROR(leaf_failure{3});
    BOOST_LEAF_AUTO(v, leaf_fail(n - 1));
    benchmark::DoNotOptimize(v);
    return v + 1;
}

[[gnu::noinline]] int error_code_fail(int n, std::error_code& ec) {
    if (n == 0) {
        ec = std::make_error_code(std::errc::no_space_on_device);
        return 0;
    }
    const int v = error_code_fail(n - 1, ec);
    if (ec) return 0;
    benchmark::DoNotOptimize(v);
    return v + 1;
}

[[gnu::noinline]] int exception_fail(int n) {
    if (n == 0) throw std::runtime_error("disk 3 is full");
    const int v = exception_fail(n - 1);
    benchmark::DoNotOptimize(v);
    return v + 1;
}

[[gnu::noinline]] std::shared_ptr<bench::my_error> naive_fail(int n, const std::shared_ptr<bench::my_error>& origin) {
    if (n == 0) return origin;
    auto e = naive_fail(n - 1, origin);
    if (e) return e;
    return nullptr;
}

void BM_fail_strata(benchmark::State& state) {
    const strata::error origin = strata::make_error<strata::low_level>("disk {} is full", 3);
    const int levels = static_cast<int>(state.range(0));
    for (auto _ : state) {
        auto r = strata_fail(levels, origin);
        benchmark::DoNotOptimize(r);
    }
}
void BM_fail_absl(benchmark::State& state) {
    const int levels = static_cast<int>(state.range(0));
    for (auto _ : state) {
        auto r = absl_fail(levels);
        benchmark::DoNotOptimize(r);
    }
}
void BM_fail_leaf(benchmark::State& state) {
    const int levels = static_cast<int>(state.range(0));
    for (auto _ : state) {
        auto r = leaf::try_handle_some([&] { return leaf_fail(levels); },
                                       [](const leaf_failure& f, const leaf::e_source_location& loc) -> leaf::result<int> {
                                           benchmark::DoNotOptimize(loc.line);
                                           return -f.code;
                                       });
        benchmark::DoNotOptimize(r);
    }
}
void BM_fail_error_code(benchmark::State& state) {
    const int levels = static_cast<int>(state.range(0));
    for (auto _ : state) {
        std::error_code ec;
        benchmark::DoNotOptimize(error_code_fail(levels, ec));
        benchmark::DoNotOptimize(ec);
    }
}
void BM_fail_exceptions(benchmark::State& state) {
    const int levels = static_cast<int>(state.range(0));
    for (auto _ : state) {
        try {
            benchmark::DoNotOptimize(exception_fail(levels));
        } catch (const std::exception& e) {
            benchmark::DoNotOptimize(e.what());
        }
    }
}
void BM_fail_naive_myerror(benchmark::State& state) {
    const auto origin = bench::wrap_error(nullptr, "disk 3 is full");
    const int levels = static_cast<int>(state.range(0));
    for (auto _ : state) {
        auto e = naive_fail(levels, origin);
        benchmark::DoNotOptimize(e);
    }
}

}  // namespace

BENCHMARK(BM_success_plain)->Name("success20/plain_int");
BENCHMARK(BM_success_strata)->Name("success20/strata_result");
BENCHMARK(BM_success_absl)->Name("success20/absl_statusor");
BENCHMARK(BM_success_leaf)->Name("success20/leaf_result");
BENCHMARK(BM_success_error_code)->Name("success20/error_code");
BENCHMARK(BM_success_exceptions)->Name("success20/exceptions");

BENCHMARK(BM_fail_strata)->Arg(0)->Arg(20)->Name("fail/strata_try");
BENCHMARK(BM_fail_absl)->Arg(0)->Arg(20)->Name("fail/absl_statusor");
BENCHMARK(BM_fail_leaf)->Arg(0)->Arg(20)->Name("fail/leaf_result");
BENCHMARK(BM_fail_error_code)->Arg(0)->Arg(20)->Name("fail/error_code");
BENCHMARK(BM_fail_exceptions)->Arg(0)->Arg(20)->Name("fail/exceptions");
BENCHMARK(BM_fail_naive_myerror)->Arg(0)->Arg(20)->Name("fail/naive_myerror");
