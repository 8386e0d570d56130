// Tests for <strata/cancel.hpp>: the canceled and timed_out layers, and
// with_timeout. No test asserts on elapsed time: lateness is made by functions
// that wait for their stop token (or ignore it) and then return.
#include <catch2/catch.hpp>

#include "support.hpp"

#include <strata/cancel.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>

using namespace std::chrono_literals;

using strata_test::wait_for_stop;

TEST_CASE("canceled and timed_out are user-facing layers", "[cancel]") {
    STATIC_REQUIRE(strata::layer_tag<strata::canceled>);
    STATIC_REQUIRE(strata::layer_tag<strata::timed_out>);
    STATIC_REQUIRE(strata::layer_info_of<strata::canceled>.user_facing);
    STATIC_REQUIRE(strata::layer_info_of<strata::timed_out>.user_facing);
    CHECK(strata::layer_info_of<strata::timed_out>.name == "timed_out");
}

TEST_CASE("with_timeout returns fn's value when fn is in time", "[cancel][timeout]") {
    int calls = 0;
    const strata::result<int> r = strata::with_timeout(10s, [&](std::stop_token token) -> strata::result<int> {
        ++calls;  // the caller's locals are safe to use: nothing outlives the call
        return token.stop_requested() ? -1 : 42;
    });
    REQUIRE(r.has_value());
    CHECK(*r == 42);
    CHECK(calls == 1);
}

TEST_CASE("with_timeout passes fn's own error through when fn fails in time", "[cancel][timeout]") {
    const strata::error e = strata::make_error<strata::low_level>("disk full");
    const strata::result<void> r = strata::with_timeout(10s, [&](std::stop_token) -> strata::result<void> { return e; });
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().same_as(e));
}

TEST_CASE("with_timeout stops fn at the deadline and reports a timed_out error", "[cancel][timeout]") {
    bool saw_stop = false;
    const strata::result<int> r = strata::with_timeout(20ms, [&](std::stop_token token) -> strata::result<int> {
        wait_for_stop(token);
        saw_stop = token.stop_requested();
        return strata::make_error<strata::canceled>("stopped as asked");
    });
    CHECK(saw_stop);
    REQUIRE_FALSE(r.has_value());
    const strata::error& e = r.error();
    CHECK(e.is<strata::timed_out>());
    CHECK(e.is_user_facing());
    // It names the operation (the caller) and the timeout, and keeps fn's error.
    const std::string message(e.message());
    CHECK_THAT(message, Catch::Contains("T_E_S_T"));  // the test body: the function that called with_timeout
    CHECK_THAT(message, Catch::Contains("20 ms"));
    REQUIRE(e.misc().find("timeout_ms").has_value());
    CHECK(e.misc().find("timeout_ms")->as_signed() == 20);
    REQUIRE(e.misc().find("late_ms").has_value());
    CHECK(e.misc().find("late_ms")->as_signed() >= 0);
    CHECK(e.inner().is<strata::canceled>());
    CHECK(e.location().line() != 0);
}

TEST_CASE("a late success is stale: it becomes a timed_out error", "[cancel][timeout]") {
    const strata::result<std::string> r =
        strata::with_timeout(5ms, [](std::stop_token token) -> strata::result<std::string> {
            wait_for_stop(token);  // returns a value anyway, after the deadline
            return std::string("too late");
        });
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().is<strata::timed_out>());
    CHECK_THAT(std::string(r.error().message()), Catch::Contains("late"));
    CHECK(r.error().inner().empty());
}

TEST_CASE("a timeout of zero or less fails at once without calling fn", "[cancel][timeout]") {
    int calls = 0;
    auto fn = [&](std::stop_token) -> strata::result<int> {
        ++calls;
        return 1;
    };
    const strata::result<int> zero = strata::with_timeout(0ms, fn);
    const strata::result<int> negative = strata::with_timeout(-5s, fn);
    CHECK(calls == 0);
    REQUIRE_FALSE(zero.has_value());
    REQUIRE_FALSE(negative.has_value());
    CHECK(zero.error().is<strata::timed_out>());
    CHECK(negative.error().is<strata::timed_out>());
    CHECK_THAT(std::string(negative.error().message()), Catch::Contains("not positive"));
}

TEST_CASE("an exception thrown by fn becomes an error, not a terminated process", "[cancel][timeout]") {
    const strata::result<int> r = strata::with_timeout(
        10s, [](std::stop_token) -> strata::result<int> { throw std::runtime_error("boom in the task"); });
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message() == "boom in the task");
    CHECK(r.error().inner_as<std::exception_ptr>() != nullptr);
}

TEST_CASE("a task that ignores its token delays the result but loses nothing", "[cancel][timeout]") {
    std::atomic<bool> stop_seen{false};
    const strata::result<int> r = strata::with_timeout(1ms, [&](std::stop_token token) -> strata::result<int> {
        // Ignores the token until it has been stopped, then still fails on its own.
        wait_for_stop(token);
        stop_seen = true;
        return strata::make_error<strata::low_level>("own failure");
    });
    CHECK(stop_seen);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().is<strata::timed_out>());
    REQUIRE(strata::find<strata::low_level>(r.error()).has_value());
    CHECK(strata::find<strata::low_level>(r.error())->message() == "own failure");
}

TEST_CASE("with_timeout is safe to use from many threads at once", "[cancel][timeout]") {
    std::atomic<int> in_time{0};
    std::atomic<int> timed_out{0};
    std::thread threads[4];
    for (int t = 0; t < 4; ++t) {
        threads[t] = std::thread([&, t] {
            for (int i = 0; i < 25; ++i) {
                const bool slow = (i + t) % 2 == 0;
                const strata::result<int> r = strata::with_timeout(slow ? 1ms : 10s, [&](std::stop_token token) -> strata::result<int> {
                    if (slow) wait_for_stop(token);
                    return i;
                });
                if (r)
                    ++in_time;
                else if (r.error().is<strata::timed_out>())
                    ++timed_out;
            }
        });
    }
    for (auto& th : threads) th.join();
    CHECK(in_time == 50);
    CHECK(timed_out == 50);
}

TEST_CASE("with_timeout takes the longest durations without overflow and returns fn's value", "[cancel][timeout]") {
    std::atomic<int> stopped{0};
    auto fn = [&](std::stop_token token) -> strata::result<int> {
        if (token.stop_requested()) ++stopped;
        return 11;
    };
    const strata::result<int> hours = strata::with_timeout(std::chrono::hours::max(), fn);
    const strata::result<int> millis = strata::with_timeout(std::chrono::milliseconds::max(), fn);
    const strata::result<int> nanos = strata::with_timeout(std::chrono::nanoseconds::max(), fn);
    const strata::result<int> seconds = strata::with_timeout(std::chrono::seconds::max(), fn);
    REQUIRE(hours.has_value());
    REQUIRE(millis.has_value());
    REQUIRE(nanos.has_value());
    REQUIRE(seconds.has_value());
    CHECK(*hours == 11);
    CHECK(*millis == 11);
    CHECK(*nanos == 11);
    CHECK(*seconds == 11);
    CHECK(stopped == 0);
}

TEST_CASE("the most negative durations are timeouts of less than zero: they fail at once without calling fn",
          "[cancel][timeout]") {
    std::atomic<int> calls{0};
    auto fn = [&](std::stop_token) -> strata::result<int> {
        ++calls;
        return 1;
    };
    const strata::result<int> hours_min = strata::with_timeout(std::chrono::hours::min(), fn);
    const strata::result<int> minus_hours_max = strata::with_timeout(-std::chrono::hours::max(), fn);
    const strata::result<int> minus_millis_max = strata::with_timeout(-std::chrono::milliseconds::max(), fn);
    const strata::result<int> nanos_min = strata::with_timeout(std::chrono::nanoseconds::min(), fn);
    CHECK(calls == 0);
    const std::pair<const char*, const strata::result<int>*> results[] = {{"hours::min()", &hours_min},
                                                                         {"-hours::max()", &minus_hours_max},
                                                                         {"-milliseconds::max()", &minus_millis_max},
                                                                         {"nanoseconds::min()", &nanos_min}};
    for (const auto& [timeout, r] : results) {
        // Names the timeout, so that a failure says which one.
        const std::string outcome =
            std::string(timeout) + ": " + (r->has_value() ? std::string("fn was called") : strata_test::msg(r->error()));
        CHECK_THAT(outcome, Catch::Contains("not positive"));
        CHECK((!r->has_value() && r->error().is<strata::timed_out>()));
    }
}

TEST_CASE("with_timeout of one nanosecond stops fn and reports a timed_out error", "[cancel][timeout]") {
    bool saw_stop = false;
    strata::error cause;
    const strata::result<int> r =
        strata::with_timeout(std::chrono::nanoseconds(1), [&](std::stop_token token) -> strata::result<int> {
            wait_for_stop(token);
            saw_stop = token.stop_requested();
            cause = strata::stop_cause(token);
            return 1;
        });
    CHECK(saw_stop);
    REQUIRE(cause);
    CHECK(cause.is<strata::timed_out>());
    CHECK(strata_test::misc_str(cause, "stop_reason") == "deadline");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().is<strata::timed_out>());
    CHECK(strata_test::misc_str(r.error(), "stop_reason") == "deadline");
}

// --- first_of: replicated requests ----------------------------------------------

TEST_CASE("first_of delivers the first success and stops the other replicas", "[cancel][first_of]") {
    std::atomic<int> stopped{0};
    auto slow = [&](std::stop_token token) -> strata::result<int> {
        wait_for_stop(token);
        ++stopped;
        return strata::make_error<strata::canceled>("lost the race");
    };
    const strata::result<int> r =
        strata::first_of(slow, [](std::stop_token) -> strata::result<int> { return 7; }, slow);
    REQUIRE(r.has_value());
    CHECK(*r == 7);
    CHECK(stopped == 2);  // returned only once every replica had
}

TEST_CASE("first_of with one replica is that replica", "[cancel][first_of]") {
    const strata::result<std::string> r =
        strata::first_of([](std::stop_token) -> strata::result<std::string> { return std::string("only"); });
    REQUIRE(r.has_value());
    CHECK(*r == "only");
}

TEST_CASE("when every replica fails, one error holds every failure", "[cancel][first_of]") {
    auto fail = [](int i) {
        return [i](std::stop_token) -> strata::result<int> { return strata::make_error<strata::low_level>("replica {} failed", i); };
    };
    const strata::result<int> r = strata::first_of(fail(0), fail(1), fail(2));
    REQUIRE_FALSE(r.has_value());
    const strata::error& e = r.error();
    CHECK(e.is<strata::low_level>());
    REQUIRE(e.misc().find("replica_failures").has_value());
    CHECK(e.misc().find("replica_failures")->as_signed() == 3);
    // The two failures that are not the returned one are secondary errors,
    // labeled by replica number (from 1, in argument order); never causes.
    int attached = 0;
    for (int i = 0; i < 3; ++i)
        if (strata::error v = strata_test::secondary(e, "replica " + std::to_string(i + 1) + " failed")) {
            ++attached;
            CHECK(v.message() == "replica " + std::to_string(i) + " failed");
            CHECK(v.is<strata::low_level>());
        }
    CHECK(attached == 2);
    CHECK(e.secondaries().size() == 2);
    CHECK(e.inner().empty());
}

TEST_CASE("replicas that succeed together: exactly one result, never a duplicate, many times", "[cancel][first_of][race]") {
    for (int round = 0; round < 100; ++round) {
        std::atomic<int> ready{0};
        std::atomic<int> returned{0};
        auto replica = [&](int value) {
            return [&, value](std::stop_token) -> strata::result<int> {
                ++ready;
                while (ready < 3) std::this_thread::yield();
                ++returned;
                return value;
            };
        };
        const strata::result<int> r = strata::first_of(replica(1), replica(2), replica(3));
        REQUIRE(r.has_value());
        CHECK((*r == 1 || *r == 2 || *r == 3));
        CHECK(returned == 3);
    }
}

TEST_CASE("a replica that throws loses to one that succeeds", "[cancel][first_of]") {
    const strata::result<int> r = strata::first_of(
        [](std::stop_token) -> strata::result<int> { throw std::runtime_error("replica blew up"); },
        [](std::stop_token) -> strata::result<int> { return 5; });
    REQUIRE(r.has_value());
    CHECK(*r == 5);
}

TEST_CASE("a replica that throws is one of the failures when all fail", "[cancel][first_of]") {
    const strata::result<int> r = strata::first_of(
        [](std::stop_token) -> strata::result<int> { throw std::runtime_error("replica blew up"); },
        [](std::stop_token) -> strata::result<int> { return strata::make_error("replica 2 failed"); });
    REQUIRE_FALSE(r.has_value());
    const strata::error& e = r.error();
    CHECK(e.misc().find("replica_failures")->as_signed() == 2);
    // The one returned names its replica; the other is a secondary error labeled
    // with its number.
    const long long returned = e.misc().find("replica")->as_signed();
    REQUIRE((returned == 1 || returned == 2));
    const std::string other =
        strata_test::msg(strata_test::secondary(e, returned == 1 ? "replica 2 failed" : "replica 1 failed"));
    CHECK(other == (returned == 1 ? "replica 2 failed" : "replica blew up"));
    CHECK(std::string(e.message()) == (returned == 1 ? "replica blew up" : "replica 2 failed"));
}

TEST_CASE("when every replica fails, 'replica' names the returned failure's replica, the one without a "
          "'replica N failed' secondary error, many times",
          "[cancel][first_of][race]") {
    for (int round = 0; round < 30; ++round) {
        CAPTURE(round);
        std::atomic<int> ready{0};
        auto fail = [&ready](int pos) {
            return [&ready, pos](std::stop_token) -> strata::result<int> {
                ++ready;
                while (ready.load() < 3) std::this_thread::yield();  // fail together, in any order
                return strata::make_error<strata::low_level>("replica {} failed", pos);
            };
        };
        const strata::result<int> r = strata::first_of(fail(1), fail(2), fail(3));
        REQUIRE_FALSE(r.has_value());
        const strata::error& e = r.error();
        const std::int64_t returned = strata_test::misc_int(e, "replica");
        REQUIRE((returned >= 1 && returned <= 3));
        CHECK(strata_test::msg(e) == "replica " + std::to_string(returned) + " failed");
        CHECK(strata_test::misc_int(e, "replica_failures") == 3);
        for (int pos = 1; pos <= 3; ++pos) {
            CAPTURE(pos);
            const strata::error entry = strata_test::secondary(e, "replica " + std::to_string(pos) + " failed");
            if (pos == returned) {
                CHECK_FALSE(entry);
            } else {
                REQUIRE(entry);
                CHECK(strata_test::msg(entry) == "replica " + std::to_string(pos) + " failed");
            }
        }
    }
}

namespace {
strata::result<int> replica_fails(std::stop_token) { return strata::make_error<strata::low_level>("replica down"); }
strata::result<int> replica_answers(std::stop_token) { return 42; }
}  // namespace

TEST_CASE("first_of takes plain functions and const function objects as replicas", "[cancel][first_of]") {
    const auto answers = [](std::stop_token) -> strata::result<int> { return 42; };
    const strata::result<int> a = strata::first_of(replica_fails, replica_answers, answers);
    REQUIRE(a.has_value());
    CHECK(*a == 42);
    const strata::result<int> b = strata::first_of(replica_fails, &replica_fails);
    REQUIRE_FALSE(b.has_value());
    CHECK(b.error().message() == "replica down");
    CHECK(b.error().misc().find("replica_failures")->as_signed() == 2);
}

// --- the stack of a cancellation ------------------------------------------------
// canceled_by() captures a stack only where the canceled error may be seen: a
// first_of loser's and a stopped group task's are counted and dropped.

namespace {

// Restores the capture policy when a test ends.
struct policy_guard {
    strata::capture_policy saved = strata::get_capture_policy();
    explicit policy_guard(strata::capture_policy p) { strata::set_capture_policy(p); }
    ~policy_guard() { strata::set_capture_policy(saved); }
};

// A first_of whose second replica loses: what canceled_by() made for it.
strata::error loser_error() {
    strata::error lost;
    std::mutex m;
    const strata::result<int> r = strata::first_of(
        [](std::stop_token) -> strata::result<int> { return 1; },
        [&](std::stop_token token) -> strata::result<int> {
            wait_for_stop(token);
            strata::error e = strata::canceled_by(token);
            const std::lock_guard lock(m);
            lost = e;
            return e;
        });
    CHECK(r.has_value());
    return lost;
}

}  // namespace

TEST_CASE("a first_of loser's cancellation has no stack by default, and one under every_frame",
          "[cancel][first_of][stack]") {
    {
        const policy_guard origin(strata::capture_policy::origin);
        const strata::error e = loser_error();
        REQUIRE(e.is<strata::canceled>());
        CHECK(strata_test::misc_str(strata_test::stopped_because(e), "stop_reason") == "lost_race");
        CHECK(e.stack().empty());
    }
    {
        const policy_guard every(strata::capture_policy::every_frame);
        const strata::error e = loser_error();
        REQUIRE(e.is<strata::canceled>());
        CHECK_FALSE(e.stack().empty());
    }
}

TEST_CASE("a with_timeout fn's cancellation, which the caller sees, keeps its stack", "[cancel][timeout][stack]") {
    const policy_guard origin(strata::capture_policy::origin);
    const strata::result<int> r = strata::with_timeout(1ms, [](std::stop_token token) -> strata::result<int> {
        wait_for_stop(token);
        return strata::canceled_by(token);
    });
    REQUIRE_FALSE(r.has_value());
    // "no result within 1 ms; it stopped N ms late" over fn's canceled error.
    const strata::error fn_error = r.error().inner();
    REQUIRE(fn_error.is<strata::canceled>());
    CHECK_FALSE(fn_error.stack().empty());
}

TEST_CASE("a canceled_by() for a token of no strata scope keeps its stack", "[cancel][stack]") {
    const policy_guard origin(strata::capture_policy::origin);
    std::stop_source source;
    source.request_stop();
    const strata::error e = strata::canceled_by(source.get_token());
    CHECK_FALSE(e.stack().empty());
}
