// Tests for <strata/task_group.hpp>. No test asserts on elapsed time: tasks that
// must be stopped wait for their token.
#include <catch2/catch.hpp>

#include "support.hpp"

#include <strata/task_group.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>

using namespace std::chrono_literals;

using strata_test::misc_int;
using strata_test::misc_str;
using strata_test::msg;
using strata_test::hang_guard;
using strata_test::wait_for_stop;

namespace {

// Blocks until either token is stopped.
void wait_for_either(const std::stop_token& a, const std::stop_token& b) {
    std::stop_source either;
    const std::stop_callback on_a(a, [&] { either.request_stop(); });
    const std::stop_callback on_b(b, [&] { either.request_stop(); });
    wait_for_stop(either.get_token());
}

}  // namespace

TEST_CASE("a group whose tasks all succeed succeeds", "[task_group]") {
    std::atomic<int> ran{0};
    strata::task_group g;
    for (int i = 0; i < 8; ++i)
        g.spawn([&](std::stop_token) -> strata::result<void> {
            ++ran;
            return {};
        });
    const strata::result<void> r = g.wait();
    CHECK(r.has_value());
    CHECK(ran == 8);
}

TEST_CASE("the first real failure stops the others and is what wait() returns", "[task_group]") {
    const strata::error boom = strata::make_error<strata::low_level>("boom");
    std::atomic<int> stopped{0};
    strata::task_group g;
    for (int i = 0; i < 3; ++i)
        g.spawn([&](std::stop_token token) -> strata::result<int> {
            wait_for_stop(token);
            ++stopped;
            // Stopped as asked: a cancellation, with the group's failure as cause.
            return strata::wrap<strata::canceled>(g.cause(), "stopped: the group failed");
        });
    g.spawn([&](std::stop_token) -> strata::result<int> { return boom; });
    const strata::result<void> r = g.wait();
    CHECK(stopped == 3);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message() == "boom");
    CHECK(r.error().is<strata::low_level>());
    // The cancellations it caused are not failures.
    CHECK_FALSE(r.error().misc().find("later_failures").has_value());
    CHECK(g.later_failures().empty());
}

TEST_CASE("failures after the first stay attached and counted", "[task_group]") {
    strata::task_group g;
    // All three run (a task spawned after the group stopped would not): each
    // waits until all have started.
    std::atomic<int> started{0};
    auto all_in = [&] {
        ++started;
        while (started < 3) std::this_thread::sleep_for(1ms);
    };
    g.spawn([&](std::stop_token) -> strata::result<void> {
        all_in();
        return strata::make_error<strata::low_level>("first");
    });
    g.spawn([&](std::stop_token token) -> strata::result<void> {
        all_in();
        wait_for_stop(token);  // stopped by the first failure
        return strata::make_error<strata::low_level>("second, a real failure all the same");
    });
    g.spawn([&](std::stop_token) -> strata::result<void> {
        all_in();
        throw std::runtime_error("third, thrown");
    });
    const strata::result<void> r = g.wait();
    REQUIRE_FALSE(r.has_value());
    // Whichever failed first is the group's failure; the other two are attached.
    const std::string first(r.error().message());
    REQUIRE(r.error().misc().find("later_failures").has_value());
    CHECK(r.error().misc().find("later_failures")->as_signed() == 2);
    CHECK(g.later_failures().size() == 2);
    std::set<std::string> all{first};
    for (const strata::error& e : g.later_failures()) all.insert(std::string(e.message()));
    CHECK(all.size() == 3);
    CHECK(all.count("third, thrown") == 1);
    // ... as secondary errors, "later failure 1 of 2" and "2 of 2", never causes.
    const strata::secondary_view later = r.error().secondaries();
    REQUIRE(later.size() == 2);
    CHECK(later.label(0) == "later failure 1 of 2");
    CHECK(later.label(1) == "later failure 2 of 2");
    CHECK(later[0].same_as(g.later_failures()[0]));
    CHECK(later[1].same_as(g.later_failures()[1]));
    CHECK(r.error().misc().find("later_failure_1") == std::nullopt);
}

TEST_CASE("a group never runs more tasks at once than its limit", "[task_group]") {
    std::atomic<int> running{0};
    std::atomic<int> most{0};
    {
        strata::task_group g(2);
        for (int i = 0; i < 12; ++i)
            g.spawn([&](std::stop_token) -> strata::result<void> {
                const int now = ++running;
                int seen = most.load();
                while (now > seen && !most.compare_exchange_weak(seen, now)) {
                }
                std::this_thread::yield();
                --running;
                return {};
            });
        CHECK(g.wait().has_value());
    }
    CHECK(most <= 2);
    CHECK(most >= 1);
}

TEST_CASE("destroying a group waits for its tasks", "[task_group]") {
    std::atomic<int> started{0};
    std::atomic<int> done{0};
    {
        strata::task_group g;
        for (int i = 0; i < 4; ++i)
            g.spawn([&](std::stop_token) -> strata::result<void> {
                ++started;
                std::this_thread::sleep_for(20ms);  // not watching its token
                ++done;
                return {};
            });
        // Tasks that have not started when the group stops never run: wait
        // until these have (the pool grows while its threads sleep).
        while (started < 4) std::this_thread::yield();
    }
    CHECK(done == 4);
}

TEST_CASE("stop() stops the tasks, their cancellations are not failures, and wait() says why", "[task_group]") {
    strata::task_group g;
    std::atomic<int> started{0};
    for (int i = 0; i < 3; ++i)
        g.spawn([&](std::stop_token token) -> strata::result<void> {
            ++started;
            wait_for_stop(token);
            return strata::canceled_by(token);
        });
    g.spawn([&](std::stop_token) -> strata::result<void> {
        ++started;
        return {};
    });
    while (started < 4) std::this_thread::yield();  // a task not started when the group stops never runs
    g.stop("the user pressed cancel");
    const strata::result<void> r = g.wait();
    REQUIRE_FALSE(r.has_value());
    const strata::error& e = r.error();
    CHECK(e.is<strata::canceled>());
    CHECK(e.is_user_facing());  // asked for: never reported as a bug
    CHECK(e.message() == "3 of 4 tasks canceled");
    CHECK(e.misc().find("canceled_tasks")->as_signed() == 3);
    // Why is its secondary error "stopped because", not its cause.
    CHECK(e.inner().empty());
    const strata::error why = strata_test::stopped_because(e);
    REQUIRE(why);
    CHECK(why.message() == "the user pressed cancel");
    CHECK(why.misc().find("stop_reason")->as_string() == "user");
    CHECK(g.cause().message() == "the user pressed cancel");
}

TEST_CASE("a stopped group whose tasks all finish anyway succeeds", "[task_group]") {
    strata::task_group g;
    std::atomic<bool> started{false};
    std::atomic<bool> saw_stop{false};
    g.spawn([&](std::stop_token token) -> strata::result<void> {
        started = true;
        while (!token.stop_requested()) std::this_thread::yield();
        saw_stop = true;
        return {};  // finishes anyway
    });
    while (!started) std::this_thread::yield();
    g.stop();
    CHECK(g.wait().has_value());
    CHECK(saw_stop);
    CHECK(g.cause().message() == "stopped on request");
}

TEST_CASE("a task spawned after the group stopped never runs and counts as canceled by the group's cause",
          "[task_group]") {
    strata::task_group g;
    g.stop("shutting down");
    std::atomic<int> calls{0};
    for (int i = 0; i < 3; ++i)
        g.spawn([&](std::stop_token) -> strata::result<void> {
            ++calls;
            return {};
        });
    const strata::result<void> r = g.wait();
    CHECK(calls == 0);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().is<strata::canceled>());
    CHECK(msg(r.error()) == "3 of 3 tasks canceled");
    CHECK(misc_int(r.error(), "canceled_tasks") == 3);
    const strata::error why = strata_test::stopped_because(r.error());
    REQUIRE(why);
    CHECK(msg(why) == "shutting down");
}

TEST_CASE("tasks failing at the same moment: one failure, the rest counted, many times", "[task_group][race]") {
    for (int round = 0; round < 50; ++round) {
        strata::task_group g;
        std::atomic<int> ready{0};
        for (int i = 0; i < 4; ++i)
            g.spawn([&, i](std::stop_token) -> strata::result<int> {
                ++ready;
                while (ready < 4) std::this_thread::yield();
                return strata::make_error<strata::low_level>("task {} failed", i);
            });
        const strata::result<void> r = g.wait();
        REQUIRE_FALSE(r.has_value());
        REQUIRE(r.error().misc().find("later_failures").has_value());
        CHECK(r.error().misc().find("later_failures")->as_signed() == 3);
    }
}

TEST_CASE("a task can spawn more tasks into its own group, and wait() returns only after they have all run",
          "[task_group]") {
    std::atomic<int> ran{0};
    std::atomic<bool> first_returning{false};
    strata::task_group g;
    g.spawn([&](std::stop_token) -> strata::result<void> {
        std::this_thread::sleep_for(20ms);  // the test thread is in wait() by now
        for (int i = 0; i < 2; ++i)
            g.spawn([&](std::stop_token) -> strata::result<void> {
                // Still running after task 1 has returned.
                while (!first_returning.load()) std::this_thread::yield();
                std::this_thread::sleep_for(20ms);
                ++ran;
                return {};
            });
        ++ran;
        first_returning = true;
        return {};
    });
    const strata::result<void> r = g.wait();
    const int ran_when_wait_returned = ran.load();
    CHECK(r.has_value());
    CHECK(ran_when_wait_returned == 3);
}

TEST_CASE("a failure of a task spawned by a task spawned by a task is the group's failure", "[task_group]") {
    strata::error first_cause;
    strata::task_group g;
    g.spawn([&](std::stop_token token) -> strata::result<void> {  // task 1
        g.spawn([&](std::stop_token) -> strata::result<void> {     // task 2
            g.spawn([](std::stop_token) -> strata::result<void> {  // task 3
                return strata::make_error<strata::low_level>("grandchild failed");
            });
            return {};
        });
        wait_for_stop(token);  // only the grandchild's failure stops it
        first_cause = strata::stop_cause(token);
        return strata::canceled_by(token);
    });
    strata::result<void> r;
    {
        hang_guard guard(10s, [&] { g.stop("hang guard: nothing stopped task 1"); });
        r = g.wait();
    }
    REQUIRE_FALSE(r.has_value());
    const strata::error& e = r.error();
    CHECK(e.is<strata::low_level>());
    CHECK(msg(e) == "grandchild failed");
    CHECK(misc_int(e, "failed_task") == 3);
    CHECK_FALSE(e.misc().find("failed_task_name").has_value());  // it has none
    CHECK(misc_int(e, "canceled_tasks") == 1);
    CHECK_FALSE(e.misc().find("later_failures").has_value());
    REQUIRE(first_cause);
    CHECK(msg(first_cause) == "task 3 of the group failed");
    CHECK(first_cause.same_as(g.cause()));
}

TEST_CASE("a task that returns a canceled error although its token was never stopped is a real failure of the group",
          "[task_group]") {
    std::atomic<bool> stopped_when_returning{true};
    std::atomic<bool> second_started{false};
    strata::error sibling_cause;
    strata::task_group g;
    g.spawn([&](std::stop_token token) -> strata::result<void> {  // task 1
        while (!second_started) std::this_thread::yield();
        stopped_when_returning = token.stop_requested();
        return strata::make_error<strata::canceled>("gave up on its own");
    });
    g.spawn([&](std::stop_token token) -> strata::result<void> {  // task 2: stopped by task 1's failure
        second_started = true;
        wait_for_stop(token);
        sibling_cause = strata::stop_cause(token);
        return strata::canceled_by(token);
    });
    strata::result<void> r;
    {
        hang_guard guard(10s, [&] { g.stop("hang guard: nothing stopped task 2"); });
        r = g.wait();
    }
    CHECK_FALSE(stopped_when_returning.load());
    REQUIRE_FALSE(r.has_value());
    const strata::error& e = r.error();
    CHECK(e.is<strata::canceled>());
    CHECK(msg(e) == "gave up on its own");
    CHECK(misc_int(e, "failed_task") == 1);
    CHECK(misc_int(e, "canceled_tasks") == 1);  // task 2, stopped as asked
    CHECK(msg(g.cause()) == "task 1 of the group failed");
    CHECK(misc_str(g.cause(), "stop_reason") == "failure");
    REQUIRE(sibling_cause);
    CHECK(sibling_cause.same_as(g.cause()));
}

TEST_CASE("a task that returns an inner group's 'N of M tasks canceled' while the outer group was not stopped "
          "fails the outer group",
          "[task_group][nesting]") {
    std::atomic<bool> outer_stopped_when_returning{true};
    strata::result<void> inner_result;
    strata::task_group g;
    g.spawn([&](std::stop_token token) -> strata::result<void> {
        strata::task_group inner;
        inner.spawn([](std::stop_token inner_token) -> strata::result<void> {
            wait_for_stop(inner_token);
            return strata::canceled_by(inner_token);
        });
        inner.stop("the task gave up on the inner work");
        inner_result = inner.wait();
        outer_stopped_when_returning = token.stop_requested();
        return inner_result;
    });
    const strata::result<void> r = g.wait();
    REQUIRE_FALSE(inner_result.has_value());
    CHECK(msg(inner_result.error()) == "1 of 1 tasks canceled");
    CHECK_FALSE(outer_stopped_when_returning.load());
    REQUIRE_FALSE(r.has_value());
    const strata::error& e = r.error();
    CHECK(e.is<strata::canceled>());
    CHECK(msg(e) == "1 of 1 tasks canceled");
    CHECK(e.inner().empty());
    CHECK(msg(strata_test::stopped_because(e)) == "the task gave up on the inner work");
    CHECK(misc_int(e, "failed_task") == 1);
    CHECK(misc_int(e, "canceled_tasks") == 1);  // the inner group's count, kept as it was
    CHECK(msg(g.cause()) == "task 1 of the group failed");
    CHECK(misc_str(g.cause(), "stop_reason") == "failure");
}

TEST_CASE("destroying a group without wait() stops its running tasks: 'task_group destroyed before its tasks finished'",
          "[task_group]") {
    std::atomic<bool> stopped{false};
    strata::error cause;
    {
        std::stop_source rescue;  // ends the task if the destructor does not (so a failure is not a hang)
        hang_guard guard(10s, [&] { rescue.request_stop(); });
        std::atomic<bool> started{false};
        strata::task_group g;
        g.spawn([&, rescue_token = rescue.get_token()](std::stop_token token) -> strata::result<void> {
            started = true;
            wait_for_either(token, rescue_token);
            stopped = token.stop_requested();
            cause = strata::stop_cause(token);
            return strata::canceled_by(token);
        });
        while (!started.load()) std::this_thread::yield();
    }  // no wait(): the destructor stops the task, then waits for it
    CHECK(stopped.load());
    REQUIRE(cause);
    CHECK(cause.is<strata::canceled>());
    CHECK(msg(cause) == "task_group destroyed before its tasks finished");
    CHECK(misc_str(cause, "stop_reason") == "destroyed");
}

TEST_CASE("a named task's failure names it in the group's cause, and failed_task gives its number", "[task_group]") {
    for (int failing = 1; failing <= 2; ++failing) {
        CAPTURE(failing);
        std::array<strata::error, 3> causes{};  // by task number, from 1
        std::atomic<bool> other_started{false};
        strata::task_group g;
        for (int k = 1; k <= 2; ++k) {
            if (k == failing)
                g.spawn("index-docs", [&other_started](std::stop_token) -> strata::result<void> {
                    while (!other_started) std::this_thread::yield();
                    return strata::make_error<strata::low_level>("index corrupt");
                });
            else
                g.spawn("other", [&causes, &other_started, k](std::stop_token token) -> strata::result<void> {
                    other_started = true;
                    wait_for_stop(token);
                    causes[static_cast<std::size_t>(k)] = strata::stop_cause(token);
                    return strata::canceled_by(token);
                });
        }
        const strata::result<void> r = g.wait();
        const strata::error cause = g.cause();
        REQUIRE(cause);
        CHECK(msg(cause) == "task " + std::to_string(failing) + " (index-docs) of the group failed");
        CHECK(misc_int(cause, "failed_task") == failing);
        CHECK(misc_str(cause, "stop_reason") == "failure");
        REQUIRE_FALSE(r.has_value());
        CHECK(msg(r.error()) == "index corrupt");
        CHECK(misc_int(r.error(), "failed_task") == failing);
        CHECK(misc_str(r.error(), "failed_task_name") == "index-docs");
        const int other = 3 - failing;
        CHECK(causes[static_cast<std::size_t>(other)].same_as(cause));
    }
}

TEST_CASE("a task stopped by its group's failure or stop makes its cancellation without a stack (the group drops it)",
          "[task_group][stack]") {
    const strata::capture_policy saved = strata::get_capture_policy();
    strata::set_capture_policy(strata::capture_policy::origin);
    for (const bool by_failure : {true, false}) {
        CAPTURE(by_failure);
        strata::error seen;
        std::atomic<bool> started{false};
        strata::task_group g;
        g.spawn([&](std::stop_token token) -> strata::result<void> {
            started = true;
            wait_for_stop(token);
            seen = strata::canceled_by(token);
            return seen;
        });
        while (!started) std::this_thread::yield();
        if (by_failure)
            g.spawn([](std::stop_token) -> strata::result<void> { return strata::make_error<strata::low_level>("boom"); });
        else
            g.stop("no longer needed");
        const strata::result<void> r = g.wait();
        REQUIRE_FALSE(r.has_value());
        REQUIRE(seen.is<strata::canceled>());
        CHECK(misc_str(strata_test::stopped_because(seen), "stop_reason") == (by_failure ? "failure" : "user"));
        CHECK(seen.stack().empty());
        // The failure itself keeps its stack.
        if (by_failure) CHECK_FALSE(r.error().stack().empty());
    }
    strata::set_capture_policy(saved);
}
