// strata/asio.hpp: strata's concurrency (task_group, with_timeout, first_of,
// heartbeats) as coroutines on Boost.Asio. Optional: not included by
// strata.hpp; needs Boost.Asio 1.80 or later (per-operation cancellation of a
// coroutine's awaited operation).
//
// A task is any callable fn(std::stop_token) or fn(strata::asio::task_context&)
// returning boost::asio::awaitable<strata::result<T>>. It runs as a coroutine
// co_spawn'ed on one of the group's executors (on a strand of its own, unless
// the executor is a strand or an io_context(1)'s), never on a thread of its
// own. The error semantics are the thread API's (task_group.hpp, cancel.hpp):
// the first real failure wins and stops the others, later failures
// are counted and kept as secondary errors, cancellations are never failures,
// causes are named ("task 3 of the group failed", "lost to replica 2", a
// deadline, a missed heartbeat, the user, a parent).
//
// Cancellation: when a task's token is stopped, the Asio operation the
// coroutine is awaiting is canceled (cancellation_type::terminal, emitted on the
// task's strand). A task that then lets boost::system::system_error
// (operation_aborted) escape, while its token is stopped, is canceled (as if it
// returned strata::canceled_by(token)); any other exception becomes an error
// (strata::from_exception()).
//
// Heartbeats: coroutines interleave on one thread, so strata::beat() (which
// beats the strata task running on this thread) cannot name a coroutine. A task
// that must beat takes a strata::asio::task_context& and calls ctx.beat().
#pragma once

#include <boost/version.hpp>
#if BOOST_VERSION < 108000
#error "strata/asio.hpp needs Boost 1.80 or later: it cancels the operation a coroutine awaits (Boost.Asio's per-operation cancellation of awaitables); this Boost is older"
#endif

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "cancel.hpp"
#include "error.hpp"
#include "location.hpp"
#include "result.hpp"
#include "task_group.hpp"

namespace strata::asio {

// What a coroutine task may take instead of a std::stop_token: its token, its
// heartbeat, and its executor (a strand of its own). Lives as long as the task.
class task_context {
public:
    // Made by strata for each task, replica or with_timeout fn.
    task_context(strata::detail::scope& s, boost::asio::any_io_executor ex) noexcept
        : sc_(&s), ex_(std::move(ex)) {}
    task_context(const task_context&) = delete;
    task_context& operator=(const task_context&) = delete;

    // The task's token: stopped with a cause (strata::stop_cause(token)).
    std::stop_token token() const noexcept { return sc_->token(); }
    bool stop_requested() const noexcept { return sc_->stop_requested(); }
    // Why the task was stopped (empty while it has not been).
    error stop_cause() const noexcept { return sc_->stop_requested() ? sc_->cause() : error(); }
    // A heartbeat of this task, and of the strata tasks it runs inside of (a
    // group made with this context as its parent passes its tasks' beats up).
    void beat() const noexcept { sc_->beat(std::chrono::steady_clock::now()); }
    const boost::asio::any_io_executor& executor() const noexcept { return ex_; }

    strata::detail::scope& scope() const noexcept { return *sc_; }

private:
    strata::detail::scope* sc_;
    boost::asio::any_io_executor ex_;
};

namespace detail {

namespace net = ::boost::asio;
namespace sd = ::strata::detail;
using steady = std::chrono::steady_clock;

template <class A>
struct awaitable_result : std::false_type {};
template <class T>
struct awaitable_result<net::awaitable<result<T>, net::any_io_executor>> : std::true_type {
    using type = result<T>;
};

template <class F>
concept invocable_task = std::is_invocable_v<F&, task_context&> || std::is_invocable_v<F&, std::stop_token>;

template <class F>
struct call_type {
    using type = std::remove_cvref_t<std::invoke_result_t<F&, std::stop_token>>;
};
template <class F>
requires std::is_invocable_v<F&, task_context&>
struct call_type<F> {
    using type = std::remove_cvref_t<std::invoke_result_t<F&, task_context&>>;
};

template <class F>
concept coro_task_impl = invocable_task<F> && awaitable_result<typename call_type<F>::type>::value;

// The awaitable a task makes: fn(ctx) or fn(ctx.token()).
template <class F>
auto call(F& fn, task_context& ctx) {
    if constexpr (std::is_invocable_v<F&, task_context&>)
        return fn(ctx);
    else
        return fn(ctx.token());
}

// While a scope's stop cancels its coroutines (emit, on their strand), that
// scope: an operation of strata's canceled by that emission (a nested
// with_timeout, first_of or group wait()) takes its cause as the parent's.
// Emission is synchronous, so a thread-local is exact here.
inline thread_local const sd::scope* emitting = nullptr;
struct emitting_guard {
    const sd::scope* outer;
    explicit emitting_guard(const sd::scope& s) noexcept : outer(emitting) { emitting = &s; }
    ~emitting_guard() { emitting = outer; }
    emitting_guard(const emitting_guard&) = delete;
    emitting_guard& operator=(const emitting_guard&) = delete;
};

// "parent canceled" over the cause of the strata scope whose stop canceled the
// awaiting coroutine, or over a canceled error saying that an Asio cancellation
// (not strata's) did.
inline error parent_canceled(location where) noexcept {
    error why = emitting ? emitting->cause() : error();
    if (!why)
        why = sd::frame_at<canceled>(where, {}, nullptr, "the awaiting coroutine was canceled (an Asio cancellation)")
                  .with("stop_reason", sd::stop_reasons::asio);
    return sd::frame_at<canceled>(where, std::move(why), nullptr, "parent canceled")
        .with("stop_reason", sd::stop_reasons::parent);
}

// Whether `ex` is an io_context's executor (with any of its properties) whose
// io_context was made with concurrency hint 1: Asio's documented promise that
// one thread runs it.
template <unsigned... Bits>
bool on_one_thread_context(const net::any_io_executor& ex, std::integer_sequence<unsigned, Bits...>) noexcept {
    const net::io_context* ctx = nullptr;
    ((ctx = ctx ? ctx
                : (ex.target<net::io_context::basic_executor_type<std::allocator<void>, Bits>>()
                       ? &ex.target<net::io_context::basic_executor_type<std::allocator<void>, Bits>>()->context()
                       : nullptr)),
     ...);
    if (!ctx) return false;
    return net::use_service<net::detail::scheduler>(const_cast<net::io_context&>(*ctx)).concurrency_hint() == 1;
}

// An executor that runs one thing at a time: the coroutines of a task and the
// handler that cancels them must not run at once (cancellation signals are not
// thread-safe). A strand, unless `ex` already is one, or is the executor of an
// io_context made for one thread (`io_context(1)`): then a strand per task
// would only cost (two allocations and a lock per handler).
// Whether `ex` already runs one thing at a time (a strand, or an io_context(1)'s).
inline bool runs_one_at_a_time(const net::any_io_executor& ex) noexcept {
    return ex.target<net::strand<net::any_io_executor>>() || ex.target<net::strand<net::io_context::executor_type>>() ||
           on_one_thread_context(ex, std::make_integer_sequence<unsigned, 8>());
}
inline net::any_io_executor strand_of(const net::any_io_executor& ex) {
    return runs_one_at_a_time(ex) ? ex : net::make_strand(ex);
}

// A coroutine waiting for strata's work (a group's wait(), with_timeout,
// first_of): its completion handler, type-erased, completed once on the
// handler's own executor.
struct waiter_base {
    virtual ~waiter_base() = default;
    virtual void complete() noexcept = 0;
};
template <class H>
struct waiter final : waiter_base {
    explicit waiter(H&& h) : handler(std::move(h)) {}
    H handler;
    void complete() noexcept override {
        auto ex = net::get_associated_executor(handler);
        // A strata operation completes once; the handler's own cancellation
        // hook (ours) goes before it runs.
        net::post(ex, [h = std::move(handler)]() mutable {
            net::get_associated_cancellation_slot(h).clear();
            std::move(h)();
        });
    }
};

// A cancellation of the awaiting coroutine (its parent task stopped, or any
// Asio cancellation) stops `sc` with "parent canceled".
struct parent_hook {
    std::shared_ptr<void> keep;
    sd::scope* sc;
    location where;
    void operator()(net::cancellation_type_t type) const noexcept {
        if ((type & (net::cancellation_type::terminal | net::cancellation_type::partial |
                     net::cancellation_type::total)) != net::cancellation_type::none)
            sc->stop(parent_canceled(where));
    }
};

// Waits (co_await) until `done` says so; `store` keeps the waiter under the
// caller's lock. Initiation: see completion_of.
// Holds a plain pointer: the temporaries of a co_await expression must be
// trivial (g++ 12 destroys some of them twice).
template <class State>
struct wait_initiation {
    State* st;
    template <class H>
    void operator()(H&& h) const {
        auto slot = net::get_associated_cancellation_slot(h);
        if (slot.is_connected())
            slot.template emplace<parent_hook>(parent_hook{st->shared_from_this(), &st->sc, st->sc.where()});
        auto w = std::make_unique<waiter<std::decay_t<H>>>(std::forward<H>(h));
        std::unique_lock lock(st->m);
        if (st->finished_locked()) {
            lock.unlock();
            w->complete();
            return;
        }
        st->waiters.push_back(std::move(w));
    }
};

// Takes a plain pointer (the caller keeps the state alive), for the same reason.
template <class State>
net::awaitable<void> wait_for(State* st) {
    co_await net::async_initiate<const net::use_awaitable_t<>&, void()>(wait_initiation<State>{st}, net::use_awaitable);
}

// The completion handler of a coroutine strata co_spawns: keeps `owner` (which
// holds the coroutine's cancellation signal, in whose storage Asio keeps the
// coroutine's cancellation state) alive until the coroutine's thread is gone,
// by posting its release to the strand the coroutine ran on.
template <class Owner>
struct release_after {
    std::shared_ptr<Owner> owner;
    void operator()(std::exception_ptr) {
        net::any_io_executor ex = owner->ex;
        net::post(ex, [owner = std::move(owner)]() mutable { owner.reset(); });
    }
};

// An exception that escaped a coroutine of strata's, as an error: Asio's
// operation_aborted while `token` is stopped is a cancellation.
inline error error_of_exception(const std::stop_token& token, location where) noexcept {
    try {
        throw;
    } catch (const boost::system::system_error& x) {
        if (x.code() == net::error::operation_aborted && token.stop_requested()) {
            sd::stack_buffer stack;
            return sd::canceled_frame(token, where, "canceled", fmt::format_args(), stack);
        }
        return from_exception();
    } catch (...) {
        return from_exception();
    }
}

// A canceled error for work whose scope was stopped before it started: it is
// not run (its first Asio operation could not be canceled).
inline error canceled_unstarted(const sd::scope& sc, location where) noexcept {
    return sd::frame_at<canceled>(where, {}, nullptr, "canceled before it started")
        .with_secondary(sd::stopped_because_label, sc.cause());
}

// Runs replica i of a race (with_timeout's fn, a first_of replica) on the
// race's strand and hands its result (or the error an exception became) to
// done(result). Not run when the race stopped before it started.
template <class R, class State, class F, class Done>
net::awaitable<void> run_child(std::shared_ptr<State> st, std::size_t i, F& fn, location where, Done done) {
    st->started[i] = true;
    if (st->sc.stop_requested()) {
        done(R(failure(canceled_unstarted(st->sc, st->sc.where()))));
        co_return;
    }
    std::optional<R> r;
    try {
        // A local first: g++ 12 destroys some class-type temporaries of a full
        // expression that holds a co_await twice.
        R value = co_await call(fn, st->ctx);
        r.emplace(std::move(value));
    } catch (...) {
        r.emplace(failure(error_of_exception(st->ctx.token(), where)));
    }
    done(std::move(*r));
}

using sd::task_label;  // task_group.hpp's

// "could not start task N (name)" over the exception in flight (no memory for
// the task, its coroutine or a handler).
inline error could_not_start(long long index, std::string_view name) noexcept {
    char buf[128];
    return wrap(from_exception(), "could not start {}", task_label(index, name, buf));
}

// Consecutive heartbeat checks that ran more than a heartbeat late for this long
// (in heartbeats) make a silent task starved, not stalled.
inline constexpr int starved_heartbeats = 10;

struct group_core;
struct task_base;

// Who a task is, for the group's records: its number and name, and whether it
// was stopped (by its group, or by the heartbeat check).
struct task_id {
    long long index = 0;
    std::string_view name;
    bool stopped = false;
    bool by_monitor = false;
};

// A task spawned and not started yet: only what spawn() was given. A group may
// hold 100 000 of them; what a running task needs (scope, strand, signal,
// coroutine) is made when it starts, so a task that waits for its turn costs its
// function and about 100 bytes.
struct pending_task {
    pending_task(location where_, std::string_view name_) : where(where_), name(name_) {}
    virtual ~pending_task() = default;
    // The running task, the function moved into it. May throw (no memory).
    virtual std::shared_ptr<task_base> make(group_core& g, std::size_t lane) = 0;

    location where;
    std::string name;
    long long index = 0;
    std::unique_ptr<pending_task> next;  // the group's queue
};

// Tasks a group starts at a time, from one handler on its executor, before the
// executor's other work (timers, I/O, the tasks just started) has its turn: a
// group spawned 100 000 tasks at once starts them in this order, and the early
// ones can finish before the late ones begin.
inline constexpr std::size_t start_batch = 64;

// One task of a group: its scope, its strand, the signal that cancels its
// coroutine, its heartbeat check. One allocation with fn.
// Its scope (token, cause) is the group's, as in the thread API, unless the
// group requires beats: then a scope of its own that follows the group's, so
// that a task that misses a beat can be stopped alone.
struct task_base : std::enable_shared_from_this<task_base> {
    task_base(location where_, sd::scope& group, bool watched, std::string_view name_, net::any_io_executor ex_)
        : sc(scope_for(own, where_, group, watched)), where(where_), name(name_), ex(std::move(ex_)), ctx(sc, ex) {}
    virtual ~task_base() = default;
    virtual void start(const std::shared_ptr<group_core>& g) = 0;  // the caller holds the task

    // Posts the cancellation of the coroutine to its strand.
    struct canceller {
        task_base* t;
        void operator()() noexcept {
            std::shared_ptr<task_base> self = t->weak_from_this().lock();
            if (!self) return;
            try {
                net::post(self->ex, [self]() noexcept {
                    // Only while the coroutine runs: Asio's co_spawn throws out
                    // of the executor for a thread canceled before it started.
                    if (!self->started || self->done) return;
                    emitting_guard guard(self->sc);
                    self->signal.emit(net::cancellation_type::terminal);
                });
            } catch (...) {
                // No memory for the handler: the task sees its token, not its operation canceled.
            }
        }
    };

    static sd::scope& scope_for(std::optional<sd::scope>& own, location where, sd::scope& group, bool watched) {
        if (!watched) return group;
        own.emplace(where, &group, sd::scope::link::inherit);
        return *own;
    }

    // Declared in this order: scope_for() emplaces `own` while `sc` is bound.
    std::optional<sd::scope> own;  // with a heartbeat
    sd::scope& sc;                 // own, or the group's or its lane's (which outlive the task's run)
    location where;                // spawn()'s
    std::string name;
    net::any_io_executor ex;  // a strand
    task_context ctx;
    long long index = 0;
    std::size_t lane = 0;  // the group's executor it runs on
    net::cancellation_signal signal;
    bool started = false;  // on the strand
    bool done = false;     // on the strand
    std::optional<net::steady_timer> check;
    steady::time_point starved_since{};    // on the strand; epoch: not starved
    steady::time_point responsive_from{};  // on the strand: since when its checks ran on time
    steady::time_point last_seen{};        // on the strand: the last beat the previous check saw
    int graces = 0;                        // on the strand: late checks in a row without a beat
    std::optional<std::stop_callback<canceller>> on_stop;  // last: it may fire at once
};

// One of a group's executors: its tasks run there (on strands of it), started
// by its own pump.
struct lane {
    explicit lane(net::any_io_executor ex_) : ex(std::move(ex_)), one_at_a_time(runs_one_at_a_time(ex)) {}
    // What a task started here runs on: strand_of(ex), decided once per lane.
    net::any_io_executor task_executor() const { return one_at_a_time ? ex : net::make_strand(ex); }

    net::any_io_executor ex;
    bool one_at_a_time;
    bool pumping = false;     // a start_batch handler is posted to ex (under the group's m)
    std::size_t running = 0;  // its tasks started and not finished (under the group's m)
};

inline std::vector<lane> lanes_of(std::vector<net::any_io_executor> executors) {
    if (executors.empty()) throw std::invalid_argument("strata::asio::task_group: no executor given");
    std::vector<lane> out;
    out.reserve(executors.size());
    for (std::size_t i = 0; i < executors.size(); ++i) {
        if (!executors[i])
            throw std::invalid_argument(fmt::format("strata::asio::task_group: executor {} of {} is empty", i + 1,
                                                    executors.size()));
        out.emplace_back(std::move(executors[i]));
    }
    return out;
}

struct group_core : std::enable_shared_from_this<group_core> {
    group_core(std::vector<lane> lanes_, const task_group_options& options_, location where, sd::scope* parent)
        : lanes(std::move(lanes_)), options(options_),
          sc(where, parent, parent ? sd::scope::link::nest : sd::scope::link::none) {
        if (lanes.size() > 1)
            for (std::size_t i = 0; i < lanes.size(); ++i)
                lane_scopes.emplace_back(where, &sc, sd::scope::link::inherit);
    }
    group_core(const group_core&) = delete;
    group_core& operator=(const group_core&) = delete;
    ~group_core() {
        // The queue one task at a time: a chain of 100 000 unique_ptrs would
        // overflow the stack.
        while (queue_head) queue_head = std::move(queue_head->next);
        sd::drop_checked(sd::access::get(first));
        for (std::size_t i = 0; i < later_n; ++i) sd::drop_checked(sd::access::get(later[i]));
        for (auto& f : all) sd::drop_checked(sd::access::get(f.second));
    }

    static constexpr std::size_t attached_failures = 8;

    std::vector<lane> lanes;  // at least one; fixed
    task_group_options options;
    sd::scope sc;
    std::mutex m;
    std::size_t running = 0;     // started, not finished
    std::size_t unfinished = 0;  // spawned, not finished (queued or running)
    std::size_t next_lane = 0;   // where claim_idle_lane_locked() looks first
    long long spawned = 0;
    std::unique_ptr<pending_task> queue_head;  // spawned, not started, in spawn order
    pending_task* queue_tail = nullptr;
    error first;
    long long first_index = 0;
    std::string first_name;
    error later[attached_failures];
    std::size_t later_n = 0;
    long long later_count = 0;
    long long canceled_count = 0;
    long long failed_count = 0;
    std::vector<std::pair<std::string, error>> all;  // run_all: every later failure, labeled
    std::vector<std::unique_ptr<waiter_base>> waiters;
    // With several lanes, one scope per lane that follows sc (its cause as it
    // is): the tasks of a lane share it, so that their tokens and stop
    // callbacks touch a stop state their lane's thread owns, not one every
    // lane's thread writes. Declared after sc: they end first.
    std::deque<sd::scope> lane_scopes;

    // The scope a task started on lane `at` runs in (unless it has its own).
    sd::scope& scope_of_lane(std::size_t at) noexcept { return lane_scopes.empty() ? sc : lane_scopes[at]; }

    bool finished_locked() const noexcept { return unfinished == 0; }

    // Records a task's end. Under m; true when it was the first real failure
    // and the others must stop.
    bool record(const task_id& t, error e) noexcept {
        if (!e) return false;
        if (e.is<canceled>() && t.stopped) {
            ++canceled_count;
            return false;
        }
        ++failed_count;
        if (!first) {
            first = std::move(e);
            first_index = t.index;
            try {
                first_name = t.name;
            } catch (...) {
            }
            return options.policy == failure_policy::stop_others;
        }
        ++later_count;
        if (options.policy == failure_policy::run_all) {
            try {
                char buf[128];
                std::string label(task_label(t.index, t.name, buf));
                label += " failed";
                all.emplace_back(std::move(label), std::move(e));
                return false;
            } catch (...) {
                // Out of memory: counted only.
            }
        }
        if (later_n < attached_failures)
            later[later_n++] = std::move(e);
        else
            sd::drop_checked(sd::access::get(e));
        return false;
    }

    void stop_for(const task_id& t, const error& failure) noexcept {
        char buf[128];
        sc.stop(sd::frame_at<canceled>(sc.where(), failure, nullptr, "{} of the group failed",
                                       task_label(t.index, t.name, buf))
                    .with("stop_reason", sd::stop_reasons::failure)
                    .with("failed_task", t.index));
    }

    static task_id id_of(const task_base& t) noexcept;

    // A task whose run is over: frees its slot, wakes wait(), and posts the
    // pump that starts the queued tasks (or counts them canceled when the
    // group stopped). Posted, not started here: Asio may run a new coroutine
    // inline up to its first suspension, and a task that ends there would
    // start the next one inside this call, 100 000 deep.
    void finish(const std::shared_ptr<group_core>& self, task_base& t, error e) noexcept {
        std::vector<std::unique_ptr<pending_task>> canceled_now;
        const std::size_t pump_on = end(id_of(t), std::move(e), canceled_now, t.lane);
        start_all(self, canceled_now, t.lane);  // only tasks canceled by a stop: nothing runs
        if (pump_on != no_lane) post_pump_marked(self, pump_on);
    }

    // finish() but for starting: records the end (of a task that had its slot),
    // wakes wait() when it was the last, and, when the group stopped, adds the
    // next queued task (to be counted canceled) to `startable`.
    // `unstarted`: it never ran, canceled by the group's stop (counted here).
    // `at`: the lane whose slot it had. Returns the lane to give a pump
    // (claimed: post_pump_marked() it), or no_lane.
    std::size_t end(const task_id& t, error e, std::vector<std::unique_ptr<pending_task>>& startable, std::size_t at,
                    bool unstarted = false) noexcept {
        if (e && e.is<canceled>() && t.by_monitor) e = error();  // recorded when it was stopped
        bool stop_now = false;
        std::size_t pump_on = no_lane;
        error failure;
        std::vector<std::unique_ptr<waiter_base>> wake;
        {
            std::lock_guard lock(m);
            --running;
            --lanes[at].running;
            --unfinished;
            if (unstarted) ++canceled_count;
            stop_now = record(t, std::move(e));
            if (stop_now) failure = first;
            // A stopped group cancels its whole queue, one task after another in
            // start_all()'s loop. Otherwise the pump starts the queued tasks
            // (a finished task starting one more itself would also keep every
            // task the pump starts alive).
            if (sc.stop_requested())
                take_startable(startable, 1, at);
            else
                pump_on = claim_idle_lane_locked(at);
            if (unfinished == 0) wake.swap(waiters);
        }
        if (stop_now) stop_for(t, failure);
        for (auto& w : wake) w->complete();
        return pump_on;
    }

    // Under m: up to `limit` queued tasks that may start now on lane `at`
    // (each given a slot there).
    void take_startable(std::vector<std::unique_ptr<pending_task>>& out, std::size_t limit, std::size_t at) noexcept {
        for (std::size_t k = 0; k < limit && startable_locked(at); ++k) {
            std::unique_ptr<pending_task> t = std::move(queue_head);
            queue_head = std::move(t->next);
            if (!queue_head) queue_tail = nullptr;
            ++running;
            ++lanes[at].running;
            try {
                out.push_back(std::move(t));
            } catch (...) {
                --running;  // no memory: it goes back to the head of the queue
                --lanes[at].running;
                t->next = std::move(queue_head);
                queue_head = std::move(t);
                if (!queue_tail) queue_tail = queue_head.get();
                return;
            }
        }
    }

    // Starts `tasks` on lane `at`.
    void start_all(const std::shared_ptr<group_core>& self, std::vector<std::unique_ptr<pending_task>>& tasks,
                   std::size_t at) noexcept {
        // An index over a list that grows, not a recursion through finish(): a
        // stopped group cancels its whole queue here, one freed slot at a time
        // (a queue of 100 000 tasks would overflow the stack).
        for (std::size_t i = 0; i < tasks.size(); ++i) {
            std::unique_ptr<pending_task> p = std::move(tasks[i]);
            if (sc.stop_requested()) {
                // The group stopped while it waited: canceled by its cause, not
                // run, nothing made for it (counted: wait() reports the cause).
                // It frees the slot take_startable() gave it, which the next
                // queued task takes.
                end(task_id{p->index, p->name, true, false}, error(), tasks, at, true);  // stopped: no pump
                continue;
            }
            std::shared_ptr<task_base> t;
            try {
                t = p->make(*this, at);
            } catch (...) {
                const std::size_t pump_on =
                    end(task_id{p->index, p->name, false, false}, could_not_start(p->index, p->name), tasks, at);
                if (pump_on != no_lane) post_pump_marked(self, pump_on);
                continue;
            }
            p.reset();
            t->start(self);
        }
        tasks.clear();
    }

    // Starts up to start_batch queued tasks on lane `at`, and posts itself
    // again while more may start there; a posted handler, so that the
    // executor's other work runs between batches. Every lane pumps from the one
    // queue, in spawn order: a lane whose executor is busy takes fewer. A lane
    // that reached its share of max_running hands the pump to another.
    void pump(const std::shared_ptr<group_core>& self, std::size_t at) noexcept {
        std::vector<std::unique_ptr<pending_task>> now;
        for (;;) {
            bool more = false;
            std::size_t other = no_lane;
            {
                std::lock_guard lock(m);
                take_startable(now, start_batch, at);
                more = startable_locked(at);
                lanes[at].pumping = more;
                if (!more) other = claim_idle_lane_locked();
            }
            start_all(self, now, at);
            if (other != no_lane) post_pump_marked(self, other);
            if (!more || try_post_pump(self, at)) return;
            // No memory for the handler: this one goes on.
        }
    }

    // With max_running over several lanes, each lane runs at most its share
    // (rounded up), so that the tasks spread over the executors instead of
    // filling the first one's slots every time.
    std::size_t lane_share() const noexcept {
        return options.max_running == 0 ? static_cast<std::size_t>(-1)
                                        : (options.max_running + lanes.size() - 1) / lanes.size();
    }

    // Under m: a queued task may start (on lane `at`).
    bool startable_locked() const noexcept {
        return queue_head && (options.max_running == 0 || running < options.max_running);
    }
    bool startable_locked(std::size_t at) const noexcept {
        return startable_locked() && lanes[at].running < lane_share();
    }

    static constexpr std::size_t no_lane = static_cast<std::size_t>(-1);

    // Under m: when a queued task may start, a lane with no pump posted and
    // below its share, marked pumping: `prefer` if it is one (a finished
    // task's own lane: no wake-up of another thread), else the lanes in turn
    // (so that tasks spread over the executors); no_lane if none.
    std::size_t claim_idle_lane_locked(std::size_t prefer = no_lane) noexcept {
        if (!startable_locked()) return no_lane;
        if (prefer != no_lane && !lanes[prefer].pumping && startable_locked(prefer)) {
            lanes[prefer].pumping = true;
            return prefer;
        }
        for (std::size_t k = 0; k < lanes.size(); ++k) {
            const std::size_t at = (next_lane + k) % lanes.size();
            if (!lanes[at].pumping && startable_locked(at)) {
                lanes[at].pumping = true;
                next_lane = (at + 1) % lanes.size();
                return at;
            }
        }
        return no_lane;
    }

    // Posts the pump of lane `at`; false when there is no memory for it.
    bool try_post_pump(const std::shared_ptr<group_core>& self, std::size_t at) noexcept {
        try {
            net::post(lanes[at].ex, [self, at]() noexcept { self->pump(self, at); });
            return true;
        } catch (...) {
            return false;
        }
    }

    // Posts the pump of lane `at`, claimed (marked pumping under m) by the caller.
    void post_pump_marked(const std::shared_ptr<group_core>& self, std::size_t at) noexcept {
        if (!try_post_pump(self, at)) pump(self, at);  // no memory for the handler: start them here
    }

    // The heartbeat check of a task, on its strand, re-armed from its last beat.
    void arm_check(std::shared_ptr<group_core> self, std::shared_ptr<task_base> t, steady::time_point at) {
        t->check->expires_at(at);
        t->check->async_wait([self = std::move(self), t, at](const boost::system::error_code& ec) mutable {
            if (ec || t->done || t->sc.stop_requested()) return;
            self->on_check(self, std::move(t), at);
        });
    }

    void on_check(std::shared_ptr<group_core> self, std::shared_ptr<task_base> t, steady::time_point due) noexcept {
        const steady::duration every = options.heartbeat;
        const steady::time_point now = steady::now();
        const steady::duration late = now - due;
        const steady::time_point last = t->sc.last_beat();
        error e;
        if (late > every / 4) {
            // The executor ran this check late: it was busy, and the task may
            // not have had its turn either. Not stalled: the task gets a
            // heartbeat from now. Starved when the executor has been more than
            // a heartbeat late for starved_heartbeats heartbeats running.
            // A mildly late executor (at most a heartbeat) grants that grace
            // twice in a row at most while the task stays silent: then the task
            // had its turns, and is stalled.
            t->responsive_from = now;
            if (last != t->last_seen) t->graces = 0;
            t->last_seen = last;
            if (late <= every) {
                t->starved_since = steady::time_point{};
                if (++t->graces > 2 && now - last >= every) {
                    char buf[128];
                    e = sd::stalled_error(t->sc.where(), task_label(t->index, t->name, buf),
                                          sd::stall_of(t->sc, every, now, last));
                }
            } else if (t->starved_since == steady::time_point{}) {
                t->starved_since = due;
            }
            if (e) {
                // stalled, above
            } else if (t->starved_since != steady::time_point{} && now - t->starved_since >= starved_heartbeats * every &&
                       now - last >= every) {
                char buf[128];
                const std::string_view what = task_label(t->index, t->name, buf);
                e = sd::frame_at<timed_out>(t->sc.where(), {}, nullptr,
                                            "{}: starved: no heartbeat for {} ms (one is required every {} ms), "
                                            "and its executor ran the heartbeat check {} ms late: the executor "
                                            "is overloaded or blocked",
                                            what, sd::to_ms(now - last), sd::to_ms(every), sd::to_ms(late))
                        .with("stop_reason", sd::stop_reasons::starved)
                        .with("heartbeat_ms", sd::to_ms(every))
                        .with("silent_ms", sd::to_ms(now - last))
                        .with("late_ms", sd::to_ms(late));
            } else {
                rearm(self, t, (last > now ? last : now) + every);
                return;
            }
        } else {
            // The executor is responsive: a task silent for a heartbeat since it
            // last beat (or since the executor was last found late) is stalled.
            t->starved_since = steady::time_point{};
            const steady::time_point from = last > t->responsive_from ? last : t->responsive_from;
            if (now - from < every) {
                rearm(self, t, from + every);
                return;
            }
            char buf[128];
            e = sd::stalled_error(t->sc.where(), task_label(t->index, t->name, buf),
                                  sd::stall_of(t->sc, every, now, last));
        }
        if (t->sc.stop(e)) {
            bool stop_now = false;
            {
                std::lock_guard lock(m);
                stop_now = record(id_of(*t), e);
            }
            if (stop_now) stop_for(id_of(*t), e);
        }
    }

    void rearm(const std::shared_ptr<group_core>& self, const std::shared_ptr<task_base>& t,
               steady::time_point at) noexcept {
        try {
            arm_check(self, t, at);
        } catch (...) {
            // No memory for the timer's handler: the task is no longer watched.
        }
    }
};

template <class F>
struct task_impl final : task_base {
    template <class G>
    task_impl(location where_, sd::scope& group, bool watched, std::string_view name_, net::any_io_executor ex_,
              G&& fn_)
        : task_base(where_, group, watched, name_, std::move(ex_)), fn(std::forward<G>(fn_)) {}
    F fn;

    using R = typename awaitable_result<typename call_type<F>::type>::type;

    // What a task's run ends with: on its strand, inside its coroutine's thread.
    void complete(const std::shared_ptr<group_core>& g, error e) {
        done = true;
        if (check) check->cancel();
        g->finish(g, *this, std::move(e));
    }
    // The error of a run that threw `x` or returned *r.
    error error_of(std::exception_ptr x, R* r) {
        if (x) {
            try {
                std::rethrow_exception(x);
            } catch (...) {
                return error_of_exception(sc.token(), where);
            }
        }
        return *r ? error() : std::move(*r).error();
    }

    // The task's awaitable, made by co_spawn on the strand once the coroutine's
    // thread runs. Not a coroutine itself: a task costs Asio's entry frame and
    // the task's own, none of strata's.
    static net::awaitable<R> unstarted(error e) { co_return R(failure(std::move(e))); }
    net::awaitable<R> begin() {
        started = true;
        if (sc.stop_requested()) return unstarted(canceled_unstarted(sc, where));  // stopped before it started: not run
        return call(fn, ctx);
    }
    // co_spawn's completion, on the strand (the coroutine's thread still
    // holds the signal: release_after keeps the task until it is gone).
    struct completion {
        std::shared_ptr<group_core> g;
        std::shared_ptr<task_impl> self;
        void operator()(std::exception_ptr x, R r) {
            self->complete(g, self->error_of(x, &r));
            release_after<task_base>{std::move(self)}(nullptr);
        }
    };

    // The same as a coroutine, for an R that co_spawn cannot default-construct
    // (it makes one to hand an exception over).
    static net::awaitable<void> run(std::shared_ptr<group_core> g, std::shared_ptr<task_impl> self) {
        std::exception_ptr x;
        std::optional<R> r;
        try {
            // Inside the try: a co_await after the task was canceled throws at once.
            R value = co_await self->begin();
            r.emplace(std::move(value));
        } catch (...) {
            x = std::current_exception();
        }
        self->complete(g, self->error_of(x, r ? &*r : nullptr));
    }

    void start(const std::shared_ptr<group_core>& g) override {
        // Made just now (start_all): its heartbeat clock started then, not
        // while it waited for a slot.
        auto self = std::static_pointer_cast<task_impl>(shared_from_this());
        try {
            if (own) {
                responsive_from = sc.started();
                check.emplace(ex);
                g->arm_check(g, self, sc.last_beat() + g->options.heartbeat);
            }
            on_stop.emplace(sc.token(), canceller{this});
            if constexpr (std::is_default_constructible_v<R>)
                // The completion, held by the coroutine's thread, keeps the task.
                net::co_spawn(ex, [t = this]() { return t->begin(); },
                              net::bind_cancellation_slot(signal.slot(), completion{g, std::move(self)}));
            else
                net::co_spawn(ex, run(g, self),  // (self copied: the arguments' order is unspecified)
                              net::bind_cancellation_slot(signal.slot(), release_after<task_base>{self}));
        } catch (...) {
            done = true;
            if (check) check->cancel();
            g->finish(g, *this, could_not_start(index, name));
        }
    }
};

inline task_id group_core::id_of(const task_base& t) noexcept {
    return task_id{t.index, t.name, t.sc.stop_requested(), t.own && sd::stopped_by_monitor(*t.own)};
}

template <class F>
struct pending_impl final : pending_task {
    template <class G>
    pending_impl(location where_, std::string_view name_, G&& fn_) : pending_task(where_, name_), fn(std::forward<G>(fn_)) {}
    F fn;

    std::shared_ptr<task_base> make(group_core& g, std::size_t at) override {
        auto t = std::make_shared<task_impl<F>>(where, g.scope_of_lane(at),
                                                g.options.heartbeat > steady::duration::zero(), name,
                                                g.lanes[at].task_executor(), std::move(fn));
        t->index = index;
        t->lane = at;
        return t;
    }
};

// The shared state of with_timeout and first_of: a scope, N replicas' signals,
// a strand, and the coroutine waiting for them all.
template <std::size_t N, class R>
struct race_state : std::enable_shared_from_this<race_state<N, R>> {
    race_state(location where, net::any_io_executor ex_) : sc(where, nullptr, sd::scope::link::none), ex(std::move(ex_)), ctx(sc, ex) {}

    struct canceller {
        race_state* st;
        void operator()() noexcept {
            auto self = st->weak_from_this().lock();
            if (!self) return;
            try {
                net::post(self->ex, [self]() noexcept {
                    emitting_guard guard(self->sc);
                    for (std::size_t i = 0; i < N; ++i)
                        if (self->started[i] && !self->returned[i])
                            self->signals[i].emit(net::cancellation_type::terminal);
                });
            } catch (...) {
            }
        }
    };

    sd::scope sc;
    net::any_io_executor ex;  // a strand
    task_context ctx;
    std::array<net::cancellation_signal, N> signals;
    std::array<bool, N> started{};   // on the strand
    std::array<bool, N> returned{};  // on the strand
    std::mutex m;
    std::size_t pending = N;
    std::vector<std::unique_ptr<waiter_base>> waiters;
    // first_of: the winner, and the failures in the order they came.
    std::optional<R> winner;
    std::array<std::pair<std::size_t, error>, N> failures;
    std::size_t failed = 0;
    // with_timeout: fn's result and when it came; what the timer did.
    std::optional<R> only;
    steady::time_point finished{};
    bool stopped_at_deadline = false;
    std::optional<sd::stall> stalled;
    std::optional<net::steady_timer> timer;  // with a heartbeat
    // Without a heartbeat, the deadline is an entry of the process's timer (an
    // Asio timer armed and canceled per call cost two timerfd_settime calls).
    sd::deadline_watch deadline;
    bool deadline_armed = false;
    std::optional<std::stop_callback<canceller>> on_stop;  // last

    race_state(const race_state&) = delete;
    race_state& operator=(const race_state&) = delete;
    ~race_state() {
        // The coroutine that armed it was destroyed before it returned (its
        // io_context went away): the timer must not fire into freed memory.
        if (deadline_armed) sd::timer_cancel(&deadline);
    }

    bool finished_locked() const noexcept { return pending == 0; }

    void one_returned(std::size_t i) noexcept {
        returned[i] = true;
        std::vector<std::unique_ptr<waiter_base>> wake;
        {
            std::lock_guard lock(m);
            if (--pending == 0) wake.swap(waiters);
        }
        for (auto& w : wake) w->complete();
    }
};

template <class R, class F>
net::awaitable<R> timed_call(steady::duration limit, timeout_options options, F fn, location where) {
    const std::string_view op = options.operation.empty() ? std::string_view(where.function_name()) : options.operation;
    const long long limit_ms = sd::to_ms(limit);
    if (limit <= steady::duration::zero())
        co_return failure(sd::frame_at<timed_out>(where, {}, nullptr, "{}: timeout of {} ms is not positive", op, limit_ms)
                              .with("stop_reason", sd::stop_reasons::deadline)
                              .with("timeout_ms", limit_ms));
    const steady::duration heartbeat = options.heartbeat;
    const bool beats_required = heartbeat > steady::duration::zero();
    using state = race_state<1, R>;
    const net::any_io_executor outer = co_await net::this_coro::executor;
    auto st = std::make_shared<state>(where, strand_of(outer));
    st->on_stop.emplace(st->sc.token(), typename state::canceller{st.get()});
    const steady::time_point deadline = st->sc.started() + limit;
    if (!beats_required) {
        st->deadline.sc = &st->sc;
        st->deadline.where = where;
        st->deadline.op = op;
        st->deadline.limit_ms = limit_ms;
        st->deadline.fire = &sd::deadline_watch::expire;
        st->deadline_armed = sd::timer_arm(&st->deadline, deadline.time_since_epoch().count());
    }
    // Otherwise (or when the process's timer could not take it) the watchdog is
    // a timer on the strand, woken at the deadline or when a beat is due.
    struct watch {
        std::weak_ptr<state> w;
        steady::time_point deadline;
        steady::duration heartbeat;
        std::string_view op;
        long long limit_ms;
        location where;
        void arm(state& s) const {
            steady::time_point wake = deadline;
            if (heartbeat > steady::duration::zero() && s.sc.last_beat() + heartbeat < wake)
                wake = s.sc.last_beat() + heartbeat;
            s.timer->expires_at(wake);
            s.timer->async_wait(*this);
        }
        void operator()(const boost::system::error_code& ec) const {
            auto s = w.lock();
            if (ec || !s || s->returned[0]) return;
            const steady::time_point now = steady::now();
            if (now >= deadline) {
                s->stopped_at_deadline =
                    s->sc.stop(sd::frame_at<timed_out>(where, {}, nullptr, "{}: deadline of {} ms passed", op, limit_ms)
                                   .with("stop_reason", sd::stop_reasons::deadline)
                                   .with("timeout_ms", limit_ms));
                return;
            }
            const steady::time_point last = s->sc.last_beat();
            if (heartbeat > steady::duration::zero() && now - last >= heartbeat) {
                const sd::stall stl = sd::stall_of(s->sc, heartbeat, now, last);
                if (s->sc.stop(sd::stalled_error(where, op, stl))) s->stalled = stl;
                return;
            }
            arm(*s);
        }
    };
    if (!st->deadline_armed) {
        st->timer.emplace(st->ex);
        watch{st, deadline, heartbeat, op, limit_ms, where}.arm(*st);
    }
    net::co_spawn(st->ex,
                  run_child<R>(st, 0, fn, where,
                             [st](R r) noexcept {
                                 st->finished = steady::now();
                                 st->only.emplace(std::move(r));
                                 if (st->timer) st->timer->cancel();
                                 st->one_returned(0);
                             }),
                  net::bind_cancellation_slot(st->signals[0].slot(), release_after<state>{st}));
    co_await wait_for(st.get());
    if (st->deadline_armed) {
        // Waits if the deadline is firing right now; its flag is read after.
        sd::timer_cancel(&st->deadline);
        st->deadline_armed = false;
        st->stopped_at_deadline = st->deadline.stopped;
    }
    R r = std::move(*st->only);
    // Stopped by a parent first: that stop is the story, and fn's result says it.
    if (st->sc.stop_requested() && !st->stopped_at_deadline && !st->stalled) co_return std::move(r);
    if (st->stalled) {
        error inner = r ? error() : sd::without_cause(std::move(r).error(), st->sc.cause());
        co_return failure(sd::stalled_error(where, op, *st->stalled, std::move(inner)));
    }
    if (st->finished <= deadline) co_return std::move(r);
    const long long late_ms = sd::to_ms(st->finished - deadline);
    error e = r ? sd::frame_at<timed_out>(where, {}, nullptr, "{}: no result within {} ms; it came {} ms late", op,
                                          limit_ms, late_ms)
                : sd::frame_at<timed_out>(where, sd::without_cause(std::move(r).error(), st->sc.cause()), nullptr,
                                          "{}: no result within {} ms; it stopped {} ms late", op, limit_ms, late_ms);
    e.with("stop_reason", sd::stop_reasons::deadline);
    e.with("timeout_ms", limit_ms);
    e.with("late_ms", late_ms);
    if (beats_required || st->sc.beats()) {
        const long long beats = static_cast<long long>(st->sc.beats());
        e.with("beats", beats);
        e.with("last_beat_ms", beats ? sd::to_ms(st->sc.last_beat() - st->sc.started()) : -1LL);
    }
    co_return failure(std::move(e));
}

template <class R, class... F>
net::awaitable<R> race(location where, F... fns) {
    constexpr std::size_t n = sizeof...(F);
    using state = race_state<n, R>;
    const net::any_io_executor outer = co_await net::this_coro::executor;
    auto st = std::make_shared<state>(where, strand_of(outer));
    st->on_stop.emplace(st->sc.token(), typename state::canceller{st.get()});
    std::size_t index = 0;
    auto start = [&](auto& fn) {
        const std::size_t i = index++;
        net::co_spawn(st->ex,
                      run_child<R>(st, i, fn, where,
                                 [st, i](R r) noexcept {
                                     if (r) {
                                         if (!st->winner) {
                                             st->winner.emplace(std::move(r));
                                             st->sc.stop(sd::frame_at<canceled>(st->sc.where(), {}, nullptr,
                                                                                "lost to replica {}", i + 1)
                                                             .with("stop_reason", sd::stop_reasons::lost_race)
                                                             .with("winner", static_cast<long long>(i + 1)));
                                         }
                                         // a later success is a duplicate: never delivered
                                     } else {
                                         st->failures[st->failed++] = {i + 1, std::move(r).error()};
                                     }
                                     st->one_returned(i);
                                 }),
                      net::bind_cancellation_slot(st->signals[i].slot(), release_after<state>{st}));
    };
    (start(fns), ...);
    co_await wait_for(st.get());
    if (st->winner) {
        for (std::size_t k = 0; k < st->failed; ++k) sd::drop_checked(sd::access::get(st->failures[k].second));
        co_return std::move(*st->winner);
    }
    error e = std::move(st->failures[0].second);
    e.with("replica", static_cast<long long>(st->failures[0].first));
    e.with("replica_failures", static_cast<long long>(st->failed));
    for (std::size_t k = 1; k < st->failed; ++k) {
        char buf[96];
        e.with_secondary(sd::numbered_label(buf, "replica ", static_cast<long long>(st->failures[k].first), " failed"),
                         std::move(st->failures[k].second));
    }
    co_return failure(std::move(e));
}

}  // namespace detail

// A task of this API: fn(std::stop_token) or fn(task_context&) returning
// boost::asio::awaitable<strata::result<T>>.
template <class F>
concept coro_task = detail::coro_task_impl<F>;

// The result<T> a task's awaitable gives.
template <coro_task F>
using coro_result_t = typename detail::awaitable_result<typename detail::call_type<F>::type>::type;

// A group of coroutine tasks on an Asio executor, with the thread task_group's
// semantics (task_group.hpp). spawn() never blocks and is no coroutine; wait() is
// awaited. Each task runs on a strand of its own made from the group's executor,
// so a thread pool may run many tasks at once; given a strand, the group runs
// every task on it, and given an io_context(1)'s executor, on that executor (one
// thread runs it: no strand needed). Given several executors (one io_context per
// CPU, say), each takes tasks from the group's one queue in spawn order, and a
// task runs on the executor that started it.
// - The first real failure stops the others (their tokens carry "task N of the
//   group failed" over it; the Asio operation each awaits is canceled).
// - With options.max_running, at most that many tasks run; the others wait in a
//   queue (spawn() does not wait). Tasks still queued when the group stops are
//   counted canceled without running.
// - With options.heartbeat, each task (taking a task_context&) must call
//   ctx.beat() that often. A silent task while its executor is responsive is
//   stalled (stop_reason "heartbeat"); a task whose executor itself ran its
//   check more than a heartbeat late for 10 heartbeats is starved
//   ("task N: starved: ...", stop_reason "starved"). Either is a failure.
// - options.policy == failure_policy::run_all: every task runs; wait() returns
//   the first failure with `failed_tasks` and every later failure as a
//   secondary "task N (name) failed".
// - Made with a task_context (inside a strata::asio task), the group is stopped
//   with its parent ("parent canceled"); a cancellation of the coroutine that
//   awaits wait() stops it the same way.
// Destroying a group whose tasks still run stops them ("task_group destroyed
// before its tasks finished") and lets them end on their executor (a coroutine
// cannot be waited for in a destructor): await wait() first if the tasks use the
// caller's locals.
class task_group {
public:
    explicit task_group(boost::asio::any_io_executor ex, task_group_options options = {},
                        location where = location::current())
        : task_group(std::vector<boost::asio::any_io_executor>{std::move(ex)}, options, where) {}
    // A group over several executors (say, one io_context per core): every one
    // pumps the group's queue, so the tasks spread over them in spawn order,
    // each running on the executor that started it. std::invalid_argument
    // when `executors` is empty or holds an empty executor.
    explicit task_group(std::vector<boost::asio::any_io_executor> executors, task_group_options options = {},
                        location where = location::current())
        : core_(std::make_shared<detail::group_core>(detail::lanes_of(std::move(executors)), options, where,
                                                     nullptr)) {}
    // A group nested in a strata::asio task: stopped with it, and its tasks'
    // beats are the parent's too. Runs on the parent's executor.
    explicit task_group(task_context& parent, task_group_options options = {}, location where = location::current())
        : core_(std::make_shared<detail::group_core>(detail::lanes_of({parent.executor()}), options, where,
                                                     &parent.scope())) {}
    task_group(const task_group&) = delete;
    task_group& operator=(const task_group&) = delete;
    ~task_group() {
        bool busy = false;
        {
            std::lock_guard lock(core_->m);
            busy = core_->unfinished > 0;
        }
        if (busy)
            core_->sc.stop(strata::detail::frame_at<canceled>(core_->sc.where(), {}, nullptr,
                                                              "task_group destroyed before its tasks finished")
                               .with("stop_reason", strata::detail::stop_reasons::destroyed));
    }

    // Queues fn to start as a coroutine on one of the group's executors (see
    // above): tasks start in spawn order, start_batch (64) at a time from a
    // handler posted to an executor, and at most max_running at once. Tasks are
    // numbered from 1 in spawn order; a name appears as "task 2 (index-docs)".
    // Any thread or task may spawn; a task spawned after the group stopped is
    // never run (counted canceled).
    template <coro_task F>
    void spawn(F&& fn, location where = location::current()) {
        spawn(std::string_view(), std::forward<F>(fn), where);
    }
    template <coro_task F>
    void spawn(std::string_view name, F&& fn, location where = location::current()) {
        detail::group_core& g = *core_;
        auto p = std::make_unique<detail::pending_impl<std::decay_t<F>>>(where, name, std::forward<F>(fn));
        std::size_t pump_on = detail::group_core::no_lane;
        {
            std::lock_guard lock(g.m);
            p->index = ++g.spawned;
            if (g.sc.stop_requested()) {
                ++g.canceled_count;  // spawned after the group stopped: never run
            } else {
                ++g.unfinished;
                detail::pending_task* at = p.get();
                if (g.queue_tail)
                    g.queue_tail->next = std::move(p);
                else
                    g.queue_head = std::move(p);
                g.queue_tail = at;
                pump_on = g.claim_idle_lane_locked();  // one lane woken a spawn, in turn
            }
        }
        if (pump_on != detail::group_core::no_lane) g.post_pump_marked(core_, pump_on);
    }

    // Waits (co_await) for every task spawned so far and those they spawn, then
    // returns what the thread task_group's wait() returns: the first real
    // failure with `failed_task`, `failed_task_name`, `later_failures`,
    // `canceled_tasks` and the first 8 later failures as secondaries "later
    // failure i of n" (run_all: `failed_tasks` and every later failure as
    // "task N (name) failed"); or, when the group was stopped and tasks were
    // canceled, "N of M tasks canceled" with the cause as "stopped because"; or
    // success.
    boost::asio::awaitable<result<void>> wait(location where = location::current()) {
        std::shared_ptr<detail::group_core> g = core_;
        co_await detail::wait_for(g.get());
        std::lock_guard lock(g->m);
        if (g->first) {
            strata::detail::drop_checked(strata::detail::access::get(g->first));
            error e = g->first;
            e.with("failed_task", g->first_index);
            if (!g->first_name.empty()) e.with("failed_task_name", g->first_name);
            if (g->options.policy == failure_policy::run_all) {
                e.with("failed_tasks", g->failed_count);
                for (auto& f : g->all) {
                    strata::detail::drop_checked(strata::detail::access::get(f.second));
                    e.with_secondary(f.first, f.second);
                }
            }
            if (g->later_count) {
                if (g->options.policy != failure_policy::run_all) e.with("later_failures", g->later_count);
                for (std::size_t i = 0; i < g->later_n; ++i) {
                    strata::detail::drop_checked(strata::detail::access::get(g->later[i]));
                    char buf[96];
                    e.with_secondary(strata::detail::numbered_label(buf, "later failure ", static_cast<long long>(i + 1),
                                                                    " of ", g->later_count),
                                     g->later[i]);
                }
            }
            if (g->canceled_count) e.with("canceled_tasks", g->canceled_count);
            co_return failure(std::move(e));
        }
        if (g->canceled_count && g->sc.stop_requested())
            co_return failure(strata::detail::frame_at<canceled>(where, {}, nullptr, "{} of {} tasks canceled",
                                                                 g->canceled_count, g->spawned)
                                  .with("canceled_tasks", g->canceled_count)
                                  .with_secondary(strata::detail::stopped_because_label, g->sc.cause()));
        co_return result<void>();
    }

    // Stops every task with the cause "<why>" (stop_reason "user"); their
    // cancellations are not failures. The first cause is kept.
    void stop(std::string_view why = "stopped on request", location where = location::current()) noexcept {
        core_->sc.stop(strata::detail::frame_at<canceled>(where, {}, nullptr, "{}", why)
                           .with("stop_reason", strata::detail::stop_reasons::user));
    }

    std::stop_token token() const noexcept { return core_->sc.token(); }
    error cause() const noexcept { return core_->sc.cause(); }
    // The executor it was made with (the first, when given several).
    const boost::asio::any_io_executor& executor() const noexcept { return core_->lanes.front().ex; }

private:
    std::shared_ptr<detail::group_core> core_;
};

// with_timeout for coroutines: runs fn (on a strand of the awaiting coroutine's
// executor) with a token stopped when `timeout` has passed, cancels the Asio
// operation fn awaits then, and returns once fn has returned. The errors are
// the thread with_timeout's (cancel.hpp): the cause "<op>: deadline of N ms
// passed" (stop_reason "deadline"); a result after the deadline is "no result
// within N ms; it came M ms late" (or "stopped"); with options.heartbeat, fn
// (taking a task_context&) must beat that often or is stopped as "stalled". A
// cancellation of the awaiting coroutine stops fn with "parent canceled".
template <class Rep, class Period, coro_task F>
boost::asio::awaitable<coro_result_t<F>> with_timeout(std::chrono::duration<Rep, Period> timeout,
                                                      const timeout_options& options, F&& fn,
                                                      location where = location::current()) {
    return detail::timed_call<coro_result_t<F>, std::decay_t<F>>(strata::detail::clamp_timeout(timeout), options,
                                                                 std::forward<F>(fn), where);
}
template <class Rep, class Period, coro_task F>
boost::asio::awaitable<coro_result_t<F>> with_timeout(std::chrono::duration<Rep, Period> timeout, F&& fn,
                                                      location where = location::current()) {
    return with_timeout(timeout, timeout_options{}, std::forward<F>(fn), where);
}

// first_of for coroutines: runs every replica at once (coroutines on one strand
// of the awaiting coroutine's executor) and returns the first success; the
// others' tokens are stopped with "lost to replica N" and the operations they
// await canceled. Exactly one result is delivered; returns once every replica
// has returned. All failed: the first failure, with `replica`,
// `replica_failures` and the others as secondaries "replica N failed".
template <coro_task F, coro_task... More>
requires(std::is_same_v<coro_result_t<F>, coro_result_t<More>>&&...)
boost::asio::awaitable<coro_result_t<F>> first_of(F&& first, More&&... more) {
    return detail::race<coro_result_t<F>, std::decay_t<F>, std::decay_t<More>...>(
        location::current(), std::forward<F>(first), std::forward<More>(more)...);
}

}  // namespace strata::asio
