// Tests for <strata/layer.hpp>: layer tags and their run-time records.
#include <catch2/catch.hpp>

#include <strata/layer.hpp>

#include <string_view>

namespace {

struct storage_layer {
    static constexpr std::string_view name = "storage";
};

struct shown_layer {
    static constexpr std::string_view name = "shown";
    static constexpr bool user_facing = true;
};

struct hidden_layer {
    static constexpr std::string_view name = "hidden";
    static constexpr bool user_facing = false;
};

struct char_array_name_layer {
    static constexpr char name[] = "char_array";
};

struct no_name {};

struct wrong_name_type {
    static constexpr int name = 3;
};

// Not a layer: `name` is a non-static member, so no layer record can be made from it.
struct non_static_name {
    std::string_view name;
};

}  // namespace

TEST_CASE("layer_tag accepts a user layer with a name", "[layer]") {
    STATIC_REQUIRE(strata::layer_tag<storage_layer>);
    STATIC_REQUIRE(strata::layer_tag<shown_layer>);
    STATIC_REQUIRE(strata::layer_tag<hidden_layer>);
    STATIC_REQUIRE(strata::layer_tag<char_array_name_layer>);
}

TEST_CASE("layer_tag rejects a type without a name", "[layer]") {
    STATIC_REQUIRE_FALSE(strata::layer_tag<no_name>);
    STATIC_REQUIRE_FALSE(strata::layer_tag<wrong_name_type>);
    STATIC_REQUIRE_FALSE(strata::layer_tag<int>);
}

TEST_CASE("layer_tag rejects a type whose name is not a static member", "[layer]") {
    // `{ L::name }` alone is an unevaluated operand, where naming a non-static data
    // member is allowed; the concept must still reject such a type at the
    // constraint, not deep inside strata.
    CHECK_FALSE(strata::layer_tag<non_static_name>);
}

TEST_CASE("layer_info_of carries the layer's name", "[layer]") {
    STATIC_REQUIRE(strata::layer_info_of<storage_layer>.name == "storage");
    STATIC_REQUIRE(strata::layer_info_of<char_array_name_layer>.name == "char_array");
    CHECK(strata::layer_info_of<shown_layer>.name == "shown");
}

TEST_CASE("user_facing defaults to false and follows the layer's flag", "[layer]") {
    STATIC_REQUIRE_FALSE(strata::layer_info_of<storage_layer>.user_facing);
    STATIC_REQUIRE(strata::layer_info_of<shown_layer>.user_facing);
    STATIC_REQUIRE_FALSE(strata::layer_info_of<hidden_layer>.user_facing);
}

TEST_CASE("a user layer's record is not a cause record", "[layer]") {
    CHECK_FALSE(strata::layer_info_of<storage_layer>.is_cause);
    CHECK_FALSE(strata::layer_info_of<shown_layer>.is_cause);
}

TEST_CASE("low_level is a layer and is not user-facing", "[layer]") {
    STATIC_REQUIRE(strata::layer_tag<strata::low_level>);
    CHECK(strata::layer_info_of<strata::low_level>.name == "low_level");
    CHECK_FALSE(strata::layer_info_of<strata::low_level>.user_facing);
    CHECK_FALSE(strata::layer_info_of<strata::low_level>.is_cause);
}

TEST_CASE("intermediate is a layer and is user-facing", "[layer]") {
    STATIC_REQUIRE(strata::layer_tag<strata::intermediate>);
    CHECK(strata::layer_info_of<strata::intermediate>.name == "intermediate");
    CHECK(strata::layer_info_of<strata::intermediate>.user_facing);
    CHECK_FALSE(strata::layer_info_of<strata::intermediate>.is_cause);
}

TEST_CASE("untagged is a layer and is not user-facing", "[layer]") {
    STATIC_REQUIRE(strata::layer_tag<strata::untagged>);
    CHECK(strata::layer_info_of<strata::untagged>.name == "untagged");
    CHECK_FALSE(strata::layer_info_of<strata::untagged>.user_facing);
    CHECK_FALSE(strata::layer_info_of<strata::untagged>.is_cause);
}

TEST_CASE("the built-in layers have distinct names", "[layer]") {
    CHECK(strata::layer_info_of<strata::low_level>.name != strata::layer_info_of<strata::intermediate>.name);
    CHECK(strata::layer_info_of<strata::low_level>.name != strata::layer_info_of<strata::untagged>.name);
    CHECK(strata::layer_info_of<strata::intermediate>.name != strata::layer_info_of<strata::untagged>.name);
}

TEST_CASE("a default layer_info is neither user-facing nor a cause", "[layer]") {
    constexpr strata::layer_info info{};
    STATIC_REQUIRE(info.name.empty());
    STATIC_REQUIRE_FALSE(info.user_facing);
    STATIC_REQUIRE_FALSE(info.is_cause);
}
