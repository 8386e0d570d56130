// Tests for <strata/stack.hpp>: the capture policy and stack_view.
// (How make_error/wrap apply the policy is tested in error_test.cpp, [stack] tag,
// since those calls live in <strata/error.hpp>.)
#include <catch2/catch.hpp>

#include "support.hpp"

#include <strata/stack.hpp>

#include <cstdint>
#include <iterator>
#include <numeric>
#include <thread>
#include <vector>

namespace {


}  // namespace

TEST_CASE("the capture policy starts from STRATA_CAPTURE_POLICY", "[stack]") {
    CHECK(static_cast<int>(strata::get_capture_policy()) == STRATA_CAPTURE_POLICY);
}

TEST_CASE("capture_policy values match the STRATA_CAPTURE_POLICY numbers", "[stack]") {
    STATIC_REQUIRE(static_cast<int>(strata::capture_policy::off) == 0);
    STATIC_REQUIRE(static_cast<int>(strata::capture_policy::origin) == 1);
    STATIC_REQUIRE(static_cast<int>(strata::capture_policy::every_frame) == 2);
}

TEST_CASE("set_capture_policy / get_capture_policy round-trip", "[stack]") {
    const strata::capture_policy original = strata::get_capture_policy();
    {
        strata_test::policy_guard guard;
        for (auto p : {strata::capture_policy::off, strata::capture_policy::every_frame, strata::capture_policy::origin,
                       strata::capture_policy::off}) {
            strata::set_capture_policy(p);
            CHECK(strata::get_capture_policy() == p);
        }
    }
    CHECK(strata::get_capture_policy() == original);
}

TEST_CASE("a policy set on another thread is seen after joining it", "[stack]") {
    strata_test::policy_guard guard;
    strata::set_capture_policy(strata::capture_policy::origin);
    std::thread t([] { strata::set_capture_policy(strata::capture_policy::every_frame); });
    t.join();
    CHECK(strata::get_capture_policy() == strata::capture_policy::every_frame);

    strata::capture_policy seen = strata::capture_policy::origin;
    strata::set_capture_policy(strata::capture_policy::off);
    std::thread r([&seen] { seen = strata::get_capture_policy(); });
    r.join();
    CHECK(seen == strata::capture_policy::off);
}

TEST_CASE("a default stack_view is empty and not truncated", "[stack]") {
    constexpr strata::stack_view v;
    STATIC_REQUIRE(v.empty());
    STATIC_REQUIRE(v.size() == 0);
    STATIC_REQUIRE_FALSE(v.truncated());
    CHECK(v.begin() == v.end());
}

TEST_CASE("a stack_view views the program counters it is given", "[stack]") {
    const std::uintptr_t pcs[] = {0x1000, 0x2000, 0x3000};
    const strata::stack_view v(pcs, 3);
    CHECK_FALSE(v.empty());
    CHECK(v.size() == 3);
    CHECK_FALSE(v.truncated());
    CHECK(v.begin() == pcs);
    CHECK(std::distance(v.begin(), v.end()) == 3);
    CHECK(v[0] == 0x1000u);
    CHECK(v[2] == 0x3000u);
    std::vector<std::uintptr_t> seen;
    for (std::uintptr_t pc : v) seen.push_back(pc);
    CHECK(seen == std::vector<std::uintptr_t>{0x1000, 0x2000, 0x3000});
    CHECK(std::accumulate(v.begin(), v.end(), std::uintptr_t{0}) == 0x6000u);
}

TEST_CASE("a stack_view reports truncation when told", "[stack]") {
    const std::uintptr_t pcs[] = {1, 2};
    CHECK(strata::stack_view(pcs, 2, true).truncated());
    CHECK_FALSE(strata::stack_view(pcs, 2, false).truncated());
    const strata::stack_view part(pcs, 1, true);
    CHECK(part.size() == 1);
    CHECK(part[0] == 1u);
}
