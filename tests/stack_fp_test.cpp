// The frame-pointer stack walker (STRATA_FRAME_POINTERS=1, built with
// -fno-omit-frame-pointer; see tests/CMakeLists.txt): it finds the same callers as
// the unwinder, ends inside the thread's stack, and works on other threads.
#include <catch2/catch.hpp>

#include <strata/format.hpp>

#include <string>
#include <thread>

static_assert(STRATA_FRAME_POINTERS == 1, "this test is built with the frame-pointer walker");

namespace {

[[gnu::noinline]] strata::error fp_origin() {
    strata::error e = strata::make_error<strata::low_level>("made here");
    asm volatile("" ::: "memory");  // not a tail call
    return e;
}

[[gnu::noinline]] strata::error fp_caller() {
    strata::error e = fp_origin();
    asm volatile("" ::: "memory");
    return e;
}

std::string origin_stack(const strata::error& e) {
    const std::string v = fmt::format("{:v}", e);
    const auto at = v.find("(origin):");
    return at == std::string::npos ? std::string() : v.substr(at);
}

}  // namespace

TEST_CASE("the frame-pointer walk names the origin and its callers", "[stack][fp]") {
    const strata::error e = fp_caller();
    REQUIRE(e.stack().size() >= 3);
    const std::string st = origin_stack(e);
    INFO(st);
    // The first frame shown is the origin, its caller the next one.
    const auto first = st.find("0# ");
    const auto second = st.find("1# ");
    REQUIRE(first != std::string::npos);
    REQUIRE(second != std::string::npos);
    CHECK(st.substr(first, second - first).find("fp_origin") != std::string::npos);
    CHECK(st.find("fp_caller", second) != std::string::npos);
}

TEST_CASE("the frame-pointer walk works on another thread and stops inside its stack", "[stack][fp]") {
    strata::error e;
    std::thread t([&] { e = fp_caller(); });
    t.join();
    REQUIRE_FALSE(e.stack().empty());
    CHECK(e.stack().size() < STRATA_MAX_STACK_DEPTH);
    const std::string st = origin_stack(e);
    INFO(st);
    CHECK(st.find("fp_origin") != std::string::npos);
    CHECK(st.find("fp_caller") != std::string::npos);
}
