// Tests for <strata/location.hpp>: strata::location, the call site of a frame.
#include <catch2/catch.hpp>

#include <strata/location.hpp>

#include <cstdint>
#include <string_view>
#include <type_traits>

namespace {

// Reports the call site of whoever calls it, the way wrap()/make_error() do.
strata::location where_am_i(strata::location loc = strata::location::current()) { return loc; }

constexpr std::uint_least32_t helper_line = __LINE__ + 1;
strata::location caller_of_location_helper() { return where_am_i(); }

}  // namespace

TEST_CASE("location::current() through a default argument captures the caller", "[location]") {
    const auto expected_line = static_cast<std::uint_least32_t>(__LINE__ + 1);
    const strata::location loc = where_am_i();
    CHECK(loc.line() == expected_line);
    CHECK_THAT(loc.file_name(), Catch::EndsWith("location_test.cpp"));
    CHECK_FALSE(loc.empty());
}

TEST_CASE("location::current() captures the calling function's name", "[location]") {
    const strata::location loc = caller_of_location_helper();
    CHECK_THAT(loc.function_name(), Catch::Contains("caller_of_location_helper"));
    // The line is inside caller_of_location_helper, not inside where_am_i's default argument.
    CHECK(loc.line() == helper_line);
    CHECK_THAT(loc.file_name(), Catch::EndsWith("location_test.cpp"));
}

TEST_CASE("location::current() called directly is the line it is written on", "[location]") {
    const auto loc = strata::location::current(); const auto line = static_cast<std::uint_least32_t>(__LINE__);
    CHECK(loc.line() == line);
    CHECK_THAT(loc.file_name(), Catch::EndsWith("location_test.cpp"));
}

TEST_CASE("location::current() is usable in constant expressions", "[location]") {
    constexpr strata::location loc = strata::location::current(); constexpr auto line = __LINE__;
    STATIC_REQUIRE(loc.line() == line);
    STATIC_REQUIRE_FALSE(loc.empty());
}

TEST_CASE("a default-constructed location is empty", "[location]") {
    constexpr strata::location loc;
    STATIC_REQUIRE(loc.empty());
    CHECK(loc.line() == 0u);
    CHECK(std::string_view(loc.file_name()).empty());
    CHECK(std::string_view(loc.function_name()).empty());
}

TEST_CASE("a location built from parts keeps them and null strings become empty", "[location]") {
    const strata::location loc("a/b.cpp", 42, "fn");
    CHECK(std::string_view(loc.file_name()) == "a/b.cpp");
    CHECK(loc.line() == 42u);
    CHECK(std::string_view(loc.function_name()) == "fn");
    CHECK_FALSE(loc.empty());

    const strata::location nulls(nullptr, 0, nullptr);
    CHECK(nulls.file_name() != nullptr);
    CHECK(nulls.function_name() != nullptr);
    CHECK(std::string_view(nulls.file_name()).empty());
    CHECK(std::string_view(nulls.function_name()).empty());
    CHECK(nulls.empty());
}

TEST_CASE("location is a cheap value type", "[location]") {
    STATIC_REQUIRE(std::is_trivially_copyable_v<strata::location>);
    STATIC_REQUIRE(std::is_nothrow_default_constructible_v<strata::location>);
    const strata::location a("x.cpp", 3, "g");
    strata::location b;
    b = a;
    CHECK(b.line() == 3u);
    CHECK(std::string_view(b.file_name()) == "x.cpp");
    CHECK(std::string_view(b.function_name()) == "g");
}
