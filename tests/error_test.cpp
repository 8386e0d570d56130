// Tests for <strata/error.hpp>: strata::error, wrapped_error<L>, make_error, wrap,
// find, misc entries, and how make_error/wrap apply the stack capture policy.
#include <catch2/catch.hpp>

#include "support.hpp"

#include <strata/error.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <future>
#include <ios>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>


namespace {

struct storage_layer {
    static constexpr std::string_view name = "storage";
};

struct api_layer {
    static constexpr std::string_view name = "api";
    static constexpr bool user_facing = true;
};

// User layers that happen to share a name with strata's cause records.
struct named_like_error_code {
    static constexpr std::string_view name = "std::error_code";
};
struct named_like_value {
    static constexpr std::string_view name = "value";
};

struct point {
    int x = 0;
    int y = 0;
};

// A formatter that always throws.
struct throws_when_formatted {};
// Formatters that throw fmt's own exception, and something not derived from
// std::exception.
struct throws_format_error {};
struct throws_int {};

struct my_exception : std::runtime_error {
    using std::runtime_error::runtime_error;
};


std::uint_least32_t line_of(int l) { return static_cast<std::uint_least32_t>(l); }

// An application helper that forwards its format string: the call site recorded is
// the helper's caller.
template <class... Args>
strata::wrapped_error<strata::low_level> fail(strata::format_string<Args...> f, Args&&... args) {
    return strata::make_error<strata::low_level>(f, std::forward<Args>(args)...);
}

}  // namespace


template <>
struct fmt::formatter<point> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const point& p, Ctx& ctx) const {
        return fmt::format_to(ctx.out(), "({}, {})", p.x, p.y);
    }
};

template <>
struct fmt::formatter<throws_when_formatted> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const throws_when_formatted&, Ctx& ctx) const -> decltype(ctx.out()) {
        throw std::runtime_error("formatter exploded");
    }
};

template <>
struct fmt::formatter<throws_format_error> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const throws_format_error&, Ctx& ctx) const -> decltype(ctx.out()) {
        throw fmt::format_error("no text for this value");
    }
};

template <>
struct fmt::formatter<throws_int> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const throws_int&, Ctx& ctx) const -> decltype(ctx.out()) {
        throw 42;
    }
};

using strata::error;
using strata::intermediate;
using strata::low_level;
using strata::untagged;
using kind = strata::misc_value::kind;

// ---------------------------------------------------------------------------
// Empty errors

namespace {
void check_empty(error& e) {
    CHECK(e.empty());
    CHECK_FALSE(static_cast<bool>(e));
    CHECK(e.message().empty());
    CHECK(e.layer().name == "(no error)");
    CHECK_FALSE(e.layer().user_facing);
    CHECK_FALSE(e.layer().is_cause);
    CHECK_FALSE(e.is_user_facing());
    CHECK_FALSE(e.is<low_level>());
    CHECK_FALSE(e.is<intermediate>());
    CHECK_FALSE(e.is<untagged>());
    CHECK(e.inner().empty());
    CHECK(e.stack().empty());
    CHECK(e.misc().empty());
    CHECK(e.misc().size() == 0);
    CHECK(e.misc().begin() == e.misc().end());
    CHECK(e.depth() == 0);
    CHECK(e.location().empty());
    CHECK(e.cause_detail().empty());
    CHECK(e.inner_as<std::error_code>() == nullptr);
    CHECK(e.inner_as<std::string>() == nullptr);
    CHECK_FALSE(strata::find<low_level>(e).has_value());
    // with() has no effect and does not crash.
    e.with("k", 1).with("s", "text").with("p", point{1, 2}).with("b", true).with("d", 0.5);
    CHECK(e.empty());
    CHECK(e.misc().empty());
    // Copies of an empty error are empty.
    error copy = e;
    CHECK(copy.empty());
    CHECK(copy.same_as(e));
}
}  // namespace

TEST_CASE("a default-constructed error is empty and safe to query", "[error][empty]") {
    error e;
    check_empty(e);
}

TEST_CASE("a moved-from error is empty and safe to query", "[error][empty]") {
    error a = strata::make_error<low_level>("boom");
    REQUIRE_FALSE(a.empty());
    error b = std::move(a);
    check_empty(a);  // NOLINT(bugprone-use-after-move): moved-from is promised empty
    CHECK(b.message() == "boom");

    error c = strata::make_error("other");
    c = std::move(b);
    check_empty(b);  // NOLINT(bugprone-use-after-move)
    CHECK(c.message() == "boom");
}

// An empty wrapped_error<L> would not be of layer L, which is all its type says:
// there is none to default-construct. A moved-from one is empty, as a moved-from
// error is (to be assigned or destroyed).
TEST_CASE("a wrapped_error cannot be default-constructed, and a moved-from one is empty and never its layer",
          "[error][empty]") {
    STATIC_REQUIRE_FALSE(std::is_default_constructible_v<strata::wrapped_error<intermediate>>);
    STATIC_REQUIRE_FALSE(std::is_default_constructible_v<strata::wrapped_error<low_level>>);
    STATIC_REQUIRE(std::is_default_constructible_v<error>);

    auto x = strata::make_error<intermediate>("shown");
    auto y = std::move(x);
    CHECK(x.empty());  // NOLINT(bugprone-use-after-move)
    CHECK_FALSE(x.is<intermediate>());
    CHECK(y.is<intermediate>());
}

TEST_CASE("wrapping an empty error makes a one-frame error", "[error][empty]") {
    auto w = strata::wrap<low_level>(error{}, "nothing below");
    CHECK_FALSE(w.empty());
    CHECK(w.message() == "nothing below");
    CHECK(w.depth() == 1);
    CHECK(w.inner().empty());
}

// ---------------------------------------------------------------------------
// Size, copies, sharing

TEST_CASE("error is exactly one pointer wide", "[error]") {
    STATIC_REQUIRE(sizeof(error) == sizeof(void*));
    STATIC_REQUIRE(sizeof(strata::wrapped_error<low_level>) == sizeof(void*));
    STATIC_REQUIRE(std::is_nothrow_copy_constructible_v<error>);
    STATIC_REQUIRE(std::is_nothrow_move_constructible_v<error>);
    STATIC_REQUIRE(std::is_nothrow_move_assignable_v<error>);
}

TEST_CASE("a copy shares the chain", "[error]") {
    error a = strata::wrap<intermediate>(strata::make_error<low_level>("root"), "outer");
    error b = a;
    CHECK(b.same_as(a));
    CHECK(b.message() == "outer");
    CHECK(b.inner().same_as(a.inner()));
    error c;
    c = a;
    CHECK(c.same_as(a));
    const error& alias = c;
    c = alias;  // self-assignment keeps it
    CHECK(c.same_as(a));
    CHECK(c.message() == "outer");
    CHECK_FALSE(a.same_as(strata::make_error("outer")));  // same text, different chain
}

TEST_CASE("copies are independent for with(): copy-on-write", "[error][misc]") {
    error a = strata::make_error<low_level>("shared");
    a.with("first", 1);
    error b = a;
    b.with("second", 2);

    CHECK(a.misc().size() == 1);
    CHECK_FALSE(a.misc().find("second").has_value());
    CHECK(b.misc().size() == 2);
    CHECK(b.misc().find("first")->as_signed() == 1);
    CHECK(b.misc().find("second")->as_signed() == 2);
    CHECK(a.message() == b.message());
    CHECK(b.is<low_level>());

    // And the other way round.
    a.with("third", 3);
    CHECK(a.misc().size() == 2);
    CHECK(b.misc().size() == 2);
    CHECK_FALSE(b.misc().find("third").has_value());
}

TEST_CASE("with() on an error never changes a chain that wraps it", "[error][misc]") {
    error root = strata::make_error<low_level>("root");
    auto outer = strata::wrap<intermediate>(root, "outer");
    root.with("added", true);
    CHECK(root.misc().size() == 1);
    CHECK(outer.inner().misc().empty());

    error inner = outer.inner();
    inner.with("via inner()", 5);
    CHECK(outer.inner().misc().empty());
    CHECK(inner.misc().size() == 1);
    CHECK(inner.message() == "root");

    auto found = strata::find<low_level>(outer);
    REQUIRE(found.has_value());
    found->with("via find", 6);
    CHECK(outer.inner().misc().empty());
    CHECK(found->misc().size() == 1);
}

TEST_CASE("copy-on-write of a cause frame keeps its cause", "[error][misc]") {
    const std::error_code ec = std::make_error_code(std::errc::no_such_file_or_directory);
    auto w = strata::wrap<low_level>(ec, "stat");
    error cause = w.inner();  // shared with w
    cause.with("path", "/x");
    CHECK(cause.misc().size() == 1);
    CHECK(w.inner().misc().empty());
    CHECK(cause.layer().is_cause);
    CHECK(cause.message() == ec.message());
    CHECK(cause.cause_detail() == "generic:2");
    REQUIRE(cause.inner_as<std::error_code>() != nullptr);
    CHECK(*cause.inner_as<std::error_code>() == ec);

    auto v = strata::wrap(point{5, 6}, "v");
    error vc = v.inner();
    vc.with("k", 1);
    REQUIRE(vc.inner_as<point>() != nullptr);
    CHECK(vc.inner_as<point>()->x == 5);
    CHECK(vc.inner_as<point>()->y == 6);
}

TEST_CASE("copy-on-write of an origin frame keeps its stack", "[error][misc][stack]") {
    strata_test::policy_guard guard;
    strata::set_capture_policy(strata::capture_policy::origin);
    const error a = strata::make_error<low_level>("origin");
    error b = a;
    b.with("k", 1);
    REQUIRE_FALSE(a.stack().empty());
    REQUIRE(b.stack().size() == a.stack().size());
    CHECK(std::equal(a.stack().begin(), a.stack().end(), b.stack().begin()));
    CHECK(b.stack().truncated() == a.stack().truncated());
    CHECK(b.location().line() == a.location().line());
}

TEST_CASE("copy-on-write keeps the rest of the chain", "[error][misc]") {
    error a = strata::wrap<intermediate>(strata::wrap<low_level>(std::make_error_code(std::errc::timed_out), "io"),
                                         "outer");
    error b = a;
    b.with("k", "v");
    CHECK(b.message() == "outer");
    CHECK(b.is<intermediate>());
    CHECK(b.depth() == a.depth());
    CHECK(b.inner().message() == "io");
    REQUIRE(b.inner_as<std::error_code>() != nullptr);
    CHECK(*b.inner_as<std::error_code>() == std::errc::timed_out);
    CHECK(b.location().line() == a.location().line());
}

// ---------------------------------------------------------------------------
// make_error

TEST_CASE("make_error<L> formats its message with fmt", "[error][make_error]") {
    const std::string path = "/tmp/x";
    auto e = strata::make_error<low_level>("can't open {} (attempt {} of {}, {:.1f}s)", path, 2, 3u, 1.25);
    CHECK(e.message() == "can't open /tmp/x (attempt 2 of 3, 1.2s)");
    CHECK(e.is<low_level>());
    CHECK(e.layer().name == "low_level");
    CHECK_FALSE(e.is_user_facing());
    CHECK(e.depth() == 1);
    CHECK(e.inner().empty());
    CHECK(e.cause_detail().empty());
    STATIC_REQUIRE(std::is_same_v<decltype(e), strata::wrapped_error<low_level>>);
}

TEST_CASE("make_error formats user types and copies its arguments' text", "[error][make_error]") {
    std::string arg = "transient";
    auto e = strata::make_error("at {} with {}", point{3, 4}, arg);
    arg = "changed";
    CHECK(e.message() == "at (3, 4) with transient");
}

TEST_CASE("make_error with no layer is untagged", "[error][make_error]") {
    auto e = strata::make_error("plain {}", 1);
    STATIC_REQUIRE(std::is_same_v<decltype(e), strata::wrapped_error<untagged>>);
    CHECK(e.is<untagged>());
    CHECK(e.layer().name == "untagged");
    CHECK_FALSE(e.is_user_facing());
    CHECK(e.message() == "plain 1");
}

TEST_CASE("make_error with a user-facing layer is user-facing", "[error][make_error]") {
    auto e = strata::make_error<intermediate>("shown to users");
    CHECK(e.is_user_facing());
    CHECK(e.layer().user_facing);
    auto u = strata::make_error<api_layer>("api said no");
    CHECK(u.is_user_facing());
    CHECK(u.is<api_layer>());
    CHECK(u.layer().name == "api");
    auto s = strata::make_error<storage_layer>("disk");
    CHECK_FALSE(s.is_user_facing());
}

TEST_CASE("make_error records where it was written", "[error][make_error][location]") {
    auto e = strata::make_error<low_level>("here"); const auto line = line_of(__LINE__);
    CHECK(e.location().line() == line);
    CHECK_THAT(e.location().file_name(), Catch::EndsWith("error_test.cpp"));
    CHECK_FALSE(e.location().empty());
}

TEST_CASE("a helper taking strata::format_string records its caller's line", "[error][make_error][location]") {
    const int id = 9;
    auto e = fail("job {} failed", id); const auto line = line_of(__LINE__);
    CHECK(e.message() == "job 9 failed");
    CHECK(e.location().line() == line);
    CHECK_THAT(e.location().file_name(), Catch::EndsWith("error_test.cpp"));
}

TEST_CASE("a run-time format string also records where it was written", "[error][make_error][location]") {
    auto e = strata::make_error<low_level>(fmt::runtime("rt {}"), 1); const auto line = line_of(__LINE__);
    CHECK(e.message() == "rt 1");
    CHECK(e.location().line() == line);
    CHECK_THAT(e.location().file_name(), Catch::EndsWith("error_test.cpp"));
}

TEST_CASE("a bad run-time format string gives an error that says so, no exception", "[error][make_error]") {
    strata::error e;
    REQUIRE_NOTHROW(e = strata::make_error(fmt::runtime("{} {}"), 1));
    REQUIRE_FALSE(e.empty());
    CHECK_THAT(std::string(e.message()), Catch::Contains("invalid format string"));

    strata::error w;
    REQUIRE_NOTHROW(w = strata::wrap<low_level>(strata::make_error("root"), fmt::runtime("{:d}"), "not a number"));
    REQUIRE_FALSE(w.empty());
    CHECK(w.is<low_level>());
    CHECK_THAT(std::string(w.message()), Catch::Contains("invalid format string"));
    CHECK(w.inner().message() == "root");
}

// A formatter that throws is the argument's fault, not the format string's: the
// message says which exception it threw (type and what()) and keeps the format
// string, for a checked string, a run-time one, and a misc value alike.
TEST_CASE("an argument whose formatter throws is reported as such, not as a bad format string",
          "[error][make_error]") {
    using Catch::Contains;
    const std::string threw = "an argument's formatter threw std::runtime_error: formatter exploded";
    SECTION("make_error") {
        const error e = strata::make_error<low_level>("job {} failed", throws_when_formatted{});
        CHECK(e.is<low_level>());
        CHECK(std::string(e.message()) == threw + " (format string \"job {} failed\")");
    }
    SECTION("wrap, the inner error kept") {
        const error w = strata::wrap<api_layer>(strata::make_error("root"), "saving {}", throws_when_formatted{});
        CHECK(w.is<api_layer>());
        CHECK(std::string(w.message()) == threw + " (format string \"saving {}\")");
        CHECK(w.inner().message() == "root");
    }
    SECTION("a run-time format string that is good") {
        const error e = strata::make_error(fmt::runtime("value {}"), throws_when_formatted{});
        CHECK_THAT(std::string(e.message()), Contains(threw) && !Contains("invalid format string"));
    }
    SECTION("a formatter that throws fmt::format_error, with a string checked at compile time") {
        const error e = strata::make_error("value {}", throws_format_error{});
        CHECK_THAT(std::string(e.message()), Contains("an argument's formatter threw fmt::") &&
                                                 Contains("format_error: no text for this value") &&
                                                 !Contains("invalid format string"));
    }
    SECTION("a formatter that throws something not derived from std::exception") {
        const error e = strata::make_error("value {}", throws_int{});
        CHECK(std::string(e.message()) ==
              "an argument's formatter threw an exception not derived from std::exception (format string \"value {}\")");
    }
    SECTION("a misc value") {
        error e = strata::make_error("m");
        e.with("bad", throws_when_formatted{}).with("odd", throws_int{}).with("good", point{1, 2});
        CHECK(e.misc().find("bad")->as_string() == "the value's formatter threw std::runtime_error: formatter exploded");
        CHECK(e.misc().find("odd")->as_string() == "the value's formatter threw an exception not derived from std::exception");
        CHECK(e.misc().find("good")->as_string() == "(1, 2)");
    }
    SECTION("a bad run-time format string is still reported as one") {
        const error e = strata::make_error(fmt::runtime("{1}"), throws_when_formatted{});
        CHECK_THAT(std::string(e.message()), Contains("invalid format string"));
    }
}

TEST_CASE("a good run-time format string works", "[error][make_error]") {
    const std::string f = "{}-{}";
    auto e = strata::make_error<low_level>(fmt::runtime(f), 1, "two");
    CHECK(e.message() == "1-two");
    CHECK(e.is<low_level>());
}

TEST_CASE("a throwing formatter in a message gives an error, no exception", "[error][make_error]") {
    strata::error e;
    REQUIRE_NOTHROW(e = strata::make_error<low_level>("value {}", throws_when_formatted{}));
    REQUIRE_FALSE(e.empty());
    CHECK(e.is<low_level>());
    CHECK_FALSE(e.message().empty());
}

// ---------------------------------------------------------------------------
// wrap over strata errors

TEST_CASE("wrap over an lvalue strata error shares it", "[error][wrap]") {
    error root = strata::make_error<low_level>("root cause");
    auto w = strata::wrap<intermediate>(root, "could not {}", "load");
    CHECK_FALSE(root.empty());
    CHECK(root.message() == "root cause");
    CHECK(w.message() == "could not load");
    CHECK(w.inner().same_as(root));
    CHECK(w.depth() == 2);
    CHECK(w.is<intermediate>());
    CHECK(w.is_user_facing());
    STATIC_REQUIRE(std::is_same_v<decltype(w), strata::wrapped_error<intermediate>>);

    const error& cref = root;
    auto w2 = strata::wrap<low_level>(cref, "again");
    CHECK(w2.inner().same_as(root));
    CHECK_FALSE(root.empty());
}

TEST_CASE("wrap over an rvalue strata error takes it over", "[error][wrap]") {
    error root = strata::make_error<low_level>("root cause");
    const error keep = root;
    auto w = strata::wrap<intermediate>(std::move(root), "outer");
    CHECK(root.empty());  // NOLINT(bugprone-use-after-move): taken over
    CHECK(w.inner().same_as(keep));
    CHECK(w.inner().message() == "root cause");

    auto typed = strata::make_error<storage_layer>("typed root");
    auto w2 = strata::wrap(std::move(typed), "outer 2");
    CHECK(typed.empty());  // NOLINT(bugprone-use-after-move)
    CHECK(w2.inner().is<storage_layer>());
}

TEST_CASE("wrap with no layer makes an untagged frame", "[error][wrap]") {
    auto w = strata::wrap(strata::make_error<intermediate>("inner"), "outer");
    STATIC_REQUIRE(std::is_same_v<decltype(w), strata::wrapped_error<untagged>>);
    CHECK(w.is<untagged>());
    CHECK_FALSE(w.is_user_facing());
    CHECK(w.inner().is<intermediate>());
}

TEST_CASE("location() of a wrap is the line where wrap was written", "[error][wrap][location]") {
    auto root = strata::make_error<low_level>("root"); const auto root_line = line_of(__LINE__);
    auto w = strata::wrap<intermediate>(root, "outer {}", 1); const auto wrap_line = line_of(__LINE__);
    CHECK(w.location().line() == wrap_line);
    CHECK_THAT(w.location().file_name(), Catch::EndsWith("error_test.cpp"));
    CHECK(w.inner().location().line() == root_line);

    auto c = strata::wrap<low_level>(std::make_error_code(std::errc::io_error), "io"); const auto c_line = line_of(__LINE__);
    CHECK(c.location().line() == c_line);
}

// ---------------------------------------------------------------------------
// wrap over non-strata causes

TEST_CASE("wrap over a std::error_code", "[error][wrap][cause]") {
    const std::error_code ec = std::make_error_code(std::errc::no_such_file_or_directory);
    auto w = strata::wrap<low_level>(ec, "stat {}", "/etc/missing");
    CHECK(w.is<low_level>());
    CHECK(w.message() == "stat /etc/missing");
    CHECK(w.depth() == 2);

    REQUIRE(w.inner_as<std::error_code>() != nullptr);
    CHECK(*w.inner_as<std::error_code>() == ec);

    const error cause = w.inner();
    REQUIRE_FALSE(cause.empty());
    CHECK(cause.layer().is_cause);
    CHECK_FALSE(cause.layer().user_facing);
    CHECK(cause.message() == ec.message());
    CHECK_THAT(std::string(cause.cause_detail()), Catch::Contains("generic"));
    CHECK(cause.cause_detail() == "generic:2");
    CHECK(cause.inner().empty());
    CHECK_FALSE(cause.is<low_level>());
    REQUIRE(cause.inner_as<std::error_code>() != nullptr);
    CHECK(cause.inner_as<std::error_code>()->value() == ENOENT);
}

TEST_CASE("wrap over a std::error_code of the system category", "[error][wrap][cause]") {
    const std::error_code ec(EACCES, std::system_category());
    auto w = strata::wrap(ec, "open");
    REQUIRE(w.inner_as<std::error_code>() != nullptr);
    CHECK(*w.inner_as<std::error_code>() == ec);
    CHECK_THAT(std::string(w.inner().cause_detail()), Catch::Contains("system"));
}

TEST_CASE("wrap over an error-code enum", "[error][wrap][cause]") {
    auto w = strata::wrap<low_level>(std::io_errc::stream, "read header");
    REQUIRE(w.inner_as<std::error_code>() != nullptr);
    CHECK(*w.inner_as<std::error_code>() == std::make_error_code(std::io_errc::stream));
    CHECK(w.inner().layer().is_cause);
    CHECK_THAT(std::string(w.inner().cause_detail()), Catch::Contains("iostream"));

    auto f = strata::wrap(std::future_errc::no_state, "get");
    REQUIRE(f.inner_as<std::error_code>() != nullptr);
    CHECK(*f.inner_as<std::error_code>() == std::make_error_code(std::future_errc::no_state));
}

TEST_CASE("wrap over std::errc (the usual POSIX error enum) keeps the error code",
          "[error][wrap][cause]") {
    // std::errc is an error *condition* enum (with a std::make_error_code overload),
    // not an error-code enum; wrap() takes it all the same.
    CHECK(strata::error_cause<std::errc>);
    // Written as a template so that this file still compiles (and fails) if wrap()
    // stops accepting std::errc.
    [](auto code) {
        if constexpr (strata::error_cause<decltype(code)>) {
            auto w = strata::wrap<low_level>(code, "stat");
            REQUIRE(w.template inner_as<std::error_code>() != nullptr);
            CHECK(*w.template inner_as<std::error_code>() == std::errc::no_such_file_or_directory);
            CHECK(w.inner().layer().is_cause);
            CHECK(w.inner().cause_detail() == "generic:2");
        } else {
            FAIL("wrap() does not accept std::errc");
        }
    }(std::errc::no_such_file_or_directory);
}

TEST_CASE("wrap over a std::exception_ptr holding a std::runtime_error", "[error][wrap][cause]") {
    const std::exception_ptr p = std::make_exception_ptr(std::runtime_error("disk on fire"));
    strata::error w;
    REQUIRE_NOTHROW(w = strata::wrap<low_level>(p, "write"));
    CHECK(w.message() == "write");
    const error cause = w.inner();
    CHECK(cause.layer().is_cause);
    CHECK(cause.message() == "disk on fire");
    CHECK_THAT(std::string(cause.cause_detail()), Catch::Contains("runtime_error"));
    REQUIRE(w.inner_as<std::exception_ptr>() != nullptr);
    CHECK(*w.inner_as<std::exception_ptr>() == p);
}

TEST_CASE("wrap over a std::exception_ptr holding a derived exception names the dynamic type",
          "[error][wrap][cause]") {
    auto w = strata::wrap(std::make_exception_ptr(my_exception("custom")), "ctx");
    CHECK(w.inner().message() == "custom");
    CHECK_THAT(std::string(w.inner().cause_detail()), Catch::Contains("my_exception"));
}

TEST_CASE("wrap over a std::exception_ptr holding a non-std::exception describes it", "[error][wrap][cause]") {
    std::exception_ptr p;
    try {
        throw 42;
    } catch (...) {
        p = std::current_exception();
    }
    strata::error w;
    REQUIRE_NOTHROW(w = strata::wrap<low_level>(p, "ctx"));
    REQUIRE_FALSE(w.empty());
    const error cause = w.inner();
    CHECK(cause.layer().is_cause);
    CHECK_THAT(std::string(cause.message()), Catch::Contains("not derived from std::exception"));
    CHECK_THAT(std::string(cause.message()), Catch::Contains("int"));
    REQUIRE(w.inner_as<std::exception_ptr>() != nullptr);
    CHECK(*w.inner_as<std::exception_ptr>() == p);
}

TEST_CASE("wrap over a null std::exception_ptr gives an error, not a crash", "[error][wrap][cause]") {
    strata::error w;
    REQUIRE_NOTHROW(w = strata::wrap<low_level>(std::exception_ptr(), "ctx"));
    REQUIRE_FALSE(w.empty());
    CHECK(w.message() == "ctx");
    CHECK(w.is<low_level>());
}

TEST_CASE("wrap over a std::exception object", "[error][wrap][cause]") {
    const std::runtime_error ex("bad thing");
    auto w = strata::wrap<low_level>(ex, "while {}", "parsing");
    CHECK(w.message() == "while parsing");
    CHECK(w.inner().layer().is_cause);
    CHECK(w.inner().message() == "bad thing");
    CHECK_THAT(std::string(w.inner().cause_detail()), Catch::Contains("runtime_error"));

    const my_exception derived("derived thing");
    const std::exception& base = derived;
    auto d = strata::wrap(base, "ctx");
    CHECK(d.inner().message() == "derived thing");
    CHECK_THAT(std::string(d.inner().cause_detail()), Catch::Contains("my_exception"));
}

TEST_CASE("wrap over a string literal keeps it as a std::string", "[error][wrap][cause]") {
    auto w = strata::wrap<low_level>("disk full", "save");
    REQUIRE(w.inner_as<std::string>() != nullptr);
    CHECK(*w.inner_as<std::string>() == "disk full");
    CHECK(w.inner().message() == "disk full");
    CHECK(w.inner().layer().is_cause);

    const std::string s = "owned text";
    auto w2 = strata::wrap(s, "ctx");
    REQUIRE(w2.inner_as<std::string>() != nullptr);
    CHECK(*w2.inner_as<std::string>() == "owned text");

    const char* cstr = "pointer text";
    auto w3 = strata::wrap(cstr, "ctx");
    REQUIRE(w3.inner_as<std::string>() != nullptr);
    CHECK(*w3.inner_as<std::string>() == "pointer text");

    std::string temp = "temporary";
    auto w4 = strata::wrap(std::string_view(temp), "ctx");
    temp = "overwritten";
    REQUIRE(w4.inner_as<std::string>() != nullptr);
    CHECK(*w4.inner_as<std::string>() == "temporary");
    CHECK(w4.inner().message() == "temporary");
}

TEST_CASE("wrap over an int keeps the value", "[error][wrap][cause]") {
    auto w = strata::wrap<low_level>(42, "exit status");
    REQUIRE(w.inner_as<int>() != nullptr);
    CHECK(*w.inner_as<int>() == 42);
    CHECK(w.inner().message() == "42");
    CHECK(w.inner().layer().is_cause);
    CHECK(w.inner_as<long>() == nullptr);
    CHECK(w.inner_as<unsigned>() == nullptr);
    CHECK(w.inner_as<std::string>() == nullptr);
    CHECK(w.inner_as<std::error_code>() == nullptr);
}

TEST_CASE("wrap over a formattable user type gives the value back", "[error][wrap][cause]") {
    auto w = strata::wrap<low_level>(point{7, -1}, "bad point");
    REQUIRE(w.inner_as<point>() != nullptr);
    CHECK(w.inner_as<point>()->x == 7);
    CHECK(w.inner_as<point>()->y == -1);
    CHECK(w.inner().message() == "(7, -1)");
    CHECK(w.inner().layer().is_cause);
    CHECK_THAT(std::string(w.inner().cause_detail()), Catch::Contains("point"));

    // Found through a deeper chain too, and copies share it.
    error outer = strata::wrap<intermediate>(w, "outer");
    const error copy = outer;
    REQUIRE(copy.inner_as<point>() != nullptr);
    CHECK(copy.inner_as<point>()->x == 7);
}

TEST_CASE("wrap over a cause whose formatter throws does not claim out of memory",
          "[error][wrap][cause]") {
    strata::error w;
    REQUIRE_NOTHROW(w = strata::wrap<low_level>(throws_when_formatted{}, "ctx"));
    REQUIRE_FALSE(w.empty());
    CHECK(w.message() == "ctx");
    // A formatter that throws is not an allocation failure: the message says what
    // happened and the cause's type is kept.
    CHECK_THAT(std::string(w.inner().message()), !Catch::Contains("out of memory"));
    CHECK_FALSE(w.inner().cause_detail().empty());
}

// ---------------------------------------------------------------------------
// is / find

TEST_CASE("is<L>() looks at the outermost layer only", "[error][find]") {
    auto e = strata::wrap<intermediate>(strata::wrap<storage_layer>(strata::make_error<low_level>("root"), "mid"),
                                        "top");
    CHECK(e.is<intermediate>());
    CHECK_FALSE(e.is<storage_layer>());
    CHECK_FALSE(e.is<low_level>());
    CHECK(e.inner().is<storage_layer>());
    CHECK(e.inner().inner().is<low_level>());
}

TEST_CASE("find<L>() finds a layer anywhere in the chain", "[error][find]") {
    error root = strata::make_error<low_level>("root");
    error mid = strata::wrap<storage_layer>(root, "mid");
    error top = strata::wrap<intermediate>(mid, "top");

    std::optional<strata::wrapped_error<low_level>> r = strata::find<low_level>(top);
    REQUIRE(r.has_value());
    CHECK(r->message() == "root");
    CHECK(r->same_as(root));

    auto m = strata::find<storage_layer>(top);
    REQUIRE(m.has_value());
    CHECK(m->same_as(mid));
    CHECK(m->inner().same_as(root));

    auto t = strata::find<intermediate>(top);
    REQUIRE(t.has_value());
    CHECK(t->same_as(top));

    CHECK_FALSE(strata::find<api_layer>(top).has_value());
    CHECK(strata::find<api_layer>(top) == std::nullopt);
    CHECK_FALSE(strata::find<untagged>(top).has_value());
}

TEST_CASE("find<L>() returns the outermost match", "[error][find]") {
    auto e = strata::wrap<low_level>(strata::wrap<storage_layer>(strata::make_error<low_level>("deep"), "mid"), "shallow");
    auto f = strata::find<low_level>(e);
    REQUIRE(f.has_value());
    CHECK(f->message() == "shallow");
}

TEST_CASE("find<L>() result outlives the error it was found in", "[error][find]") {
    std::optional<strata::wrapped_error<low_level>> found;
    {
        auto e = strata::wrap<intermediate>(strata::make_error<low_level>("kept"), "dropped");
        found = strata::find<low_level>(e);
    }
    REQUIRE(found.has_value());
    CHECK(found->message() == "kept");
    CHECK(found->is<low_level>());
}

TEST_CASE("find<L>() on an empty error is nullopt", "[error][find]") {
    const error e;
    CHECK_FALSE(strata::find<low_level>(e).has_value());
    CHECK_FALSE(strata::find<untagged>(e).has_value());
}

TEST_CASE("find<L>() and is<L>() do not match cause frames, even by name", "[error][find]") {
    auto w = strata::wrap<intermediate>(std::make_error_code(std::errc::io_error), "ctx");
    CHECK_FALSE(strata::find<low_level>(w).has_value());
    CHECK_FALSE(strata::find<untagged>(w).has_value());
    CHECK(strata::find<intermediate>(w).has_value());
    REQUIRE(w.inner().layer().name == "std::error_code");
    CHECK_FALSE(w.inner().is<named_like_error_code>());
    CHECK_FALSE(strata::find<named_like_error_code>(w).has_value());

    auto v = strata::wrap(42, "ctx");
    REQUIRE(v.inner().layer().name == "value");
    CHECK_FALSE(v.inner().is<named_like_value>());
    CHECK_FALSE(strata::find<named_like_value>(v).has_value());
}

TEST_CASE("wrapped_error converts implicitly to error, and not the other way", "[error]") {
    STATIC_REQUIRE(std::is_convertible_v<strata::wrapped_error<low_level>, error>);
    STATIC_REQUIRE(std::is_convertible_v<strata::wrapped_error<low_level>&, error>);
    STATIC_REQUIRE(std::is_convertible_v<const strata::wrapped_error<low_level>&, const error&>);
    STATIC_REQUIRE_FALSE(std::is_convertible_v<error, strata::wrapped_error<low_level>>);
    STATIC_REQUIRE_FALSE(std::is_assignable_v<strata::wrapped_error<low_level>&, error>);
    STATIC_REQUIRE_FALSE(std::is_convertible_v<strata::wrapped_error<intermediate>, strata::wrapped_error<low_level>>);
    STATIC_REQUIRE_FALSE(std::is_constructible_v<strata::wrapped_error<low_level>, strata::wrapped_error<intermediate>>);
    error e = strata::make_error<low_level>("x");
    CHECK(e.is<low_level>());
    CHECK(e.message() == "x");
}

// Slicing: were wrapped_error<L> an error, `error& r = w; r = other;` would give w
// another outer layer while its type still said L. No error& or error* can refer
// to a wrapped_error (compile_fail cases 13 to 15); a const error& binds to a
// copy, and every accessor works on the wrapped_error itself.
TEST_CASE("a wrapped_error cannot lose its layer through a reference to error", "[error]") {
    using wi = strata::wrapped_error<intermediate>;
    STATIC_REQUIRE_FALSE(std::is_convertible_v<wi&, error&>);
    STATIC_REQUIRE_FALSE(std::is_convertible_v<wi*, error*>);
    STATIC_REQUIRE_FALSE(std::is_base_of_v<error, wi>);
    STATIC_REQUIRE_FALSE(std::is_assignable_v<wi&, strata::wrapped_error<low_level>>);
    STATIC_REQUIRE(std::is_nothrow_copy_constructible_v<wi>);
    STATIC_REQUIRE(std::is_nothrow_move_constructible_v<wi>);
    STATIC_REQUIRE(std::is_nothrow_move_assignable_v<wi>);
    STATIC_REQUIRE(std::is_nothrow_convertible_v<wi, error>);

    wi w = strata::make_error<intermediate>("shown {}", 1);
    w.with("k", 2);
    {
        error copy = w;  // a new reference to the same chain
        copy = strata::make_error<low_level>("other");
        CHECK(copy.is<low_level>());
    }
    const error& view = w;
    CHECK(view.same_as(w));
    CHECK(w.is<intermediate>());
    CHECK(w.is_user_facing());
    CHECK(w.message() == "shown 1");
    CHECK(w.misc().find("k")->as_signed() == 2);
    CHECK(w.depth() == 1);
    CHECK(w.layer().name == intermediate::name);
    CHECK(w.location().line() != 0);
    CHECK(w.cause_detail().empty());
    CHECK(w.inner().empty());

    // Moved into an error, the chain goes with it.
    wi m = strata::make_error<intermediate>("moved");
    error taken = std::move(m);
    CHECK(taken.message() == "moved");
    CHECK(m.empty());  // NOLINT(bugprone-use-after-move)
}

// ---------------------------------------------------------------------------
// with() and misc

TEST_CASE("with() keeps strings, integers, floating point and bool with their kind", "[error][misc]") {
    const std::string owned = "std::string value";
    const char* cstr = "c string";
    std::string_view sv = "string view";
    error e = strata::make_error("m");
    e.with("literal", "string literal")
        .with("cstr", cstr)
        .with("string", owned)
        .with("view", sv)
        .with("int", -5)
        .with("long", 1234567890123LL)
        .with("unsigned", 7u)
        .with("size", std::size_t{99})
        .with("double", 2.5)
        .with("float", 0.5f)
        .with("true", true)
        .with("false", false)
        .with("char", 'c')
        .with("point", point{1, 2});

    const auto m = e.misc();
    CHECK(m.size() == 14);
    auto get = [&](std::string_view key) {
        auto v = m.find(key);
        REQUIRE(v.has_value());
        return *v;
    };
    CHECK(get("literal").type() == kind::string);
    CHECK(get("literal").as_string() == "string literal");
    CHECK(get("cstr").as_string() == "c string");
    CHECK(get("string").as_string() == "std::string value");
    CHECK(get("view").as_string() == "string view");
    CHECK(get("int").type() == kind::signed_integer);
    CHECK(get("int").as_signed() == -5);
    CHECK(get("long").as_signed() == 1234567890123LL);
    CHECK(get("unsigned").type() == kind::unsigned_integer);
    CHECK(get("unsigned").as_unsigned() == 7u);
    CHECK(get("size").as_unsigned() == 99u);
    CHECK(get("double").type() == kind::floating_point);
    CHECK(get("double").as_double() == 2.5);
    CHECK(get("float").type() == kind::floating_point);
    CHECK(get("float").as_double() == 0.5);
    CHECK(get("true").type() == kind::boolean);
    CHECK(get("true").as_bool());
    CHECK(get("false").type() == kind::boolean);
    CHECK_FALSE(get("false").as_bool());
    CHECK(get("char").type() == kind::string);
    CHECK(get("char").as_string() == "c");
    CHECK(get("point").type() == kind::string);
    CHECK(get("point").as_string() == "(1, 2)");
    CHECK_FALSE(m.find("absent").has_value());
}

TEST_CASE("with() copies keys and string values", "[error][misc]") {
    std::string key = "dynamic key";
    std::string value = "dynamic value";
    error e = strata::make_error("m");
    e.with(key, value);
    key.assign(key.size(), 'X');
    value.assign(value.size(), 'Y');
    REQUIRE(e.misc().size() == 1);
    CHECK(e.misc().begin()->key == "dynamic key");
    CHECK(e.misc().begin()->value.as_string() == "dynamic value");
}

TEST_CASE("misc entries keep the order they were added in", "[error][misc]") {
    error e = strata::make_error("m");
    e.with("zeta", 1).with("alpha", 2).with("mid", 3).with("alpha", 4);
    std::vector<std::string> keys;
    std::vector<std::int64_t> values;
    for (const strata::misc_entry& entry : e.misc()) {
        keys.emplace_back(entry.key);
        values.push_back(entry.value.as_signed());
    }
    CHECK(keys == std::vector<std::string>{"zeta", "alpha", "mid", "alpha"});
    CHECK(values == std::vector<std::int64_t>{1, 2, 3, 4});
    CHECK(e.misc().find("alpha")->as_signed() == 2);  // the first entry with that key
}

// The iterator's entries live in the error, not in the iterator: a reference kept
// after the iterator is gone (a temporary begin()) still reads the entry. This was
// a stack-use-after-scope under AddressSanitizer (the asan preset) when the
// iterator built the entry inside itself.
TEST_CASE("a misc entry read through a temporary iterator outlives the iterator", "[error][misc]") {
    error e = strata::make_error("m");
    e.with("first", "one").with("second", 2);
    const strata::misc_view view = e.misc();
    const strata::misc_entry& first = *view.begin();
    const strata::misc_entry* second = std::next(view.begin()).operator->();
    const strata::misc_entry& again = *e.misc().begin();
    CHECK(first.key == "first");
    CHECK(first.value.as_string() == "one");
    CHECK(second->key == "second");
    CHECK(second->value.as_signed() == 2);
    CHECK(&again == &first);  // the same entry, wherever the iterator came from
    STATIC_REQUIRE(std::forward_iterator<strata::misc_view::iterator>);
}

TEST_CASE("misc entries belong to their own frame", "[error][misc]") {
    error root = strata::make_error<low_level>("root");
    root.with("root key", 1);
    auto top = strata::wrap<intermediate>(std::move(root), "top");
    top.with("top key", 2);
    CHECK(top.misc().size() == 1);
    CHECK(top.misc().find("top key").has_value());
    CHECK_FALSE(top.misc().find("root key").has_value());
    CHECK(top.inner().misc().size() == 1);
    CHECK(top.inner().misc().find("root key").has_value());
}

TEST_CASE("with() on an rvalue returns the error", "[error][misc]") {
    error e = strata::make_error<low_level>("m").with("a", 1).with("b", "two");
    CHECK(e.is<low_level>());
    CHECK(e.misc().size() == 2);
    error plain = error(strata::make_error("x")).with("k", 3);
    CHECK(plain.misc().find("k")->as_signed() == 3);
}

TEST_CASE("wrapped_error<L>::with keeps the static type", "[error][misc]") {
    auto w = strata::make_error<intermediate>("m");
    STATIC_REQUIRE(std::is_same_v<decltype(w.with("k", 1)), strata::wrapped_error<intermediate>&>);
    STATIC_REQUIRE(std::is_same_v<decltype(strata::make_error<intermediate>("m").with("k", 1)),
                                  strata::wrapped_error<intermediate>>);
    STATIC_REQUIRE(std::is_same_v<decltype(strata::wrap<low_level>(42, "m").with("k", 1).with("j", true)),
                                  strata::wrapped_error<low_level>>);
    strata::wrapped_error<intermediate>& ref = w.with("k", 1);
    CHECK(&ref == &w);
    strata::wrapped_error<intermediate> moved = strata::make_error<intermediate>("r").with("a", 1).with("b", 2);
    CHECK(moved.misc().size() == 2);
    CHECK(moved.is<intermediate>());
    w.with("e", 1);  // (no error& refers to a wrapped_error: see the slicing test)
    CHECK(w.misc().size() == 2);
}

// ---------------------------------------------------------------------------
// Stack capture as make_error / wrap apply the policy (stack.hpp's policy)

namespace {

volatile int g_sink = 0;

// Recurses n levels, then makes an error: a stack deeper than STRATA_MAX_STACK_DEPTH.
[[gnu::noinline]] error error_at_depth(int n) {
    if (n == 0) return strata::make_error<low_level>("deep");
    error e = error_at_depth(n - 1);
    g_sink = g_sink + 1;  // not a tail call
    return e;
}

}  // namespace

TEST_CASE("make_error captures a stack under the origin policy", "[error][stack]") {
    strata_test::policy_guard guard;
    strata::set_capture_policy(strata::capture_policy::origin);
    auto e = strata::make_error<low_level>("x");
    const strata::stack_view s = e.stack();
    CHECK_FALSE(s.empty());
    CHECK(s.size() > 1);
    CHECK(s.size() <= STRATA_MAX_STACK_DEPTH);
    CHECK_FALSE(s.truncated());  // a shallow stack
    CHECK(std::count(s.begin(), s.end(), std::uintptr_t{0}) == 0);
}

TEST_CASE("make_error captures no stack under the off policy", "[error][stack]") {
    strata_test::policy_guard guard;
    strata::set_capture_policy(strata::capture_policy::off);
    auto e = strata::make_error<low_level>("x");
    CHECK(e.stack().empty());
    CHECK(e.stack().size() == 0);
    CHECK_FALSE(e.stack().truncated());
    auto c = strata::wrap<low_level>(std::make_error_code(std::errc::io_error), "io");
    CHECK(c.stack().empty());
    auto w = strata::wrap<intermediate>(e, "w");
    CHECK(w.stack().empty());
}

TEST_CASE("wrap of a strata error captures no stack of its own under origin", "[error][stack]") {
    strata_test::policy_guard guard;
    strata::set_capture_policy(strata::capture_policy::origin);
    auto inner = strata::make_error<low_level>("origin");
    REQUIRE_FALSE(inner.stack().empty());
    auto outer = strata::wrap<intermediate>(inner, "outer");
    auto outer2 = strata::wrap<api_layer>(outer, "outer 2");
    // The stack of a wrap is the origin's: the very same captured data.
    CHECK(outer.stack().begin() == inner.stack().begin());
    CHECK(outer.stack().size() == inner.stack().size());
    CHECK(outer2.stack().begin() == inner.stack().begin());
}

TEST_CASE("wrap of a strata error captures its own stack under every_frame", "[error][stack]") {
    strata_test::policy_guard guard;
    strata::set_capture_policy(strata::capture_policy::origin);
    auto inner = strata::make_error<low_level>("origin");
    REQUIRE_FALSE(inner.stack().empty());
    strata::set_capture_policy(strata::capture_policy::every_frame);
    auto outer = strata::wrap<intermediate>(inner, "outer");
    CHECK_FALSE(outer.stack().empty());
    CHECK(outer.stack().begin() != inner.stack().begin());
    CHECK(inner.stack().begin() == outer.inner().stack().begin());
}

TEST_CASE("wrap of a non-strata cause captures the origin stack under origin", "[error][stack]") {
    strata_test::policy_guard guard;
    strata::set_capture_policy(strata::capture_policy::origin);
    auto w = strata::wrap<low_level>(std::make_error_code(std::errc::io_error), "io");
    CHECK_FALSE(w.stack().empty());
    CHECK_FALSE(w.inner().stack().empty());
    CHECK(w.stack().begin() == w.inner().stack().begin());  // captured once, at the cause
    auto v = strata::wrap<low_level>(42, "value");
    CHECK_FALSE(v.stack().empty());
}

TEST_CASE("a stack deeper than STRATA_MAX_STACK_DEPTH is cut and says so", "[error][stack]") {
    strata_test::policy_guard guard;
    strata::set_capture_policy(strata::capture_policy::origin);
    const error e = error_at_depth(STRATA_MAX_STACK_DEPTH * 2);
    CHECK(e.stack().truncated());
    CHECK(e.stack().size() == STRATA_MAX_STACK_DEPTH);
    const error w = strata::wrap<intermediate>(e, "outer");
    CHECK(w.stack().truncated());
}

// ---------------------------------------------------------------------------
// Out of memory: an error degrades but survives

#if STRATA_TEST_REPLACE_NEW
TEST_CASE("out of memory, make_error still gives an error of its layer", "[error][oom]") {
    std::optional<strata::wrapped_error<intermediate>> made;
    {
        strata_test::out_of_memory oom;
        REQUIRE_NOTHROW(made.emplace(strata::make_error<intermediate>("job {} failed", 3)));
        made->with("lost", 1);  // no memory for the entry: dropped, no crash
    }
    strata::wrapped_error<intermediate>& e = *made;
    REQUIRE_FALSE(e.empty());
    CHECK(e.is<intermediate>());
    CHECK(e.is_user_facing());
    CHECK_THAT(std::string(e.message()), Catch::Contains("out of memory"));
    const error copy = e;  // copies and destruction still work
    CHECK(copy.same_as(e));
    // Once memory is back, it can be wrapped as usual.
    auto w = strata::wrap<low_level>(e, "outer");
    CHECK(w.message() == "outer");
    CHECK(w.inner().is<intermediate>());
}

TEST_CASE("short of memory for the stack, make_error keeps its message and drops the stack", "[error][oom]") {
    strata_test::policy_guard guard;
    strata::set_capture_policy(strata::capture_policy::origin);
    std::optional<strata::wrapped_error<low_level>> e;
    {
        strata_test::out_of_memory oom(1);  // only the first, largest attempt fails
        e.emplace(strata::make_error<low_level>("job {} failed", 4));
    }
    CHECK(e->message() == "job 4 failed");
    CHECK(e->is<low_level>());
    CHECK(e->stack().empty());
}

TEST_CASE("out of memory, wrap still gives an error of its layer and the inner error survives", "[error][oom]") {
    const error inner = strata::make_error<low_level>("root");
    std::optional<strata::wrapped_error<intermediate>> w;
    std::optional<strata::wrapped_error<api_layer>> c;
    {
        strata_test::out_of_memory oom;
        REQUIRE_NOTHROW(w.emplace(strata::wrap<intermediate>(inner, "outer")));
        REQUIRE_NOTHROW(c.emplace(strata::wrap<api_layer>(std::make_error_code(std::errc::io_error), "io")));
    }
    REQUIRE_FALSE(w->empty());
    CHECK(w->is<intermediate>());
    CHECK(inner.message() == "root");
    CHECK(inner.is<low_level>());
    REQUIRE_FALSE(c->empty());
    CHECK(c->is<api_layer>());
    CHECK(c->is_user_facing());
}

TEST_CASE("out of memory, with() drops the entry and changes nothing else", "[error][oom]") {
    error a = strata::make_error<low_level>("a");
    a.with("kept", 1);
    error b = a;  // shared: with() on b would have to copy the frame
    {
        strata_test::out_of_memory oom;
        b.with("dropped", 2);
        a.with("dropped", 3);
    }
    CHECK(b.same_as(a));
    CHECK(a.misc().size() == 1);
    CHECK(a.misc().find("kept")->as_signed() == 1);
    CHECK(b.message() == "a");
}
#endif  // STRATA_TEST_REPLACE_NEW

// ---------------------------------------------------------------------------
// Deep chains and threads

TEST_CASE("a 100 000-deep chain is built, searched, counted and destroyed", "[error][deep]") {
    constexpr std::size_t wraps = 100000;
    error middle;
    {
        error e = strata::make_error<low_level>("root");
        for (std::size_t i = 0; i < wraps; ++i) {
            e = strata::wrap<storage_layer>(std::move(e), "level");
            if (i == wraps / 2) middle = e;
        }
        CHECK(e.depth() == wraps + 1);
        CHECK(e.is<storage_layer>());
        auto root = strata::find<low_level>(e);
        REQUIRE(root.has_value());
        CHECK(root->message() == "root");
        CHECK(root->depth() == 1);
        CHECK_FALSE(strata::find<intermediate>(e).has_value());
        const error copy = e;
        CHECK(copy.same_as(e));
    }  // the whole outer half is freed here; the shared middle survives
    CHECK(middle.depth() == wraps / 2 + 2);
    CHECK(middle.message() == "level");
    auto root = strata::find<low_level>(middle);
    REQUIRE(root.has_value());
    CHECK(root->message() == "root");
    middle = error();  // and the rest goes, iteratively
    CHECK(middle.empty());
}

TEST_CASE("errors copied and destroyed on several threads at once leave the original intact",
          "[error][threads]") {
    constexpr int threads = 4;
    constexpr int copies = 10000;
    error original = strata::wrap<intermediate>(strata::make_error<low_level>("root {}", 1), "shared");
    original.with("key", 7);
    std::atomic<int> bad{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&original, &bad, t] {
            std::vector<error> held;
            held.reserve(16);
            for (int i = 0; i < copies; ++i) {
                error c = original;
                if (!c.same_as(original) || c.message() != "shared") ++bad;
                if (i % 4 == 0) c.with("thread", t);  // copy-on-write, never seen by others
                if (c.inner().message() != "root 1") ++bad;
                held.push_back(std::move(c));
                if (held.size() == 16) held.clear();
            }
        });
    }
    for (auto& th : pool) th.join();
    CHECK(bad.load() == 0);
    CHECK(original.message() == "shared");
    CHECK(original.is<intermediate>());
    CHECK(original.depth() == 2);
    REQUIRE(original.misc().size() == 1);
    CHECK(original.misc().find("key")->as_signed() == 7);
    CHECK_FALSE(original.misc().find("thread").has_value());
    CHECK(original.inner().message() == "root 1");
    CHECK(original.inner().misc().empty());
}

#if STRATA_TEST_REPLACE_NEW
TEST_CASE("make_error and a wrap of a strata error allocate exactly one frame each", "[error][alloc]") {
    auto count = [] { return strata_test::nothrow_allocations.load(); };
    long before = count();
    const strata::error base = strata::make_error<low_level>("disk {} is full", 3);
    CHECK(count() - before == 1);
    before = count();
    const strata::error w = strata::wrap<intermediate>(base, "can't save job {}", 7);
    CHECK(count() - before == 1);
    // A non-strata cause becomes a frame of its own: two.
    before = count();
    const strata::error c = strata::wrap<low_level>(std::make_error_code(std::errc::io_error), "read");
    CHECK(count() - before == 2);
    // Each misc entry is one more.
    before = count();
    const strata::error m = strata::make_error("x").with("a", 1).with("b", "two");
    CHECK(count() - before == 3);
}
#endif
