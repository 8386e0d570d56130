// Tests of cancellation causes (<strata/cancel.hpp>, <strata/task_group.hpp>):
// what stop_cause(token) and canceled_by(token) say for first_of, with_timeout
// and task_group, how scopes started inside a strata task follow it ("parent
// canceled"), and that asked-for cancellations are not reported as bugs.
//
// No test asserts on elapsed time. Work that must be stopped waits for its stop
// token (strata_test::wait_for_stop), so only a stop ends it; deadlines that must
// not pass are long. Catch2 assertions are made on the test's own thread only:
// tasks record what they saw, and the test checks it after the scope has joined.
#include <catch2/catch.hpp>

#include "support.hpp"

#include <strata/cancel.hpp>
#include <strata/handle.hpp>
#include <strata/task_group.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>

using namespace std::chrono_literals;

using strata_test::misc_int;
using strata_test::misc_str;
using strata_test::missing;
using strata_test::msg;
using strata_test::wait_for_stop;

namespace {

// A deadline that never passes in a test: the work is always stopped otherwise.
constexpr auto never = 60s;

// Every frame's message, outermost first, joined by " <- ".
std::string chain_text(const strata::error& e) {
    std::string out;
    for (strata::error f = e; f; f = f.inner()) {
        if (!out.empty()) out += " <- ";
        out += f.message();
    }
    return out;
}

// What a stopped task saw: its token's cause, and the canceled_by error it returned.
struct stopped_view {
    bool stopped = false;
    strata::error cause;
    strata::error returned;
};

// Waits for the token, records what it says, and returns canceled_by(token).
strata::error stop_and_record(const std::stop_token& token, stopped_view& into) {
    wait_for_stop(token);
    into.stopped = token.stop_requested();
    into.cause = strata::stop_cause(token);
    into.returned = strata::canceled_by(token);
    return into.returned;
}

// Checks a canceled_by(token) error: a canceled frame with exactly the cause as
// its secondary error "stopped because", and no inner cause (the stop is not
// this task's failure).
void check_canceled_over(const stopped_view& v) {
    CHECK(v.stopped);
    REQUIRE(v.cause);
    REQUIRE(v.returned);
    CHECK(v.returned.is<strata::canceled>());
    CHECK(v.returned.message() == "canceled");
    CHECK(v.returned.inner().empty());
    CHECK(v.returned.secondaries().size() == 1);
    CHECK(strata_test::stopped_because(v.returned).same_as(v.cause));
}

// Checks a "parent canceled" cause over the parent's cause `over`.
void check_parent_canceled(const strata::error& cause, const strata::error& over) {
    REQUIRE(cause);
    CHECK(cause.is<strata::canceled>());
    CHECK(msg(cause) == "parent canceled");
    CHECK(misc_str(cause, "stop_reason") == "parent");
    REQUIRE(cause.inner());
    CHECK(msg(cause.inner()) == msg(over));
    CHECK(cause.inner().same_as(over));
}

}  // namespace

// --- first_of ---------------------------------------------------------------------

TEST_CASE("first_of's losers see 'lost to replica N' naming the winner's position, and the winner's value is returned",
          "[cancel][causes][first_of]") {
    for (int winner = 1; winner <= 3; ++winner) {
        CAPTURE(winner);
        std::array<stopped_view, 4> seen{};  // by position, from 1
        auto replica = [&seen, winner](int pos) {
            return [&seen, winner, pos](std::stop_token token) -> strata::result<int> {
                if (pos == winner) return pos * 10;
                return stop_and_record(token, seen[pos]);
            };
        };
        const strata::result<int> r = strata::first_of(replica(1), replica(2), replica(3));
        REQUIRE(r.has_value());
        CHECK(*r == winner * 10);
        for (int pos = 1; pos <= 3; ++pos) {
            if (pos == winner) continue;
            CAPTURE(pos);
            const stopped_view& v = seen[pos];
            check_canceled_over(v);
            CHECK(v.cause.is<strata::canceled>());
            CHECK(msg(v.cause) == "lost to replica " + std::to_string(winner));
            CHECK(misc_str(v.cause, "stop_reason") == "lost_race");
            CHECK(misc_int(v.cause, "winner") == winner);
            CHECK(v.cause.inner().empty());
        }
    }
}

TEST_CASE("every loser of a first_of sees the same cause", "[cancel][causes][first_of]") {
    std::array<stopped_view, 5> seen{};
    auto loser = [&seen](int pos) {
        return [&seen, pos](std::stop_token token) -> strata::result<std::string> {
            return stop_and_record(token, seen[pos]);
        };
    };
    const strata::result<std::string> r =
        strata::first_of(loser(1), loser(2), [](std::stop_token) -> strata::result<std::string> { return std::string("won"); },
                         loser(4));
    REQUIRE(r.has_value());
    CHECK(*r == "won");
    for (int pos : {1, 2, 4}) {
        CAPTURE(pos);
        check_canceled_over(seen[pos]);
        CHECK(msg(seen[pos].cause) == "lost to replica 3");
        CHECK(seen[pos].cause.same_as(seen[1].cause));  // one cause, shared
    }
}

TEST_CASE("replicas that succeed at the same moment: one result, and the losers' causes name the winner, many times",
          "[cancel][causes][first_of][race]") {
    for (int round = 0; round < 50; ++round) {
        CAPTURE(round);
        std::atomic<int> ready{0};
        std::array<stopped_view, 5> seen{};
        // Replicas 1-3 race to succeed; one that finds its token already stopped
        // records its cause instead. Replica 4 only ever loses.
        auto racer = [&](int pos) {
            return [&, pos](std::stop_token token) -> strata::result<int> {
                ++ready;
                while (ready.load() < 3) std::this_thread::yield();
                if (token.stop_requested()) {
                    seen[pos].stopped = true;
                    seen[pos].cause = strata::stop_cause(token);
                    seen[pos].returned = strata::canceled_by(token);
                    return seen[pos].returned;
                }
                return pos;
            };
        };
        auto observer = [&](std::stop_token token) -> strata::result<int> { return stop_and_record(token, seen[4]); };
        const strata::result<int> r = strata::first_of(racer(1), racer(2), racer(3), observer);
        REQUIRE(r.has_value());
        const int won = *r;
        REQUIRE((won >= 1 && won <= 3));
        CHECK_FALSE(seen[static_cast<std::size_t>(won)].stopped);
        for (int pos = 1; pos <= 4; ++pos) {
            const stopped_view& v = seen[static_cast<std::size_t>(pos)];
            if (!v.stopped) continue;
            CAPTURE(pos);
            check_canceled_over(v);
            CHECK(msg(v.cause) == "lost to replica " + std::to_string(won));
            CHECK(misc_int(v.cause, "winner") == won);
            CHECK(misc_str(v.cause, "stop_reason") == "lost_race");
        }
        CHECK(seen[4].stopped);  // the observer always loses, and always to the winner
    }
}

// --- with_timeout ------------------------------------------------------------------

TEST_CASE("with_timeout's token carries the deadline as a timed_out cause naming the caller", "[cancel][causes][timeout]") {
    stopped_view seen;
    const strata::result<int> r =
        strata::with_timeout(20ms, [&](std::stop_token token) -> strata::result<int> { return stop_and_record(token, seen); });
    check_canceled_over(seen);
    const strata::error& cause = seen.cause;
    CHECK(cause.is<strata::timed_out>());
    // "<operation>: deadline of 20 ms passed", the operation being the test body.
    CHECK_THAT(msg(cause), Catch::EndsWith(": deadline of 20 ms passed"));
    CHECK_THAT(msg(cause), Catch::Contains("T_E_S_T"));
    CHECK(misc_str(cause, "stop_reason") == "deadline");
    CHECK(misc_int(cause, "timeout_ms") == 20);
    CHECK(cause.inner().empty());
    // The call's own error is a timed_out error over what fn returned (its
    // cancellation, whose cause the outer error already states).
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().is<strata::timed_out>());
    CHECK(misc_str(r.error(), "stop_reason") == "deadline");
    CHECK(r.error().inner().is<strata::canceled>());
    CHECK(msg(r.error().inner()) == "canceled");
    CHECK(r.error().inner().secondaries().empty());  // the deadline, which r states, is not repeated
}

TEST_CASE("timeout_options::operation names the work in the returned error and in the token's cause",
          "[cancel][causes][timeout]") {
    stopped_view seen;
    const strata::result<void> r = strata::with_timeout(
        20ms, strata::timeout_options{.operation = "fetch the report"},
        [&](std::stop_token token) -> strata::result<void> { return stop_and_record(token, seen); });
    check_canceled_over(seen);
    CHECK(seen.cause.is<strata::timed_out>());
    CHECK(msg(seen.cause) == "fetch the report: deadline of 20 ms passed");
    CHECK(misc_str(seen.cause, "stop_reason") == "deadline");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().is<strata::timed_out>());
    CHECK_THAT(msg(r.error()), Catch::StartsWith("fetch the report: no result within 20 ms"));
    CHECK(misc_int(r.error(), "timeout_ms") == 20);
}

TEST_CASE("a with_timeout fn that finishes in time never sees a cause", "[cancel][causes][timeout]") {
    strata::error during;
    bool stopped = true;
    const strata::result<int> r = strata::with_timeout(never, [&](std::stop_token token) -> strata::result<int> {
        stopped = token.stop_requested();
        during = strata::stop_cause(token);
        return 5;
    });
    REQUIRE(r.has_value());
    CHECK(*r == 5);
    CHECK_FALSE(stopped);
    CHECK(during.empty());
}

// --- task_group --------------------------------------------------------------------

TEST_CASE("when task K fails, the other tasks' cause is 'task K of the group failed' over that failure",
          "[task_group][causes]") {
    const strata::error boom = strata::make_error<strata::low_level>("boom in task 3");
    std::array<stopped_view, 6> seen{};  // by task number, from 1
    std::atomic<int> started{0};  // task 3 fails once all were spawned (one spawned after would never run)
    strata::task_group g;
    for (int k = 1; k <= 5; ++k) {
        if (k == 3)
            g.spawn([&](std::stop_token) -> strata::result<void> {
                strata_test::wait_until([&] { return started.load() == 4; });
                return boom;
            });
        else
            g.spawn([&seen, &started, k](std::stop_token token) -> strata::result<void> {
                ++started;
                return stop_and_record(token, seen[k]);
            });
    }
    const strata::result<void> r = g.wait();

    // The group's cause.
    const strata::error cause = g.cause();
    REQUIRE(cause);
    CHECK(cause.is<strata::canceled>());
    CHECK(msg(cause) == "task 3 of the group failed");
    CHECK(misc_str(cause, "stop_reason") == "failure");
    CHECK(misc_int(cause, "failed_task") == 3);
    CHECK(cause.inner().same_as(boom));

    // Each other task saw exactly that cause.
    for (int k : {1, 2, 4, 5}) {
        CAPTURE(k);
        check_canceled_over(seen[k]);
        CHECK(seen[k].cause.same_as(cause));
    }

    // wait() returns the failure itself, counting the cancellations it caused.
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().is<strata::low_level>());
    CHECK(msg(r.error()) == "boom in task 3");
    CHECK(misc_int(r.error(), "canceled_tasks") == 4);
    CHECK_FALSE(r.error().misc().find("later_failures").has_value());
}

TEST_CASE("a group's token carries the group's cause, read from the thread that owns the group",
          "[task_group][causes]") {
    strata::task_group g;
    CHECK(g.cause().empty());
    CHECK(strata::stop_cause(g.token()).empty());
    g.spawn([](std::stop_token token) -> strata::result<void> {
        wait_for_stop(token);
        return strata::canceled_by(token);
    });
    g.stop("user quit");
    const strata::error cause = strata::stop_cause(g.token());  // while the group lives
    REQUIRE(cause);
    CHECK(msg(cause) == "user quit");
    CHECK(misc_str(cause, "stop_reason") == "user");
    CHECK(cause.same_as(g.cause()));
    const strata::result<void> r = g.wait();
    REQUIRE_FALSE(r.has_value());
    CHECK(msg(r.error()) == "1 of 1 tasks canceled");
    CHECK(r.error().inner().empty());
    CHECK(strata_test::stopped_because(r.error()).same_as(cause));
}

TEST_CASE("tasks failing at the same moment: every other task sees a cause naming the failure wait() returns, many times",
          "[task_group][causes][race]") {
    for (int round = 0; round < 30; ++round) {
        CAPTURE(round);
        std::array<stopped_view, 6> seen{};  // tasks 1-2 wait; tasks 3-5 fail together
        std::atomic<int> ready{0};
        strata::task_group g;
        for (int k = 1; k <= 2; ++k)
            g.spawn([&seen, k](std::stop_token token) -> strata::result<void> { return stop_and_record(token, seen[k]); });
        for (int k = 3; k <= 5; ++k)
            g.spawn([&ready, k](std::stop_token) -> strata::result<void> {
                ++ready;
                while (ready.load() < 3) std::this_thread::yield();
                return strata::make_error<strata::low_level>("task {} failed", k);
            });
        const strata::result<void> r = g.wait();
        REQUIRE_FALSE(r.has_value());
        const strata::error cause = g.cause();
        REQUIRE(cause);
        const std::int64_t failed = misc_int(cause, "failed_task");
        CHECK((failed >= 3 && failed <= 5));
        CHECK(msg(cause) == "task " + std::to_string(failed) + " of the group failed");
        CHECK(msg(cause.inner()) == "task " + std::to_string(failed) + " failed");
        // wait() returns the very failure the cause names; the others are attached.
        CHECK(msg(r.error()) == msg(cause.inner()));
        CHECK(misc_int(r.error(), "later_failures") == 2);
        CHECK(misc_int(r.error(), "canceled_tasks") == 2);
        for (int k = 1; k <= 2; ++k) {
            CAPTURE(k);
            check_canceled_over(seen[k]);
            CHECK_FALSE(seen[k].cause.empty());
            CHECK(seen[k].cause.same_as(cause));
        }
    }
}

// --- nesting: scopes started inside a strata task follow it ----------------------

TEST_CASE("a with_timeout started inside a group's task is stopped with the group, 'parent canceled' over its cause",
          "[task_group][causes][nesting]") {
    stopped_view seen;
    std::atomic<bool> started{false};
    strata::result<void> inner_result;
    strata::task_group g;
    g.spawn([&](std::stop_token) -> strata::result<void> {
        inner_result = strata::with_timeout(never, [&](std::stop_token token) -> strata::result<void> {
            started = true;
            return stop_and_record(token, seen);
        });
        return inner_result;
    });
    while (!started.load()) std::this_thread::yield();
    g.stop("user quit");
    const strata::result<void> r = g.wait();

    check_canceled_over(seen);
    check_parent_canceled(seen.cause, g.cause());
    CHECK(msg(seen.cause.inner()) == "user quit");
    CHECK(misc_str(seen.cause.inner(), "stop_reason") == "user");
    // Stopped by its parent before its own deadline: fn's cancellation as it is.
    REQUIRE_FALSE(inner_result.has_value());
    CHECK(inner_result.error().same_as(seen.returned));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().is<strata::canceled>());
    CHECK(msg(r.error()) == "1 of 1 tasks canceled");
}

TEST_CASE("a with_timeout started inside a task of a group already stopped starts stopped, 'parent canceled'",
          "[task_group][causes][nesting]") {
    stopped_view seen;
    strata::task_group g;
    std::atomic<bool> started{false};
    g.spawn([&](std::stop_token outer) -> strata::result<void> {
        started = true;
        wait_for_stop(outer);
        return strata::with_timeout(never, [&](std::stop_token token) -> strata::result<void> {
            return stop_and_record(token, seen);
        });
    });
    while (!started.load()) std::this_thread::yield();
    g.stop("user quit");
    const strata::result<void> r = g.wait();
    check_canceled_over(seen);
    check_parent_canceled(seen.cause, g.cause());
    CHECK(msg(seen.cause.inner()) == "user quit");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().is<strata::canceled>());
}

TEST_CASE("a first_of started inside a group's task is stopped with the group, 'parent canceled' over its cause",
          "[task_group][causes][nesting][first_of]") {
    std::array<stopped_view, 3> seen{};
    std::atomic<int> started{0};
    strata::result<int> inner_result = 0;
    strata::task_group g;
    g.spawn([&](std::stop_token) -> strata::result<void> {
        auto replica = [&](int pos) {
            return [&, pos](std::stop_token token) -> strata::result<int> {
                ++started;
                return stop_and_record(token, seen[pos]);
            };
        };
        inner_result = strata::first_of(replica(1), replica(2));
        if (!inner_result) return inner_result.error();
        return {};
    });
    while (started.load() < 2) std::this_thread::yield();
    g.stop("user quit");
    const strata::result<void> r = g.wait();

    for (int pos = 1; pos <= 2; ++pos) {
        CAPTURE(pos);
        check_canceled_over(seen[pos]);
        check_parent_canceled(seen[pos].cause, g.cause());
        CHECK(msg(seen[pos].cause.inner()) == "user quit");
    }
    // No replica won: first_of fails with a cancellation, both counted.
    REQUIRE_FALSE(inner_result.has_value());
    CHECK(inner_result.error().is<strata::canceled>());
    CHECK(misc_int(inner_result.error(), "replica_failures") == 2);
    REQUIRE_FALSE(r.has_value());
    CHECK(msg(r.error()) == "1 of 1 tasks canceled");
}

TEST_CASE("a task_group started inside a group's task is stopped with the outer group, 'parent canceled' over its cause",
          "[task_group][causes][nesting]") {
    std::array<stopped_view, 3> seen{};
    std::atomic<int> started{0};
    strata::error inner_cause;
    strata::result<void> inner_result;
    strata::task_group g;
    g.spawn([&](std::stop_token) -> strata::result<void> {
        strata::task_group inner;
        for (int k = 1; k <= 2; ++k)
            inner.spawn([&, k](std::stop_token token) -> strata::result<void> {
                ++started;
                return stop_and_record(token, seen[k]);
            });
        inner_result = inner.wait();
        inner_cause = inner.cause();
        return inner_result;
    });
    while (started.load() < 2) std::this_thread::yield();
    g.stop("user quit");
    const strata::result<void> r = g.wait();

    check_parent_canceled(inner_cause, g.cause());
    CHECK(msg(inner_cause.inner()) == "user quit");
    for (int k = 1; k <= 2; ++k) {
        CAPTURE(k);
        check_canceled_over(seen[k]);
        // The inner group's tasks inherit the inner group's cause as it is.
        CHECK(seen[k].cause.same_as(inner_cause));
    }
    REQUIRE_FALSE(inner_result.has_value());
    CHECK(inner_result.error().is<strata::canceled>());
    CHECK(msg(inner_result.error()) == "2 of 2 tasks canceled");
    CHECK(inner_result.error().inner().empty());
    CHECK(strata_test::stopped_because(inner_result.error()).same_as(inner_cause));
    REQUIRE_FALSE(r.has_value());
    CHECK(msg(r.error()) == "1 of 1 tasks canceled");
}

TEST_CASE("a with_timeout inside a with_timeout is stopped when the outer deadline passes, 'parent canceled' over it",
          "[cancel][causes][nesting][timeout]") {
    stopped_view seen;
    strata::result<void> inner_result;
    const strata::result<void> r = strata::with_timeout(
        30ms, strata::timeout_options{.operation = "outer"}, [&](std::stop_token) -> strata::result<void> {
            inner_result = strata::with_timeout(never, strata::timeout_options{.operation = "inner"},
                                                [&](std::stop_token token) -> strata::result<void> {
                                                    return stop_and_record(token, seen);
                                                });
            return inner_result;
        });
    check_canceled_over(seen);
    REQUIRE(seen.cause);
    CHECK(msg(seen.cause) == "parent canceled");
    CHECK(misc_str(seen.cause, "stop_reason") == "parent");
    REQUIRE(seen.cause.inner());
    CHECK(seen.cause.inner().is<strata::timed_out>());
    CHECK(msg(seen.cause.inner()) == "outer: deadline of 30 ms passed");
    CHECK(misc_str(seen.cause.inner(), "stop_reason") == "deadline");
    // The inner call returns fn's cancellation; the outer one reports its deadline.
    REQUIRE_FALSE(inner_result.has_value());
    CHECK(inner_result.error().same_as(seen.returned));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().is<strata::timed_out>());
    CHECK_THAT(msg(r.error()), Catch::StartsWith("outer: no result within 30 ms"));
}

TEST_CASE("a with_timeout inside a first_of replica is stopped when another replica wins, 'parent canceled' over the loss",
          "[cancel][causes][nesting][first_of]") {
    stopped_view seen;
    const strata::result<int> r = strata::first_of(
        [&](std::stop_token) -> strata::result<int> {
            return strata::with_timeout(never, [&](std::stop_token token) -> strata::result<int> {
                return stop_and_record(token, seen);
            });
        },
        [](std::stop_token) -> strata::result<int> { return 2; });
    REQUIRE(r.has_value());
    CHECK(*r == 2);
    check_canceled_over(seen);
    REQUIRE(seen.cause);
    CHECK(msg(seen.cause) == "parent canceled");
    CHECK(misc_str(seen.cause, "stop_reason") == "parent");
    CHECK(msg(seen.cause.inner()) == "lost to replica 2");
    CHECK(misc_int(seen.cause.inner(), "winner") == 2);
}

TEST_CASE("a scope started on a plain thread is not nested: it does not follow a stopped caller",
          "[cancel][causes][nesting]") {
    // A with_timeout on a thread the task started itself has no parent: the
    // group's stop does not reach it, so it finishes in time.
    bool helper_stopped = true;
    strata::result<int> helper_result = 0;
    strata::task_group g;
    std::atomic<bool> started{false};
    g.spawn([&](std::stop_token outer) -> strata::result<void> {
        started = true;
        wait_for_stop(outer);
        std::thread helper([&] {
            helper_result = strata::with_timeout(never, [&](std::stop_token token) -> strata::result<int> {
                helper_stopped = token.stop_requested();
                return 9;
            });
        });
        helper.join();
        return {};
    });
    while (!started.load()) std::this_thread::yield();
    g.stop("user quit");
    CHECK(g.wait().has_value());
    CHECK_FALSE(helper_stopped);
    REQUIRE(helper_result.has_value());
    CHECK(*helper_result == 9);
}

TEST_CASE("a with_timeout its parent stopped first returns fn's cancellation as it is, even when fn returns after "
          "the deadline",
          "[task_group][causes][nesting][timeout]") {
    stopped_view seen;
    bool stopped_on_entry = false;
    strata::result<void> inner_result;
    strata::task_group g;
    g.spawn([&](std::stop_token token) -> strata::result<void> {
        wait_for_stop(token);  // the group is stopped before the with_timeout starts
        inner_result = strata::with_timeout(50ms, [&](std::stop_token inner) -> strata::result<void> {
            stopped_on_entry = inner.stop_requested();
            std::this_thread::sleep_for(100ms);  // returns past the 50 ms deadline
            return stop_and_record(inner, seen);
        });
        return inner_result;
    });
    g.stop("user quit");
    const strata::result<void> r = g.wait();

    CHECK(stopped_on_entry);
    check_canceled_over(seen);
    check_parent_canceled(seen.cause, g.cause());
    CHECK(msg(seen.cause.inner()) == "user quit");
    // The parent's stop is the story: fn's own error, not a timed_out error over it.
    REQUIRE_FALSE(inner_result.has_value());
    const strata::error& e = inner_result.error();
    CAPTURE(chain_text(e));
    CHECK(e.same_as(seen.returned));
    CHECK(e.is<strata::canceled>());
    CHECK_FALSE(e.is<strata::timed_out>());
    CHECK_FALSE(strata::find<strata::timed_out>(e).has_value());
    // Why: its secondary error "stopped because", not its chain.
    CHECK(chain_text(e) == "canceled");
    CHECK_THAT(chain_text(strata_test::stopped_because(e)), Catch::Contains("parent canceled"));
    CHECK_THAT(chain_text(strata_test::stopped_because(e)), Catch::Contains("user quit"));
    CHECK_THAT(chain_text(strata_test::stopped_because(e)), !Catch::Contains("deadline"));
    // And the group's task was canceled as asked, not failed.
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().is<strata::canceled>());
    CHECK(msg(r.error()) == "1 of 1 tasks canceled");
    CHECK_FALSE(r.error().misc().find("failed_task").has_value());
}

// --- stop_cause and canceled_by at the edges -------------------------------------

TEST_CASE("stop_cause works from a thread the task started itself", "[cancel][causes]") {
    SECTION("a group's task stopped by the user") {
        strata::error from_helper;
        std::atomic<bool> watching{false};
        strata::task_group g;
        g.spawn([&](std::stop_token token) -> strata::result<void> {
            std::thread helper([&, token] {
                watching = true;
                wait_for_stop(token);
                from_helper = strata::stop_cause(token);  // no strata task on this thread
            });
            helper.join();
            return strata::canceled_by(token);
        });
        while (!watching.load()) std::this_thread::yield();
        g.stop("user quit");
        const strata::result<void> r = g.wait();
        REQUIRE(from_helper);
        CHECK(msg(from_helper) == "user quit");
        CHECK(from_helper.same_as(g.cause()));
        CHECK_FALSE(r.has_value());
    }
    SECTION("a with_timeout fn's token at the deadline") {
        strata::error from_helper;
        const strata::result<void> r = strata::with_timeout(
            20ms, strata::timeout_options{.operation = "watched"}, [&](std::stop_token token) -> strata::result<void> {
                std::thread helper([&, token] {
                    wait_for_stop(token);
                    from_helper = strata::stop_cause(token);
                });
                helper.join();
                return strata::canceled_by(token);
            });
        REQUIRE(from_helper);
        CHECK(from_helper.is<strata::timed_out>());
        CHECK(msg(from_helper) == "watched: deadline of 20 ms passed");
        CHECK_FALSE(r.has_value());
    }
}

TEST_CASE("stop_cause is empty for a strata token that has not been stopped", "[cancel][causes]") {
    strata::error before;
    bool stopped_before = true;
    std::atomic<bool> looked{false};
    stopped_view after;
    strata::task_group g;
    g.spawn([&](std::stop_token token) -> strata::result<void> {
        stopped_before = token.stop_requested();
        before = strata::stop_cause(token);
        looked = true;
        return stop_and_record(token, after);
    });
    while (!looked.load()) std::this_thread::yield();
    g.stop("now");
    (void)g.wait();
    CHECK_FALSE(stopped_before);
    CHECK(before.empty());
    check_canceled_over(after);
    CHECK(msg(after.cause) == "now");
}

TEST_CASE("stop_cause is empty for a plain std::stop_source's token, stopped or not", "[cancel][causes]") {
    std::stop_source plain;
    CHECK(strata::stop_cause(plain.get_token()).empty());
    plain.request_stop();
    CHECK(strata::stop_cause(plain.get_token()).empty());
    CHECK(strata::stop_cause(std::stop_token{}).empty());

    // Also from inside a strata task, whose own scopes are looked at first.
    strata::error inside;
    std::stop_source other;
    other.request_stop();
    const strata::result<int> r = strata::with_timeout(never, [&](std::stop_token) -> strata::result<int> {
        inside = strata::stop_cause(other.get_token());
        return 1;
    });
    CHECK(r.has_value());
    CHECK(inside.empty());
}

TEST_CASE("stop_cause is empty once the scope a stopped token belonged to has ended", "[cancel][causes]") {
    std::stop_token kept;
    const strata::result<void> r = strata::with_timeout(5ms, [&](std::stop_token token) -> strata::result<void> {
        kept = token;
        wait_for_stop(token);
        return strata::canceled_by(token);
    });
    CHECK_FALSE(r.has_value());
    CHECK(kept.stop_requested());
    CHECK(strata::stop_cause(kept).empty());
}

TEST_CASE("canceled_by on a stopped plain token says the stop carried no cause, and does not crash", "[cancel][causes]") {
    std::stop_source plain;
    plain.request_stop();
    const strata::error e = strata::canceled_by(plain.get_token());
    REQUIRE(e);
    CHECK(e.is<strata::canceled>());
    CHECK(e.is_user_facing());
    CHECK(e.inner().empty());
    CHECK_THAT(chain_text(strata_test::stopped_because(e)), Catch::Contains("no cause"));
    CHECK_THAT(chain_text(strata_test::stopped_because(e)), Catch::Contains("not a strata token"));
    CHECK(e.location().line() != 0);
}

TEST_CASE("canceled_by on a token that was not stopped says so", "[cancel][causes]") {
    std::stop_source plain;
    const strata::error e = strata::canceled_by(plain.get_token());
    REQUIRE(e);
    CHECK(e.is<strata::canceled>());
    CHECK_THAT(chain_text(strata_test::stopped_because(e)), Catch::Contains("was not stopped"));
    const strata::error no_state = strata::canceled_by(std::stop_token{});
    CHECK(no_state.is<strata::canceled>());
    CHECK_THAT(chain_text(strata_test::stopped_because(no_state)), Catch::Contains("was not stopped"));

    // A strata task's token that is not stopped yet, too.
    strata::error early;
    const strata::result<int> r = strata::with_timeout(never, [&](std::stop_token token) -> strata::result<int> {
        early = strata::canceled_by(token);
        return 1;
    });
    CHECK(r.has_value());
    CHECK_THAT(chain_text(strata_test::stopped_because(early)), Catch::Contains("was not stopped"));
}

TEST_CASE("canceled_by with a message of its own keeps the cause as its secondary error", "[cancel][causes]") {
    stopped_view seen;
    strata::error custom;
    strata::task_group g;
    g.spawn([&](std::stop_token token) -> strata::result<void> {
        wait_for_stop(token);
        seen.stopped = true;
        seen.cause = strata::stop_cause(token);
        custom = strata::canceled_by(token, "warming the cache was canceled after {} entries", 12);
        return custom;
    });
    g.stop("user quit");
    CHECK_FALSE(g.wait().has_value());
    REQUIRE(custom);
    CHECK(custom.is<strata::canceled>());
    CHECK(msg(custom) == "warming the cache was canceled after 12 entries");
    CHECK(custom.inner().empty());
    CHECK(strata_test::stopped_because(custom).same_as(seen.cause));
    CHECK(msg(strata_test::stopped_because(custom)) == "user quit");
}

// --- handle(): asked-for cancellation is a known edge case ------------------------

TEST_CASE("a canceled_by error and a group's 'N of M tasks canceled' are known edge cases, not bugs",
          "[cancel][causes][handle]") {
    std::atomic<int> logged{0};
    const strata::log_sink sink = [&](const strata::log_record&) { ++logged; };
    const strata::handle_options quiet{.sink = &sink};

    SECTION("canceled_by a first_of loss") {
        stopped_view seen;
        const strata::result<int> r = strata::first_of(
            [&](std::stop_token token) -> strata::result<int> { return stop_and_record(token, seen); },
            [](std::stop_token) -> strata::result<int> { return 1; });
        REQUIRE(r.has_value());
        REQUIRE(seen.returned);
        const strata::report rep = strata::handle(seen.returned, quiet);
        CHECK_FALSE(rep.is_bug);
        CHECK(rep.user_message == "canceled");
        CHECK(logged == 1);
    }
    SECTION("canceled_by a plain token") {
        std::stop_source plain;
        plain.request_stop();
        const strata::report rep = strata::handle(strata::canceled_by(plain.get_token()), quiet);
        CHECK_FALSE(rep.is_bug);
        CHECK(logged == 1);
    }
    SECTION("a group stopped by the user") {
        strata::task_group g;
        for (int k = 0; k < 3; ++k)
            g.spawn([](std::stop_token token) -> strata::result<void> {
                wait_for_stop(token);
                return strata::canceled_by(token);
            });
        g.stop("user quit");
        const strata::result<void> r = g.wait();
        REQUIRE_FALSE(r.has_value());
        CHECK(msg(r.error()) == "3 of 3 tasks canceled");
        const strata::report rep = strata::handle(r.error(), quiet);
        CHECK_FALSE(rep.is_bug);
        CHECK(rep.user_message == "3 of 3 tasks canceled");
        CHECK(logged == 1);
    }
    SECTION("a with_timeout past its deadline") {
        const strata::result<void> r = strata::with_timeout(5ms, [](std::stop_token token) -> strata::result<void> {
            wait_for_stop(token);
            return strata::canceled_by(token);
        });
        REQUIRE_FALSE(r.has_value());
        const strata::report rep = strata::handle(r.error(), quiet);
        CHECK_FALSE(rep.is_bug);
        CHECK(logged == 1);
    }
}
