// Wrapping a failed result at a boundary in one expression (issue 12, item 4):
// result::wrap<L>(fmt, args...), result::wrap_lazy<L>(f), result::with, and
// STRATA_TRY_WRAP / STRATA_TRY_WRAP_ASSIGN (STRATA_CO_TRY_WRAP /
// STRATA_CO_TRY_WRAP_ASSIGN in a coroutine).

#include <catch2/catch.hpp>
#include <strata/format.hpp>
#include <strata/result.hpp>

#include <coroutine>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

#include "coro_task.hpp"

namespace {

struct app_layer {
    static constexpr std::string_view name = "result_context_test.app";
    static constexpr bool user_facing = true;
};

// Counts how often fmt formats it: a message argument that must not be
// formatted on success.
struct counted {
    int id = 0;
};
int formatted = 0;

}  // namespace

template <>
struct fmt::formatter<counted> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const counted& c, Ctx& ctx) const {
        ++formatted;
        return fmt::format_to(ctx.out(), "counted#{}", c.id);
    }
};

namespace {

strata::error root_failure(std::string_view what = "disk on fire") {
    return strata::make_error<strata::low_level>("{}", what);
}
strata::result<int> read_number(bool ok) {
    if (!ok) return root_failure();
    return 42;
}
strata::result<std::string> read_text(bool ok) {
    if (!ok) return root_failure();
    return std::string(100, 't');  // on the heap: a copy or a leak shows under ASan
}
strata::result<void> ping(bool ok) {
    if (!ok) return root_failure("no route");
    return {};
}
std::string chain(const strata::error& e) { return fmt::format("{:c}", e); }

bool ends_with(std::string_view s, std::string_view tail) {
    return s.size() >= tail.size() && s.substr(s.size() - tail.size()) == tail;
}

TEST_CASE("wrap on a failed result puts a frame of the layer over its error", "[context]") {
    strata::result<int> r = read_number(false).wrap<app_layer>("can't load order {}", 7);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().is<app_layer>());
    CHECK(r.error().message() == "can't load order 7");
    CHECK(r.error().inner().is<strata::low_level>());
    CHECK(r.error().inner().message() == "disk on fire");
    CHECK(chain(r.error()) == "can't load order 7: disk on fire");
    CHECK(r.error().depth() == 2);
}

TEST_CASE("wrap records the caller's call site", "[context]") {
    // clang-format off
    auto r = read_number(false).wrap<strata::low_level>("x"); const auto line = __LINE__;
    auto v = ping(false).wrap<strata::low_level>("x"); const auto vline = __LINE__;
    auto l = read_number(false).wrap_lazy<strata::low_level>([] { return "x"; }); const auto lline = __LINE__;
    // clang-format on
    for (auto [loc, want] : {std::pair{r.error().location(), line}, std::pair{v.error().location(), vline},
                             std::pair{l.error().location(), lline}}) {
        CHECK(loc.line() == static_cast<std::uint_least32_t>(want));
        CHECK(ends_with(loc.file_name(), "result_context_test.cpp"));
        CHECK(std::string_view(loc.function_name()).find("strata") == std::string_view::npos);
    }
}

TEST_CASE("wrap passes a value through untouched and formats nothing", "[context]") {
    formatted = 0;
    auto r = read_number(true).wrap<strata::low_level>("{}", counted{1});
    REQUIRE(r.has_value());
    CHECK(*r == 42);
    CHECK(formatted == 0);

    auto t = read_text(true).wrap<strata::low_level>("{} {}", counted{2}, counted{3});
    REQUIRE(t.has_value());
    CHECK(*t == std::string(100, 't'));
    CHECK(formatted == 0);

    auto v = ping(true).wrap<strata::low_level>("{}", counted{4});
    CHECK(v.has_value());
    CHECK(formatted == 0);

    // On failure, formatted once.
    auto f = read_number(false).wrap<strata::low_level>("{}", counted{5});
    CHECK(f.error().message() == "counted#5");
    CHECK(formatted == 1);
}

TEST_CASE("wrap on a temporary moves the value through, also a move-only one", "[context]") {
    auto make = [](bool ok) -> strata::result<std::unique_ptr<int>> {
        if (!ok) return root_failure();
        return std::make_unique<int>(5);
    };
    auto r = make(true).wrap<strata::low_level>("no pointer");
    REQUIRE(r.has_value());
    CHECK(**r == 5);
    auto named = make(true);
    int* const p = named->get();
    auto moved = std::move(named).wrap<strata::low_level>("no pointer");
    CHECK(moved->get() == p);  // the same object: moved, not rebuilt
    auto f = make(false).wrap<strata::low_level>("no pointer");
    CHECK(chain(f.error()) == "no pointer: disk on fire");
}

TEST_CASE("wrap on a named result shares its error and leaves it as it was", "[context]") {
    const strata::result<std::string> r = read_text(false);
    auto w = r.wrap<strata::intermediate>("can't read the text");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message() == "disk on fire");  // not moved from
    CHECK(w.error().inner().same_as(r.error()));    // the same frame below the new one

    strata::result<std::string> ok = read_text(true);
    auto copy = ok.wrap<strata::intermediate>("can't read the text");
    REQUIRE(ok.has_value());
    CHECK(*ok == *copy);  // copied: the named result keeps its value
}

TEST_CASE("the message may read the error that is being wrapped: no use after move", "[context]") {
    // The bug the old idiom invites:
    //   wrap<L>(std::move(r).error(), "...{}", r.error().message())
    // reads r after its error was (perhaps) moved out. Here the arguments are
    // evaluated before the error is taken, whatever the order.
    strata::result<int> r = read_number(false);
    auto w = std::move(r).wrap<strata::low_level>("outer (was: {})", r.error().message());
    CHECK(w.error().message() == "outer (was: disk on fire)");
    CHECK(chain(w.error()) == "outer (was: disk on fire): disk on fire");

    strata::result<void> v = ping(false);
    auto wv = std::move(v).wrap<strata::low_level>("ping: {}", v.error().message());
    CHECK(wv.error().message() == "ping: no route");

    auto lazy = read_number(false).wrap_lazy<strata::low_level>(
        [](const strata::error& e) { return fmt::format("outer (was: {})", e.message()); });
    CHECK(lazy.error().message() == "outer (was: disk on fire)");

    auto via_macro = [](strata::result<int> x) -> strata::result<int> {
        STRATA_TRY_WRAP(strata::low_level, std::move(x), "outer (was: {})", x.error().message());
        return 0;
    };
    CHECK(via_macro(read_number(false)).error().message() == "outer (was: disk on fire)");
}

TEST_CASE("wrap_lazy calls its function only on failure", "[context]") {
    int calls = 0;
    auto message = [&] {
        ++calls;
        return std::string("expensive message");
    };
    auto ok = read_number(true).wrap_lazy<strata::low_level>(message);
    CHECK(*ok == 42);
    auto ok_void = ping(true).wrap_lazy<strata::low_level>(message);
    CHECK(ok_void.has_value());
    const strata::result<int> named_ok = 3;
    CHECK(*named_ok.wrap_lazy<strata::low_level>(message) == 3);
    CHECK(calls == 0);

    auto bad = read_number(false).wrap_lazy<app_layer>(message);
    CHECK(calls == 1);
    CHECK(bad.error().is<app_layer>());
    CHECK(chain(bad.error()) == "expensive message: disk on fire");

    // Anything fmt formats is a message; a function taking the error gets it.
    auto number = ping(false).wrap_lazy<strata::low_level>([] { return 17; });
    CHECK(number.error().message() == "17");
    auto seen = ping(false).wrap_lazy<strata::low_level>([](const strata::error& e) { return e.message().size(); });
    CHECK(seen.error().message() == "8");  // "no route"
    // A message with braces is not a format string.
    auto braces = ping(false).wrap_lazy<strata::low_level>([] { return "{} {:d}"; });
    CHECK(braces.error().message() == "{} {:d}");
}

TEST_CASE("with() on the wrapped result adds misc to the new frame, and nothing on success", "[context]") {
    auto r = read_number(false).wrap<strata::low_level>("read config").with("path", "/etc/app.conf").with("try", 2);
    REQUIRE_FALSE(r.has_value());
    std::size_t n = 0;
    for (const auto& entry : r.error().misc()) {
        (void)entry;
        ++n;
    }
    CHECK(n == 2);
    CHECK(r.error().inner().misc().begin() == r.error().inner().misc().end());  // the root frame has none

    auto ok = read_number(true).wrap<strata::low_level>("read config").with("path", "/etc/app.conf");
    CHECK(*ok == 42);

    // On a named result whose error is shared, the other copy does not see it.
    const strata::error shared = root_failure();
    strata::result<void> a = shared;
    a.with("k", 1);
    CHECK(a.error().misc().begin() != a.error().misc().end());
    CHECK(shared.misc().begin() == shared.misc().end());
}

TEST_CASE("wrap without a layer makes an untagged frame", "[context]") {
    auto r = read_number(false).wrap("no layer {}", 1);
    CHECK(r.error().is<strata::untagged>());
    CHECK(r.error().message() == "no layer 1");
}

TEST_CASE("wrap on result<strata::error> wraps the failure and keeps an error value", "[context]") {
    strata::result<strata::error> value = root_failure("the value");
    auto v = std::move(value).wrap<strata::low_level>("not this");
    REQUIRE(v.has_value());
    CHECK(v->message() == "the value");

    strata::result<strata::error> failed = strata::failure(root_failure());
    auto f = std::move(failed).wrap<strata::low_level>("this");
    REQUIRE_FALSE(f.has_value());
    CHECK(chain(f.error()) == "this: disk on fire");
}

// Three modules, each wrapping at its edge with another form.
strata::result<std::string> storage_read(bool ok) {
    STRATA_TRY_WRAP_ASSIGN(auto text, strata::low_level, read_text(ok), "read block {}", 12);
    return text;
}
strata::result<std::size_t> index_lookup(bool ok) {
    return storage_read(ok).wrap<strata::low_level>("look up key {}", "k1").transform(
        [](const std::string& s) { return s.size(); });
}
strata::result<std::size_t> api_get(bool ok) {
    STRATA_TRY_WRAP_ASSIGN(std::size_t n, app_layer, index_lookup(ok), "can't get item {}", 3);
    return n;
}

TEST_CASE("layers chain across modules wrapped with the member and the macros", "[context]") {
    auto ok = api_get(true);
    REQUIRE(ok.has_value());
    CHECK(*ok == 100);

    auto bad = api_get(false);
    REQUIRE_FALSE(bad.has_value());
    CHECK(chain(bad.error()) == "can't get item 3: look up key k1: read block 12: disk on fire");
    CHECK(bad.error().depth() == 4);
    CHECK(bad.error().is<app_layer>());
    CHECK(bad.error().is_user_facing());
    auto low = strata::find<strata::low_level>(bad.error());
    REQUIRE(low);
    CHECK(low->message() == "look up key k1");
}

TEST_CASE("STRATA_TRY_WRAP takes a result, a result<void>, an error and a std::error_code", "[context]") {
    int evaluated = 0;
    auto count = [&] { return ++evaluated; };
    auto f = [&](bool ok) -> strata::result<int> {
        STRATA_TRY_WRAP(strata::low_level, read_number(ok), "number #{}", count());
        STRATA_TRY_WRAP(strata::low_level, ping(ok), "ping #{}", count());
        const strata::error none;
        STRATA_TRY_WRAP(strata::low_level, none, "never #{}", count());
        STRATA_TRY_WRAP(strata::low_level, std::error_code(), "never #{}", count());
        return 1;
    };
    CHECK(f(true) == 1);
    CHECK(evaluated == 0);  // the arguments are evaluated only on failure
    CHECK(chain(f(false).error()) == "number #1: disk on fire");
    CHECK(evaluated == 1);

    auto g = [](bool ok) -> strata::result<void> {
        STRATA_TRY_WRAP(app_layer, ping(ok), "can't reach {}", "db");
        return {};
    };
    CHECK(g(true).has_value());
    CHECK(chain(g(false).error()) == "can't reach db: no route");

    auto h = []() -> strata::error {  // a function that returns a plain error
        STRATA_TRY_WRAP(strata::low_level, root_failure(), "in h");
        return {};
    };
    CHECK(chain(h()) == "in h: disk on fire");

    auto ec = []() -> strata::result<int> {
        STRATA_TRY_WRAP(strata::low_level, std::make_error_code(std::errc::no_such_file_or_directory), "stat {}",
                        "/nope");
        return 0;
    };
    const strata::error e = ec().error();
    CHECK(e.message() == "stat /nope");
    const std::error_code* code = e.inner_as<std::error_code>();
    REQUIRE(code);
    CHECK(*code == std::errc::no_such_file_or_directory);
}

TEST_CASE("STRATA_TRY_WRAP records the caller's line and leaves a named result alone", "[context]") {
    int line = 0;
    const strata::result<int> named = read_number(false);
    auto f = [&]() -> strata::result<int> {
        // clang-format off
        line = __LINE__; STRATA_TRY_WRAP(strata::low_level, named, "wrapped");
        // clang-format on
        return 0;
    };
    const strata::error e = f().error();
    CHECK(e.location().line() == static_cast<std::uint_least32_t>(line));
    CHECK(ends_with(e.location().file_name(), "result_context_test.cpp"));
    REQUIRE_FALSE(named.has_value());
    CHECK(e.inner().same_as(named.error()));

    auto g = [&]() -> strata::result<int> {
        // clang-format off
        line = __LINE__; STRATA_TRY_WRAP_ASSIGN(int x, strata::low_level, named, "wrapped"); return x;
        // clang-format on
    };
    const strata::error ge = g().error();
    CHECK(ge.location().line() == static_cast<std::uint_least32_t>(line));
}

TEST_CASE("STRATA_TRY_WRAP_ASSIGN declares or assigns, and moves from a temporary", "[context]") {
    auto f = [](bool ok) -> strata::result<std::size_t> {
        std::string s;
        STRATA_TRY_WRAP_ASSIGN(s, strata::low_level, read_text(ok), "into s");
        STRATA_TRY_WRAP_ASSIGN(const std::unique_ptr<int> p, strata::low_level,
                               strata::result<std::unique_ptr<int>>(std::make_unique<int>(2)), "p");
        return s.size() + static_cast<std::size_t>(*p);
    };
    CHECK(f(true) == 102u);
    CHECK(chain(f(false).error()) == "into s: disk on fire");
}

using test::task;

task<int> co_sum(bool a, bool b) {
    STRATA_CO_TRY_WRAP_ASSIGN(const int x, strata::low_level, read_number(a), "first");
    STRATA_CO_TRY_WRAP(app_layer, ping(b), "second {}", x);
    co_return x + 1;
}

TEST_CASE("STRATA_CO_TRY_WRAP and STRATA_CO_TRY_WRAP_ASSIGN co_return the wrapped failure", "[context]") {
    CHECK(co_sum(true, true).get() == 43);
    CHECK(chain(co_sum(false, true).get().error()) == "first: disk on fire");
    auto second = co_sum(true, false).get();
    CHECK(second.error().is<app_layer>());
    CHECK(chain(second.error()) == "second 42: no route");
}

TEST_CASE("the members are noexcept where moving or copying the value is", "[context]") {
    // (A format string made in place is a consteval conversion, which noexcept()
    // counts as possibly throwing; made beforehand, it is a copy.)
    strata::result<int> r = 1;
    const strata::format_string<int> with_arg("x {}");
    const strata::format_string<> plain("x");
    STATIC_REQUIRE(noexcept(std::move(r).wrap<strata::low_level>(with_arg, 1)));
    STATIC_REQUIRE(noexcept(r.wrap<strata::low_level>(plain)));
    STATIC_REQUIRE(noexcept(strata::result<std::string>().wrap<strata::low_level>(plain)));  // moved
    // Copying a std::string may throw.
    STATIC_REQUIRE_FALSE(noexcept(std::declval<const strata::result<std::string>&>().wrap<strata::low_level>(plain)));
    STATIC_REQUIRE(noexcept(std::move(r).wrap_lazy<strata::low_level>([]() noexcept { return 1; })));
    STATIC_REQUIRE_FALSE(noexcept(std::move(r).wrap_lazy<strata::low_level>([] { return std::string("x"); })));
    STATIC_REQUIRE(std::is_same_v<decltype(std::move(r).wrap<strata::low_level>("x")), strata::result<int>>);
    strata::result<void> v;
    STATIC_REQUIRE(std::is_same_v<decltype(v.wrap<strata::low_level>("x")), strata::result<void>>);
}

}  // namespace
