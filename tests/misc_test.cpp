// Tests for <strata/misc.hpp>: misc_value, the typed values of an error's misc map.
#include <catch2/catch.hpp>

#include <strata/misc.hpp>

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>

using strata::misc_value;
using kind = strata::misc_value::kind;

TEST_CASE("a default misc_value is an empty string", "[misc]") {
    constexpr misc_value v;
    STATIC_REQUIRE(v.type() == kind::string);
    CHECK(v.as_string().empty());
    CHECK(v.as_signed() == 0);
    CHECK(v.as_unsigned() == 0u);
    CHECK(v.as_double() == 0.0);
    CHECK_FALSE(v.as_bool());
}

TEST_CASE("string values", "[misc]") {
    const std::string text = "hello";
    const misc_value v = misc_value::of_string(text);
    CHECK(v.type() == kind::string);
    CHECK(v.as_string() == "hello");
    // Wrong-kind accessors give zero values.
    CHECK(v.as_signed() == 0);
    CHECK(v.as_unsigned() == 0u);
    CHECK(v.as_double() == 0.0);
    CHECK_FALSE(v.as_bool());
}

TEST_CASE("a string value that looks like a number or a bool stays a string", "[misc]") {
    const misc_value n = misc_value::of_string("123");
    CHECK(n.type() == kind::string);
    CHECK(n.as_signed() == 0);
    CHECK(n.as_unsigned() == 0u);
    const misc_value t = misc_value::of_string("true");
    CHECK_FALSE(t.as_bool());
    CHECK(t.as_string() == "true");
}

TEST_CASE("signed integer values", "[misc]") {
    const misc_value v = misc_value::of_signed(-42);
    CHECK(v.type() == kind::signed_integer);
    CHECK(v.as_signed() == -42);
    CHECK(v.as_string().empty());
    CHECK(v.as_unsigned() == 0u);
    CHECK(v.as_double() == 0.0);
    CHECK_FALSE(v.as_bool());

    CHECK(misc_value::of_signed(std::numeric_limits<std::int64_t>::min()).as_signed() ==
          std::numeric_limits<std::int64_t>::min());
    CHECK(misc_value::of_signed(std::numeric_limits<std::int64_t>::max()).as_signed() ==
          std::numeric_limits<std::int64_t>::max());
}

TEST_CASE("unsigned integer values", "[misc]") {
    const misc_value v = misc_value::of_unsigned(7u);
    CHECK(v.type() == kind::unsigned_integer);
    CHECK(v.as_unsigned() == 7u);
    CHECK(v.as_string().empty());
    CHECK(v.as_signed() == 0);
    CHECK(v.as_double() == 0.0);
    CHECK_FALSE(v.as_bool());

    const misc_value big = misc_value::of_unsigned(std::numeric_limits<std::uint64_t>::max());
    CHECK(big.as_unsigned() == std::numeric_limits<std::uint64_t>::max());
    CHECK(big.as_signed() == 0);  // not reinterpreted as -1
}

TEST_CASE("floating point values", "[misc]") {
    const misc_value v = misc_value::of_double(2.5);
    CHECK(v.type() == kind::floating_point);
    CHECK(v.as_double() == 2.5);
    CHECK(v.as_string().empty());
    CHECK(v.as_signed() == 0);
    CHECK(v.as_unsigned() == 0u);
    CHECK_FALSE(v.as_bool());

    CHECK(misc_value::of_double(-0.125).as_double() == -0.125);
}

TEST_CASE("boolean values", "[misc]") {
    const misc_value t = misc_value::of_bool(true);
    CHECK(t.type() == kind::boolean);
    CHECK(t.as_bool());
    CHECK(t.as_string().empty());
    CHECK(t.as_signed() == 0);
    CHECK(t.as_unsigned() == 0u);
    CHECK(t.as_double() == 0.0);

    const misc_value f = misc_value::of_bool(false);
    CHECK(f.type() == kind::boolean);
    CHECK_FALSE(f.as_bool());
}

TEST_CASE("misc_value works in constant expressions", "[misc]") {
    STATIC_REQUIRE(misc_value::of_signed(-3).as_signed() == -3);
    STATIC_REQUIRE(misc_value::of_signed(-3).as_unsigned() == 0u);
    STATIC_REQUIRE(misc_value::of_unsigned(9u).as_unsigned() == 9u);
    STATIC_REQUIRE(misc_value::of_double(1.5).as_double() == 1.5);
    STATIC_REQUIRE(misc_value::of_bool(true).as_bool());
    STATIC_REQUIRE(misc_value::of_string("ab").as_string() == "ab");
    STATIC_REQUIRE(misc_value::of_string("ab").as_signed() == 0);
    STATIC_REQUIRE(misc_value::of_bool(true).type() == kind::boolean);
}

TEST_CASE("misc_value copies keep kind and value", "[misc]") {
    STATIC_REQUIRE(std::is_trivially_copyable_v<misc_value>);
    misc_value a = misc_value::of_signed(5);
    const misc_value b = a;
    a = misc_value::of_double(0.5);
    CHECK(b.type() == kind::signed_integer);
    CHECK(b.as_signed() == 5);
    CHECK(a.type() == kind::floating_point);
    CHECK(a.as_double() == 0.5);
    CHECK(a.as_signed() == 0);
}

TEST_CASE("misc_entry pairs a key with a value", "[misc]") {
    const strata::misc_entry e{"attempt", misc_value::of_unsigned(3u)};
    CHECK(e.key == "attempt");
    CHECK(e.value.type() == kind::unsigned_integer);
    CHECK(e.value.as_unsigned() == 3u);
    const strata::misc_entry d{};
    CHECK(d.key.empty());
    CHECK(d.value.type() == kind::string);
    CHECK(d.value.as_string().empty());
}
