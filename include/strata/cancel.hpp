// strata/cancel.hpp: cancellation and timeouts that carry their causes as errors.
// The layers strata::canceled and strata::timed_out; with_timeout(), which runs a
// function with a stop token that fires at a deadline and turns a result that
// comes too late into a timed_out error; and first_of(), replicated requests.
#pragma once

#include <chrono>
#include <condition_variable>
#include <concepts>
#include <mutex>
#include <optional>
#include <stop_token>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "error.hpp"
#include "exception.hpp"
#include "format.hpp"
#include "location.hpp"
#include "result.hpp"

namespace strata {

// Work that stopped because it was asked to (by a parent, the user, or a faster
// replica). Asked-for cancellation is a known edge case, so the layer is
// user-facing; its inner error says why.
struct canceled {
    static constexpr std::string_view name = "canceled";
    static constexpr bool user_facing = true;
};

// Work that did not finish by its deadline. User-facing for the same reason.
struct timed_out {
    static constexpr std::string_view name = "timed_out";
    static constexpr bool user_facing = true;
};

namespace detail {

template <class F>
using task_result_t = std::remove_cvref_t<std::invoke_result_t<F&, std::stop_token>>;

template <class F>
concept stoppable_task = std::is_invocable_v<F&, std::stop_token> && is_result<task_result_t<F>>::value;

// Adds `other`'s chain to e as the misc entry <prefix><n> ("replica_2"), so that
// one error can carry failures that would otherwise be dropped. Out of memory the
// entry is dropped.
inline void attach_chain(error& e, std::string_view prefix, std::size_t n, const error& other) noexcept {
    fmt::memory_buffer key;
    fmt::memory_buffer chain;
#if STRATA_HAS_EXCEPTIONS
    try {
#endif
        put(key, prefix, n);
        write_chain(chain, other);
#if STRATA_HAS_EXCEPTIONS
    } catch (...) {
        return;
    }
#endif
    e.with(std::string_view(key.data(), key.size()), std::string_view(chain.data(), chain.size()));
}

inline long long to_ms(std::chrono::steady_clock::duration d) noexcept {
    return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

// Calls fn(token); an exception it throws becomes an error (never terminate).
template <class F>
task_result_t<F> call_task(F& fn, std::stop_token token) noexcept {
#if STRATA_HAS_EXCEPTIONS
    try {
        return fn(std::move(token));
    } catch (...) {
        return failure(from_exception());
    }
#else
    return fn(std::move(token));
#endif
}

}  // namespace detail

namespace detail {

// A timed_out frame over `inner` (adopted; may be null), made at the caller's
// call site with the caller's stack.
inline error timed_out_error(location where, const stack_buffer& stack, frame* inner, fmt::string_view text,
                             fmt::format_args args, long long timeout_ms, long long late_ms) noexcept {
    error e = access::adopt(new_frame(&layer_info_of<timed_out>, &oom_frame_of<timed_out>, where, text, args, inner,
                                      stack.n ? &stack : nullptr));
    e.with("timeout_ms", timeout_ms);
    if (late_ms >= 0) e.with("late_ms", late_ms);
    return e;
}

}  // namespace detail

// Runs fn(stop_token) on the calling thread, with a token that is stopped when
// `timeout` has passed, and returns fn's result. Returns when fn returns: nothing
// is left running, so fn may use the caller's locals. A result that comes after
// the deadline is stale: the call returns a timed_out error that names the call
// site, the timeout and how far past it fn ran (fn's own error, if it failed, is
// its inner cause). A timeout of zero or less fails at once, without calling fn.
// An exception thrown by fn becomes an error. Costs one watchdog thread per call.
template <class Rep, class Period, detail::stoppable_task F>
[[nodiscard]] detail::task_result_t<F> with_timeout(std::chrono::duration<Rep, Period> timeout, F&& fn,
                                                    location where = location::current()) noexcept {
    using clock = std::chrono::steady_clock;
    const auto limit = std::chrono::duration_cast<clock::duration>(timeout);
    const long long limit_ms = detail::to_ms(limit);
    detail::stack_buffer stack;
    if (get_capture_policy() != capture_policy::off) stack.capture();
    if (limit <= clock::duration::zero())
        return failure(detail::timed_out_error(where, stack, nullptr, "{}: timeout of {} ms is not positive",
                                               fmt::make_format_args(where.function_name(), limit_ms), limit_ms, -1));
    const auto deadline = clock::now() + limit;
    std::stop_source source;
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
    std::thread watchdog;
#if STRATA_HAS_EXCEPTIONS
    try {
#endif
        watchdog = std::thread([&] {
            std::unique_lock lock(m);
            if (!cv.wait_until(lock, deadline, [&] { return done; })) source.request_stop();
        });
#if STRATA_HAS_EXCEPTIONS
    } catch (...) {
        // No thread to be had: fn runs without a stop at the deadline; a late
        // result is still reported as one.
    }
#endif
    detail::task_result_t<F> r = detail::call_task(fn, source.get_token());
    {
        std::lock_guard lock(m);
        done = true;
    }
    cv.notify_one();
    if (watchdog.joinable()) watchdog.join();
    const auto finished = clock::now();
    if (finished <= deadline) return r;
    const long long late_ms = detail::to_ms(finished - deadline);
    if (r)
        return failure(detail::timed_out_error(where, stack, nullptr, "{}: no result within {} ms; it came {} ms late",
                                               fmt::make_format_args(where.function_name(), limit_ms, late_ms),
                                               limit_ms, late_ms));
    return failure(detail::timed_out_error(where, stack, detail::access::take(std::move(r).error()),
                                           "{}: no result within {} ms; it stopped {} ms late",
                                           fmt::make_format_args(where.function_name(), limit_ms, late_ms), limit_ms,
                                           late_ms));
}

// Replicated requests (the book's "first result wins"): runs every fn(stop_token)
// at once (the first on the calling thread, the others on threads of their own)
// and returns the first success; the others' tokens are stopped and their
// results, successes included, are dropped, so exactly one result is delivered.
// Returns once every replica has returned. When all fail, the result is the
// failure that came first, with misc entries `replica_failures` (how many failed)
// and `replica_<i>` (each other replica's chain). All replicas must return the
// same result type; first_of() with no replica does not compile.
template <detail::stoppable_task F, detail::stoppable_task... More>
    requires(std::is_same_v<detail::task_result_t<F>, detail::task_result_t<More>> && ...)
[[nodiscard]] detail::task_result_t<F> first_of(F&& first, More&&... more) {
    using R = detail::task_result_t<F>;
    constexpr std::size_t n = 1 + sizeof...(More);
    std::stop_source source;
    std::mutex m;
    std::optional<R> winner;
    std::vector<std::pair<std::size_t, error>> failures;  // in the order they came
    auto run = [&](std::size_t i, auto& fn) noexcept {
        R r = detail::call_task(fn, source.get_token());
        std::lock_guard lock(m);
        if (r) {
            if (!winner) {
                winner.emplace(std::move(r));
                source.request_stop();
            }
            return;  // a later success is a duplicate: never delivered
        }
#if STRATA_HAS_EXCEPTIONS
        try {
#endif
            failures.emplace_back(i, std::move(r).error());
#if STRATA_HAS_EXCEPTIONS
        } catch (...) {
        }
#endif
    };
    std::vector<std::thread> threads;
    threads.reserve(n - 1);
    std::size_t index = 1;
    auto start = [&](auto& fn) {
        const std::size_t i = index++;
#if STRATA_HAS_EXCEPTIONS
        try {
#endif
            threads.emplace_back([&run, &fn, i] { run(i, fn); });
#if STRATA_HAS_EXCEPTIONS
        } catch (...) {
            run(i, fn);  // no thread to be had: this replica runs here, in turn
        }
#endif
    };
    (start(more), ...);
    (void)start;  // unused with a single replica
    run(0, first);
    for (std::thread& t : threads) t.join();
    if (winner) return std::move(*winner);
    if (failures.empty()) return failure(make_error("first_of: every replica failed, and no failure could be kept"));
    error e = std::move(failures.front().second);
    e.with("replica_failures", static_cast<long long>(failures.size()));
    for (std::size_t k = 1; k < failures.size(); ++k) detail::attach_chain(e, "replica_", failures[k].first, failures[k].second);
    return failure(std::move(e));
}

}  // namespace strata
