// Tests for <strata/result.hpp>: strata::result<T>, strata::failure, the monadic
// operations and STRATA_TRY / STRATA_TRY_ASSIGN. Written against the promises of
// DESIGN.md and the header's comments, not its internals.

#include <catch2/catch.hpp>
#include <strata/result.hpp>

#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

struct app_layer {
    static constexpr std::string_view name = "result_test.app";
    static constexpr bool user_facing = true;
};

// A string long enough to live on the heap (no small-string optimization), so
// that ASan sees leaks and double frees of result's value.
const std::string long_text(200, 'x');

strata::error make_failure(std::string_view what = "boom") {
    return strata::make_error<strata::low_level>("{}", what);
}

// Runs `f` and returns the strata::exception it throws (fails the test if it
// throws nothing or something else).
template <class F>
strata::error thrown_error(F&& f) {
    try {
        std::forward<F>(f)();
    } catch (const strata::exception& ex) {
        return ex.error();
    } catch (...) {
        FAIL("threw something other than strata::exception");
        return {};
    }
    FAIL("did not throw");
    return {};
}

}  // namespace

// ---------------------------------------------------------------------------
// Construction and access

TEST_CASE("result<int> converts implicitly from a value and gives it back", "[result]") {
    strata::result<int> r = 42;
    CHECK(r.has_value());
    CHECK(static_cast<bool>(r));
    CHECK(r.value() == 42);
    CHECK(*r == 42);
    CHECK_FALSE(r.error());
    CHECK(r.error().empty());

    const strata::result<int>& cr = r;
    CHECK(cr.value() == 42);
    CHECK(*cr == 42);
    CHECK(std::move(r).value() == 42);

    strata::result<int> zero = 0;  // a falsy value is still a value
    CHECK(zero.has_value());
    CHECK(zero.value() == 0);

    // Something int is constructible from.
    strata::result<int> from_short = static_cast<short>(7);
    CHECK(from_short.value() == 7);

    // The value is mutable through value() and *.
    strata::result<int> m = 1;
    m.value() = 2;
    CHECK(*m == 2);
    *m = 3;
    CHECK(m.value() == 3);

    // A returned value converts in a return statement.
    auto f = []() -> strata::result<int> { return 5; };
    CHECK(f().value() == 5);
}

TEST_CASE("result<std::string> converts from std::string and from const char*", "[result]") {
    strata::result<std::string> a = std::string("hello");
    REQUIRE(a.has_value());
    CHECK(a.value() == "hello");
    CHECK(a->size() == 5);
    CHECK((*a)[1] == 'e');

    strata::result<std::string> b = "from a literal";
    REQUIRE(b.has_value());
    CHECK(*b == "from a literal");

    const char* p = "from a pointer";
    strata::result<std::string> c = p;
    REQUIRE(c.has_value());
    CHECK(c.value() == "from a pointer");
    CHECK(c->front() == 'f');

    const strata::result<std::string>& cc = c;
    CHECK(cc->back() == 'r');

    strata::result<std::string> in_place(std::in_place, std::size_t{3}, 'z');
    CHECK(in_place.value() == "zzz");

    auto f = []() -> strata::result<std::string> { return "returned"; };
    CHECK(f().value() == "returned");

    // Moving the value out of an rvalue result.
    strata::result<std::string> big = long_text;
    std::string taken = std::move(big).value();
    CHECK(taken == long_text);

    strata::result<std::vector<int>> v = std::vector<int>{1, 2, 3};
    REQUIRE(v.has_value());
    CHECK(v->size() == 3);
    CHECK(v.value().back() == 3);
}

TEST_CASE("result<void> is a success by default and a failure from an error", "[result]") {
    strata::result<void> ok;
    CHECK(ok.has_value());
    CHECK(static_cast<bool>(ok));
    CHECK_FALSE(ok.error());
    CHECK_NOTHROW(ok.value());

    const strata::error e = make_failure("void failed");
    strata::result<void> bad = e;
    CHECK_FALSE(bad.has_value());
    CHECK_FALSE(static_cast<bool>(bad));
    CHECK(bad.error().same_as(e));
    CHECK(bad.error().message() == "void failed");

    auto f = [&]() -> strata::result<void> { return e; };
    CHECK_FALSE(f().has_value());
    auto g = []() -> strata::result<void> { return {}; };
    CHECK(g().has_value());
}

TEST_CASE("result converts implicitly from any strata error, wrapped_error<L> included", "[result]") {
    const strata::wrapped_error<strata::low_level> low = strata::make_error<strata::low_level>("disk {}", 3);
    const strata::wrapped_error<app_layer> app = strata::wrap<app_layer>(low, "could not save");
    const strata::error plain = strata::make_error("untagged");

    SECTION("from const lvalues: the result shares the chain") {
        strata::result<int> a = low;
        strata::result<std::string> b = app;
        strata::result<void> c = plain;
        REQUIRE_FALSE(a.has_value());
        REQUIRE_FALSE(b.has_value());
        REQUIRE_FALSE(c.has_value());
        CHECK(a.error().same_as(low));
        CHECK(a.error().is<strata::low_level>());
        CHECK(b.error().same_as(app));
        CHECK(b.error().is<app_layer>());
        CHECK(c.error().same_as(plain));
        CHECK(b.error().message() == "could not save");
        CHECK(b.error().inner().same_as(low));
    }
    SECTION("from rvalues: the chain is moved in") {
        strata::wrapped_error<strata::low_level> tmp = low;
        strata::result<int> a = std::move(tmp);
        REQUIRE_FALSE(a.has_value());
        CHECK(a.error().same_as(low));

        strata::error tmp2 = app;
        strata::result<std::vector<int>> b = std::move(tmp2);
        REQUIRE_FALSE(b.has_value());
        CHECK(b.error().same_as(app));
    }
    SECTION("in return statements") {
        auto f = [&]() -> strata::result<int> { return low; };
        auto g = [&]() -> strata::result<std::string> { return strata::wrap<strata::intermediate>(low, "shown"); };
        strata::result<int> a = f();
        strata::result<std::string> b = g();
        CHECK(a.error().same_as(low));
        REQUIRE_FALSE(b.has_value());
        CHECK(b.error().is<strata::intermediate>());
        CHECK(b.error().inner().same_as(low));
    }
    SECTION("result<bool> from an error is a failure, not the error's truth value") {
        strata::result<bool> r = low;
        CHECK_FALSE(r.has_value());
        CHECK(r.error().same_as(low));
        strata::result<bool> t = true;
        CHECK(t.value());
    }
}

TEST_CASE("value() on a failed result throws strata::exception carrying the same chain", "[result]") {
    const strata::error e = strata::wrap<strata::intermediate>(make_failure("root"), "outer message");

    strata::result<int> ri = e;
    strata::result<std::string> rs = e;
    strata::result<void> rv = e;
    const strata::result<int>& cri = ri;

    CHECK(thrown_error([&] { (void)ri.value(); }).same_as(e));
    CHECK(thrown_error([&] { (void)cri.value(); }).same_as(e));
    CHECK(thrown_error([&] { (void)rs.value(); }).same_as(e));
    CHECK(thrown_error([&] { rv.value(); }).same_as(e));
    CHECK(thrown_error([&] { (void)std::move(rs).value(); }).same_as(e));

    // what() is the outermost message.
    try {
        (void)ri.value();
        FAIL("value() did not throw");
    } catch (const strata::exception& ex) {
        CHECK(std::string_view(ex.what()) == "outer message");
    }
    // A strata::exception is a std::exception.
    CHECK_THROWS_AS(ri.value(), std::exception);

    // The result still holds its error after the throw.
    CHECK(ri.error().same_as(e));
}

TEST_CASE("value_or gives the value or the fallback", "[result]") {
    strata::result<int> ok = 3;
    strata::result<int> bad = make_failure();
    CHECK(ok.value_or(9) == 3);
    CHECK(bad.value_or(9) == 9);

    strata::result<std::string> s_ok = long_text;
    strata::result<std::string> s_bad = make_failure();
    CHECK(s_ok.value_or("fallback") == long_text);
    CHECK(s_bad.value_or("fallback") == "fallback");
    // value_or does not consume the result.
    CHECK(s_ok.value() == long_text);
    CHECK_FALSE(s_bad.has_value());
}

TEST_CASE("strata::failure makes a failed result explicitly", "[result]") {
    const strata::error e = make_failure("explicit");
    strata::result<int> a = strata::failure(e);
    strata::result<std::string> b = strata::failure(e);
    strata::result<void> c = strata::failure(e);
    CHECK_FALSE(a.has_value());
    CHECK_FALSE(b.has_value());
    CHECK_FALSE(c.has_value());
    CHECK(a.error().same_as(e));
    CHECK(b.error().same_as(e));
    CHECK(c.error().same_as(e));

    auto f = [&]() -> strata::result<int> { return strata::failure(e); };
    CHECK(f().error().same_as(e));
}

TEST_CASE("result<strata::error> holds an error as its value, and only strata::failure makes it fail", "[result]") {
    const strata::error e = make_failure("an error as data");
    const strata::wrapped_error<strata::low_level> w = strata::make_error<strata::low_level>("wrapped as data");

    strata::result<strata::error> as_value = e;
    REQUIRE(as_value.has_value());
    CHECK(static_cast<bool>(as_value));
    CHECK(as_value.value().same_as(e));
    CHECK(as_value->same_as(e));
    CHECK(as_value.error().empty());

    strata::result<strata::error> wrapped_value = w;
    REQUIRE(wrapped_value.has_value());
    CHECK(wrapped_value.value().same_as(w));

    auto returns_value = [&]() -> strata::result<strata::error> { return e; };
    CHECK(returns_value().has_value());

    strata::result<strata::error> as_failure = strata::failure(e);
    CHECK_FALSE(as_failure.has_value());
    CHECK(as_failure.error().same_as(e));
    CHECK(thrown_error([&] { (void)as_failure.value(); }).same_as(e));

    auto returns_failure = [&]() -> strata::result<strata::error> { return strata::failure(e); };
    CHECK_FALSE(returns_failure().has_value());

    // An empty error is a perfectly good value of result<strata::error>.
    strata::result<strata::error> empty_value = strata::error{};
    CHECK(empty_value.has_value());
    CHECK(empty_value.value().empty());
}

TEST_CASE("an empty error used as a failure gives a failed result that says so", "[result]") {
    auto says_empty = [](const strata::error& e) {
        const std::string_view m = e.message();
        return !e.empty() && m.find("empty") != std::string_view::npos;
    };

    SECTION("result<int> from a default-constructed error") {
        strata::result<int> r = strata::error{};
        CHECK_FALSE(r.has_value());
        CHECK_FALSE(static_cast<bool>(r));
        CHECK(says_empty(r.error()));
        CHECK(says_empty(thrown_error([&] { (void)r.value(); })));
        CHECK(r.value_or(-1) == -1);
    }
    SECTION("result<std::string> from a moved-from error") {
        strata::error e = make_failure();
        strata::error taken = std::move(e);
        strata::result<std::string> r = e;  // NOLINT(bugprone-use-after-move): e is empty on purpose
        CHECK_FALSE(r.has_value());
        CHECK(says_empty(r.error()));
    }
    SECTION("result<void> from an empty (moved-from) wrapped_error") {
        auto w = strata::make_error<strata::low_level>("taken");
        const strata::error taken = std::move(w);
        strata::result<void> r = std::move(w);  // NOLINT(bugprone-use-after-move): empty on purpose
        CHECK_FALSE(r.has_value());
        CHECK(says_empty(r.error()));
        CHECK_THROWS_AS(r.value(), strata::exception);
    }
    SECTION("through strata::failure") {
        strata::result<int> a = strata::failure(strata::error{});
        strata::result<void> b = strata::failure(strata::error{});
        strata::result<strata::error> c = strata::failure(strata::error{});
        CHECK_FALSE(a.has_value());
        CHECK_FALSE(b.has_value());
        CHECK_FALSE(c.has_value());
        CHECK(says_empty(a.error()));
        CHECK(says_empty(b.error()));
        CHECK(says_empty(c.error()));
    }
    SECTION("in a return statement") {
        auto f = []() -> strata::result<int> { return strata::error{}; };
        strata::result<int> r = f();
        CHECK_FALSE(r.has_value());
        CHECK(says_empty(r.error()));
    }
}

// ---------------------------------------------------------------------------
// Moving

TEST_CASE("a moved-from failed result is still failed", "[result]") {
    const strata::error e = make_failure("moved");

    SECTION("move construction, result<int>") {
        strata::result<int> a = e;
        strata::result<int> b = std::move(a);
        CHECK(b.error().same_as(e));
        CHECK_FALSE(a.has_value());  // NOLINT(bugprone-use-after-move)
        CHECK_FALSE(static_cast<bool>(a));
        CHECK_FALSE(a.error().empty());
        CHECK_THROWS_AS(a.value(), strata::exception);
    }
    SECTION("move construction, result<std::string>") {
        strata::result<std::string> a = e;
        strata::result<std::string> b(std::move(a));
        CHECK(b.error().same_as(e));
        CHECK_FALSE(a.has_value());  // NOLINT(bugprone-use-after-move)
        CHECK(a.value_or("fallback") == "fallback");
    }
    SECTION("move construction, result<void>") {
        strata::result<void> a = e;
        strata::result<void> b = std::move(a);
        CHECK(b.error().same_as(e));
        CHECK_FALSE(a.has_value());  // NOLINT(bugprone-use-after-move)
        CHECK_THROWS_AS(a.value(), strata::exception);
    }
    SECTION("move assignment") {
        strata::result<std::string> a = e;
        strata::result<std::string> b = long_text;
        b = std::move(a);
        CHECK(b.error().same_as(e));
        CHECK_FALSE(a.has_value());  // NOLINT(bugprone-use-after-move)

        strata::result<void> c = e;
        strata::result<void> d;
        d = std::move(c);
        CHECK(d.error().same_as(e));
        CHECK_FALSE(c.has_value());  // NOLINT(bugprone-use-after-move)
    }
    SECTION("moving the error out with std::move(r).error()") {
        strata::result<int> a = e;
        strata::error out = std::move(a).error();
        CHECK(out.same_as(e));
        CHECK_FALSE(a.has_value());  // NOLINT(bugprone-use-after-move)
        CHECK_FALSE(a.error().empty());

        strata::result<std::string> s = e;
        strata::error out_s = std::move(s).error();
        CHECK(out_s.same_as(e));
        CHECK_FALSE(s.has_value());  // NOLINT(bugprone-use-after-move)

        strata::result<void> v = e;
        strata::error out_v = std::move(v).error();
        CHECK(out_v.same_as(e));
        CHECK_FALSE(v.has_value());  // NOLINT(bugprone-use-after-move)
        CHECK_THROWS_AS(v.value(), strata::exception);

        // Twice: the second error taken is still not empty and the result still failed.
        strata::error again = std::move(a).error();
        CHECK_FALSE(again.empty());
        CHECK_FALSE(a.has_value());
    }
    SECTION("moving from a value result keeps the value in the target") {
        strata::result<std::string> a = long_text;
        strata::result<std::string> b = std::move(a);
        REQUIRE(b.has_value());
        CHECK(b.value() == long_text);
    }
}

// ---------------------------------------------------------------------------
// Monadic operations

TEST_CASE("and_then chains on a value and passes a failure through", "[result]") {
    const strata::error e = make_failure("and_then");
    int calls = 0;
    auto half = [&calls](int x) -> strata::result<int> {
        ++calls;
        if (x % 2) return strata::make_error<strata::low_level>("{} is odd", x);
        return x / 2;
    };

    SECTION("value, lvalue and rvalue") {
        strata::result<int> r = 8;
        CHECK(r.and_then(half).value() == 4);
        CHECK(std::move(r).and_then(half).and_then(half).value() == 2);
        const strata::result<int> cr = 4;
        CHECK(cr.and_then(half).value() == 2);
        CHECK(calls == 4);
    }
    SECTION("the function's own failure") {
        strata::result<int> r = 3;
        strata::result<int> out = r.and_then(half);
        REQUIRE_FALSE(out.has_value());
        CHECK(out.error().message() == "3 is odd");
    }
    SECTION("failure passes through unchanged, function not called") {
        strata::result<int> r = e;
        strata::result<int> out = r.and_then(half);
        CHECK_FALSE(out.has_value());
        CHECK(out.error().same_as(e));
        CHECK(r.error().same_as(e));  // an lvalue keeps its error
        strata::result<int> moved = std::move(r).and_then(half);
        CHECK(moved.error().same_as(e));
        CHECK(calls == 0);
    }
    SECTION("changing the type") {
        strata::result<int> r = 12;
        strata::result<std::string> s = r.and_then([](int x) -> strata::result<std::string> { return std::to_string(x); });
        CHECK(s.value() == "12");
        strata::result<std::string> f = strata::result<int>(e).and_then(
            [](int x) -> strata::result<std::string> { return std::to_string(x); });
        CHECK(f.error().same_as(e));
    }
    SECTION("result<void>") {
        strata::result<void> ok;
        strata::result<void> bad = e;
        int void_calls = 0;
        auto next = [&void_calls]() -> strata::result<int> {
            ++void_calls;
            return 7;
        };
        CHECK(ok.and_then(next).value() == 7);
        CHECK(std::move(ok).and_then(next).value() == 7);
        strata::result<int> passed = bad.and_then(next);
        CHECK(passed.error().same_as(e));
        strata::result<int> moved = std::move(bad).and_then(next);
        CHECK(moved.error().same_as(e));
        CHECK(void_calls == 2);

        strata::result<void> to_void = strata::result<int>(1).and_then([](int) -> strata::result<void> { return {}; });
        CHECK(to_void.has_value());
    }
}

TEST_CASE("transform maps a value and passes a failure through", "[result]") {
    const strata::error e = make_failure("transform");
    int calls = 0;

    SECTION("value to value") {
        strata::result<int> r = 20;
        strata::result<std::string> s = r.transform([&](int x) {
            ++calls;
            return std::to_string(x + 1);
        });
        CHECK(s.value() == "21");
        strata::result<std::size_t> n = std::move(s).transform([](std::string str) { return str.size(); });
        CHECK(n.value() == 2);
        const strata::result<int> cr = 1;
        CHECK(cr.transform([](int x) { return x * 10; }).value() == 10);
        CHECK(calls == 1);
    }
    SECTION("value to void") {
        strata::result<int> r = 5;
        int seen = 0;
        strata::result<void> v = r.transform([&](int x) { seen = x; });
        CHECK(v.has_value());
        CHECK(seen == 5);
    }
    SECTION("failure to value and to void: function not called") {
        strata::result<int> r = e;
        strata::result<std::string> s = r.transform([&](int x) {
            ++calls;
            return std::to_string(x);
        });
        CHECK(s.error().same_as(e));
        strata::result<void> v = r.transform([&](int) { ++calls; });
        CHECK_FALSE(v.has_value());
        CHECK(v.error().same_as(e));
        strata::result<double> moved = std::move(r).transform([&](int x) {
            ++calls;
            return x * 0.5;
        });
        CHECK(moved.error().same_as(e));
        CHECK(calls == 0);
    }
    SECTION("result<void>") {
        strata::result<void> ok;
        strata::result<void> bad = e;
        CHECK(ok.transform([&] {
                    ++calls;
                    return 3;
                }).value() == 3);
        CHECK(ok.transform([&] { ++calls; }).has_value());
        strata::result<int> f = bad.transform([&] {
            ++calls;
            return 3;
        });
        CHECK(f.error().same_as(e));
        strata::result<void> fv = bad.transform([&] { ++calls; });
        CHECK(fv.error().same_as(e));
        CHECK(calls == 2);
    }
}

TEST_CASE("or_else handles a failure and passes a value through", "[result]") {
    const strata::error e = make_failure("or_else");
    int calls = 0;
    auto recover = [&](const strata::error& err) -> strata::result<int> {
        ++calls;
        CHECK(err.same_as(e));
        return -1;
    };

    SECTION("failure is handed to the function") {
        strata::result<int> r = e;
        CHECK(r.or_else(recover).value() == -1);
        CHECK(std::move(r).or_else(recover).value() == -1);
        CHECK(calls == 2);
    }
    SECTION("value passes through, function not called") {
        strata::result<int> r = 4;
        CHECK(r.or_else(recover).value() == 4);
        CHECK(std::move(r).or_else(recover).value() == 4);
        strata::result<std::string> s = long_text;
        CHECK(s.or_else([&](const strata::error&) -> strata::result<std::string> {
                   ++calls;
                   return "no";
               }).value() == long_text);
        CHECK(calls == 0);
    }
    SECTION("the function may fail again, e.g. by wrapping") {
        strata::result<int> r = e;
        strata::result<int> out =
            r.or_else([](const strata::error& err) -> strata::result<int> { return strata::wrap<app_layer>(err, "retry failed"); });
        REQUIRE_FALSE(out.has_value());
        CHECK(out.error().is<app_layer>());
        CHECK(out.error().inner().same_as(e));
    }
    SECTION("result<void>") {
        strata::result<void> bad = e;
        strata::result<void> ok;
        auto recover_void = [&](const strata::error& err) -> strata::result<void> {
            ++calls;
            CHECK(err.same_as(e));
            return {};
        };
        CHECK(bad.or_else(recover_void).has_value());
        CHECK(ok.or_else(recover_void).has_value());
        CHECK(calls == 1);
        strata::result<void> still_bad = bad.or_else([](const strata::error& err) -> strata::result<void> { return err; });
        CHECK(still_bad.error().same_as(e));
    }
}

// ---------------------------------------------------------------------------
// STRATA_TRY and STRATA_TRY_ASSIGN

namespace {

strata::result<int> parse_digit(char c) {
    if (c < '0' || c > '9') return strata::make_error<strata::low_level>("not a digit: {}", c);
    return c - '0';
}

strata::result<void> check_digit(char c) {
    if (c < '0' || c > '9') return strata::make_error<strata::low_level>("not a digit: {}", c);
    return {};
}

int after_try = 0;  // counts how often the code after a STRATA_TRY ran

strata::result<int> try_in_result_int(char c) {
    STRATA_TRY(check_digit(c));
    ++after_try;
    STRATA_TRY(parse_digit(c));
    ++after_try;
    return 100;
}

strata::result<void> try_in_result_void(char c) {
    STRATA_TRY(parse_digit(c));
    ++after_try;
    return {};
}

strata::error try_in_plain_error(char c) {
    STRATA_TRY(check_digit(c));
    ++after_try;
    return {};
}

strata::result<strata::error> try_in_result_of_error(char c) {
    STRATA_TRY(check_digit(c));
    ++after_try;
    return strata::make_error("this error is the value");
}

strata::result<int> try_assign_declaration(char a, char b) {
    STRATA_TRY_ASSIGN(auto x, parse_digit(a));
    ++after_try;
    STRATA_TRY_ASSIGN(const int y, parse_digit(b));
    ++after_try;
    return x * 10 + y;
}

strata::result<int> try_assign_existing(char a, char b) {
    int sum = 0;
    int digit = -1;
    STRATA_TRY_ASSIGN(digit, parse_digit(a));
    sum += digit;
    ++after_try;
    STRATA_TRY_ASSIGN(digit, parse_digit(b));
    sum += digit;
    ++after_try;
    return sum;
}

strata::result<std::string> make_text(bool ok) {
    if (!ok) return strata::make_error<strata::low_level>("no text");
    return long_text;
}

strata::result<std::size_t> try_assign_string(bool ok) {
    STRATA_TRY_ASSIGN(std::string s, make_text(ok));
    std::string existing = "old";
    STRATA_TRY_ASSIGN(existing, make_text(ok));
    return s.size() + existing.size();
}

strata::result<void> try_assign_in_void(char a, int& out) {
    STRATA_TRY_ASSIGN(out, parse_digit(a));
    return {};
}

}  // namespace

TEST_CASE("STRATA_TRY passes a failure to the caller and continues on success", "[result][try]") {
    SECTION("in a function returning result<T>") {
        after_try = 0;
        CHECK(try_in_result_int('4').value() == 100);
        CHECK(after_try == 2);
        after_try = 0;
        strata::result<int> r = try_in_result_int('x');
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().message() == "not a digit: x");
        CHECK(r.error().is<strata::low_level>());
        CHECK(after_try == 0);
    }
    SECTION("in a function returning result<void>") {
        after_try = 0;
        CHECK(try_in_result_void('1').has_value());
        CHECK(after_try == 1);
        after_try = 0;
        strata::result<void> r = try_in_result_void('?');
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().message() == "not a digit: ?");
        CHECK(after_try == 0);
    }
    SECTION("in a function returning a plain strata::error") {
        after_try = 0;
        CHECK(try_in_plain_error('1').empty());
        CHECK(after_try == 1);
        after_try = 0;
        strata::error e = try_in_plain_error('z');
        REQUIRE_FALSE(e.empty());
        CHECK(e.message() == "not a digit: z");
        CHECK(after_try == 0);
    }
    SECTION("in a function returning result<strata::error>: the error is the failure, not a value") {
        after_try = 0;
        strata::result<strata::error> ok = try_in_result_of_error('1');
        REQUIRE(ok.has_value());
        CHECK(ok.value().message() == "this error is the value");
        strata::result<strata::error> bad = try_in_result_of_error('z');
        REQUIRE_FALSE(bad.has_value());
        CHECK(bad.error().message() == "not a digit: z");
        CHECK(after_try == 1);
    }
    SECTION("on a named result (lvalue)") {
        const strata::error e = make_failure("named");
        auto f = [&]() -> strata::result<int> {
            strata::result<void> step = e;
            STRATA_TRY(step);
            return 1;
        };
        CHECK(f().error().same_as(e));
    }
}

TEST_CASE("STRATA_TRY_ASSIGN declares or assigns the value, or passes the failure up", "[result][try]") {
    SECTION("with a declaration") {
        after_try = 0;
        CHECK(try_assign_declaration('4', '2').value() == 42);
        CHECK(after_try == 2);
        after_try = 0;
        strata::result<int> first = try_assign_declaration('a', '2');
        REQUIRE_FALSE(first.has_value());
        CHECK(first.error().message() == "not a digit: a");
        CHECK(after_try == 0);
        strata::result<int> second = try_assign_declaration('4', 'b');
        REQUIRE_FALSE(second.has_value());
        CHECK(second.error().message() == "not a digit: b");
        CHECK(after_try == 1);
    }
    SECTION("with an existing variable") {
        after_try = 0;
        CHECK(try_assign_existing('3', '5').value() == 8);
        CHECK(after_try == 2);
        after_try = 0;
        strata::result<int> r = try_assign_existing('3', '#');
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().message() == "not a digit: #");
        CHECK(after_try == 1);
    }
    SECTION("with a non-trivial value") {
        CHECK(try_assign_string(true).value() == 2 * long_text.size());
        strata::result<std::size_t> r = try_assign_string(false);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().message() == "no text");
    }
    SECTION("in a function returning result<void>") {
        int out = -1;
        CHECK(try_assign_in_void('6', out).has_value());
        CHECK(out == 6);
        out = -1;
        strata::result<void> r = try_assign_in_void('!', out);
        CHECK_FALSE(r.has_value());
        CHECK(out == -1);
    }
}

namespace {

// Each level propagates its callee's failure with STRATA_TRY / STRATA_TRY_ASSIGN.
strata::result<int> deep_int(int level, const strata::error& origin) {
    if (level == 0) return origin;
    STRATA_TRY_ASSIGN(int v, deep_int(level - 1, origin));
    return v + 1;
}

strata::result<void> deep_void(int level, const strata::error& origin) {
    if (level == 0) return origin;
    STRATA_TRY(deep_void(level - 1, origin));
    return {};
}

strata::result<void> as_result(strata::error e) {
    if (e) return e;
    return {};
}

strata::error deep_plain(int level, const strata::error& origin) {
    if (level == 0) return origin;
    STRATA_TRY(as_result(deep_plain(level - 1, origin)));
    return {};
}

strata::result<std::string> deep_string(int level, const strata::error& origin) {
    if (level == 0) {
        if (origin) return origin;
        return std::string("bottom");
    }
    STRATA_TRY_ASSIGN(std::string s, deep_string(level - 1, origin));
    return s;
}

}  // namespace

TEST_CASE("propagation through 20 levels keeps the same chain: moved, never rewrapped", "[result][try]") {
    const strata::error origin = strata::wrap<strata::low_level>(std::make_error_code(std::errc::io_error), "read");
    const std::size_t depth = origin.depth();

    strata::result<int> ri = deep_int(20, origin);
    REQUIRE_FALSE(ri.has_value());
    CHECK(ri.error().same_as(origin));
    CHECK(ri.error().depth() == depth);

    strata::result<void> rv = deep_void(20, origin);
    REQUIRE_FALSE(rv.has_value());
    CHECK(rv.error().same_as(origin));
    CHECK(rv.error().depth() == depth);

    strata::error pe = deep_plain(20, origin);
    CHECK(pe.same_as(origin));
    CHECK(pe.depth() == depth);

    strata::result<std::string> rs = deep_string(20, origin);
    REQUIRE_FALSE(rs.has_value());
    CHECK(rs.error().same_as(origin));

    // The success path gets through too.
    CHECK(deep_string(20, strata::error{}).value() == "bottom");
    CHECK(deep_plain(20, strata::error{}).empty());
}

// ---------------------------------------------------------------------------
// Sizes

TEST_CASE("result is small", "[result]") {
    STATIC_REQUIRE(sizeof(strata::result<int>) <= 16);
    STATIC_REQUIRE(sizeof(strata::result<void>) == sizeof(void*));
}

// ---------------------------------------------------------------------------
// Copies and assignment

TEST_CASE("copying results holding values and errors", "[result][copy]") {
    const strata::error e = make_failure("copied");

    SECTION("copy construction of a value") {
        strata::result<std::string> a = long_text;
        strata::result<std::string> b = a;
        CHECK(b.value() == long_text);
        CHECK(a.value() == long_text);
        b.value() += "!";
        CHECK(a.value() == long_text);  // a deep copy

        strata::result<std::vector<std::string>> v = std::vector<std::string>{long_text, long_text};
        strata::result<std::vector<std::string>> w = v;
        CHECK(w.value() == v.value());
    }
    SECTION("copy construction of an error shares the chain") {
        strata::result<std::string> a = e;
        strata::result<std::string> b = a;
        CHECK(b.error().same_as(e));
        CHECK(a.error().same_as(e));
        strata::result<void> c = e;
        strata::result<void> d = c;
        CHECK(d.error().same_as(e));
        CHECK(c.error().same_as(e));
    }
    SECTION("copy assignment in every direction") {
        strata::result<std::string> value = long_text;
        strata::result<std::string> failed = e;
        strata::result<std::string> target = std::string(300, 'y');

        target = value;  // value <- value
        CHECK(target.value() == long_text);
        target = failed;  // value <- error
        CHECK(target.error().same_as(e));
        target = failed;  // error <- error
        CHECK(target.error().same_as(e));
        target = value;  // error <- value
        CHECK(target.value() == long_text);
        CHECK(value.value() == long_text);
        CHECK(failed.error().same_as(e));

        strata::result<std::string>& self = target;
        target = self;  // self-assignment
        CHECK(target.value() == long_text);
        failed = static_cast<const strata::result<std::string>&>(failed);
        CHECK(failed.error().same_as(e));
    }
    SECTION("move assignment in every direction") {
        strata::result<std::vector<int>> target = std::vector<int>(100, 1);
        target = strata::result<std::vector<int>>(std::vector<int>(50, 2));
        CHECK(target->size() == 50);
        target = strata::result<std::vector<int>>(e);
        CHECK(target.error().same_as(e));
        target = strata::result<std::vector<int>>(e);
        CHECK(target.error().same_as(e));
        target = strata::result<std::vector<int>>(std::vector<int>(10, 3));
        CHECK(target.value() == std::vector<int>(10, 3));
    }
    SECTION("result<void> assignment") {
        strata::result<void> ok;
        strata::result<void> bad = e;
        strata::result<void> t;
        t = bad;
        CHECK(t.error().same_as(e));
        t = ok;
        CHECK(t.has_value());
        t = strata::result<void>(e);
        CHECK(t.error().same_as(e));
        t = strata::result<void>();
        CHECK(t.has_value());
    }
    SECTION("result<strata::error> copies its value error") {
        strata::result<strata::error> a = e;
        strata::result<strata::error> b = a;
        REQUIRE(b.has_value());
        CHECK(b.value().same_as(e));
        strata::result<strata::error> c = strata::failure(e);
        b = c;
        CHECK_FALSE(b.has_value());
        CHECK(b.error().same_as(e));
    }
}

namespace {

strata::result<std::unique_ptr<int>> make_owned(bool ok, int v) {
    if (!ok) return strata::make_error<strata::low_level>("no pointer");
    return std::make_unique<int>(v);
}

strata::result<int> read_owned(bool ok) {
    STRATA_TRY_ASSIGN(std::unique_ptr<int> p, make_owned(ok, 6));
    return *p;
}

}  // namespace

TEST_CASE("result of a move-only type", "[result][copy]") {
    strata::result<std::unique_ptr<int>> r = make_owned(true, 4);
    REQUIRE(r.has_value());
    CHECK(**r == 4);
    strata::result<std::unique_ptr<int>> moved = std::move(r);
    REQUIRE(moved.has_value());
    CHECK(*moved.value() == 4);
    std::unique_ptr<int> p = std::move(moved).value();
    CHECK(*p == 4);

    CHECK(make_owned(true, 2).transform([](std::unique_ptr<int> x) { return *x * 10; }).value() == 20);
    CHECK(make_owned(true, 3).and_then([](std::unique_ptr<int> x) -> strata::result<int> { return *x; }).value() == 3);
    strata::result<std::unique_ptr<int>> recovered = make_owned(false, 0).or_else(
        [](const strata::error&) -> strata::result<std::unique_ptr<int>> { return std::make_unique<int>(1); });
    CHECK(*recovered.value() == 1);
    CHECK(read_owned(true).value() == 6);
    CHECK(read_owned(false).error().message() == "no pointer");

    strata::result<std::unique_ptr<int>> target = make_owned(false, 0);
    target = make_owned(true, 9);
    CHECK(**target == 9);
    target = make_owned(false, 0);
    CHECK_FALSE(target.has_value());
}

// Like std::expected, result<T> is copyable exactly when T is (so that generic code
// and std::is_copy_constructible see the truth, e.g. std::any or std::function
// refusing a result of a move-only type at the point of use).
TEST_CASE("result<T> is copyable exactly when T is", "[result][copy]") {
    CHECK(std::is_copy_constructible_v<strata::result<std::string>>);
    CHECK(std::is_copy_assignable_v<strata::result<std::string>>);
    CHECK_FALSE(std::is_copy_constructible_v<strata::result<std::unique_ptr<int>>>);
    CHECK_FALSE(std::is_copy_assignable_v<strata::result<std::unique_ptr<int>>>);
}

namespace {

// Counts live objects; its copy or its move throws when asked to.
struct throwing_copy {
    static inline int live = 0;
    bool throw_on_copy = false;
    bool throw_on_move = false;

    throwing_copy() noexcept { ++live; }
    throwing_copy(const throwing_copy& o) : throw_on_copy(o.throw_on_copy), throw_on_move(o.throw_on_move) {
        if (o.throw_on_copy) throw std::runtime_error("copy failed");
        ++live;
    }
    throwing_copy(throwing_copy&& o) noexcept(false) : throw_on_copy(o.throw_on_copy), throw_on_move(o.throw_on_move) {
        if (o.throw_on_move) throw std::runtime_error("move failed");
        ++live;
    }
    throwing_copy& operator=(const throwing_copy&) = default;
    throwing_copy& operator=(throwing_copy&&) = default;
    ~throwing_copy() { --live; }
};

}  // namespace

// Basic exception safety: an assignment whose copy or move of T throws must leave
// the target a valid result (destroyed exactly once, whatever it then holds).
TEST_CASE("a throwing copy assignment leaves the target valid (no double destruction)", "[result][copy]") {
    throwing_copy::live = 0;
    {
        strata::result<throwing_copy> source{std::in_place};
        source->throw_on_copy = true;
        SECTION("target holds a value") {
            // Value onto value uses T's assignment (as std::expected does), which
            // here does not throw; either way the target keeps a value.
            strata::result<throwing_copy> target{std::in_place};
            try {
                target = source;
            } catch (const std::runtime_error&) {
            }
            CHECK(target.has_value());
        }
        SECTION("target holds an error") {
            const strata::error e = make_failure();
            strata::result<throwing_copy> target = e;
            CHECK_THROWS_AS(target = source, std::runtime_error);
            CHECK(target.error().same_as(e));  // unchanged
        }
    }
    CHECK(throwing_copy::live == 0);
}

TEST_CASE("a throwing move assignment leaves the target valid (no double destruction)", "[result][copy]") {
    throwing_copy::live = 0;
    {
        strata::result<throwing_copy> source{std::in_place};
        source->throw_on_move = true;
        SECTION("target holds a value") {
            strata::result<throwing_copy> target{std::in_place};
            try {
                target = std::move(source);
            } catch (const std::runtime_error&) {
            }
            CHECK(target.has_value());
        }
        SECTION("target holds an error") {
            const strata::error e = make_failure();
            strata::result<throwing_copy> target = e;
            CHECK_THROWS_AS(target = std::move(source), std::runtime_error);
            CHECK(target.error().same_as(e));  // unchanged
        }
    }
    CHECK(throwing_copy::live == 0);
}

namespace {
strata::result<int> try_on_named(strata::result<int>& named) {
    STRATA_TRY(named);
    return *named + 1;
}
strata::result<int> try_assign_on_named(strata::result<int>& named) {
    STRATA_TRY_ASSIGN(const int v, named);
    return v + 1;
}
}  // namespace

TEST_CASE("STRATA_TRY on a named result shares its error and leaves it failed", "[result][try]") {
    const strata::error e = strata::make_error<strata::low_level>("named");
    strata::result<int> named = e;
    const strata::result<int> up = try_on_named(named);
    REQUIRE_FALSE(up.has_value());
    CHECK(up.error().same_as(e));
    // The caller's variable still holds its failure.
    REQUIRE_FALSE(named.has_value());
    CHECK(named.error().same_as(e));

    const strata::result<int> up2 = try_assign_on_named(named);
    REQUIRE_FALSE(up2.has_value());
    CHECK(up2.error().same_as(e));
    CHECK(named.error().same_as(e));

    strata::result<int> ok = 41;
    CHECK(try_on_named(ok).value() == 42);
}

TEST_CASE("STRATA_TRY_ASSIGN copies from a named result and moves from a temporary", "[result][try]") {
    auto take = [](strata::result<std::string>& named) -> strata::result<std::size_t> {
        STRATA_TRY_ASSIGN(const std::string s, named);
        return s.size();
    };
    strata::result<std::string> named = std::string("a string longer than the small-string buffer");
    CHECK(take(named).value() == named->size());
    CHECK(*named == "a string longer than the small-string buffer");

    auto make = []() -> strata::result<std::string> { return std::string("temporary"); };
    auto from_temporary = [&]() -> strata::result<std::string> {
        STRATA_TRY_ASSIGN(std::string s, make());
        return s;
    };
    CHECK(from_temporary().value() == "temporary");
}

// ---------------------------------------------------------------------------
// Issue 11, section 2: result<T> with std::expected's semantics

TEST_CASE("result<bool> from a failed result<int> keeps the error (it was success(false))", "[result][expected]") {
    const strata::error e = make_failure("int failed");
    const strata::result<int> failed_int = e;
    strata::result<bool> rb = failed_int;  // LWG 3836: the converting constructor, never operator bool
    REQUIRE_FALSE(rb.has_value());
    CHECK(rb.error().same_as(e));

    strata::result<bool> moved = strata::result<int>(e);
    REQUIRE_FALSE(moved.has_value());
    CHECK(moved.error().same_as(e));

    const strata::result<int> two = 2, zero = 0;
    strata::result<bool> t = two, f = zero;
    CHECK(t.value() == true);
    CHECK(f.value() == false);
    rb = two;  // through the converting constructor and the move assignment
    CHECK(rb.value() == true);
}

TEST_CASE("the conversions std::expected makes explicit or rejects are not implicit", "[result][expected]") {
    // explicit(!is_convertible_v<U, T>): these were implicit (and compiled in return statements).
    STATIC_REQUIRE_FALSE(std::is_convertible_v<std::error_code, strata::result<bool>>);
    STATIC_REQUIRE_FALSE(std::is_convertible_v<int*, strata::result<std::unique_ptr<int>>>);
    STATIC_REQUIRE_FALSE(std::is_convertible_v<int, strata::result<std::vector<int>>>);
    STATIC_REQUIRE_FALSE(std::is_convertible_v<std::size_t, strata::result<std::vector<int>>>);
    // Still there when asked for explicitly, as with std::expected.
    STATIC_REQUIRE(std::is_constructible_v<strata::result<std::unique_ptr<int>>, int*>);
    STATIC_REQUIRE(std::is_constructible_v<strata::result<std::vector<int>>, int>);
    STATIC_REQUIRE(std::is_constructible_v<strata::result<bool>, std::error_code>);
    // LWG 3836: a result<bool> is never made from another result through its operator bool.
    STATIC_REQUIRE_FALSE(std::is_constructible_v<strata::result<bool>, strata::result<std::string>>);
    STATIC_REQUIRE_FALSE(std::is_constructible_v<strata::result<bool>, const strata::result<std::string>&>);
    // The converting constructors: implicit exactly when the value converts implicitly.
    STATIC_REQUIRE(std::is_convertible_v<strata::result<int>, strata::result<long>>);
    STATIC_REQUIRE(std::is_convertible_v<const strata::result<const char*>&, strata::result<std::string>>);
    STATIC_REQUIRE_FALSE(std::is_convertible_v<strata::result<int*>, strata::result<std::unique_ptr<int>>>);
    STATIC_REQUIRE(std::is_constructible_v<strata::result<std::unique_ptr<int>>, strata::result<int*>>);
    STATIC_REQUIRE_FALSE(std::is_constructible_v<strata::result<int>, strata::result<std::string>>);

    const strata::result<std::unique_ptr<int>> p(static_cast<int*>(nullptr));
    CHECK(p.has_value());
    const strata::result<std::vector<int>> v(3);
    CHECK(v->size() == 3);
}

TEST_CASE("std::move(r).error() on a successful result leaves the value in place", "[result][expected]") {
    strata::result<std::string> r = long_text;
    if (auto err = std::move(r).error()) FAIL("a successful result gave an error: " << err.message());
    REQUIRE(r.has_value());  // NOLINT(bugprone-use-after-move)
    CHECK(*r == long_text);  // and nothing leaked (ASan)

    strata::result<int> i = 4;
    CHECK(std::move(i).error().empty());
    CHECK(i.value() == 4);  // NOLINT(bugprone-use-after-move)

    strata::result<void> v;
    CHECK(std::move(v).error().empty());
    CHECK(v.has_value());  // NOLINT(bugprone-use-after-move)
}

TEST_CASE("converting constructors from result<U> keep the value or the error", "[result][expected]") {
    const strata::error e = make_failure("convert");
    strata::result<const char*> text = "abc";
    strata::result<std::string> s = text;
    CHECK(*s == "abc");
    strata::result<std::string> s2 = strata::result<const char*>(e);
    CHECK(s2.error().same_as(e));

    strata::result<std::unique_ptr<int>> owned(strata::result<int*>(new int(5)));
    CHECK(**owned == 5);

    strata::result<std::string> from_failed_named = strata::result<const char*>(e);
    strata::result<const char*> failed_src = e;
    strata::result<std::string> moved(std::move(failed_src));
    CHECK(moved.error().same_as(e));
    CHECK_FALSE(failed_src.has_value());  // NOLINT(bugprone-use-after-move): still failed
    CHECK_FALSE(failed_src.error().empty());
    CHECK_FALSE(from_failed_named.has_value());
}

namespace {
template <class R, class... A>
concept can_emplace = requires(R& r, A&&... a) { r.emplace(std::forward<A>(a)...); };
}  // namespace

TEST_CASE("in_place with an initializer_list, emplace, error_type and rebind", "[result][expected]") {
    const strata::result<std::vector<int>> v(std::in_place, {1, 2, 3});
    CHECK(*v == std::vector<int>{1, 2, 3});
    const strata::result<std::vector<int>> w(std::in_place, {1, 2}, std::allocator<int>());
    CHECK(w->size() == 2);
    const strata::result<void> nothing(std::in_place);
    CHECK(nothing.has_value());

    // emplace needs a constructor that cannot throw (as std::expected's).
    strata::result<std::string> r = make_failure("replaced");
    std::string& ref = r.emplace(std::string(long_text));
    CHECK(&ref == &*r);
    CHECK(*r == long_text);
    r.emplace();
    CHECK(r->empty());
    STATIC_REQUIRE_FALSE(can_emplace<strata::result<std::string>, const std::string&>);
    STATIC_REQUIRE(can_emplace<strata::result<std::string>, std::string&&>);
    strata::result<void> vo = make_failure();
    vo.emplace();
    CHECK(vo.has_value());

    STATIC_REQUIRE(std::is_same_v<strata::result<int>::error_type, strata::error>);
    STATIC_REQUIRE(std::is_same_v<strata::result<int>::rebind<std::string>, strata::result<std::string>>);
    STATIC_REQUIRE(std::is_same_v<strata::result<void>::error_type, strata::error>);
    STATIC_REQUIRE(std::is_same_v<strata::result<int>::unexpected_type, strata::failure>);
}

namespace {
// Copy and move throw when armed, before touching the source.
struct fragile {
    static inline bool armed = false;
    std::string s;
    explicit fragile(std::string v) : s(std::move(v)) {}
    fragile(const fragile& o) : s(check(o).s) {}
    fragile(fragile&& o) noexcept(false) : s(std::move(check(o).s)) {}
    fragile& operator=(const fragile&) = default;
    fragile& operator=(fragile&&) = default;
    template <class F>
    static F& check(F& f) {
        if (armed) throw std::runtime_error("fragile");
        return f;
    }
};
}  // namespace

TEST_CASE("swap: member and ADL, every combination, strong guarantee", "[result][expected]") {
    const strata::error e1 = make_failure("one"), e2 = make_failure("two");
    strata::result<std::string> a = long_text, b = std::string("short"), c = e1, d = e2;
    a.swap(b);
    CHECK(*a == "short");
    CHECK(*b == long_text);
    swap(a, c);  // ADL
    CHECK(a.error().same_as(e1));
    CHECK(*c == "short");
    a.swap(d);
    CHECK(a.error().same_as(e2));
    CHECK(d.error().same_as(e1));
    d.swap(c);
    CHECK(*d == "short");
    CHECK(c.error().same_as(e1));

    strata::result<void> v, f = e1;
    swap(v, f);
    CHECK(v.error().same_as(e1));
    CHECK(f.has_value());

    strata::result<fragile> val(std::in_place, long_text);
    strata::result<fragile> err = e1;
    fragile::armed = true;
    CHECK_THROWS_AS(val.swap(err), std::runtime_error);
    CHECK_THROWS_AS(err.swap(val), std::runtime_error);
    fragile::armed = false;
    REQUIRE(val.has_value());
    CHECK(val->s == long_text);
    CHECK(err.error().same_as(e1));
    STATIC_REQUIRE_FALSE(std::is_nothrow_swappable_v<strata::result<fragile>>);
    STATIC_REQUIRE(std::is_nothrow_swappable_v<strata::result<std::string>>);
}

TEST_CASE("== and != with a result, a value and a failure", "[result][expected]") {
    const strata::error e = make_failure("eq");
    const strata::result<int> one = 1, also_one = 1, two = 2, bad = e, same_bad = e, other_bad = make_failure("eq");
    CHECK(one == also_one);
    CHECK(one != two);
    CHECK(one != bad);
    CHECK(bad == same_bad);      // the same error
    CHECK(bad != other_bad);     // an equal message is not the same error
    CHECK(one == strata::result<long>(1));
    CHECK(one == 1);
    CHECK(1 == one);
    CHECK(one != 2);
    CHECK(bad != 1);
    CHECK(bad == strata::failure(e));
    CHECK(one != strata::failure(e));
    const strata::result<std::string> s = long_text;
    CHECK(s == long_text);
    CHECK(s == long_text.c_str());
    const strata::result<void> ok, failed = e;
    CHECK(ok == strata::result<void>());
    CHECK(ok != failed);
    CHECK(failed == strata::failure(e));
}

TEST_CASE("transform_error rewraps a failure and passes a value through", "[result][expected]") {
    const strata::error e = make_failure("low");
    const strata::result<int> bad = e, good = 3;
    auto wrap = [](const strata::error& inner) { return strata::wrap<app_layer>(inner, "while loading"); };
    const strata::result<int> w = bad.transform_error(wrap);
    REQUIRE_FALSE(w.has_value());
    CHECK(w.error().is<app_layer>());
    CHECK(w.error().inner().same_as(e));
    CHECK(good.transform_error(wrap).value() == 3);

    strata::result<std::unique_ptr<int>> mo = e;
    auto moved = std::move(mo).transform_error([](strata::error inner) { return strata::wrap(inner, "up"); });
    CHECK(moved.error().inner().same_as(e));

    const strata::result<void> vbad = e;
    CHECK(vbad.transform_error(wrap).error().is<app_layer>());
    CHECK(strata::result<void>().transform_error(wrap).has_value());
}

TEST_CASE("error_or gives the error, or the fallback on success", "[result][expected]") {
    const strata::error e = make_failure("err"), fallback = make_failure("fallback");
    const strata::result<int> bad = e, good = 1;
    CHECK(bad.error_or(fallback).same_as(e));
    CHECK(good.error_or(fallback).same_as(fallback));
    CHECK(good.error_or(strata::error()).empty());
    const strata::result<void> vgood;
    CHECK(vgood.error_or(fallback).same_as(fallback));
    strata::result<std::string> moved = e;
    CHECK(std::move(moved).error_or(fallback).same_as(e));
    CHECK_FALSE(moved.has_value());  // NOLINT(bugprone-use-after-move): still failed
}

TEST_CASE("const&& overloads, and the && overloads of result<void>", "[result][expected]") {
    const strata::error e = make_failure("crv");
    const strata::result<std::string> c = long_text;
    STATIC_REQUIRE(std::is_same_v<decltype(*std::move(c)), const std::string&&>);
    STATIC_REQUIRE(std::is_same_v<decltype(std::move(c).value()), const std::string&&>);
    STATIC_REQUIRE(std::is_same_v<decltype(std::move(c).error()), const strata::error&&>);
    CHECK(std::move(c).value() == long_text);
    CHECK(std::move(c).transform([](const std::string& s) { return s.size(); }).value() == long_text.size());
    CHECK(c.has_value());  // NOLINT(bugprone-use-after-move): a const rvalue is not moved from

    int calls = 0;
    strata::result<void> v;
    CHECK(std::move(v).transform([&] { return ++calls; }).value() == 1);
    strata::result<void> vf = e;
    auto recovered = std::move(vf).or_else([&](strata::error taken) -> strata::result<void> {
        CHECK(taken.same_as(e));
        return {};
    });
    CHECK(recovered.has_value());
    CHECK_FALSE(vf.has_value());  // NOLINT(bugprone-use-after-move): moved from, still failed
}

namespace {
template <class R, class F>
concept can_or_else = requires(R r, F f) { std::forward<R>(r).or_else(f); };
template <class R, class U>
concept can_value_or = requires(R r, U u) { r.value_or(u); };
using recover_ptr = strata::result<std::unique_ptr<int>> (*)(const strata::error&);
}  // namespace

TEST_CASE("or_else is constrained as std::expected's", "[result][expected]") {
    // The value must be copied (an lvalue) or moved (an rvalue) into the result.
    STATIC_REQUIRE_FALSE(can_or_else<strata::result<std::unique_ptr<int>>&, recover_ptr>);
    STATIC_REQUIRE(can_or_else<strata::result<std::unique_ptr<int>>&&, recover_ptr>);
    STATIC_REQUIRE(can_or_else<strata::result<int>&, strata::result<int> (*)(const strata::error&)>);
}

// ---------------------------------------------------------------------------
// Issue 11, section 3: the TRY macros everywhere a user writes them

namespace {
strata::error maybe_error(bool fail) { return fail ? make_failure("plain") : strata::error(); }

int after_plain = 0;
strata::result<int> try_plain_error(bool fail) {
    after_plain = 0;
    STRATA_TRY(maybe_error(fail));
    ++after_plain;
    const strata::error named = maybe_error(fail);
    STRATA_TRY(named);
    ++after_plain;
    return 7;
}
strata::error try_plain_in_error_function(bool fail) {
    STRATA_TRY(maybe_error(fail));
    return {};
}

strata::result<int> try_const(const strata::result<int>& r) {
    STRATA_TRY(r);
    STRATA_TRY_ASSIGN(const int v, r);
    STRATA_TRY_ASSIGN(int w, std::move(r));  // a const rvalue: copied, never moved from
    return v + w;
}

strata::result<std::pair<int, int>> make_pair_result(bool fail) {
    if (fail) return make_failure("pair");
    return std::pair<int, int>(1, 2);
}
strata::result<int> try_comma(bool fail) {
    STRATA_TRY_ASSIGN(std::pair<int, int> p, make_pair_result(fail));
    STRATA_TRY_ASSIGN(const std::pair<int, int> q, make_pair_result(false));
    return p.first + p.second + q.second;
}

// A user's macro that expands to two STRATA_TRY_ASSIGN on one line.
#define USER_TWO_VALUES(a, b, ra, rb) \
    STRATA_TRY_ASSIGN(int a, ra);     \
    STRATA_TRY_ASSIGN(int b, rb)
strata::result<int> try_two_on_one_line(const strata::result<int>& x, const strata::result<int>& y) {
    USER_TWO_VALUES(a, b, x, y);
    return a * 10 + b;
}
}  // namespace

TEST_CASE("STRATA_TRY of a plain error returns it when not empty, else continues", "[result][try]") {
    CHECK(try_plain_error(false).value() == 7);
    CHECK(after_plain == 2);
    const strata::result<int> r = try_plain_error(true);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message() == "plain");
    CHECK(after_plain == 0);
    CHECK(try_plain_in_error_function(false).empty());
    CHECK(try_plain_in_error_function(true).message() == "plain");
}

TEST_CASE("STRATA_TRY and STRATA_TRY_ASSIGN on a const result", "[result][try]") {
    const strata::result<int> good = 4;
    CHECK(try_const(good).value() == 8);
    const strata::error e = make_failure("const");
    const strata::result<int> bad = e;
    const strata::result<int> up = try_const(bad);
    CHECK(up.error().same_as(e));
    CHECK(bad.error().same_as(e));
}

TEST_CASE("STRATA_TRY_ASSIGN with a comma in the declared type", "[result][try]") {
    CHECK(try_comma(false).value() == 5);
    CHECK(try_comma(true).error().message() == "pair");
}

TEST_CASE("two STRATA_TRY_ASSIGN on one line (from one user macro) do not collide", "[result][try]") {
    CHECK(try_two_on_one_line(1, 2).value() == 12);
    const strata::error e = make_failure("second");
    CHECK(try_two_on_one_line(1, e).error().same_as(e));
}
