// Tests for <strata/exception.hpp>: strata::exception, throw_error, from_exception.
#include <catch2/catch.hpp>

#include "support.hpp"

#include <strata/exception.hpp>

#include <atomic>
#include <cstddef>
#include <exception>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>


namespace {

struct app_layer {
    static constexpr std::string_view name = "app";
    static constexpr bool user_facing = true;
};

struct not_a_std_exception {
    int code = 0;
};

}  // namespace


TEST_CASE("strata::exception carries the error and what() is its message", "[exception]") {
    STATIC_REQUIRE(std::is_base_of_v<std::exception, strata::exception>);
    const strata::error e = strata::make_error<app_layer>("job {} failed", 17);
    const strata::exception ex(e);
    CHECK(ex.error().same_as(e));
    CHECK(std::string(ex.what()) == "job 17 failed");
    CHECK(ex.error().is<app_layer>());
    const std::exception& base = ex;
    CHECK(std::string(base.what()) == "job 17 failed");
}

TEST_CASE("strata::exception what() of a wrapped error is the outermost message only", "[exception]") {
    const strata::exception ex(strata::wrap<strata::intermediate>(strata::make_error("inner text"), "outer text"));
    CHECK(std::string(ex.what()) == "outer text");
}

TEST_CASE("strata::exception with an empty error says so", "[exception]") {
    const strata::exception ex{strata::error()};
    CHECK(ex.error().empty());
    REQUIRE(ex.what() != nullptr);
    CHECK(std::string(ex.what()) == "(no error)");
}

TEST_CASE("strata::exception copies share the error and the error can be moved out", "[exception]") {
    const strata::error e = strata::make_error<strata::low_level>("x");
    strata::exception ex(e);
    const strata::exception copy = ex;
    CHECK(copy.error().same_as(e));
    strata::error out = std::move(ex).error();
    CHECK(out.same_as(e));
}

TEST_CASE("throw_error throws strata::exception carrying the error", "[exception]") {
    const strata::error e = strata::make_error<strata::intermediate>("can't run job {}", 3);
    CHECK_THROWS_AS(strata::throw_error(e), strata::exception);
    CHECK_THROWS_WITH(strata::throw_error(e), "can't run job 3");
    try {
        strata::throw_error(e);
        FAIL("throw_error returned");
    } catch (const strata::exception& ex) {
        CHECK(ex.error().same_as(e));
        CHECK(ex.error().is<strata::intermediate>());
    }
}

TEST_CASE("throw_error is caught as std::exception", "[exception]") {
    try {
        strata::throw_error(strata::make_error("as std::exception"));
        FAIL("throw_error returned");
    } catch (const std::exception& ex) {
        CHECK(std::string(ex.what()) == "as std::exception");
    }
}

TEST_CASE("from_exception in a catch block gives back a strata::exception's chain", "[exception]") {
    const strata::error e = strata::wrap<app_layer>(strata::make_error<strata::low_level>("root"), "outer");
    strata::error got;
    try {
        strata::throw_error(e);
    } catch (...) {
        got = strata::from_exception();
    }
    CHECK(got.same_as(e));
    CHECK(got.is<app_layer>());
    CHECK(got.depth() == 2);
}

TEST_CASE("from_exception of a std::runtime_error gives a cause frame", "[exception]") {
    strata::error got;
    try {
        throw std::runtime_error("socket closed");
    } catch (...) {
        got = strata::from_exception();
    }
    REQUIRE_FALSE(got.empty());
    CHECK(got.message() == "socket closed");
    CHECK(got.layer().is_cause);
    CHECK_FALSE(got.is_user_facing());
    CHECK_THAT(std::string(got.cause_detail()), Catch::Contains("runtime_error"));
    const std::exception_ptr* p = got.inner_as<std::exception_ptr>();
    REQUIRE(p != nullptr);
    REQUIRE(*p != nullptr);
    CHECK_THROWS_AS(std::rethrow_exception(*p), std::runtime_error);
    CHECK_THROWS_WITH(std::rethrow_exception(*p), "socket closed");
}

TEST_CASE("from_exception's result can be wrapped like any error", "[exception]") {
    strata::error got;
    try {
        throw std::logic_error("broken invariant");
    } catch (...) {
        got = strata::from_exception();
    }
    auto w = strata::wrap<app_layer>(got, "while saving");
    CHECK(w.is<app_layer>());
    CHECK(w.inner().same_as(got));
    REQUIRE(w.inner_as<std::exception_ptr>() != nullptr);
    CHECK(*w.inner_as<std::exception_ptr>() != nullptr);
}

TEST_CASE("from_exception of an exception not derived from std::exception describes it", "[exception]") {
    strata::error got;
    try {
        throw 42;
    } catch (...) {
        REQUIRE_NOTHROW(got = strata::from_exception());
    }
    REQUIRE_FALSE(got.empty());
    CHECK(got.layer().is_cause);
    CHECK_THAT(std::string(got.message()), Catch::Contains("not derived from std::exception"));
    CHECK_THAT(std::string(got.message()), Catch::Contains("int"));
    REQUIRE(got.inner_as<std::exception_ptr>() != nullptr);
    CHECK(*got.inner_as<std::exception_ptr>() != nullptr);

    strata::error user;
    try {
        throw not_a_std_exception{5};
    } catch (...) {
        user = strata::from_exception();
    }
    CHECK_THAT(std::string(user.message()), Catch::Contains("not derived from std::exception"));
    CHECK_THAT(std::string(user.message()), Catch::Contains("not_a_std_exception"));
}

TEST_CASE("from_exception of an explicit exception_ptr", "[exception]") {
    const std::exception_ptr p = std::make_exception_ptr(std::out_of_range("index 9"));
    const strata::error got = strata::from_exception(p);
    CHECK(got.message() == "index 9");
    CHECK_THAT(std::string(got.cause_detail()), Catch::Contains("out_of_range"));
    REQUIRE(got.inner_as<std::exception_ptr>() != nullptr);
    CHECK(*got.inner_as<std::exception_ptr>() == p);

    const strata::error e = strata::make_error<strata::low_level>("carried");
    const strata::error back = strata::from_exception(std::make_exception_ptr(strata::exception(e)));
    CHECK(back.same_as(e));
}

TEST_CASE("from_exception(nullptr) is empty", "[exception]") {
    strata::error got;
    REQUIRE_NOTHROW(got = strata::from_exception(nullptr));
    CHECK(got.empty());
    CHECK(strata::from_exception(std::exception_ptr()).empty());
}

TEST_CASE("from_exception outside a catch block is empty", "[exception]") {
    CHECK(strata::from_exception().empty());
}

#if STRATA_TEST_REPLACE_NEW
TEST_CASE("what() of an error made out of memory is still a C string", "[exception][oom]") {
    strata::error e;
    {
        strata_test::out_of_memory oom;
        e = strata::make_error<strata::low_level>("never stored");
    }
    REQUIRE_FALSE(e.empty());
    const strata::exception ex(e);
    CHECK_THAT(std::string(ex.what()), Catch::Contains("out of memory"));
}

TEST_CASE("from_exception out of memory still gives a (degraded) error, never an empty one",
          "[exception][oom]") {
    strata::error got;
    try {
        throw std::runtime_error("real failure");
    } catch (...) {
        strata_test::out_of_memory oom;
        REQUIRE_NOTHROW(got = strata::from_exception());
    }
    // With no memory for a frame, the failure degrades to the static frame; it
    // never becomes an empty error ("no error").
    CHECK_FALSE(got.empty());
}
#endif  // STRATA_TEST_REPLACE_NEW

TEST_CASE("wrap over an exception_ptr carrying a strata::exception keeps the carried chain",
          "[exception]") {
    const strata::error carried = strata::make_error<app_layer>("carried root");
    const std::exception_ptr p = std::make_exception_ptr(strata::exception(carried));
    // from_exception(p) unwraps it (tested above); wrap(p, ...) should agree.
    auto w = strata::wrap<strata::low_level>(p, "rethrown across a thread");
    CHECK(w.is<strata::low_level>());
    // The carried chain is shared, not flattened into a cause frame holding only
    // what(), so its layers can still be found.
    CHECK(w.inner().same_as(carried));
    CHECK(strata::find<app_layer>(w).has_value());
}
