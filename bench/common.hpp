// Shared by the benchmarks: running a call at a given stack depth, and the naive
// port of the book's MyError that strata is compared with.
#pragma once

#include <map>
#include <memory>
#include <string>

#include <benchmark/benchmark.h>
#include <boost/stacktrace/stacktrace.hpp>

namespace bench {

// Calls f() under n extra frames of this function (none of them tail calls), so
// that what f does sees a stack n frames deeper.
template <class F>
[[gnu::noinline]] auto at_depth(int n, F& f) -> decltype(f()) {
    if (n <= 0) return f();
    auto r = at_depth(n - 1, f);
    benchmark::DoNotOptimize(&r);
    return r;
}

// The book's MyError, ported as directly as C++ allows: a heap object with the
// inner error, the message, a stack trace (Boost.Stacktrace, raw frames) and a
// misc map, made at every wrap.
struct my_error {
    std::shared_ptr<my_error> inner;
    std::string message;
    boost::stacktrace::stacktrace stack;
    std::map<std::string, std::string> misc;
};

inline std::shared_ptr<my_error> wrap_error(std::shared_ptr<my_error> inner, std::string message) {
    return std::make_shared<my_error>(
        my_error{std::move(inner), std::move(message), boost::stacktrace::stacktrace(), {}});
}

}  // namespace bench
