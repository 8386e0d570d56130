// STRATA_CO_TRY / STRATA_CO_TRY_ASSIGN: the TRY macros inside a coroutine, with
// co_return. The coroutine type is the smallest that fits: a task whose promise
// takes a strata::result<T> in return_value, started eagerly, read once.

#include <catch2/catch.hpp>
#include <strata/result.hpp>

#include <coroutine>
#include <exception>
#include <memory>
#include <string>
#include <utility>

#include "coro_task.hpp"

namespace {

using test::task;

strata::result<int> parse(int x) {
    if (x < 0) return strata::make_error("negative: {}", x);
    return x;
}
strata::error check(int x) {
    if (x == 13) return strata::make_error("unlucky");
    return {};
}
strata::result<void> ready(bool ok) {
    if (!ok) return strata::make_error("not ready");
    return {};
}

int steps = 0;

task<int> add(int a, int b) {
    steps = 0;
    STRATA_CO_TRY_ASSIGN(const int x, parse(a));
    ++steps;
    STRATA_CO_TRY_ASSIGN(int y, parse(b));
    ++steps;
    STRATA_CO_TRY(check(x + y));  // a plain error
    ++steps;
    co_return x + y;
}

task<void> prepare(bool ok, const strata::result<int>& named) {
    STRATA_CO_TRY(ready(ok));
    STRATA_CO_TRY(named);  // a const result
    co_return strata::result<void>();
}

task<std::unique_ptr<int>> boxed(int a) {
    auto make = [](int v) -> strata::result<std::unique_ptr<int>> {
        if (v < 0) return strata::make_error("no box for {}", v);
        return std::make_unique<int>(v);
    };
    STRATA_CO_TRY_ASSIGN(std::unique_ptr<int> p, make(a));
    co_return std::move(p);
}

}  // namespace

TEST_CASE("STRATA_CO_TRY_ASSIGN and STRATA_CO_TRY continue on success inside a coroutine", "[result][try][coro]") {
    task<int> t = add(2, 3);
    REQUIRE(t.done());
    const strata::result<int> r = std::move(t).get();
    REQUIRE(r.has_value());
    CHECK(*r == 5);
    CHECK(steps == 3);
}

TEST_CASE("STRATA_CO_TRY_ASSIGN co_returns the failure of a result", "[result][try][coro]") {
    task<int> t = add(2, -7);
    const strata::result<int> r = std::move(t).get();
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message() == "negative: -7");
    CHECK(steps == 1);
}

TEST_CASE("STRATA_CO_TRY co_returns a plain error when it is not empty", "[result][try][coro]") {
    const strata::result<int> r = add(6, 7).get();
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message() == "unlucky");
    CHECK(steps == 2);
}

TEST_CASE("STRATA_CO_TRY on result<void> and on a const result", "[result][try][coro]") {
    const strata::result<int> good = 1;
    CHECK(prepare(true, good).get().has_value());

    const strata::result<void> not_ready = prepare(false, good).get();
    REQUIRE_FALSE(not_ready.has_value());
    CHECK(not_ready.error().message() == "not ready");

    const strata::error e = strata::make_error("named failure");
    const strata::result<int> bad = e;
    const strata::result<void> up = prepare(true, bad).get();
    REQUIRE_FALSE(up.has_value());
    CHECK(up.error().same_as(e));
    CHECK(bad.error().same_as(e));  // the caller's const result is left as it was
}

TEST_CASE("STRATA_CO_TRY_ASSIGN moves a move-only value out of a temporary", "[result][try][coro]") {
    const strata::result<std::unique_ptr<int>> r = boxed(4).get();
    REQUIRE(r.has_value());
    CHECK(**r == 4);
    CHECK_FALSE(boxed(-1).get().has_value());
}
