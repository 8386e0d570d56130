// Tests for <strata/format.hpp>: the {} / {:c} / {:v} forms of an error, the
// location and misc_value formatters, and symbolize() with its cache.
//
// Not tested here: a bad format specifier for an error, e.g.
//     fmt::format("{:x}", e);
// must fail to COMPILE (the formatter's parse is constexpr and rejects it). That
// is a compile-fail test and belongs to the lead's compile-fail suite; at run time
// we check that fmt::runtime("{:x}") throws fmt::format_error instead.
#include <catch2/catch.hpp>
#include <strata/format.hpp>

#include "support.hpp"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

namespace {

struct billing_layer {
    static constexpr std::string_view name = "format_test.billing";
    static constexpr bool user_facing = true;
};

struct storage_layer {
    static constexpr std::string_view name = "format_test.storage";
};

std::vector<std::string> lines_of(std::string_view text) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= text.size()) {
        const std::size_t end = text.find('\n', start);
        if (end == std::string_view::npos) {
            if (start < text.size()) out.emplace_back(text.substr(start));
            break;
        }
        out.emplace_back(text.substr(start, end - start));
        start = end + 1;
    }
    return out;
}

// The first line of `text` that contains `needle` ("" if none).
std::string line_with(std::string_view text, std::string_view needle) {
    for (const std::string& l : lines_of(text))
        if (l.find(needle) != std::string::npos) return l;
    return {};
}

// The line right after the first line that contains `header` ("" if none).
std::string line_after(std::string_view text, std::string_view header) {
    const std::vector<std::string> ls = lines_of(text);
    for (std::size_t i = 0; i + 1 < ls.size(); ++i)
        if (ls[i].find(header) != std::string::npos) return ls[i + 1];
    return {};
}

bool contains(std::string_view text, std::string_view needle) { return text.find(needle) != std::string_view::npos; }

std::string trim_right(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

std::string at_text(const char* function, int line) {
    return fmt::format("at {} ({}:{})", function, __FILE__, line);
}

int origin_line = 0;  // where format_test_origin made its error

}  // namespace

// Named, never inlined: the origin stack of its error must start here.
[[gnu::noinline]] strata::wrapped_error<storage_layer> format_test_origin(int block) {
    origin_line = __LINE__ + 1;
    return strata::make_error<storage_layer>("bad block {}", block).with("block", block);
}

int ec_line = 0;  // where format_test_ec_origin wrapped its std::error_code

[[gnu::noinline]] strata::wrapped_error<strata::low_level> format_test_ec_origin(std::string_view path) {
    const std::error_code ec = std::make_error_code(std::errc::no_such_file_or_directory);
    ec_line = __LINE__ + 1;
    return strata::wrap<strata::low_level>(ec, "stat {}", path).with("path", path).with("attempt", 3).with("retry", false);
}

[[gnu::noinline]] strata::error symbolize_threads_origin() {
    return strata::make_error("only here for the symbolize threads test");
}

// ---------------------------------------------------------------------------
// {} and {:c}

TEST_CASE("{} is the outermost message", "[format]") {
    const strata::error root = strata::make_error<strata::low_level>("disk {} failed", 7);
    const strata::error mid = strata::wrap(root, "save failed");
    const strata::error top = strata::wrap<strata::intermediate>(mid, "could not save {}", "report.pdf");

    CHECK(fmt::format("{}", root) == "disk 7 failed");
    CHECK(fmt::format("{}", mid) == "save failed");
    CHECK(fmt::format("{}", top) == "could not save report.pdf");
    CHECK(fmt::format("<{}>", top) == "<could not save report.pdf>");

    const strata::error with_code = strata::wrap<strata::low_level>(std::make_error_code(std::errc::permission_denied), "open");
    CHECK(fmt::format("{}", with_code) == "open");
}

TEST_CASE("{:c} is the chain outer: middle: root", "[format]") {
    SECTION("strata frames only") {
        const strata::error root = strata::make_error<strata::low_level>("root");
        const strata::error mid = strata::wrap(root, "middle");
        const strata::error top = strata::wrap<strata::intermediate>(mid, "outer");
        CHECK(fmt::format("{:c}", top) == "outer: middle: root");
        CHECK(fmt::format("{:c}", mid) == "middle: root");
        CHECK(fmt::format("{:c}", root) == "root");
    }
    SECTION("a std::error_code root contributes its message") {
        const std::error_code ec = std::make_error_code(std::errc::no_such_file_or_directory);
        const strata::error low = strata::wrap<strata::low_level>(ec, "stat {}", "/etc/app.conf");
        const strata::error top = strata::wrap<strata::intermediate>(low, "could not load the configuration");
        CHECK(fmt::format("{:c}", top) == "could not load the configuration: stat /etc/app.conf: " + ec.message());
        CHECK(fmt::format("{:c}", low) == "stat /etc/app.conf: " + ec.message());
    }
    SECTION("an exception root contributes its what()") {
        const strata::error low = strata::wrap<strata::low_level>(std::runtime_error("socket closed"), "send");
        CHECK(fmt::format("{:c}", low) == "send: socket closed");
    }
}

// ---------------------------------------------------------------------------
// {:v}

TEST_CASE("{:v} shows every frame: layer, message, call site, misc, cause, origin stack", "[format]") {
    const strata::error low = format_test_ec_origin("/srv/data");
    const int mid_line = __LINE__ + 1;
    const strata::error mid = strata::wrap<strata::intermediate>(low, "could not open the data file").with("user", "ann");
    const int top_line = __LINE__ + 1;
    const strata::error top = strata::wrap<billing_layer>(mid, "invoice {} not sent", 42);

    const std::string v = fmt::format("{:v}", top);
    INFO(v);

    SECTION("layer names and messages, with the user-facing marker where it belongs") {
        const std::string top_l = line_with(v, "invoice 42 not sent");
        const std::string mid_l = line_with(v, "could not open the data file");
        const std::string low_l = line_with(v, "stat /srv/data");
        CHECK(contains(top_l, "format_test.billing"));
        CHECK(contains(top_l, "[user-facing]"));
        CHECK(contains(mid_l, "intermediate"));
        CHECK(contains(mid_l, "[user-facing]"));
        CHECK(contains(low_l, "low_level"));
        CHECK_FALSE(contains(low_l, "[user-facing]"));
        // Outermost first.
        CHECK(v.find("invoice 42 not sent") < v.find("could not open the data file"));
        CHECK(v.find("could not open the data file") < v.find("stat /srv/data"));
    }
    SECTION("call sites with the real function, file and line") {
        CHECK(contains(v, at_text("format_test_ec_origin", ec_line)));
        const char* here = __builtin_FUNCTION();
        CHECK(contains(v, at_text(here, mid_line)));
        CHECK(contains(v, at_text(here, top_line)));
    }
    SECTION("misc entries as key = value, strings quoted") {
        CHECK(contains(v, "path = \"/srv/data\""));
        CHECK(contains(v, "attempt = 3"));
        CHECK(contains(v, "retry = false"));
        CHECK(contains(v, "user = \"ann\""));
        // Each misc entry is printed under its own frame: "user" after the
        // intermediate frame's message and before the low-level one.
        CHECK(v.find("user = ") > v.find("could not open the data file"));
        CHECK(v.find("user = ") < v.find("stat /srv/data"));
    }
    SECTION("the std::error_code cause and its detail") {
        const std::string ec_msg = std::make_error_code(std::errc::no_such_file_or_directory).message();
        const std::string cause_l = line_with(v, ec_msg);
        CHECK(contains(cause_l, "std::error_code"));
        CHECK(contains(cause_l, "generic:2"));
    }
    SECTION("the origin stack starts in the function that made the error") {
        // The root cause (frame #3) captured the stack.
        const std::string header = fmt::format("stack of #{} (origin)", top.depth() - 1);
        REQUIRE(contains(v, header));
        CHECK(contains(line_after(v, header), "format_test_ec_origin"));
        // The stack comes after the frames.
        CHECK(v.find(header) > v.find("stat /srv/data"));
    }
}

TEST_CASE("{:v} origin stack names the function that created the error with make_error", "[format]") {
    const strata::error e = strata::wrap<strata::intermediate>(format_test_origin(9), "could not read");
    const std::string v = fmt::format("{:v}", e);
    INFO(v);
    CHECK(contains(v, "format_test.storage"));
    CHECK(contains(v, "bad block 9"));
    CHECK(contains(v, "block = 9"));
    CHECK(contains(v, at_text("format_test_origin", origin_line)));
    const std::string header = "stack of #1 (origin)";
    REQUIRE(contains(v, header));
    const std::string first = line_after(v, header);
    CHECK(contains(first, "format_test_origin"));
    // The frame below is this test case's function (it called format_test_origin).
    CHECK(contains(v, __FILE__));
}

[[gnu::noinline]] strata::error format_test_nested_inner() { return strata::make_error<strata::low_level>("inner"); }

[[gnu::noinline]] strata::error format_test_nested_outer() {
    return strata::wrap<strata::intermediate>(format_test_nested_inner(), "outer");
}

[[gnu::noinline]] strata::error format_test_recurse(int n) {
    if (n == 0) return strata::make_error("deep down");
    strata::error e = format_test_recurse(n - 1);
    __asm__ volatile("" ::: "memory");  // not a tail call: keep a frame per level
    return e;
}

namespace {

// Sets the capture policy for one test and restores the previous one.
struct capture_policy_guard {
    strata::capture_policy saved = strata::get_capture_policy();
    explicit capture_policy_guard(strata::capture_policy p) { strata::set_capture_policy(p); }
    ~capture_policy_guard() { strata::set_capture_policy(saved); }
    capture_policy_guard(const capture_policy_guard&) = delete;
    capture_policy_guard& operator=(const capture_policy_guard&) = delete;
};

std::size_t count_of(std::string_view text, std::string_view needle) {
    std::size_t n = 0;
    for (std::size_t at = text.find(needle); at != std::string_view::npos; at = text.find(needle, at + 1)) ++n;
    return n;
}

}  // namespace

TEST_CASE("{:v} prints frames shared by nested stacks once", "[format]") {
    const capture_policy_guard every(strata::capture_policy::every_frame);
    const strata::error e = format_test_nested_outer();
    const std::string v = fmt::format("{:v}", e);
    INFO(v);
    REQUIRE(contains(v, "stack of #1 (origin)"));
    REQUIRE(contains(v, "stack of #0"));
    CHECK(v.find("stack of #1 (origin)") < v.find("stack of #0"));  // the origin first
    CHECK(contains(line_after(v, "stack of #1 (origin)"), "format_test_nested_inner"));
    CHECK(contains(line_after(v, "stack of #0"), "format_test_nested_outer"));
    // This test's own function is below both stacks and printed once.
    CHECK(count_of(v, __builtin_FUNCTION()) == 1);
    CHECK(contains(v, "in common"));
}

// A function template's demangled name starts with its return type, here a strata
// type: it is still the user's function and must not be taken for strata's own.
template <class T>
[[gnu::noinline]] strata::wrapped_error<storage_layer> format_test_template_origin(T value) {
    return strata::make_error<storage_layer>("bad value {}", value);
}

TEST_CASE("{:v} origin stack names a function template that returns a strata type", "[format]") {
    const strata::error e = format_test_template_origin(5);
    const std::string v = fmt::format("{:v}", e);
    INFO(v);
    REQUIRE(contains(v, "stack of #0 (origin)"));
    CHECK(contains(line_after(v, "stack of #0 (origin)"), "format_test_template_origin"));
}

TEST_CASE("{:v} says when the origin stack was cut", "[format]") {
    const strata::error e = format_test_recurse(STRATA_MAX_STACK_DEPTH + 10);
    REQUIRE(e.stack().truncated());
    const std::string v = fmt::format("{:v}", e);
    INFO(v);
    CHECK(contains(v, "not captured"));
    CHECK(contains(line_after(v, "stack of #0 (origin)"), "format_test_recurse"));
}

TEST_CASE("{:v} names an exception root's type", "[format]") {
    const strata::error e = strata::wrap<strata::low_level>(std::out_of_range("index 12"), "lookup");
    const std::string v = fmt::format("{:v}", e);
    INFO(v);
    const std::string cause = line_with(v, "index 12");
    CHECK(contains(cause, "exception"));
    CHECK(contains(cause, "std::out_of_range"));
}

// ---------------------------------------------------------------------------
// Empty errors and wrapped_error<L>

TEST_CASE("an empty error formats as (no error) at all three levels", "[format]") {
    const strata::error empty;
    CHECK(fmt::format("{}", empty) == "(no error)");
    CHECK(fmt::format("{:c}", empty) == "(no error)");
    CHECK(trim_right(fmt::format("{:v}", empty)) == "(no error)");

    strata::error e = strata::make_error("moved away");
    strata::error taken = std::move(e);
    CHECK(fmt::format("{}", e) == "(no error)");  // NOLINT(bugprone-use-after-move)
    CHECK(fmt::format("{:c}", e) == "(no error)");
    CHECK(trim_right(fmt::format("{:v}", e)) == "(no error)");
    CHECK(fmt::format("{}", taken) == "moved away");

    auto empty_wrapped = strata::make_error<strata::low_level>("moved away too");
    const strata::error taken_too = std::move(empty_wrapped);  // a moved-from wrapped_error is empty
    CHECK(fmt::format("{}", empty_wrapped) == "(no error)");
    CHECK(fmt::format("{:c}", empty_wrapped) == "(no error)");
    CHECK(trim_right(fmt::format("{:v}", empty_wrapped)) == "(no error)");
}

TEST_CASE("wrapped_error<L> formats like error", "[format]") {
    const strata::wrapped_error<strata::low_level> low =
        strata::wrap<strata::low_level>(std::make_error_code(std::errc::timed_out), "connect {}", "db:5432").with("port", 5432);
    const strata::wrapped_error<strata::intermediate> top = strata::wrap<strata::intermediate>(low, "database unavailable");
    const strata::error& as_error = top;

    CHECK(fmt::format("{}", top) == "database unavailable");
    CHECK(fmt::format("{}", top) == fmt::format("{}", as_error));
    CHECK(fmt::format("{:c}", top) == fmt::format("{:c}", as_error));
    CHECK(fmt::format("{:c}", top) ==
          "database unavailable: connect db:5432: " + std::make_error_code(std::errc::timed_out).message());
    CHECK(fmt::format("{:v}", top) == fmt::format("{:v}", as_error));
    CHECK(contains(fmt::format("{:v}", low), "port = 5432"));
}

// ---------------------------------------------------------------------------
// Bad specifiers (run time only; see the note at the top of the file)

TEST_CASE("a bad format specifier for an error throws fmt::format_error at run time", "[format]") {
    const strata::error e = strata::make_error("x");
    const strata::wrapped_error<strata::low_level> w = strata::make_error<strata::low_level>("y");
    CHECK_THROWS_AS(fmt::format(fmt::runtime("{:x}"), e), fmt::format_error);
    CHECK_THROWS_AS(fmt::format(fmt::runtime("{:cv}"), e), fmt::format_error);
    CHECK_THROWS_AS(fmt::format(fmt::runtime("{:v1}"), e), fmt::format_error);
    CHECK_THROWS_AS(fmt::format(fmt::runtime("{:>10}"), e), fmt::format_error);
    CHECK_THROWS_AS(fmt::format(fmt::runtime("{:x}"), w), fmt::format_error);
    CHECK_THROWS_AS(fmt::format(fmt::runtime("{:x}"), strata::error{}), fmt::format_error);
    // The good ones at run time still work.
    CHECK(fmt::format(fmt::runtime("{}"), e) == "x");
    CHECK(fmt::format(fmt::runtime("{:c}"), w) == "y");
    CHECK_NOTHROW(fmt::format(fmt::runtime("{:v}"), e));
}

// ---------------------------------------------------------------------------
// Deep chains

TEST_CASE("formatting a 100 000-deep chain is bounded and says what it elided", "[format][deep]") {
    constexpr std::size_t levels = 100'000;
    strata::error e = strata::make_error<strata::low_level>("root cause");
    for (std::size_t i = 1; i <= levels; ++i) e = strata::wrap(std::move(e), "level {}", i);
    REQUIRE(e.depth() == levels + 1);

    CHECK(fmt::format("{}", e) == "level 100000");

    const std::string c = fmt::format("{:c}", e);
    CHECK(c.size() < 100'000);
    CHECK(contains(c, "frames elided"));
    CHECK(c.starts_with("level 100000: level 99999: "));
    CHECK(c.ends_with(": level 2: level 1: root cause"));

    // The elided count and the frames shown add up to the whole chain.
    std::size_t shown = contains(c, "root cause") ? 1 : 0;
    for (std::size_t at = c.find("level "); at != std::string::npos; at = c.find("level ", at + 1)) ++shown;
    const std::size_t note = c.find(" frames elided");
    REQUIRE(note != std::string::npos);
    std::size_t digits = note;
    while (digits > 0 && c[digits - 1] >= '0' && c[digits - 1] <= '9') --digits;
    const std::size_t elided = std::stoul(c.substr(digits, note - digits));
    CHECK(elided + shown == e.depth());

    const std::string v = fmt::format("{:v}", e);
    CHECK(v.size() < 100'000);
    CHECK(contains(v, "frames elided"));
    CHECK(contains(v, "level 100000"));
    CHECK(contains(v, "root cause"));
    CHECK(contains(v, fmt::format("stack of #{} (origin)", levels)));
}

// ---------------------------------------------------------------------------
// The location and misc_value formatters

TEST_CASE("location and misc_value format on their own", "[format]") {
    const int line = __LINE__ + 1;
    const strata::error e = strata::make_error("here").with("name", "quote\"d").with("count", -4).with("flag", true);
    CHECK(fmt::format("{}", e.location()) == fmt::format("{} ({}:{})", __builtin_FUNCTION(), __FILE__, line));

    std::vector<std::string> misc;
    for (const strata::misc_entry& m : e.misc()) misc.push_back(fmt::format("{}={}", m.key, m.value));
    REQUIRE(misc.size() == 3);
    CHECK(misc[0] == "name=\"quote\\\"d\"");
    CHECK(misc[1] == "count=-4");
    CHECK(misc[2] == "flag=true");
}

// ---------------------------------------------------------------------------
// symbolize

TEST_CASE("symbolize caches by address and names the function", "[format][symbolize]") {
    const strata::error e = format_test_origin(1);
    const strata::stack_view st = e.stack();
    REQUIRE_FALSE(st.empty());

    bool found_origin = false;
    for (std::uintptr_t pc : st) {
        const strata::symbol& first = strata::symbolize(pc);
        const strata::symbol& second = strata::symbolize(pc);
        CHECK(&first == &second);
        if (first.function.find("format_test_origin") != std::string::npos) {
            found_origin = true;
            CHECK(first.file == __FILE__);
            CHECK(first.line == static_cast<std::size_t>(origin_line));
        }
    }
    CHECK(found_origin);

    // An address with no symbol is safe and cached too.
    const strata::symbol& nothing = strata::symbolize(1);
    CHECK(&nothing == &strata::symbolize(1));
}

TEST_CASE("symbolize is safe from 4 threads at once on the same addresses", "[format][symbolize][threads]") {
    // Addresses that no other test has symbolized yet, so the threads race to fill the cache.
    const strata::error e = symbolize_threads_origin();
    const strata::stack_view st = e.stack();
    REQUIRE_FALSE(st.empty());
    const std::vector<std::uintptr_t> pcs(st.begin(), st.end());

    constexpr int n_threads = 4;
    constexpr int rounds = 50;
    std::vector<std::vector<const strata::symbol*>> seen(n_threads, std::vector<const strata::symbol*>(pcs.size()));
    strata_test::run_together(n_threads, [&](int t) {
        for (int r = 0; r < rounds; ++r) {
            for (std::size_t i = 0; i < pcs.size(); ++i) {
                const strata::symbol* s = &strata::symbolize(pcs[i]);
                if (r == 0)
                    seen[t][i] = s;
                else if (seen[t][i] != s)
                    seen[t][i] = nullptr;  // a different reference later: the cache did not hold
            }
        }
    });

    // Every thread got the same cached reference for each address, and it names the origin.
    for (std::size_t i = 0; i < pcs.size(); ++i) {
        const strata::symbol* main_view = &strata::symbolize(pcs[i]);
        for (int t = 0; t < n_threads; ++t) CHECK(seen[t][i] == main_view);
    }
    const bool named = std::any_of(pcs.begin(), pcs.end(), [](std::uintptr_t pc) {
        return strata::symbolize(pc).function.find("symbolize_threads_origin") != std::string::npos;
    });
    CHECK(named);
}
