// What a program pays for its first report, measured in a fresh process (each
// run is one process: run.sh launches it many times, modes interleaved, and
// report.py takes medians). The error has a 20-frame stack of 20 distinct
// functions, in a binary built -O2 -g.
//
//   first_report boost    Boost.Stacktrace's first to_string of the 20 frames
//   first_report handle   strata's first handle() of the error (a sink that
//                         drops the record): time, and the peak RSS it added
//   first_report thread   after a first handle(), the first handle() on a new
//                         thread of an error made at a new call site
//
// Prints one JSON object: {"mode": ..., "ms": ..., "rss_added_kb": ...}.
#include <strata/handle.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/stacktrace.hpp>

namespace {

template <int N>
[[gnu::noinline]] strata::error deep() {
    if constexpr (N == 0) {
        return strata::make_error<strata::low_level>("disk {} is full", 3);
    } else {
        strata::error e = deep<N - 1>();
        asm volatile("" ::: "memory");  // not a tail call
        return e;
    }
}

// Another 20 functions: a call site no report has seen.
template <int N>
[[gnu::noinline]] strata::error other() {
    if constexpr (N == 0) {
        return strata::make_error<strata::low_level>("disk {} is gone", 4);
    } else {
        strata::error e = other<N - 1>();
        asm volatile("" ::: "memory");
        return e;
    }
}

long peak_rss_kb() {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("VmHWM:", 0) == 0) return std::atol(line.c_str() + 6);
    return 0;
}

double ms_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
    const std::string mode = argc > 1 ? argv[1] : "handle";
    strata::set_log_sink([](const strata::log_record& r) { std::fwrite(r.text.data(), 1, 0, stderr); });
    strata::error e = deep<18>();  // + make_error's own frames: 20 and more
    const strata::stack_view st = e.stack();
    std::vector<std::uintptr_t> pcs(st.begin(), st.begin() + std::min<std::size_t>(20, st.size()));
    double ms = 0;
    long rss_added = 0;
    std::size_t size = 0;
    if (mode == "boost") {
        const auto trace = boost::stacktrace::stacktrace::from_dump(pcs.data(), pcs.size() * sizeof(std::uintptr_t));
        const long rss0 = peak_rss_kb();
        const auto t0 = std::chrono::steady_clock::now();
        size = boost::stacktrace::to_string(trace).size();
        ms = ms_since(t0);
        rss_added = peak_rss_kb() - rss0;
    } else if (mode == "handle") {
        const long rss0 = peak_rss_kb();
        const auto t0 = std::chrono::steady_clock::now();
        size = strata::handle(e).id.size();
        ms = ms_since(t0);
        rss_added = peak_rss_kb() - rss0;
    } else if (mode == "thread") {
        size = strata::handle(e).id.size();
        std::thread([&] {
            strata::error fresh = other<18>();
            const auto t0 = std::chrono::steady_clock::now();
            size += strata::handle(fresh).id.size();
            ms = ms_since(t0);
        }).join();
    } else {
        std::fprintf(stderr, "first_report: unknown mode '%s' (boost, handle or thread)\n", mode.c_str());
        return 2;
    }
    std::printf("{\"mode\": \"%s\", \"ms\": %.3f, \"rss_added_kb\": %ld, \"size\": %zu}\n", mode.c_str(), ms,
                rss_added, size);
}
