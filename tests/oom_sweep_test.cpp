// Out of memory at every allocation (issue 5, item 1): creating, wrapping, adding
// misc, handling and formatting never throw and never terminate when operator new
// fails, at whichever allocation it fails. Each operation is run once with memory to
// spare to count its K allocations, then for N = 1 .. K (and K + 1, a control run
// that must fail nothing) with only the Nth allocation failing, and again with every
// allocation from the Nth on failing. Every run must give a non-empty error of the
// expected outermost layer, handle() must keep its bug/user decision and give a
// well-formed ID, and formatting must give text. How each run degraded is tallied,
// and every test case ends with a WARN listing its operations, their K and runs
// (the "totals" test case adds them all up). Formatting is checked into a fixed
// buffer (fmt::format_to_n), where fmt allocates nothing for the output: every
// allocation is strata's; fmt::format's own std::string is swept separately.
// STRATA_OOM_SWEEP_TRACE=1 in the environment prints one line a run on stdout.
#include <catch2/catch.hpp>

#include "support.hpp"

#if STRATA_TEST_REPLACE_NEW

#include <strata/error.hpp>
#include <strata/exception.hpp>
#include <strata/format.hpp>
#include <strata/handle.hpp>
#include <strata/json.hpp>
#include <strata/result.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <new>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include <cxxabi.h>
#include <unistd.h>

namespace {

using strata_test::allocation_faults;
using strata_test::fail_mode;

struct storage_layer {
    static constexpr std::string_view name = "storage";
};

struct api_layer {
    static constexpr std::string_view name = "api";
    static constexpr bool user_facing = true;
};

// A value fmt formats as text longer than fmt's 500-byte inline buffer (so that
// formatting it allocates), and whose copy allocates.
struct big_value {
    std::string text;
};

struct point {
    int x;
    int y;
};

}  // namespace

template <>
struct fmt::formatter<big_value> {
    constexpr auto parse(format_parse_context& ctx) -> decltype(ctx.begin()) { return ctx.begin(); }
    template <class FormatContext>
    auto format(const big_value& v, FormatContext& ctx) const -> decltype(ctx.out()) {
        return fmt::format_to(ctx.out(), "big_value({})", v.text);
    }
};

template <>
struct fmt::formatter<point> {
    constexpr auto parse(format_parse_context& ctx) -> decltype(ctx.begin()) { return ctx.begin(); }
    template <class FormatContext>
    auto format(const point& p, FormatContext& ctx) const -> decltype(ctx.out()) {
        return fmt::format_to(ctx.out(), "({}, {})", p.x, p.y);
    }
};

namespace {

// ---------------------------------------------------------------------------
// Inputs, made with memory to spare: the test's own allocations are not strata's.

struct inputs {
    std::string long_text = std::string(600, 'x');  // beyond fmt's 500-byte inline buffer
    std::string path = "/var/lib/strata/jobs/0042/state.json";
    big_value big{std::string(700, 'v')};
    point where{3, 4};
    std::error_code ec = std::make_error_code(std::errc::no_such_file_or_directory);
    std::runtime_error runtime{"the disk went away while the job was being saved"};
    std::exception_ptr ex = std::make_exception_ptr(std::runtime_error("the disk went away while the job was being saved"));
    std::exception_ptr carried =
        std::make_exception_ptr(strata::exception(strata::make_error<storage_layer>("carried across a thread")));
};

const inputs& in() {
    static const inputs i;
    return i;
}

// ---------------------------------------------------------------------------
// The operations that make errors. Each is one function, so that it can be run
// armed (and its allocations counted) as a whole.

template <class L>
strata::error build_make_error() {
    return strata::make_error<L>("job {} failed after {} tries: {}", 42, 3, in().long_text);
}

template <class L>
strata::error build_make_error_short() {
    return strata::make_error<L>("job {} failed", 42);
}

template <class L>
strata::error build_with_misc() {
    return strata::make_error<L>("job {} failed", 42)
        .with("path", in().path)
        .with("attempt", 3)
        .with("bytes", 18446744073709551615ull)
        .with("load", 0.75)
        .with("retryable", true)
        .with("owner", "scheduler")
        .with("where", in().where)
        .with("value", in().big)
        .with("note", in().long_text);
}

// with() on a frame that another copy shares copies the frame (and its misc) first.
template <class L>
strata::error build_with_shared() {
    strata::error base = strata::make_error<L>("job {} failed", 42).with("path", in().path).with("attempt", 3).with("value", in().big);
    strata::error copy = base;
    copy.with("copied", true).with("note", in().long_text);
    return copy;
}

template <class L>
strata::error build_wrap_error_code() {
    return strata::wrap<L>(in().ec, "can't stat {}", in().path);
}

template <class L>
strata::error build_wrap_errc() {
    return strata::wrap<L>(std::errc::permission_denied, "can't open {}", in().path);
}

template <class L>
strata::error build_wrap_exception_ptr() {
    return strata::wrap<L>(in().ex, "saving job {} failed", 42);
}

template <class L>
strata::error build_wrap_carried_exception_ptr() {
    return strata::wrap<L>(in().carried, "job {} failed on a worker", 42);
}

template <class L>
strata::error build_wrap_exception() {
    return strata::wrap<L>(in().runtime, "saving job {} failed", 42);
}

template <class L>
strata::error build_wrap_value() {
    return strata::wrap<L>(in().big, "bad value for job {}", 42);
}

template <class L>
strata::error build_wrap_int() {
    return strata::wrap<L>(404, "lookup of job {} failed", 42);
}

template <class L>
strata::error build_wrap_string() {
    return strata::wrap<L>(in().path, "bad path for job {}", 42);
}

// Three frames: a root, and two wraps that take the error below over.
template <class L>
strata::error build_chain() {
    strata::error root = strata::make_error<strata::low_level>("read of block {} failed: {}", 7, in().long_text);
    strata::error mid = strata::wrap<storage_layer>(std::move(root), "can't load job {}", 42);
    return strata::wrap<L>(std::move(mid), "job {} could not be restored", 42);
}

// Four frames with misc entries at each level and a std::error_code at the root:
// what the formatting sweeps print.
template <class L>
strata::error build_rich_chain() {
    strata::error root = strata::wrap<strata::low_level>(in().ec, "stat {}", in().path).with("errno", 2).with("path", in().path);
    strata::error mid = strata::wrap<storage_layer>(std::move(root), "can't load the state of job {}: {}", 42, in().long_text)
                            .with("attempt", 3)
                            .with("value", in().big);
    strata::error upper = strata::wrap<storage_layer>(mid, "restore of job {} failed", 42).with("load", 0.5);
    return strata::wrap<L>(std::move(upper), "job {} could not be restored", 42).with("job", 42).with("retryable", false);
}

template <class L>
[[gnu::noinline]] strata::result<int> parse_job(int id) {
    if (id > 0) return strata::make_error<L>("job {} has a bad header: {}", id, in().long_text);
    return 1;
}

template <class L>
[[gnu::noinline]] strata::result<int> load_job(int id) {
    STRATA_TRY_ASSIGN(const int header, parse_job<L>(id));
    return header + 1;
}

template <class L>
[[gnu::noinline]] strata::result<int> run_job(int id) {
    STRATA_TRY(load_job<L>(id));
    return 0;
}

// A failed result made three calls down and passed up with STRATA_TRY_ASSIGN and
// STRATA_TRY.
template <class L>
strata::error build_result_try() {
    strata::result<int> r = run_job<L>(42);
    return std::move(r).error();
}

// A result made from an empty error (which strata replaces by a frame of its own).
strata::error build_result_from_empty() {
    strata::result<int> r = strata::error();
    return std::move(r).error();
}

strata::error build_from_exception() {
    try {
        throw in().runtime;  // a copy: std::runtime_error's text is shared, not allocated
    } catch (...) {
        return strata::from_exception();
    }
}

template <class L>
strata::error build_wrap_from_exception() {
    try {
        throw in().runtime;
    } catch (...) {
        return strata::wrap<L>(strata::from_exception(), "job {} failed", 42);
    }
}

template <class L>
strata::error build_from_strata_exception() {
    try {
        strata::throw_error(strata::make_error<L>("job {} failed", 42));
    } catch (...) {
        return strata::from_exception();
    }
}

// ---------------------------------------------------------------------------
// Checks

template <class L>
bool is_layer(const strata::error& e) {
    return e.is<L>();
}

// A root cause made from an exception: with memory, the "exception" cause record;
// out of memory, from_exception's static frame (layer untagged).
bool is_exception_cause(const strata::error& e) {
    return (e.layer().is_cause && e.layer().name == "exception") || e.is<strata::untagged>();
}

struct builder {
    std::string name;
    strata::error (*build)();
    bool (*layer_ok)(const strata::error&);
    std::string expected_layer;
    bool user_facing;
};

template <class L>
std::vector<builder> builders_for() {
    const std::string l(L::name);
    const bool uf = strata::layer_info_of<L>.user_facing;
    return {
        {"make_error<" + l + ">(3 args, long message)", &build_make_error<L>, &is_layer<L>, l, uf},
        {"make_error<" + l + ">(1 arg, short message)", &build_make_error_short<L>, &is_layer<L>, l, uf},
        {"make_error<" + l + ">.with() x9 (string, int, unsigned, double, bool, char*, formattable x2, long string)",
         &build_with_misc<L>, &is_layer<L>, l, uf},
        {"with() on a shared error<" + l + "> (copies the frame and its misc)", &build_with_shared<L>, &is_layer<L>, l, uf},
        {"wrap<" + l + ">(std::error_code)", &build_wrap_error_code<L>, &is_layer<L>, l, uf},
        {"wrap<" + l + ">(std::errc)", &build_wrap_errc<L>, &is_layer<L>, l, uf},
        {"wrap<" + l + ">(exception_ptr of std::runtime_error)", &build_wrap_exception_ptr<L>, &is_layer<L>, l, uf},
        {"wrap<" + l + ">(exception_ptr of strata::exception)", &build_wrap_carried_exception_ptr<L>, &is_layer<L>, l,
         uf},
        {"wrap<" + l + ">(const std::runtime_error&)", &build_wrap_exception<L>, &is_layer<L>, l, uf},
        {"wrap<" + l + ">(formattable struct, 700-char text)", &build_wrap_value<L>, &is_layer<L>, l, uf},
        {"wrap<" + l + ">(int)", &build_wrap_int<L>, &is_layer<L>, l, uf},
        {"wrap<" + l + ">(std::string)", &build_wrap_string<L>, &is_layer<L>, l, uf},
        {"wrap<" + l + ">(wrap<storage>(make_error<low_level>)) (3 deep)", &build_chain<L>, &is_layer<L>, l, uf},
        {"result<int> from make_error<" + l + "> through STRATA_TRY_ASSIGN and STRATA_TRY (3 levels)",
         &build_result_try<L>, &is_layer<L>, l, uf},
        {"wrap<" + l + ">(from_exception()) in a catch block", &build_wrap_from_exception<L>, &is_layer<L>, l, uf},
        {"from_exception() of a strata::exception carrying error<" + l + ">", &build_from_strata_exception<L>,
         &is_layer<L>, l, uf},
    };
}

std::vector<builder> layerless_builders() {
    return {
        {"from_exception() of a std::runtime_error in a catch block", &build_from_exception, &is_exception_cause,
         "exception (cause) or untagged", false},
        {"result<int> from an empty strata::error", &build_result_from_empty, &is_layer<strata::untagged>, "untagged",
         false},
    };
}

std::string demangle(const char* mangled) {
    int status = 0;
    char* d = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
    std::string out = d ? d : mangled;
    std::free(d);
    return out;
}

std::string describe(const std::exception_ptr& p) {
    try {
        std::rethrow_exception(p);
    } catch (const std::exception& e) {
        return demangle(typeid(e).name()) + " (what(): \"" + e.what() + "\")";
    } catch (...) {
        const std::type_info* t = abi::__cxa_current_exception_type();
        return "an exception of type " + (t ? demangle(t->name()) : std::string("?"));
    }
}

bool is_bad_alloc(const std::exception_ptr& p) {
    try {
        std::rethrow_exception(p);
    } catch (const std::bad_alloc&) {
        return true;
    } catch (...) {
        return false;
    }
}

struct verdict {
    std::string problem;  // empty: fine
    std::string outcome;  // how the run degraded, tallied
};

std::size_t misc_total(const strata::error& e) {
    std::size_t n = 0;
    for (strata::error f = e; f; f = f.inner()) n += f.misc().size();
    return n;
}

std::size_t misc_oom_texts(const strata::error& e) {
    std::size_t n = 0;
    for (strata::error f = e; f; f = f.inner())
        for (const strata::misc_entry& m : f.misc())
            if (m.value.as_string() == strata::detail::oom_message) ++n;
    return n;
}

bool is_static(const strata::error& e) {
    const strata::detail::frame* f = strata::detail::access::get(e);
    return f && (f->flags & strata::detail::immortal);
}

// How an error made under failures differs from the one made with memory to spare.
std::string degradation(const strata::error& e, const strata::error& full) {
    if (is_static(e)) return "static out-of-memory frame of its layer";
    std::vector<std::string> parts;
    if (e.message() == strata::detail::oom_message && full.message() != strata::detail::oom_message)
        parts.emplace_back("out-of-memory message");
    if (e.depth() < full.depth()) parts.emplace_back("lost inner frames");
    bool inner_oom = false;
    bool inner_static = false;
    for (strata::error f = e.inner(); f; f = f.inner()) {
        inner_oom = inner_oom || f.message() == strata::detail::oom_message;
        inner_static = inner_static || is_static(f);
    }
    if (inner_static) parts.emplace_back("an inner frame is a static frame");
    else if (inner_oom) parts.emplace_back("an inner frame has the out-of-memory message");
    if (e.stack().empty() && !full.stack().empty()) parts.emplace_back("no stack");
    if (misc_total(e) < misc_total(full)) parts.emplace_back("misc entries dropped");
    if (misc_oom_texts(e) > misc_oom_texts(full)) parts.emplace_back("a misc text is the out-of-memory text");
    if (e.cause_detail() != full.cause_detail()) parts.emplace_back("cause detail lost");
    if (parts.empty()) return "intact";
    std::string out;
    for (const std::string& p : parts) out += (out.empty() ? "" : ", ") + p;
    return out;
}

verdict check_error(const strata::error& e, const strata::error& full, const builder& b) {
    if (e.empty()) return {"the error is empty", ""};
    if (!b.layer_ok(e))
        return {"the outermost layer is \"" + std::string(e.layer().name) + "\", not " + b.expected_layer, ""};
    if (e.is_user_facing() != b.user_facing) return {"is_user_facing() changed", ""};
    if (e.message().empty()) return {"the message is empty", ""};
    return {"", degradation(e, full)};
}

// ---------------------------------------------------------------------------
// The sweep

const char* mode_name(fail_mode m) {
    switch (m) {
        case fail_mode::none: return "no failure";
        case fail_mode::only_nth: return "only the Nth fails";
        case fail_mode::from_nth: return "all from the Nth on fail";
    }
    return "?";
}

// What the terminate handler says: plain data, set before arming.
struct {
    const char* op = nullptr;
    fail_mode mode = fail_mode::none;
    long n = 0;
} current_run;

int saved_stderr = -1;  // while stderr_capture is active

[[noreturn]] void on_terminate() noexcept {
    if (saved_stderr >= 0) ::dup2(saved_stderr, 2);
    std::fprintf(stderr, "\noom_sweep_test: std::terminate() during \"%s\", %s, N=%ld\n",
                 current_run.op ? current_run.op : "(no sweep)", mode_name(current_run.mode), current_run.n);
    if (const std::type_info* t = abi::__cxa_current_exception_type()) {
        std::fprintf(stderr, "  with an exception of type %s in flight", t->name());
        try {
            throw;
        } catch (const std::exception& e) {
            std::fprintf(stderr, ": %s", e.what());
        } catch (...) {
        }
        std::fprintf(stderr, "\n");
    }
    std::abort();
}

struct sweep_result {
    std::string test;
    std::string name;
    long points = 0;  // K: the allocations of one run, each failed in turn
    long runs = 0;    // 2 * (K + 1): both modes, the controls included
    std::map<std::string, long> outcomes;
    std::vector<std::string> problems;
};

std::vector<sweep_result>& all_sweeps() {
    static std::vector<sweep_result> v;
    return v;
}

std::string ranges(const std::vector<long>& ns) {
    std::string out;
    for (std::size_t i = 0; i < ns.size();) {
        std::size_t j = i;
        while (j + 1 < ns.size() && ns[j + 1] == ns[j] + 1) ++j;
        if (!out.empty()) out += ",";
        out += std::to_string(ns[i]);
        if (j > i) out += ".." + std::to_string(ns[j]);
        i = j + 1;
    }
    return out;
}

struct no_tolerance {
    bool operator()(fail_mode, long, const std::exception_ptr&) const { return false; }
};

// Runs prepare() (with memory), then op(prepared) armed, for N = 1 .. K + 1 in both
// modes; verify(result, result_with_memory) judges each run. An exception that
// `tolerate` accepts is tallied instead of failing the test.
template <class Prepare, class Op, class Verify, class Tolerate = no_tolerance>
const sweep_result& sweep(const std::string& name, Prepare prepare, Op op, Verify verify, Tolerate tolerate = {}) {
    (void)in();
    std::set_terminate(&on_terminate);
    using P = std::invoke_result_t<Prepare&>;
    using R = std::invoke_result_t<Op&, P&>;
    struct attempt_t {
        std::optional<R> out;
        std::exception_ptr thrown;
        long allocations = 0;
        long failures = 0;
    };
    auto attempt = [&](fail_mode mode, long n) {
        attempt_t a;
        P p = prepare();
        current_run = {name.c_str(), mode, n};
        {
            allocation_faults faults(mode, n);
            try {
                a.out.emplace(op(p));
            } catch (...) {
                a.thrown = std::current_exception();
            }
            a.allocations = faults.allocations();
            a.failures = faults.failures();
        }
        current_run = {};
        return a;
    };

    sweep_result res;
    res.test = Catch::getResultCapture().getCurrentTestName();
    res.name = name;
    INFO(name);
    const bool trace = std::getenv("STRATA_OOM_SWEEP_TRACE") != nullptr;  // one line a run on stdout
    std::map<std::string, std::vector<long>> problems;
    std::optional<attempt_t> base;
    verdict ok;
    long k = 0;
    // Three runs with memory (a warm-up, for one-time allocations such as the
    // symbol cache's, then two that count), then N = 1 .. K + 1 in each mode. All
    // go through the one call of attempt() below: the stacks a run captures hold
    // its return address, and another call site would be a stack that the symbol
    // cache has not seen (and symbolizing it would be counted).
    std::vector<std::pair<fail_mode, long>> plan(3, {fail_mode::none, 0});
    for (std::size_t i = 0; i < plan.size(); ++i) {
        const auto [mode, n] = plan[i];
        attempt_t a = attempt(mode, n);
        if (trace)
            std::printf("sweep %s | %s N=%ld: %ld allocations, %ld failed%s\n", name.c_str(), mode_name(mode), n,
                        a.allocations, a.failures, a.thrown ? ", threw" : "");
        if (i == 0) continue;
        if (i == 1) {
            if (a.thrown) FAIL("with memory to spare it threw " << describe(a.thrown));
            base.emplace(std::move(a));
            ok = verify(*base->out, *base->out);
            REQUIRE(ok.problem.empty());
            k = base->allocations;
            continue;
        }
        if (i == 2) {
            if (a.allocations != k)
                problems["unstable count: " + std::to_string(k) + " then " + std::to_string(a.allocations)].push_back(0);
            for (const fail_mode m : {fail_mode::only_nth, fail_mode::from_nth})
                for (long j = 1; j <= k + 1; ++j) plan.emplace_back(m, j);
            continue;
        }
        ++res.runs;
        std::string problem;
        std::string outcome;
        if (a.thrown) {
            if (tolerate(mode, n, a.thrown))
                outcome = "tolerated: " + describe(a.thrown);
            else
                problem = "threw " + describe(a.thrown);
        } else {
            const verdict v = verify(*a.out, *base->out);
            problem = v.problem;
            outcome = v.outcome;
        }
        if (n == k + 1) {
            if (a.failures != 0) problem += (problem.empty() ? "" : "; ") + std::string("the control run failed an allocation");
            if (problem.empty() && outcome != ok.outcome)
                problem = "the control run differs from the run with memory: " + outcome;
        } else {
            if (a.failures == 0) problem += (problem.empty() ? "" : "; ") + std::string("allocation N was never reached");
            if (!outcome.empty()) ++res.outcomes[outcome];
        }
        if (!problem.empty()) problems[std::string(mode_name(mode)) + ": " + problem].push_back(n);
    }
    res.points = k;
    for (const auto& [what, ns] : problems) {
        res.problems.push_back(what + " (N = " + ranges(ns) + " of K = " + std::to_string(k) + ")");
        FAIL_CHECK(name << ": " << res.problems.back());
    }
    all_sweeps().push_back(std::move(res));
    return all_sweeps().back();
}

// One WARN per test case: its operations, their K, runs and outcomes.
void warn_summary(const std::string& extra = {}) {
    const std::string test = Catch::getResultCapture().getCurrentTestName();
    std::ostringstream out;
    long points = 0;
    long runs = 0;
    long ops = 0;
    for (const sweep_result& r : all_sweeps()) {
        if (r.test != test) continue;
        ++ops;
        points += r.points;
        runs += r.runs;
        out << "  " << r.name << ": K = " << r.points << " allocation-failure points, " << r.runs << " runs\n";
        for (const auto& [what, count] : r.outcomes) out << "      " << count << " x " << what << "\n";
        for (const std::string& p : r.problems) out << "      FAILED: " << p << "\n";
    }
    std::ostringstream head;
    head << test << ": " << ops << " operations, " << points << " allocation-failure points swept in 2 modes ("
         << runs << " runs, controls included)\n";
    WARN(head.str() << out.str() << extra);
}

// ---------------------------------------------------------------------------
// handle(): a per-call sink that allocates nothing, and stderr captured (handle()
// writes there itself when out of memory).

struct {
    int calls = 0;
    std::size_t bytes = 0;
} sink_probe;

const strata::log_sink& probe_sink() {
    static const strata::log_sink sink = [](const strata::log_record& r) {
        ++sink_probe.calls;
        sink_probe.bytes = r.text.size();
    };
    return sink;
}

class stderr_capture {
public:
    stderr_capture() {
        std::fflush(stderr);
        file_ = std::tmpfile();
        REQUIRE(file_);
        saved_ = ::dup(2);
        ::dup2(::fileno(file_), 2);
        saved_stderr = saved_;
    }
    ~stderr_capture() {
        std::fflush(stderr);
        ::dup2(saved_, 2);
        ::close(saved_);
        saved_stderr = -1;
        std::fclose(file_);
    }
    stderr_capture(const stderr_capture&) = delete;
    stderr_capture& operator=(const stderr_capture&) = delete;

    std::string text() {
        std::fflush(stderr);
        std::string out;
        std::rewind(file_);
        char buf[4096];
        std::size_t n = 0;
        while ((n = std::fread(buf, 1, sizeof buf, file_)) > 0) out.append(buf, n);
        return out;
    }

private:
    std::FILE* file_ = nullptr;
    int saved_ = -1;
};

bool well_formed_id(std::string_view id) {
    static constexpr std::string_view alphabet = "0123456789abcdefghjkmnpqrstvwxyz";
    if (id.size() < 12 || id[10] != '-') return false;
    for (std::size_t i = 0; i < 10; ++i)
        if (alphabet.find(id[i]) == std::string_view::npos) return false;
    for (std::size_t i = 11; i < id.size(); ++i)
        if (id[i] < '0' || id[i] > '9') return false;
    return true;
}

struct handled {
    strata::error err;
    strata::report rep;
    int sink_calls = 0;
};

verdict check_handled(const handled& h, const handled& full, const builder& b, bool with_error_outcome) {
    verdict v = check_error(h.err, full.err, b);
    if (!v.problem.empty()) return v;
    if (h.rep.is_bug == b.user_facing)
        return {std::string("report.is_bug is ") + (h.rep.is_bug ? "true" : "false") + " for a " +
                    (b.user_facing ? "user-facing" : "bug") + " layer",
                ""};
    // With no memory even for the ID's text (an ID longer than std::string's
    // inline buffer), the report's ID is empty, never half made; then no record
    // went to the sink, and the one-line stderr fallback carries the ID.
    if (h.rep.id.empty() && h.sink_calls != 0) return {"the report's ID is empty, but a record was written", ""};
    if (!h.rep.id.empty() && !well_formed_id(h.rep.id))
        return {"the report's ID is malformed: \"" + h.rep.id + "\"", ""};
    const std::string expected = b.user_facing ? std::string(h.err.message()) : std::string(strata::default_bug_message);
    if (!h.rep.user_message.empty() && h.rep.user_message != expected)
        return {"the user message is \"" + h.rep.user_message + "\", not \"" + expected + "\"", ""};
    std::string outcome = h.sink_calls == 1 ? "record to the sink" : "no record to the sink";
    if (h.rep.id.empty()) outcome += ", EMPTY ID (on the stderr line only)";
    if (h.rep.user_message.empty()) outcome += ", EMPTY user message";
    if (with_error_outcome) outcome += "; error: " + v.outcome;
    return {"", outcome};
}

// The first ID handle() gives in a run (each run starts from it, so that the ID's
// length, and with it the allocations, are the same in every run).
void reset_ids(std::uint64_t first) { strata::detail::process().id_next.store(first); }

void sweep_handle(const builder& b, std::uint64_t first_id, bool prepared) {
    const strata::handle_options options{&probe_sink()};
    if (prepared) {
        sweep(
            "handle(" + b.name + ")",
            [&] {
                reset_ids(first_id);
                sink_probe = {};
                return b.build();
            },
            // (braced: the sink's count is read after handle() returns)
            [&](strata::error& e) { return handled{e, strata::handle(e, options), sink_probe.calls}; },
            [&](const handled& h, const handled& full) { return check_handled(h, full, b, false); });
    } else {
        sweep(
            "make and handle: " + b.name,
            [&] {
                reset_ids(first_id);
                sink_probe = {};
                return 0;
            },
            [&](int) {
                strata::error e = b.build();
                strata::report r = strata::handle(e, options);
                return handled{std::move(e), std::move(r), sink_probe.calls};
            },
            [&](const handled& h, const handled& full) { return check_handled(h, full, b, true); });
    }
}

// ---------------------------------------------------------------------------
// Formatting into a fixed buffer: fmt allocates nothing for the output, so every
// allocation is strata's (or fmt's inside strata's formatter).

char out_buf[1 << 16];

struct formatted {
    strata::error err;
    std::size_t size = 0;
};

verdict check_formatted(const formatted& f, const formatted& full, const builder* b) {
    if (b) {
        const verdict v = check_error(f.err, full.err, *b);
        if (!v.problem.empty()) return v;
    }
    if (f.size == 0) return {"the text is empty", ""};
    const std::string_view text(out_buf, std::min(f.size, sizeof out_buf));
    if (text.find_first_not_of(" \n") == std::string_view::npos) return {"the text is blank", ""};
    std::string outcome = f.size == full.size ? "same length" : f.size < full.size ? "shorter text" : "longer text";
    if (b) outcome += "; error: " + degradation(f.err, full.err);
    return {"", outcome};
}

std::size_t format_plain(const strata::error& e) { return fmt::format_to_n(out_buf, sizeof out_buf, "{}", e).size; }
std::size_t format_chain(const strata::error& e) { return fmt::format_to_n(out_buf, sizeof out_buf, "{:c}", e).size; }
std::size_t format_verbose(const strata::error& e) { return fmt::format_to_n(out_buf, sizeof out_buf, "{:v}", e).size; }

struct format_spec {
    const char* spec;
    std::size_t (*to_buffer)(const strata::error&);
    std::string (*to_string)(const strata::error&);
};

const format_spec format_specs[] = {
    {"{}", &format_plain, [](const strata::error& e) { return fmt::format("{}", e); }},
    {"{:c}", &format_chain, [](const strata::error& e) { return fmt::format("{:c}", e); }},
    {"{:v}", &format_verbose, [](const strata::error& e) { return fmt::format("{:v}", e); }},
};

bool g_formatted_verbose = false;  // set once any sweep has formatted a stack

// Errors whose stacks start in a function never symbolized before: one per
// instantiation (same name length, so that every run allocates alike).
template <int I>
[[gnu::noinline]] strata::error fresh_error() {
    return strata::make_error<api_layer>("fresh error {}", I);
}
template <std::size_t... I>
constexpr std::array<strata::error (*)(), sizeof...(I)> fresh_table(std::index_sequence<I...>) {
    return {&fresh_error<1000 + static_cast<int>(I)>...};
}
constexpr auto fresh_errors = fresh_table(std::make_index_sequence<300>{});

}  // namespace

// ---------------------------------------------------------------------------

// A new-expression's result stored where the optimizer must keep it (it may
// elide an allocation whose result is unused); returned as it was.
template <class T>
T* kept(T* p) {
    static T* volatile sink;
    sink = p;
    return sink;
}

TEST_CASE("allocation_faults counts and fails every form of operator new on its thread", "[oom][sweep]") {
    {
        allocation_faults count;
        // Through volatile pointers: an optimizer may elide a new/delete pair.
        int* volatile one = new int(1);
        delete one;
        char* volatile three = new char[3];
        delete[] three;
        void* volatile raw = ::operator new(8, std::nothrow);
        ::operator delete(raw);
        CHECK(count.allocations() == 3);
        CHECK(count.failures() == 0);
    }
    {
        allocation_faults faults(fail_mode::only_nth, 2);
        int* a = new int(1);
        CHECK_THROWS_AS(kept(new int(2)), std::bad_alloc);
        int* c = new (std::nothrow) int(3);
        CHECK(c != nullptr);
        CHECK(faults.allocations() == 3);
        CHECK(faults.failures() == 1);
        delete a;
        delete c;
    }
    {
        allocation_faults faults(fail_mode::from_nth, 2);
        int* a = new int(1);
        CHECK(kept(new (std::nothrow) int(2)) == nullptr);
        CHECK_THROWS_AS(kept(new char[4]), std::bad_alloc);
        CHECK(kept(::operator new(16, std::align_val_t{64}, std::nothrow)) == nullptr);
        CHECK_THROWS_AS(kept(::operator new(16, std::align_val_t{64})), std::bad_alloc);
        CHECK(faults.allocations() == 5);
        CHECK(faults.failures() == 4);
        delete a;
    }
    {
        // Another thread is neither counted nor failed.
        std::atomic<int> step{0};
        bool other_ok = false;
        std::thread t([&] {
            while (step.load() != 1) std::this_thread::yield();
            try {
                int* volatile p = new int(1);
                delete p;
                other_ok = true;
            } catch (...) {
            }
            step.store(2);
        });
        long seen = -1;
        {
            allocation_faults faults(fail_mode::from_nth, 1);
            step.store(1);
            while (step.load() != 2) std::this_thread::yield();
            seen = faults.allocations();
        }
        t.join();
        CHECK(other_ok);
        CHECK(seen == 0);
    }
    // An over-aligned allocation is aligned; unarmed, nothing fails.
    void* p = ::operator new(100, std::align_val_t{256});
    CHECK(reinterpret_cast<std::uintptr_t>(p) % 256 == 0);
    ::operator delete(p, std::align_val_t{256});
    // out_of_memory (nothrow only, all threads) still works.
    {
        strata_test::out_of_memory oom(1);
        CHECK(new (std::nothrow) int(1) == nullptr);
        int* b = new (std::nothrow) int(2);
        CHECK(b != nullptr);
        delete b;
    }
}

TEST_CASE("out of memory at every allocation: creating and wrapping errors and adding misc", "[oom][sweep]") {
    std::vector<builder> builders = builders_for<api_layer>();
    for (builder& b : layerless_builders()) builders.push_back(std::move(b));
    for (const builder& b : builders) {
        sweep(
            b.name, [] { return 0; }, [&](int) { return b.build(); },
            [&](const strata::error& e, const strata::error& full) { return check_error(e, full, b); });
    }
    warn_summary();
}

TEST_CASE("out of memory at every allocation: handle() keeps the decision and gives an ID", "[oom][sweep]") {
    std::vector<builder> builders = builders_for<api_layer>();
    for (builder& b : builders_for<strata::low_level>()) builders.push_back(std::move(b));
    for (builder& b : layerless_builders()) builders.push_back(std::move(b));
    std::string captured;
    {
        stderr_capture cap;
        for (const builder& b : builders) {
            sweep_handle(b, 1000, true);
            sweep_handle(b, 1000, false);
        }
        captured = cap.text();
    }
    g_formatted_verbose = true;
    std::size_t lines = 0;
    for (char c : captured) lines += c == '\n';
    warn_summary("  (IDs of 15 characters, within std::string's inline buffer)\n  handle() wrote " + std::to_string(lines) +
                 " lines to stderr (its out-of-memory fallback), e.g.: " + captured.substr(0, captured.find('\n')) +
                 "\n");
}

TEST_CASE("out of memory at every allocation: handle() with IDs longer than std::string's inline buffer",
          "[oom][sweep]") {
    std::vector<builder> builders;
    for (builder& b : builders_for<api_layer>())
        if (b.build == &build_make_error<api_layer> || b.build == &build_chain<api_layer>) builders.push_back(std::move(b));
    for (builder& b : builders_for<strata::low_level>())
        if (b.build == &build_make_error<strata::low_level> || b.build == &build_chain<strata::low_level>)
            builders.push_back(std::move(b));
    {
        stderr_capture cap;
        for (const builder& b : builders) sweep_handle(b, 1'000'000'000'000, true);
    }
    g_formatted_verbose = true;
    warn_summary("  (IDs of 24 characters: the sequence number has 13 digits)\n");
}

TEST_CASE("out of memory at every allocation: formatting {} {:c} and {:v} into a fixed buffer", "[oom][sweep]") {
    strata_test::policy_guard guard;
    const builder chain{"4-deep chain with misc", &build_rich_chain<api_layer>, &is_layer<api_layer>, "api", true};
    for (const strata::capture_policy policy : {strata::capture_policy::origin, strata::capture_policy::every_frame}) {
        strata::set_capture_policy(policy);
        const std::string pol = policy == strata::capture_policy::origin ? "origin stack" : "every frame's stack";
        for (const format_spec& f : format_specs) {
            sweep(
                std::string("format_to_n(\"") + f.spec + "\") of a prepared " + chain.name + ", " + pol,
                [&] { return chain.build(); }, [&](strata::error& e) { return formatted{e, f.to_buffer(e)}; },
                [&](const formatted& r, const formatted& full) { return check_formatted(r, full, nullptr); });
            sweep(
                std::string("make and format_to_n(\"") + f.spec + "\"): " + chain.name + ", " + pol, [] { return 0; },
                [&](int) {
                    strata::error e = chain.build();
                    const std::size_t n = f.to_buffer(e);
                    return formatted{std::move(e), n};
                },
                [&](const formatted& r, const formatted& full) { return check_formatted(r, full, &chain); });
        }
    }
    // A static out-of-memory frame formats too.
    const strata::error oom = strata::detail::access::adopt(&strata::detail::oom_frame_of<api_layer>);
    for (const format_spec& f : format_specs) {
        sweep(
            std::string("format_to_n(\"") + f.spec + "\") of a static out-of-memory frame", [&] { return oom; },
            [&](strata::error& e) { return formatted{e, f.to_buffer(e)}; },
            [&](const formatted& r, const formatted& full) { return check_formatted(r, full, nullptr); });
    }
    g_formatted_verbose = true;
    warn_summary();
}

TEST_CASE("out of memory at every allocation: fmt::format to a std::string throws only for fmt's own allocations",
          "[oom][sweep]") {
    // fmt::format returns a std::string: when memory for that (or for growing fmt's
    // own output buffer) runs out, fmt throws std::bad_alloc, whatever strata does.
    // Those allocations come after strata's formatter has built its text. With
    // K_own allocations of strata's own (counted with format_to_n on the same error,
    // made where the sweep makes it, so that its stack is as deep), "only the Nth
    // fails" for N > K_own, and "all from the Nth on fail" for any N, may throw
    // std::bad_alloc; nothing else may.
    const builder chain{"4-deep chain with misc", &build_rich_chain<api_layer>, &is_layer<api_layer>, "api", true};
    for (const format_spec& f : format_specs) {
        long own = -1;
        sweep(
            std::string("fmt::format(\"") + f.spec + "\") of a prepared " + chain.name,
            [&] {
                strata::error e = chain.build();
                (void)f.to_buffer(e);  // symbolized, so that the count below is that of every run
                allocation_faults count;
                (void)f.to_buffer(e);
                own = count.allocations();
                return e;
            },
            [&](strata::error& e) {
                std::string s = f.to_string(e);
                return s;
            },
            [&](const std::string& s, const std::string& full) -> verdict {
                if (s.empty()) return {"the text is empty", ""};
                return {"", s.size() == full.size() ? "same length" : "different length"};
            },
            [&](fail_mode mode, long n, const std::exception_ptr& p) {
                return is_bad_alloc(p) && (mode == fail_mode::from_nth || n > own);
            });
        all_sweeps().back().name += " (K_own = " + std::to_string(own) + ")";
    }
    g_formatted_verbose = true;
    warn_summary();
}

TEST_CASE("out of memory at every allocation: {:v} of a stack never symbolized before", "[oom][sweep]") {
    // Each run formats an error made in a function whose address the symbol cache has
    // not seen, so that symbolizing it (Boost.Stacktrace, the cache) is swept too.
    std::size_t next = 0;
    bool exhausted = false;
    sweep(
        "format_to_n(\"{:v}\") of an error whose top stack frame is not yet symbolized",
        [&] {
            if (next == fresh_errors.size()) exhausted = true;
            return fresh_errors[std::min(next++, fresh_errors.size() - 1)]();
        },
        [&](strata::error& e) { return formatted{e, format_verbose(e)}; },
        [&](const formatted& r, const formatted& full) { return check_formatted(r, full, nullptr); });
    CHECK_FALSE(exhausted);
    g_formatted_verbose = true;
    warn_summary("  (" + std::to_string(next) + " fresh functions used)\n");
}

TEST_CASE("out of memory at every allocation: to_json and from_json", "[oom][sweep]") {
    // to_json gives the whole text or, out of memory, an empty string; from_json
    // gives the error, or a bad_json failure that says so. Neither throws (both are
    // noexcept: a throw would terminate the sweep).
    const builder chain{"4-deep chain with misc", &build_rich_chain<api_layer>, &is_layer<api_layer>, "api", true};
    sweep(
        "to_json of a prepared " + chain.name, [&] { return chain.build(); },
        [&](strata::error& e) { return strata::to_json(e); },
        [&](const std::string& text, const std::string& full) -> verdict {
            if (text.empty()) return {"", "empty (out of memory)"};
            if (text.size() != full.size()) return {"a partial text: " + text.substr(0, 80), ""};
            return {"", "whole"};
        });
    const std::string encoded = strata::to_json(chain.build());
    REQUIRE_FALSE(encoded.empty());
    const std::string chain_text = fmt::format("{:c}", strata::from_json(encoded).value());
    sweep(
        "from_json of a 4-deep chain's JSON", [&] { return encoded; },
        [&](std::string& text) { return strata::from_json(text); },
        [&](const strata::result<strata::error>& r, const strata::result<strata::error>&) -> verdict {
            if (r) {
                if (fmt::format("{:c}", *r) != chain_text) return {"decoded, but the chain differs", ""};
                if (!r->is<api_layer>()) return {"decoded, but the layer differs", ""};
                return {"", "decoded"};
            }
            if (!r.error().is<strata::bad_json>()) return {"failed outside bad_json", ""};
            if (r.error().message().find("out of memory") == std::string_view::npos)
                return {"failed without saying memory ran out: " + std::string(r.error().message()), ""};
            return {"", "failed: out of memory"};
        });
    warn_summary();
}

// A rich chain with secondary errors at two levels, one of which has its own.
template <class L>
strata::error build_with_secondaries() {
    strata::error later = build_chain<storage_layer>().with_secondary("nested", build_chain<strata::low_level>());
    strata::error e = build_rich_chain<L>();
    e.with_secondary("later failure 1 of 2", later);
    e.with_secondary("later failure 2 of 2", build_chain<strata::low_level>());
    return e;
}

TEST_CASE("out of memory at every allocation: secondary errors (attach, {:v}, to_json, from_json)", "[oom][sweep]") {
    // Attaching a secondary error to a shared frame copies it (misc, secondaries and
    // all): out of memory, the error keeps its layer and the secondary may be
    // dropped, never a crash. {:v}, to_json and from_json of an error with
    // secondaries degrade as they do without.
    const builder chain{"4-deep chain with misc", &build_rich_chain<api_layer>, &is_layer<api_layer>, "api", true};
    const strata::error extra = build_chain<storage_layer>();
    sweep(
        "with_secondary on a shared 4-deep chain", [&] { return chain.build(); },
        [&](strata::error& e) {
            strata::error copy = e;
            copy.with_secondary("replica 2 failed", extra);
            copy.with_secondary(extra);
            return copy;
        },
        [&](const strata::error& e, const strata::error& full) -> verdict {
            const verdict v = check_error(e, full, chain);
            if (!v.problem.empty()) return v;
            if (e.secondaries().size() > 2) return {"more secondaries than were attached", ""};
            return {"", v.outcome + "; " + std::to_string(e.secondaries().size()) + " secondaries kept"};
        });
    sweep(
        "make a chain with secondaries at two levels", [] { return 0; },
        [&](int) { return build_with_secondaries<api_layer>(); },
        [&](const strata::error& e, const strata::error& full) { return check_error(e, full, chain); });
    sweep(
        "format_to_n(\"{:v}\") of a chain with secondaries", [&] { return build_with_secondaries<api_layer>(); },
        [&](strata::error& e) { return formatted{e, format_verbose(e)}; },
        [&](const formatted& r, const formatted& full) { return check_formatted(r, full, nullptr); });
    sweep(
        "to_json of a chain with secondaries", [&] { return build_with_secondaries<api_layer>(); },
        [&](strata::error& e) { return strata::to_json(e); },
        [&](const std::string& text, const std::string& full) -> verdict {
            if (text.empty()) return {"", "empty (out of memory)"};
            if (text.size() != full.size()) return {"a partial text: " + text.substr(0, 80), ""};
            return {"", "whole"};
        });
    const std::string encoded = strata::to_json(build_with_secondaries<api_layer>());
    REQUIRE_FALSE(encoded.empty());
    sweep(
        "from_json of a chain with secondaries", [&] { return encoded; },
        [&](std::string& text) { return strata::from_json(text); },
        [&](const strata::result<strata::error>& r, const strata::result<strata::error>&) -> verdict {
            if (r) {
                if (strata::to_json(*r) != encoded) return {"decoded, but it encodes otherwise", ""};
                return {"", "decoded"};
            }
            if (!r.error().is<strata::bad_json>()) return {"failed outside bad_json", ""};
            if (r.error().message().find("out of memory") == std::string_view::npos)
                return {"failed without saying memory ran out: " + std::string(r.error().message()), ""};
            return {"", "failed: out of memory"};
        });
    g_formatted_verbose = true;
    warn_summary();
}

TEST_CASE("out of memory at every allocation: totals", "[oom][sweep]") {
    std::ostringstream out;
    long points = 0;
    long runs = 0;
    long problems = 0;
    std::map<std::string, std::pair<long, long>> by_test;
    for (const sweep_result& r : all_sweeps()) {
        points += r.points;
        runs += r.runs;
        problems += static_cast<long>(r.problems.size());
        by_test[r.test].first += r.points;
        by_test[r.test].second += r.runs;
    }
    for (const auto& [test, pr] : by_test)
        out << "  " << test << ": " << pr.first << " points, " << pr.second << " runs\n";
    WARN("all sweeps: " << all_sweeps().size() << " operations, " << points
                        << " allocation-failure points, each swept in 2 modes: " << runs
                        << " runs (controls included); " << problems << " kinds of failure\n"
                        << out.str());
}

// Last: meaningful only in a process that has not formatted a stack yet (run it on
// its own, as ctest does). The first {:v} of a process makes the symbol cache; if
// that allocation fails, does symbolizing work again once memory is back?
TEST_CASE("out of memory at the first {:v} of the process: symbols come back with memory", "[oom][sweep]") {
    if (g_formatted_verbose) {
        WARN("skipped: stacks were formatted before in this process; run this test case on its own");
        return;
    }
    const strata::error e = fresh_errors[fresh_errors.size() - 1]();
    std::exception_ptr thrown;
    {
        allocation_faults faults(fail_mode::from_nth, 1);
        try {
            (void)format_verbose(e);
        } catch (...) {
            thrown = std::current_exception();
        }
    }
    if (thrown) WARN("the first {:v} threw " << describe(thrown));
    const std::size_t n = format_verbose(e);
    const std::string text(out_buf, std::min(n, sizeof out_buf));
    INFO(text);
    // The stack's lines name their functions (not only the frame's "at" line).
    const std::size_t stack = text.find("(origin):");
    REQUIRE(stack != std::string::npos);
    CHECK(text.find("# main", stack) != std::string::npos);
}

#else

TEST_CASE("out-of-memory sweeps are left out of sanitizer builds", "[oom][sweep]") {
    SUCCEED("operator new is the sanitizer's here");
}

#endif  // STRATA_TEST_REPLACE_NEW
