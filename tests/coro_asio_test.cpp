// Tests for <strata/asio.hpp>: the coroutine API on Boost.Asio. No test asserts
// on elapsed time: a task that must be stopped awaits a timer that never
// expires by itself, and the stop (Asio's cancellation) is the only way out.
#include <catch2/catch.hpp>

#include "support.hpp"

#include <strata/asio.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

using strata_test::misc_int;
using strata_test::misc_str;
using strata_test::msg;
using strata_test::secondary;
using strata_test::stopped_because;

namespace net = boost::asio;
namespace sa = strata::asio;

namespace {

// Runs a coroutine on a fresh io_context (one thread: this one) to its end.
// With concurrency hint 1 (Asio's promise that one thread runs it) a group's
// tasks share the io_context's executor; with the default hint each task has a
// strand of its own.
template <class T>
T run(net::awaitable<T> a, int hint = BOOST_ASIO_CONCURRENCY_HINT_DEFAULT) {
    net::io_context io(hint);
    std::optional<T> out;
    std::exception_ptr ex;
    net::co_spawn(io, std::move(a), [&](std::exception_ptr e, T v) {
        ex = e;
        out.emplace(std::move(v));
    });
    io.run();
    if (ex) std::rethrow_exception(ex);
    return std::move(*out);
}

// Awaits until the coroutine is canceled (the timer never expires by itself):
// throws boost::system::system_error(operation_aborted) then.
net::awaitable<void> until_canceled() {
    net::steady_timer t(co_await net::this_coro::executor, net::steady_timer::time_point::max());
    co_await t.async_wait(net::use_awaitable);
}

net::awaitable<void> sleep(std::chrono::milliseconds d) {
    net::steady_timer t(co_await net::this_coro::executor, d);
    co_await t.async_wait(net::use_awaitable);
}

}  // namespace

TEST_CASE("coro: a group whose tasks all succeed succeeds", "[asio][task_group]") {
    std::atomic<int> ran{0};
    const strata::result<void> r = run([&]() -> net::awaitable<strata::result<void>> {
        sa::task_group g(co_await net::this_coro::executor);
        for (int i = 0; i < 5; ++i)
            g.spawn([&](std::stop_token) -> net::awaitable<strata::result<int>> {
                co_await sleep(1ms);
                ++ran;
                co_return 1;
            });
        co_return co_await g.wait();
    }());
    CHECK(r.has_value());
    CHECK(ran == 5);
}

TEST_CASE("coro: the first real failure wins, stops the others through Asio cancellation, and they are not failures",
          "[asio][task_group][causes]") {
    const int hint = GENERATE(BOOST_ASIO_CONCURRENCY_HINT_DEFAULT, 1);
    CAPTURE(hint);
    std::vector<strata::error> causes;
    std::vector<strata::error> canceled;
    const strata::result<void> r = run([&]() -> net::awaitable<strata::result<void>> {
        sa::task_group g(co_await net::this_coro::executor);
        for (int i = 0; i < 3; ++i)
            g.spawn([&](std::stop_token token) -> net::awaitable<strata::result<void>> {
                try {
                    co_await until_canceled();
                } catch (const boost::system::system_error&) {
                    causes.push_back(strata::stop_cause(token));
                    strata::error e = strata::canceled_by(token);
                    canceled.push_back(e);
                    co_return e;
                }
                co_return strata::make_error<strata::low_level>("not reached");
            });
        g.spawn("loader", [](std::stop_token) -> net::awaitable<strata::result<void>> {
            co_await sleep(1ms);
            co_return strata::make_error<strata::low_level>("boom");
        });
        co_return co_await g.wait();
    }(), hint);
    REQUIRE_FALSE(r.has_value());
    CHECK(msg(r.error()) == "boom");
    CHECK(misc_int(r.error(), "failed_task") == 4);
    CHECK(misc_str(r.error(), "failed_task_name") == "loader");
    CHECK(misc_int(r.error(), "canceled_tasks") == 3);
    CHECK(misc_int(r.error(), "later_failures") == strata_test::missing);
    REQUIRE(causes.size() == 3);
    for (const strata::error& c : causes) {
        CHECK(msg(c) == "task 4 (loader) of the group failed");
        CHECK(c.is<strata::canceled>());
        CHECK(misc_str(c, "stop_reason") == "failure");
        CHECK(msg(c.inner()) == "boom");
    }
    for (const strata::error& e : canceled) CHECK(msg(stopped_because(e)) == "task 4 (loader) of the group failed");
}

TEST_CASE("coro: a task whose awaited operation is canceled by its stop is canceled, not failed",
          "[asio][task_group]") {
    const strata::result<void> r = run([&]() -> net::awaitable<strata::result<void>> {
        sa::task_group g(co_await net::this_coro::executor);
        for (int i = 0; i < 4; ++i)
            g.spawn([](std::stop_token) -> net::awaitable<strata::result<void>> {
                co_await until_canceled();  // the exception escapes
                co_return strata::result<void>();
            });
        g.spawn([](std::stop_token) -> net::awaitable<strata::result<void>> {
            co_return strata::make_error<strata::low_level>("boom");
        });
        co_return co_await g.wait();
    }());
    REQUIRE_FALSE(r.has_value());
    CHECK(msg(r.error()) == "boom");
    CHECK(misc_int(r.error(), "canceled_tasks") == 4);
}

TEST_CASE("coro: failures after the first are counted and kept as secondaries, exceptions become errors",
          "[asio][task_group]") {
    const strata::result<void> r = run([&]() -> net::awaitable<strata::result<void>> {
        sa::task_group g(co_await net::this_coro::executor);
        g.spawn([](std::stop_token) -> net::awaitable<strata::result<void>> {
            co_await sleep(1ms);  // the others are waiting by then
            co_return strata::make_error<strata::low_level>("first");
        });
        g.spawn([](std::stop_token) -> net::awaitable<strata::result<void>> {
            try {
                co_await until_canceled();
            } catch (const boost::system::system_error&) {
            }
            co_return strata::make_error<strata::low_level>("second, a real failure all the same");
        });
        g.spawn([](std::stop_token) -> net::awaitable<strata::result<void>> {
            try {
                co_await until_canceled();
            } catch (const boost::system::system_error&) {
            }
            throw std::runtime_error("third, thrown");
        });
        co_return co_await g.wait();
    }());
    REQUIRE_FALSE(r.has_value());
    CHECK(msg(r.error()) == "first");
    CHECK(misc_int(r.error(), "later_failures") == 2);
    const strata::secondary_view later = r.error().secondaries();
    REQUIRE(later.size() == 2);
    CHECK(later.label(0) == "later failure 1 of 2");
    CHECK(later.label(1) == "later failure 2 of 2");
    CHECK((msg(later[0]) == "third, thrown" || msg(later[1]) == "third, thrown"));
}

TEST_CASE("coro: stop() cancels the tasks with the user's reason, and wait() says how many", "[asio][task_group]") {
    std::vector<strata::error> causes;
    const strata::result<void> r = run([&]() -> net::awaitable<strata::result<void>> {
        sa::task_group g(co_await net::this_coro::executor);
        for (int i = 0; i < 3; ++i)
            g.spawn([&](std::stop_token token) -> net::awaitable<strata::result<void>> {
                try {
                    co_await until_canceled();
                } catch (const boost::system::system_error&) {
                    causes.push_back(strata::stop_cause(token));
                }
                co_return strata::canceled_by(token);
            });
        co_await sleep(1ms);
        g.stop("the operator said so");
        co_return co_await g.wait();
    }());
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().is<strata::canceled>());
    CHECK(msg(r.error()) == "3 of 3 tasks canceled");
    CHECK(misc_int(r.error(), "canceled_tasks") == 3);
    CHECK(msg(stopped_because(r.error())) == "the operator said so");
    REQUIRE(causes.size() == 3);
    for (const strata::error& c : causes) CHECK(misc_str(c, "stop_reason") == "user");
}

TEST_CASE("coro: tasks spawned after the group stopped are counted canceled without running", "[asio][task_group]") {
    std::atomic<int> ran{0};
    const strata::result<void> r = run([&]() -> net::awaitable<strata::result<void>> {
        sa::task_group g(co_await net::this_coro::executor);
        g.stop();
        for (int i = 0; i < 5; ++i)
            g.spawn([&](std::stop_token) -> net::awaitable<strata::result<void>> {
                ++ran;
                co_return strata::result<void>();
            });
        co_return co_await g.wait();
    }());
    CHECK(ran == 0);
    REQUIRE_FALSE(r.has_value());
    CHECK(misc_int(r.error(), "canceled_tasks") == 5);
}

TEST_CASE("coro: a group made in a task with its task_context is stopped with it: 'parent canceled'",
          "[asio][task_group][nesting][causes]") {
    std::optional<strata::error> inner_cause;
    const strata::result<void> r = run([&]() -> net::awaitable<strata::result<void>> {
        sa::task_group g(co_await net::this_coro::executor);
        g.spawn([&](sa::task_context& ctx) -> net::awaitable<strata::result<void>> {
            sa::task_group inner(ctx);
            inner.spawn([&](std::stop_token token) -> net::awaitable<strata::result<void>> {
                try {
                    co_await until_canceled();
                } catch (const boost::system::system_error&) {
                    inner_cause = strata::stop_cause(token);
                }
                co_return strata::canceled_by(token);
            });
            co_return co_await inner.wait();
        });
        g.spawn([](std::stop_token) -> net::awaitable<strata::result<void>> {
            co_await sleep(1ms);
            co_return strata::make_error<strata::low_level>("boom");
        });
        co_return co_await g.wait();
    }());
    REQUIRE_FALSE(r.has_value());
    CHECK(msg(r.error()) == "boom");
    REQUIRE(inner_cause.has_value());
    CHECK(msg(*inner_cause) == "parent canceled");
    CHECK(misc_str(*inner_cause, "stop_reason") == "parent");
    CHECK(msg(inner_cause->inner()) == "task 2 of the group failed");
    // The inner group's "1 of 1 tasks canceled" is the outer task's
    // cancellation, not a second failure.
    CHECK(misc_int(r.error(), "canceled_tasks") == 1);
}

TEST_CASE("coro: a nested with_timeout is canceled with its awaiting task: 'parent canceled' over the group's cause",
          "[asio][timeout][nesting][causes]") {
    std::optional<strata::error> fn_cause;
    const strata::result<void> r = run([&]() -> net::awaitable<strata::result<void>> {
        sa::task_group g(co_await net::this_coro::executor);
        g.spawn([&](std::stop_token) -> net::awaitable<strata::result<void>> {
            auto fn = [&](std::stop_token token) -> net::awaitable<strata::result<void>> {
                try {
                    co_await until_canceled();
                } catch (const boost::system::system_error&) {
                    fn_cause = strata::stop_cause(token);
                }
                co_return strata::canceled_by(token);
            };
            strata::result<void> r = co_await sa::with_timeout(1h, fn);
            co_return r;
        });
        g.spawn([](std::stop_token) -> net::awaitable<strata::result<void>> {
            co_await sleep(1ms);
            co_return strata::make_error<strata::low_level>("boom");
        });
        co_return co_await g.wait();
    }());
    REQUIRE_FALSE(r.has_value());
    CHECK(msg(r.error()) == "boom");
    REQUIRE(fn_cause.has_value());
    CHECK(msg(*fn_cause) == "parent canceled");
    CHECK(msg(fn_cause->inner()) == "task 2 of the group failed");
}

TEST_CASE("coro: a group never runs more tasks at once than max_running, and spawn() does not wait",
          "[asio][task_group]") {
    std::atomic<int> running{0};
    std::atomic<int> most{0};
    std::atomic<int> ran{0};
    const strata::result<void> r = run([&]() -> net::awaitable<strata::result<void>> {
        strata::task_group_options options;
        options.max_running = 3;
        sa::task_group g(co_await net::this_coro::executor, options);
        for (int i = 0; i < 40; ++i)
            g.spawn([&](std::stop_token) -> net::awaitable<strata::result<void>> {
                const int now = ++running;
                int seen = most;
                while (now > seen && !most.compare_exchange_weak(seen, now)) {
                }
                co_await sleep(1ms);
                --running;
                ++ran;
                co_return strata::result<void>();
            });
        co_return co_await g.wait();
    }());
    CHECK(r.has_value());
    CHECK(ran == 40);
    CHECK(most <= 3);
    CHECK(most >= 1);
}

// The queued tasks a failure cancels free their slots: with max_running 1, the
// failing task's slot goes to task 2, canceled without running, and then to
// task 3 (a slot counted twice there once left task 3 queued and wait() hung).
TEST_CASE("coro: queued tasks canceled by a failure free their slots, and wait() returns", "[asio][task_group]") {
    net::io_context io;
    std::optional<strata::result<void>> out;
    std::atomic<int> ran{0};
    // Named: the coroutine reads its captures after co_spawn returns (a
    // temporary lambda would be gone by then).
    auto body = [&]() -> net::awaitable<strata::result<void>> {
            strata::task_group_options options;
            options.max_running = 1;
            sa::task_group g(co_await net::this_coro::executor, options);
            g.spawn([](std::stop_token) -> net::awaitable<strata::result<void>> {
                co_await sleep(1ms);
                co_return strata::make_error<strata::low_level>("boom");
            });
            for (int i = 0; i < 3; ++i)
                g.spawn([&](std::stop_token) -> net::awaitable<strata::result<void>> {
                    ++ran;
                    co_return strata::result<void>();
                });
            co_return co_await g.wait();
        };
    net::co_spawn(io, body(), [&](std::exception_ptr, strata::result<void> r) { out.emplace(std::move(r)); });
    io.run_for(10s);  // the suspended wait() would keep the io_context busy for ever
    REQUIRE(out.has_value());
    REQUIRE_FALSE(out->has_value());
    CHECK(msg(out->error()) == "boom");
    CHECK(misc_int(out->error(), "canceled_tasks") == 3);
    CHECK(ran == 0);
}

TEST_CASE("coro: run_all runs every task and reports every failure with its task", "[asio][task_group][run_all]") {
    std::atomic<int> ran{0};
    const strata::result<void> r = run([&]() -> net::awaitable<strata::result<void>> {
        strata::task_group_options options;
        options.policy = strata::failure_policy::run_all;
        sa::task_group g(co_await net::this_coro::executor, options);
        for (int i = 1; i <= 6; ++i) {
            const std::string name = i == 5 ? "index-docs" : "";
            g.spawn(name, [&, i](std::stop_token token) -> net::awaitable<strata::result<void>> {
                co_await sleep(std::chrono::milliseconds(i));
                ++ran;
                if (token.stop_requested()) co_return strata::make_error<strata::low_level>("stopped?");
                if (i % 2 == 1) co_return strata::make_error<strata::low_level>("item {} failed", i);
                co_return strata::result<void>();
            });
        }
        co_return co_await g.wait();
    }());
    CHECK(ran == 6);
    REQUIRE_FALSE(r.has_value());
    CHECK(msg(r.error()) == "item 1 failed");
    CHECK(misc_int(r.error(), "failed_tasks") == 3);
    CHECK(misc_int(r.error(), "failed_task") == 1);
    const strata::secondary_view all = r.error().secondaries();
    REQUIRE(all.size() == 2);
    CHECK(all.label(0) == "task 3 failed");
    CHECK(msg(all[0]) == "item 3 failed");
    CHECK(all.label(1) == "task 5 (index-docs) failed");
    CHECK(msg(all[1]) == "item 5 failed");
}

TEST_CASE("coro: STRATA_CO_TRY and STRATA_CO_TRY_ASSIGN work inside a task", "[asio][try]") {
    auto half = [](int x) -> net::awaitable<strata::result<int>> {
        if (x % 2) co_return strata::make_error<strata::low_level>("{} is odd", x);
        co_return x / 2;
    };
    auto quarter = [&](int x) -> net::awaitable<strata::result<int>> {
        STRATA_CO_TRY_ASSIGN(const int h, co_await half(x));
        const strata::result<int> q = co_await half(h);
        STRATA_CO_TRY(q);
        co_return *q;
    };
    CHECK(*run(quarter(12)) == 3);
    const strata::result<int> bad = run(quarter(6));
    REQUIRE_FALSE(bad.has_value());
    CHECK(msg(bad.error()) == "3 is odd");
    const strata::result<void> r = run([&]() -> net::awaitable<strata::result<void>> {
        sa::task_group g(co_await net::this_coro::executor);
        g.spawn([&](std::stop_token) -> net::awaitable<strata::result<void>> {
            STRATA_CO_TRY_ASSIGN(auto q, co_await quarter(10));
            co_return strata::make_error<strata::low_level>("not reached {}", q);
        });
        co_return co_await g.wait();
    }());
    REQUIRE_FALSE(r.has_value());
    CHECK(msg(r.error()) == "5 is odd");
}

TEST_CASE("coro: with_timeout returns fn's result when it comes in time", "[asio][timeout]") {
    const strata::result<int> r = run(sa::with_timeout(1h, [](std::stop_token) -> net::awaitable<strata::result<int>> {
        co_await sleep(1ms);
        co_return 42;
    }));
    REQUIRE(r.has_value());
    CHECK(*r == 42);
}

TEST_CASE("coro: with_timeout cancels the Asio timer fn awaits at the deadline: 'no result within', the cause named",
          "[asio][timeout][causes]") {
    std::optional<strata::error> cause;
    strata::timeout_options options;
    options.operation = "fetch the report";
    const strata::result<int> r =
        run(sa::with_timeout(10ms, options, [&](std::stop_token token) -> net::awaitable<strata::result<int>> {
            try {
                co_await until_canceled();
            } catch (const boost::system::system_error&) {
                cause = strata::stop_cause(token);
            }
            co_return strata::canceled_by(token);
        }));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().is<strata::timed_out>());
    CHECK(msg(r.error()).rfind("fetch the report: no result within 10 ms; it stopped ", 0) == 0);
    CHECK(misc_str(r.error(), "stop_reason") == "deadline");
    CHECK(misc_int(r.error(), "timeout_ms") == 10);
    CHECK(r.error().inner().is<strata::canceled>());
    REQUIRE(cause.has_value());
    CHECK(msg(*cause) == "fetch the report: deadline of 10 ms passed");
    CHECK(misc_str(*cause, "stop_reason") == "deadline");
}

TEST_CASE("coro: a with_timeout fn whose exception escapes at the deadline is canceled, then timed out",
          "[asio][timeout]") {
    const strata::result<int> r = run(sa::with_timeout(5ms, [](std::stop_token) -> net::awaitable<strata::result<int>> {
        co_await until_canceled();
        co_return 0;
    }));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().is<strata::timed_out>());
    CHECK(r.error().inner().is<strata::canceled>());
}

TEST_CASE("coro: a with_timeout result that comes after the deadline is stale: 'it came N ms late'",
          "[asio][timeout]") {
    const strata::result<int> r = run(sa::with_timeout(1ms, [](std::stop_token) -> net::awaitable<strata::result<int>> {
        // Blocks its thread, no Asio operation to cancel: returns well past the deadline.
        std::this_thread::sleep_for(20ms);
        co_return 7;
    }));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().is<strata::timed_out>());
    CHECK(msg(r.error()).find(": no result within 1 ms; it came ") != std::string::npos);
    CHECK(misc_str(r.error(), "stop_reason") == "deadline");
    CHECK(misc_int(r.error(), "late_ms") >= 0);
}

TEST_CASE("coro: first_of returns the first success, the loser is canceled 'lost to replica N'",
          "[asio][first_of][causes]") {
    std::optional<strata::error> loser_cause;
    const strata::result<int> r = run(sa::first_of(
        [&](std::stop_token token) -> net::awaitable<strata::result<int>> {
            try {
                co_await until_canceled();
            } catch (const boost::system::system_error&) {
                loser_cause = strata::stop_cause(token);
            }
            co_return strata::canceled_by(token);
        },
        [](std::stop_token) -> net::awaitable<strata::result<int>> {
            co_await sleep(1ms);
            co_return 2;
        }));
    REQUIRE(r.has_value());
    CHECK(*r == 2);
    REQUIRE(loser_cause.has_value());
    CHECK(msg(*loser_cause) == "lost to replica 2");
    CHECK(misc_str(*loser_cause, "stop_reason") == "lost_race");
}

TEST_CASE("coro: first_of delivers exactly one result when every replica succeeds at once, many times",
          "[asio][first_of]") {
    for (int round = 0; round < 50; ++round) {
        std::atomic<int> returned{0};
        const strata::result<int> r = run(sa::first_of(
            [&](std::stop_token) -> net::awaitable<strata::result<int>> {
                co_await net::post(net::use_awaitable);  // all started; a post is not canceled
                ++returned;
                co_return 1;
            },
            [&](std::stop_token) -> net::awaitable<strata::result<int>> {
                co_await net::post(net::use_awaitable);  // all started; a post is not canceled
                ++returned;
                co_return 2;
            },
            [&](std::stop_token) -> net::awaitable<strata::result<int>> {
                co_await net::post(net::use_awaitable);  // all started; a post is not canceled
                ++returned;
                co_return 3;
            }));
        REQUIRE(r.has_value());
        CHECK((*r >= 1 && *r <= 3));
        // A replica that had not started when another won is not run at all.
        CHECK(returned >= 1);
    }
}

TEST_CASE("coro: first_of when every replica fails: the first failure, the others as 'replica N failed'",
          "[asio][first_of]") {
    const strata::result<int> r = run(sa::first_of(
        [](std::stop_token) -> net::awaitable<strata::result<int>> {
            co_await sleep(2ms);
            co_return strata::make_error<strata::low_level>("one");
        },
        [](std::stop_token) -> net::awaitable<strata::result<int>> {
            co_return strata::make_error<strata::low_level>("two");
        },
        [](std::stop_token) -> net::awaitable<strata::result<int>> {
            co_await sleep(1ms);
            throw std::runtime_error("three");
        }));
    REQUIRE_FALSE(r.has_value());
    CHECK(msg(r.error()) == "two");
    CHECK(misc_int(r.error(), "replica") == 2);
    CHECK(misc_int(r.error(), "replica_failures") == 3);
    CHECK(msg(secondary(r.error(), "replica 1 failed")) == "one");
    CHECK(msg(secondary(r.error(), "replica 3 failed")) == "three");
}

TEST_CASE("coro: a group's task that never beats is stopped as stalled, and that is the group's failure",
          "[asio][heartbeat][task_group]") {
    std::optional<strata::error> cause;
    const strata::result<void> r = run([&]() -> net::awaitable<strata::result<void>> {
        strata::task_group_options options;
        options.heartbeat = 20ms;
        sa::task_group g(co_await net::this_coro::executor, options);
        g.spawn("silent", [&](sa::task_context& ctx) -> net::awaitable<strata::result<void>> {
            try {
                co_await until_canceled();
            } catch (const boost::system::system_error&) {
                cause = strata::stop_cause(ctx.token());
            }
            co_return strata::canceled_by(ctx.token());
        });
        co_return co_await g.wait();
    }());
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().is<strata::timed_out>());
    CHECK(msg(r.error()).rfind("task 1 (silent): stalled: no heartbeat for ", 0) == 0);
    CHECK(misc_str(r.error(), "stop_reason") == "heartbeat");
    CHECK(misc_int(r.error(), "canceled_tasks") == strata_test::missing);  // its own stop is not counted again
    REQUIRE(cause.has_value());
    CHECK(misc_str(*cause, "stop_reason") == "heartbeat");
}

TEST_CASE("coro: tasks that beat steadily on an executor blocked for several heartbeats are not stalled",
          "[asio][heartbeat][task_group]") {
    const strata::result<void> r = run([&]() -> net::awaitable<strata::result<void>> {
        strata::task_group_options options;
        options.heartbeat = 20ms;
        auto ex = co_await net::this_coro::executor;
        sa::task_group g(ex, options);
        for (int i = 0; i < 20; ++i)
            g.spawn([](sa::task_context& ctx) -> net::awaitable<strata::result<void>> {
                for (int beat = 0; beat < 60; ++beat) {
                    ctx.beat();
                    co_await sleep(1ms);
                }
                co_return strata::result<void>();
            });
        // The executor's only thread is busy for 3 heartbeats, twice: every
        // task misses beats, none is stalled.
        for (int i = 0; i < 2; ++i) {
            co_await sleep(5ms);
            std::this_thread::sleep_for(60ms);
        }
        co_return co_await g.wait();
    }());
    CHECK(r.has_value());
}

TEST_CASE("coro: 10 000 coroutines alive at once in one group on one io_context", "[asio][task_group][scale]") {
    constexpr int n = 10000;
    std::atomic<int> alive{0};
    std::atomic<int> most{0};
    const strata::result<void> r = run([&]() -> net::awaitable<strata::result<void>> {
        sa::task_group g(co_await net::this_coro::executor);
        for (int i = 0; i < n; ++i)
            g.spawn([&](std::stop_token token) -> net::awaitable<strata::result<void>> {
                const int now = ++alive;
                int seen = most;
                while (now > seen && !most.compare_exchange_weak(seen, now)) {
                }
                if (now == n) g.stop("all alive");
                try {
                    co_await until_canceled();
                } catch (const boost::system::system_error&) {
                }
                --alive;
                co_return strata::canceled_by(token);
            });
        co_return co_await g.wait();
    }());
    CHECK(most == n);
    CHECK(alive == 0);
    REQUIRE_FALSE(r.has_value());
    CHECK(misc_int(r.error(), "canceled_tasks") == n);
}

TEST_CASE("coro: a group, with_timeout and first_of on a thread pool of 2 (run under TSan)", "[asio][threads]") {
    net::thread_pool pool(2);
    std::promise<strata::result<void>> p;
    std::atomic<int> done{0};
    auto body = [&]() -> net::awaitable<strata::result<void>> {
        strata::task_group_options options;
        options.max_running = 50;
        options.heartbeat = 1s;
        sa::task_group g(co_await net::this_coro::executor, options);
        for (int i = 0; i < 400; ++i)
            g.spawn([&, i](sa::task_context& ctx) -> net::awaitable<strata::result<void>> {
                ctx.beat();
                const strata::result<int> a = co_await sa::with_timeout(
                    1h, [](std::stop_token) -> net::awaitable<strata::result<int>> {
                        co_await sleep(1ms);
                        co_return 1;
                    });
                STRATA_CO_TRY(a);
                const strata::result<int> b = co_await sa::first_of(
                    [](std::stop_token) -> net::awaitable<strata::result<int>> {
                        co_await until_canceled();
                        co_return 0;
                    },
                    [](std::stop_token) -> net::awaitable<strata::result<int>> { co_return 2; });
                STRATA_CO_TRY(b);
                ++done;
                if (i == 300) co_return strata::make_error<strata::low_level>("task {} failed", i + 1);
                co_return strata::result<void>();
            });
        co_return co_await g.wait();
    };
    net::co_spawn(pool, body(), [&](std::exception_ptr, strata::result<void> r) { p.set_value(std::move(r)); });
    const strata::result<void> r = p.get_future().get();
    pool.join();
    REQUIRE_FALSE(r.has_value());
    CHECK(msg(r.error()) == "task 301 failed");
    CHECK(misc_int(r.error(), "failed_task") == 301);
    CHECK(done >= 301);
}

TEST_CASE("coro: a silent task whose executor is kept busy for many heartbeats is reported starved, not stalled",
          "[asio][heartbeat][task_group]") {
    const strata::result<void> r = run([&]() -> net::awaitable<strata::result<void>> {
        strata::task_group_options options;
        options.heartbeat = 10ms;
        sa::task_group g(co_await net::this_coro::executor, options);
        g.spawn("waiting", [](sa::task_context& ctx) -> net::awaitable<strata::result<void>> {
            try {
                co_await until_canceled();
            } catch (const boost::system::system_error&) {
            }
            co_return strata::canceled_by(ctx.token());
        });
        // Holds the only thread for 3 heartbeats at a time, yielding between:
        // every check of the group runs more than a heartbeat late.
        g.spawn("hog", [](sa::task_context& ctx) -> net::awaitable<strata::result<void>> {
            for (int i = 0; i < 1000 && !ctx.stop_requested(); ++i) {
                std::this_thread::sleep_for(30ms);
                ctx.beat();
                co_await net::post(net::use_awaitable);
            }
            co_return strata::canceled_by(ctx.token());
        });
        co_return co_await g.wait();
    }());
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().is<strata::timed_out>());
    CHECK(misc_str(r.error(), "stop_reason") == "starved");
    CHECK(msg(r.error()).rfind("task 1 (waiting): starved: no heartbeat for ", 0) == 0);
}

TEST_CASE("coro: a group given a strand runs every task on it", "[asio][task_group]") {
    net::io_context io;
    std::atomic<int> ran{0};
    std::optional<strata::result<void>> out;
    net::co_spawn(
        io,
        [&]() -> net::awaitable<strata::result<void>> {
            sa::task_group g(net::make_strand(io));
            for (int i = 0; i < 100; ++i)
                g.spawn([&](sa::task_context& ctx) -> net::awaitable<strata::result<void>> {
                    CHECK(ctx.executor() == g.executor());
                    co_await sleep(1ms);
                    ++ran;
                    co_return strata::result<void>();
                });
            strata::result<void> r = co_await g.wait();
            co_return r;
        },
        [&](std::exception_ptr, strata::result<void> r) { out.emplace(std::move(r)); });
    io.run();
    REQUIRE(out.has_value());
    CHECK(out->has_value());
    CHECK(ran == 100);
}

// ---- Many tasks at once: started in batches, in spawn order -------------------

TEST_CASE("coro: tasks spawned at once start in spawn order, in batches, with the executor's other work between them",
          "[asio][task_group][scale]") {
    const int hint = GENERATE(BOOST_ASIO_CONCURRENCY_HINT_DEFAULT, 1);
    CAPTURE(hint);
    constexpr int n = 20000;
    std::vector<int> order;  // one thread runs the io_context: no lock
    order.reserve(n);
    int alive = 0, most = 0;
    int started_before_other_work = -1;
    const strata::result<void> r = run([&]() -> net::awaitable<strata::result<void>> {
        sa::task_group g(co_await net::this_coro::executor);
        const net::any_io_executor ex = co_await net::this_coro::executor;
        for (int i = 0; i < n; ++i)
            g.spawn([&, i, ex](std::stop_token) -> net::awaitable<strata::result<void>> {
                order.push_back(i);
                // Other work of the executor, posted by the first task: it runs
                // long before the last task starts.
                if (i == 0) net::post(ex, [&] { started_before_other_work = static_cast<int>(order.size()); });
                most = std::max(most, ++alive);
                co_await net::post(ex, net::use_awaitable);  // one turn of the executor
                --alive;
                co_return strata::result<void>{};
            });
        co_return co_await g.wait();
    }(), hint);
    REQUIRE(r.has_value());
    REQUIRE(order.size() == static_cast<std::size_t>(n));
    CHECK(std::is_sorted(order.begin(), order.end()));
    INFO("tasks started before the posted handler ran: " << started_before_other_work);
    CHECK(started_before_other_work > 0);
    CHECK(started_before_other_work <= 4 * static_cast<int>(strata::asio::detail::start_batch));
    // Not all alive at once: a task made (scope, strand, coroutine) only when it
    // starts, and the early ones finish before the late ones start.
    INFO("most alive at once: " << most);
    CHECK(most <= 4 * static_cast<int>(strata::asio::detail::start_batch));
}

TEST_CASE("coro: a failure early in a long queue cancels the rest without starting them", "[asio][task_group][scale]") {
    const int hint = GENERATE(BOOST_ASIO_CONCURRENCY_HINT_DEFAULT, 1);
    CAPTURE(hint);
    constexpr int n = 20000;
    int started = 0;
    const strata::result<void> r = run([&]() -> net::awaitable<strata::result<void>> {
        sa::task_group g(co_await net::this_coro::executor);
        g.spawn("first", [&](std::stop_token) -> net::awaitable<strata::result<void>> {
            ++started;
            co_return strata::make_error<strata::low_level>("the first task failed");
        });
        for (int i = 1; i < n; ++i)
            g.spawn([&](std::stop_token token) -> net::awaitable<strata::result<void>> {
                ++started;
                try {
                    co_await until_canceled();
                } catch (const boost::system::system_error&) {
                }
                co_return strata::canceled_by(token);
            });
        co_return co_await g.wait();
    }(), hint);
    REQUIRE_FALSE(r.has_value());
    CHECK(msg(r.error()) == "the first task failed");
    CHECK(misc_int(r.error(), "failed_task") == 1);
    CHECK(misc_int(r.error(), "canceled_tasks") == n - 1);
    INFO("tasks started: " << started);
    CHECK(started <= 2 * static_cast<int>(strata::asio::detail::start_batch));
}

TEST_CASE("coro: tasks that finish without suspending, one at a time, do not start each other recursively",
          "[asio][task_group][scale]") {
    // Asio may run a co_spawn'ed coroutine inline (dispatch) up to its first
    // suspension: a task that ends there frees its slot while the previous
    // start is still on the stack. 50 000 of those nested would overflow it.
    const int hint = GENERATE(BOOST_ASIO_CONCURRENCY_HINT_DEFAULT, 1);
    CAPTURE(hint);
    constexpr int n = 50000;
    int ran = 0;
    const strata::result<void> r = run([&]() -> net::awaitable<strata::result<void>> {
        sa::task_group g(co_await net::this_coro::executor, strata::task_group_options{.max_running = 1});
        for (int i = 0; i < n; ++i)
            g.spawn([&](std::stop_token) -> net::awaitable<strata::result<void>> {
                ++ran;
                co_return strata::result<void>{};
            });
        co_return co_await g.wait();
    }(), hint);
    CHECK(r.has_value());
    CHECK(ran == n);
}

namespace {

// Two io_contexts made for one thread each, and a group over both.
struct two_contexts {
    net::io_context io[2]{net::io_context(1), net::io_context(1)};
    std::vector<net::any_io_executor> executors() { return {io[0].get_executor(), io[1].get_executor()}; }
    // Which of the two runs this thread: 0, 1, or -1.
    int here() {
        for (int i = 0; i < 2; ++i)
            if (io[i].get_executor().running_in_this_thread()) return i;
        return -1;
    }
    // Runs both, each on a thread of its own, until both are out of work.
    void run_both() {
        std::thread other([this] { io[1].run(); });
        io[0].run();
        other.join();
    }
};

// Awaits g.wait() on `io`, the result handed over through a promise.
std::future<strata::result<void>> wait_on(net::io_context& io, sa::task_group& g) {
    auto p = std::make_shared<std::promise<strata::result<void>>>();
    auto f = p->get_future();
    net::co_spawn(io, g.wait(), [p](std::exception_ptr, strata::result<void> r) { p->set_value(std::move(r)); });
    return f;
}

}  // namespace

TEST_CASE("coro: a group over several io_contexts runs each task on the context that started it, the first batch "
          "on the context that asked first",
          "[asio][task_group][contexts]") {
    two_contexts c;
    constexpr int n = 200;
    std::mutex m;
    std::vector<int> started_on(n, -1), resumed_on(n, -1);
    std::vector<bool> given_its_context(n, false);
    sa::task_group g(c.executors());
    for (int i = 0; i < n; ++i)
        g.spawn([&, i](sa::task_context& ctx) -> net::awaitable<strata::result<void>> {
            const int at = c.here();
            {
                const std::lock_guard lock(m);
                started_on[i] = at;
                given_its_context[i] = at >= 0 && ctx.executor() == c.executors()[static_cast<std::size_t>(at)];
            }
            co_await sleep(1ms);
            const std::lock_guard lock(m);
            resumed_on[i] = c.here();
            co_return strata::result<void>{};
        });
    // The second context's pump runs first: it takes the first batch.
    REQUIRE(c.io[1].poll_one() == 1);
    auto result = wait_on(c.io[0], g);
    c.run_both();
    const strata::result<void> r = result.get();
    CHECK(r.has_value());
    for (int i = 0; i < n; ++i) {
        CAPTURE(i);
        CHECK(started_on[i] >= 0);
        CHECK(resumed_on[i] == started_on[i]);
        CHECK(given_its_context[i]);
        if (i < static_cast<int>(strata::asio::detail::start_batch)) CHECK(started_on[i] == 1);
    }
}

TEST_CASE("coro: a failure on one context of a group stops its tasks on the other, with the cause",
          "[asio][task_group][contexts][causes]") {
    two_contexts c;
    sa::task_group g(c.executors());
    strata::error cause;
    int waiter_on = -1, failer_on = -1;
    g.spawn("waiter", [&](std::stop_token token) -> net::awaitable<strata::result<void>> {
        waiter_on = c.here();
        try {
            co_await until_canceled();
        } catch (const boost::system::system_error&) {
            cause = strata::stop_cause(token);
            co_return strata::canceled_by(token);
        }
        co_return strata::make_error<strata::low_level>("not reached");
    });
    // A spawn wakes one idle context, in turn: the first, then the second.
    REQUIRE(c.io[0].poll_one() == 1);  // the waiter starts on the first context
    g.spawn("failer", [&](std::stop_token) -> net::awaitable<strata::result<void>> {
        failer_on = c.here();
        co_await sleep(1ms);
        co_return strata::make_error<strata::low_level>("boom");
    });
    REQUIRE(c.io[1].poll_one() == 1);  // the failer on the second
    auto result = wait_on(c.io[0], g);
    c.run_both();
    const strata::result<void> r = result.get();
    CHECK(waiter_on == 0);
    CHECK(failer_on == 1);
    REQUIRE_FALSE(r.has_value());
    CHECK(msg(r.error()) == "boom");
    CHECK(misc_str(r.error(), "failed_task_name") == "failer");
    CHECK(misc_int(r.error(), "canceled_tasks") == 1);
    CHECK(msg(cause) == "task 2 (failer) of the group failed");
    CHECK(misc_str(cause, "stop_reason") == "failure");
}

TEST_CASE("coro: max_running holds across the contexts of a group, and a failure cancels the queue (run under TSan)",
          "[asio][task_group][contexts][threads]") {
    two_contexts c;
    std::atomic<int> alive{0}, most{0}, started{0};
    std::atomic<int> ran_on[2] = {0, 0};
    sa::task_group g(c.executors(), strata::task_group_options{.max_running = 8});
    constexpr int n = 20000;
    for (int i = 1; i <= n; ++i)
        g.spawn([&, i](std::stop_token) -> net::awaitable<strata::result<void>> {
            ++started;
            ++ran_on[c.here()];
            const int now = ++alive;
            int seen = most.load();
            while (now > seen && !most.compare_exchange_weak(seen, now)) {
            }
            co_await sleep(1ms);
            --alive;
            if (i == 300) co_return strata::make_error<strata::low_level>("task {} failed", i);
            co_return strata::result<void>{};
        });
    auto result = wait_on(c.io[0], g);
    c.run_both();
    const strata::result<void> r = result.get();
    REQUIRE_FALSE(r.has_value());
    CHECK(msg(r.error()) == "task 300 failed");
    CHECK(misc_int(r.error(), "failed_task") == 300);
    INFO("started " << started << ", most alive " << most << ", on the contexts " << ran_on[0] << " and "
                    << ran_on[1]);
    CHECK(most <= 8);
    // A freed slot goes to the contexts in turn: both run tasks, and end them.
    CHECK(ran_on[0] > 0);
    CHECK(ran_on[1] > 0);
    CHECK(started >= 300);
    CHECK(started < n);  // the queue behind the failure never ran
    CHECK(misc_int(r.error(), "canceled_tasks") >= n - started);
}

TEST_CASE("coro: a group given no executor, or an empty one, is a clear error", "[asio][task_group][contexts]") {
    CHECK_THROWS_WITH(sa::task_group(std::vector<net::any_io_executor>{}),
                      "strata::asio::task_group: no executor given");
    net::io_context io;
    CHECK_THROWS_WITH(sa::task_group(std::vector<net::any_io_executor>{io.get_executor(), net::any_io_executor()}),
                      "strata::asio::task_group: executor 2 of 2 is empty");
}

namespace {
struct no_default {
    explicit no_default(int v) : value(v) {}
    int value;
};
}  // namespace

TEST_CASE("coro: tasks whose value type has no default constructor run, fail and throw like the others",
          "[asio][task_group]") {
    // co_spawn hands a value over only with a default-constructed one beside an
    // exception: such tasks run inside a coroutine of strata's instead.
    int ran = 0;
    const strata::result<void> r = run([&]() -> net::awaitable<strata::result<void>> {
        sa::task_group g(co_await net::this_coro::executor);
        g.spawn([&](std::stop_token) -> net::awaitable<strata::result<no_default>> {
            co_await sleep(1ms);
            ++ran;
            co_return no_default(1);
        });
        g.spawn("thrower", [&](std::stop_token) -> net::awaitable<strata::result<no_default>> {
            co_await sleep(1ms);
            ++ran;
            throw std::runtime_error("escaped");
        });
        co_return co_await g.wait();
    }());
    CHECK(ran == 2);
    REQUIRE_FALSE(r.has_value());
    CHECK(misc_str(r.error(), "failed_task_name") == "thrower");
    CHECK(fmt::format("{}", r.error()).find("escaped") != std::string::npos);
}

TEST_CASE("coro: a group over several io_contexts whose second never runs: the first runs every task",
          "[asio][task_group][contexts]") {
    two_contexts c;
    int ran = 0;
    sa::task_group g(c.executors());
    for (int i = 0; i < 300; ++i)
        g.spawn([&](std::stop_token) -> net::awaitable<strata::result<void>> {
            co_await sleep(1ms);
            ++ran;  // one thread runs them all
            co_return strata::result<void>{};
        });
    auto result = wait_on(c.io[0], g);
    c.io[0].run();  // the second context's pump waits there, never run
    REQUIRE(result.wait_for(0s) == std::future_status::ready);
    CHECK(result.get().has_value());
    CHECK(ran == 300);
}

TEST_CASE("coro: over several io_contexts a silent task is stopped as stalled alone, and that is the group's failure",
          "[asio][task_group][contexts][heartbeat]") {
    two_contexts c;
    strata::task_group_options options;
    options.heartbeat = 20ms;
    sa::task_group g(c.executors(), options);
    std::optional<strata::error> silent_cause, beating_cause;
    g.spawn("silent", [&](sa::task_context& ctx) -> net::awaitable<strata::result<void>> {
        try {
            co_await until_canceled();
        } catch (const boost::system::system_error&) {
            silent_cause = strata::stop_cause(ctx.token());
        }
        co_return strata::canceled_by(ctx.token());
    });
    REQUIRE(c.io[0].poll_one() == 1);  // the silent task on the first context
    g.spawn("beating", [&](sa::task_context& ctx) -> net::awaitable<strata::result<void>> {
        for (;;) {
            ctx.beat();
            try {
                co_await sleep(1ms);
            } catch (const boost::system::system_error&) {
                beating_cause = strata::stop_cause(ctx.token());
                co_return strata::canceled_by(ctx.token());
            }
        }
    });
    REQUIRE(c.io[1].poll_one() == 1);  // the beating one on the second
    auto result = wait_on(c.io[0], g);
    c.run_both();
    const strata::result<void> r = result.get();
    REQUIRE_FALSE(r.has_value());
    CHECK(msg(r.error()).rfind("task 1 (silent): stalled: no heartbeat for ", 0) == 0);
    CHECK(misc_str(r.error(), "stop_reason") == "heartbeat");
    CHECK(misc_int(r.error(), "canceled_tasks") == 1);  // the beating one, stopped by the failure
    REQUIRE(silent_cause.has_value());
    CHECK(misc_str(*silent_cause, "stop_reason") == "heartbeat");
    REQUIRE(beating_cause.has_value());
    CHECK(msg(*beating_cause) == "task 1 (silent) of the group failed");
}
