// Tests for <strata/task_group.hpp>. No test asserts on elapsed time: tasks that
// must be stopped wait for their token.
#include <catch2/catch.hpp>

#include "support.hpp"

#include <strata/task_group.hpp>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <set>
#include <stdexcept>
#include <stop_token>
#include <string>

using strata_test::wait_for_stop;

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
    std::atomic<bool> first_in{false};
    g.spawn([&](std::stop_token) -> strata::result<void> {
        first_in = true;
        return strata::make_error<strata::low_level>("first");
    });
    while (!first_in) std::this_thread::yield();
    g.spawn([&](std::stop_token token) -> strata::result<void> {
        wait_for_stop(token);  // already stopped by the first failure
        return strata::make_error<strata::low_level>("second, a real failure all the same");
    });
    g.spawn([](std::stop_token) -> strata::result<void> { throw std::runtime_error("third, thrown"); });
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
    CHECK(r.error().misc().find("later_failure_1").has_value());
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
    std::atomic<int> done{0};
    {
        strata::task_group g;
        for (int i = 0; i < 4; ++i)
            g.spawn([&](std::stop_token) -> strata::result<void> {
                std::this_thread::yield();
                ++done;
                return {};
            });
    }
    CHECK(done == 4);
}

TEST_CASE("stop() stops the tasks; their cancellations are not failures, and wait() says why", "[task_group]") {
    strata::task_group g;
    for (int i = 0; i < 3; ++i)
        g.spawn([](std::stop_token token) -> strata::result<void> {
            wait_for_stop(token);
            return strata::canceled_by(token);
        });
    g.spawn([](std::stop_token) -> strata::result<void> { return {}; });
    g.stop("the user pressed cancel");
    const strata::result<void> r = g.wait();
    REQUIRE_FALSE(r.has_value());
    const strata::error& e = r.error();
    CHECK(e.is<strata::canceled>());
    CHECK(e.is_user_facing());  // asked for: never reported as a bug
    CHECK(e.message() == "3 of 4 tasks canceled");
    CHECK(e.misc().find("canceled_tasks")->as_signed() == 3);
    REQUIRE(e.inner());
    CHECK(e.inner().message() == "the user pressed cancel");
    CHECK(e.inner().misc().find("stop_reason")->as_string() == "user");
    CHECK(g.cause().message() == "the user pressed cancel");
}

TEST_CASE("a stopped group whose tasks all finish anyway succeeds", "[task_group]") {
    strata::task_group g;
    g.stop();
    std::atomic<bool> started_stopped{false};
    g.spawn([&](std::stop_token token) -> strata::result<void> {
        started_stopped = token.stop_requested();  // a task spawned after stop() starts stopped
        return {};
    });
    CHECK(g.wait().has_value());
    CHECK(started_stopped);
    CHECK(g.cause().message() == "stopped on request");
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
