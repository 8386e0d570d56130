// strata/cancel.hpp: cancellation and timeouts that carry their causes as errors.
//
// - The layers strata::canceled and strata::timed_out.
// - Scopes: with_timeout(), first_of() and task_group (task_group.hpp) each stop
//   their work through a stop token *and* record why, as an error: the deadline,
//   a missed heartbeat, the replica that won, the group's failure, the user, or a
//   parent. A task reads it with stop_cause(token), or returns canceled_by(token).
// - Scopes nest: one started inside a strata task (on that task's thread) is
//   stopped when the task is, with "parent canceled" over the parent's cause.
// - Heartbeats: beat() records that the task on this thread is alive; a timeout
//   or a group can require a beat every interval and stops a task that misses one
//   with a timed_out error saying when it last beat (stalled, not slow), or that
//   it was starved of CPU (the machine is overloaded).
// - Cost: no thread per call. Deadlines and heartbeat checks are entries of the
//   process's one timer; first_of's replicas and a group's tasks run on the
//   process's worker pool (detail/runtime.hpp); a scope takes a shared lock
//   (one of 16 shards) only if it is stopped.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <concepts>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string_view>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>

#include "error.hpp"
#include "exception.hpp"
#include "format.hpp"
#include "location.hpp"
#include "result.hpp"
#include "detail/runtime.hpp"

namespace strata {

// Work that stopped because it was asked to (by a parent, the user, a faster
// replica, or a group whose other task failed). Asked-for cancellation is a known
// edge case, so the layer is user-facing. Why it stopped is a secondary error of
// the frame ("stopped because"), never its inner cause: see canceled_by().
struct canceled {
    static constexpr std::string_view name = "canceled";
    static constexpr bool user_facing = true;
    static constexpr int grpc_code = 1;  // CANCELLED
};

// Work that did not finish by its deadline, or stopped beating. User-facing for
// the same reason.
struct timed_out {
    static constexpr std::string_view name = "timed_out";
    static constexpr bool user_facing = true;
    static constexpr int grpc_code = 4;  // DEADLINE_EXCEEDED
};

// Options of with_timeout().
struct timeout_options {
    // Names the work in the errors ("fetch the report"); by default the function
    // that called with_timeout().
    std::string_view operation{};
    // Greater than zero: fn must call strata::beat() at least this often, or it is
    // stopped as stalled.
    std::chrono::steady_clock::duration heartbeat{};
};

namespace detail {

// The values of the misc entry "stop_reason" on the causes strata makes (listed
// in docs/concurrency.md): one spelling each, for the code that sets them and
// the code that tests them.
namespace stop_reasons {
inline constexpr char deadline[] = "deadline";    // with_timeout's deadline passed
inline constexpr char heartbeat[] = "heartbeat";  // a missed beat: stalled
inline constexpr char starved[] = "starved";      // silent, but never given a CPU (executor)
inline constexpr char lost_race[] = "lost_race";  // another first_of replica won
inline constexpr char failure[] = "failure";      // another task of the group failed
inline constexpr char user[] = "user";            // task_group::stop()
inline constexpr char destroyed[] = "destroyed";  // the group went before its tasks
inline constexpr char parent[] = "parent";        // the enclosing work stopped
inline constexpr char asio[] = "asio";            // an Asio cancellation, not strata's
inline constexpr char caller_deadline[] = "caller_deadline";  // an RPC's caller's deadline passed (grpc.hpp)
inline constexpr char caller_canceled[] = "caller_canceled";  // an RPC's caller canceled the call (grpc.hpp)
}  // namespace stop_reasons

using steady = std::chrono::steady_clock;

template <class F>
using task_result_t = std::remove_cvref_t<std::invoke_result_t<F&, std::stop_token>>;

template <class F>
concept stoppable_task = std::is_invocable_v<F&, std::stop_token> && is_result<task_result_t<F>>::value;

inline long long to_ms(steady::duration d) noexcept {
    return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

// A frame of layer L over `inner` (adopted), at `where`, with `stack` if given.
// Cause frames have none: they are made on whichever thread stops the work, where
// a stack says nothing.
// The format strings are strata's own and checked by its tests, so they are not
// checked at compile time: that check would be compiled in every file that
// includes this header.
template <layer_tag L, class... Args>
wrapped_error<L> frame_at(location where, error inner, const stack_buffer* stack, fmt::string_view f,
                          const Args&... args) noexcept {
    return access::adopt_as<L>(new_frame(&layer_info_of<L>, &oom_frame_of<L>, where, f,
                                         fmt::make_format_args(args...), access::take(std::move(inner)),
                                         stack && stack->n ? stack : nullptr));
}

class scope;

// The strata task running on this thread, innermost first: what beat() beats,
// and the parent of a scope started here.
struct task_context {
    scope* s;
    task_context* outer;
};
// Kept as a thread-specific value of the process state, not a thread_local of
// this header: a task started by one module (the executable's with_timeout) and
// beating or asking stop_cause() in another (a shared library, a plugin) must see
// the same task.
inline task_context* current_task() noexcept {
    const process_state& st = process();
    return st.task_key_ok ? static_cast<task_context*>(sys::pthread_getspecific(st.task_key)) : nullptr;
}
inline void set_current_task(task_context* c) noexcept {
    const process_state& st = process();
    if (st.task_key_ok) sys::pthread_setspecific(st.task_key, c);
}

// While it lives, the task running on this thread belongs to `s`.
class task_context_guard {
public:
    explicit task_context_guard(scope& s) noexcept : ctx_{&s, current_task()} { set_current_task(&ctx_); }
    ~task_context_guard() { set_current_task(ctx_.outer); }
    task_context_guard(const task_context_guard&) = delete;
    task_context_guard& operator=(const task_context_guard&) = delete;

private:
    task_context ctx_;
};

// The stopped scopes of the process (whichever module made them), so that a
// token handed to another thread or module still finds its cause. A scope is
// listed when it stops, in a hash table of 16 shards of 256 lists each, chosen by
// its stop state, and taken
// out when it ends: a scope that never stops touches no shared lock, and
// stop_cause() of a foreign token locks one shard.
inline const void* stop_state_of(const std::stop_token& token) noexcept {
    if constexpr (sizeof(std::stop_token) == sizeof(void*)) {
        const void* p = nullptr;
        std::memcpy(static_cast<void*>(&p), static_cast<const void*>(&token), sizeof p);  // libstdc++, libc++: one pointer
        return p;
    } else {
        return nullptr;  // one shard, tokens compared
    }
}
// The shard and the list in it for a stop state.
struct stopped_list {
    stopped_scope_shard& shard;
    void*& head;
};
inline stopped_list list_of(const void* state) noexcept {
    // Stop states are heap blocks (16-byte aligned): the bits above those mixed.
    std::uintptr_t h = reinterpret_cast<std::uintptr_t>(state) >> 4;
    h *= 0x9e3779b97f4a7c15ULL;
    stopped_scope_shard& shard = process().stopped_scopes[(h >> 60) % stopped_scope_shards];
    return {shard, shard.heads[(h >> 52) % stopped_scope_buckets]};
}

// One stop source and why it stopped. The cause is set once, before the tokens
// fire, so whoever sees a stopped token finds it. Also the task's heartbeat.
class scope {
public:
    // How a scope follows its parent: not at all; as a nested piece of work
    // ("parent canceled" over the parent's cause); or as one task of a group (the
    // group's cause as it is).
    enum class link { none, nest, inherit };

    // A linked scope must end before its parent (as a local of the parent's
    // task does): beats are passed up to the parent.
    scope(location where, scope* parent, link how)
        : where_(where), parent_(how == link::none ? nullptr : parent) {
        restart();
        if (parent_) {
            deadline_.store(parent_->deadline_.load(std::memory_order_relaxed), std::memory_order_relaxed);
            link_.emplace(parent_->token(), follow{this, parent_, how == link::nest});
        }
    }
    ~scope() {
        link_.reset();  // waits for a callback that is running
        if (!listed_.load(std::memory_order_acquire)) return;
        const stopped_list list = list_of(state_);
        std::lock_guard lock(list.shard.m);
        if (prev_)
            prev_->next_ = next_;
        else
            list.head = next_;
        if (next_) next_->prev_ = prev_;
    }
    scope(const scope&) = delete;
    scope& operator=(const scope&) = delete;

    std::stop_token token() const noexcept { return source_.get_token(); }
    location where() const noexcept { return where_; }
    bool stop_requested() const noexcept { return stopping_.load(std::memory_order_acquire); }

    // Stops the scope with `cause`; false (and cause dropped) if it was already
    // stopped: the first cause is the one kept.
    bool stop(error cause) noexcept {
        drop_checked(access::get(cause));  // strata's own, read or not (STRATA_CHECKED)
        bool expected = false;
        if (!stopping_.compare_exchange_strong(expected, true, std::memory_order_acq_rel)) return false;
        {
            std::lock_guard lock(m_);
            cause_ = std::move(cause);
            drop_checked(access::get(cause_));
        }
        {
            // Listed before the tokens fire: whoever sees one stopped finds it.
            const stopped_list list = list_of(state_);
            std::lock_guard lock(list.shard.m);
            next_ = static_cast<scope*>(list.head);
            if (next_) next_->prev_ = this;
            list.head = this;
            listed_.store(true, std::memory_order_release);
        }
        source_.request_stop();
        return true;
    }

    error cause() const noexcept {
        std::lock_guard lock(m_);
        return cause_;
    }

    // A heartbeat of this scope and of every scope it is linked under.
    void beat(steady::time_point now) noexcept {
        for (scope* s = this; s; s = s->parent_) {
            s->last_beat_.store(now.time_since_epoch().count(), std::memory_order_relaxed);
            s->beats_.fetch_add(1, std::memory_order_relaxed);
        }
    }
    // Starts the heartbeat clock again: a group's task when its thread starts.
    void restart() noexcept {
        const steady::rep now = steady::now().time_since_epoch().count();
        started_.store(now, std::memory_order_relaxed);
        last_beat_.store(now, std::memory_order_relaxed);
    }
    steady::time_point started() const noexcept {
        return steady::time_point(steady::duration(started_.load(std::memory_order_relaxed)));
    }
    steady::time_point last_beat() const noexcept {
        return steady::time_point(steady::duration(last_beat_.load(std::memory_order_relaxed)));
    }
    std::uint64_t beats() const noexcept { return beats_.load(std::memory_order_relaxed); }

    // The deadline the work must finish by: its own (with_timeout's) or the
    // nearest of the scopes it is linked under (time_point::max(): none). Set
    // before the work starts; what a call to another machine is given
    // (grpc.hpp's grpc_call).
    steady::time_point deadline() const noexcept {
        return steady::time_point(steady::duration(deadline_.load(std::memory_order_relaxed)));
    }
    void tighten_deadline(steady::time_point d) noexcept {
        if (d.time_since_epoch().count() < deadline_.load(std::memory_order_relaxed))
            deadline_.store(d.time_since_epoch().count(), std::memory_order_relaxed);
    }

    // Why the scope whose token this is stopped (empty: not stopped, or not a
    // live scope's token). The running task's scopes are looked at first, without
    // a lock.
    static error cause_of(const std::stop_token& token) noexcept {
        if (!token.stop_requested()) return {};
        for (task_context* c = current_task(); c; c = c->outer)
            if (c->s->token() == token) return c->s->cause();
        const void* state = stop_state_of(token);
        const stopped_list list = list_of(state);
        std::lock_guard lock(list.shard.m);
        for (scope* s = static_cast<scope*>(list.head); s; s = s->next_)
            if (s->state_ == state && s->source_.get_token() == token) return s->cause();
        return {};
    }

private:
    struct follow {
        scope* self;
        scope* parent;
        bool nest;
        void operator()() noexcept {
            error why = parent->cause();
            if (nest)
                why = frame_at<canceled>(self->where_, std::move(why), nullptr, "parent canceled")
                          .with("stop_reason", detail::stop_reasons::parent);
            self->stop(std::move(why));
        }
    };

    location where_;
    scope* parent_;
    std::stop_source source_;
    const void* state_ = stop_state_of(source_.get_token());
    mutable std::mutex m_;
    error cause_;
    std::atomic<bool> stopping_{false};
    std::atomic<steady::rep> started_{0};
    std::atomic<steady::rep> last_beat_{0};
    std::atomic<std::uint64_t> beats_{0};
    std::atomic<steady::rep> deadline_{steady::time_point::max().time_since_epoch().count()};
    std::atomic<bool> listed_{false};
    scope* prev_ = nullptr;  // in the shard's list, once stopped
    scope* next_ = nullptr;
    std::optional<std::stop_callback<follow>> link_;  // last: it may fire at once
};

inline scope* parent_scope() noexcept {
    task_context* c = current_task();
    return c ? c->s : nullptr;
}

// Labels of the secondary errors strata attaches (see error::secondaries()).
inline constexpr std::string_view stopped_because_label = "stopped because";

// "replica 3 failed", "later failure 2 of 5": a label made without throwing (cut
// to the buffer).
inline std::string_view numbered_label(char (&buf)[96], std::string_view before, long long n,
                                       std::string_view after = {}, long long of = -1) noexcept {
    std::size_t at = 0;
    auto add = [&](std::string_view part) noexcept {
        for (char c : part)
            if (at < sizeof buf) buf[at++] = c;
    };
    add(before);
    const fmt::format_int number(n);
    add(std::string_view(number.data(), number.size()));
    add(after);
    if (of >= 0) {
        const fmt::format_int total(of);
        add(std::string_view(total.data(), total.size()));
    }
    return std::string_view(buf, at);
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

// fn's error as with_timeout keeps it under its own: when fn returned
// canceled_by(token) for this very stop, the frame that says where fn stopped is
// kept without the secondary "stopped because" that repeats the cause, which the
// outer error already states.
inline error without_cause(error fn_error, const error& cause) noexcept {
    frame* f = access::get(fn_error);
    if (!f || !cause) return fn_error;
    bool repeats = false;
    for (const secondary_node* n = f->secondaries; n; n = n->next)
        repeats = repeats || n->err == access::get(cause);
    if (!repeats) return fn_error;
    if (frame* c = clone_frame(f, f->inner)) {
        // The copy's secondaries, but the cause.
        for (secondary_node** at = &c->secondaries; *at;) {
            secondary_node* n = *at;
            if (n->err == access::get(cause)) {
                *at = n->next;
                release(n->err);
                n->~secondary_node();
                ::operator delete(n);
            } else {
                at = &n->next;
            }
        }
        drop_checked(f);  // replaced by its copy
        return access::adopt(c);
    }
    return fn_error;
}

// What a heartbeat check found: a task silent for `silent`, whose last beat
// (if any) came `last_beat` after it started. Stalled (blocked, or running
// without beating), or starved (runnable, waiting for a CPU: the machine is
// overloaded).
struct stall {
    long long heartbeat_ms;
    long long silent_ms;
    long long last_beat_ms;  // -1: it never beat
    long long beats;
    std::string_view thread_state{};  // "blocked", "running", or empty: not known
    long long waiting_ms = -1;        // starved: its time waiting for a CPU; -1: stalled
};

// `last` is the last beat the decision was made on (read once).
inline stall stall_of(const scope& s, steady::duration heartbeat, steady::time_point now,
                      steady::time_point last) noexcept {
    const long long beats = static_cast<long long>(s.beats());
    return stall{to_ms(heartbeat), to_ms(now - last), beats && last >= s.started() ? to_ms(last - s.started()) : -1,
                 beats};
}

// "stalled: no heartbeat for 250 ms (one is required every 100 ms); it last beat
// 1200 ms after it started", or "starved: ...": a timed_out frame over `inner`,
// with the figures as misc entries.
inline error stalled_error(location where, std::string_view what, const stall& st, error inner = {},
                           const stack_buffer* stack = nullptr) noexcept {
    if (st.waiting_ms >= 0) {
        error e = frame_at<timed_out>(where, std::move(inner), stack,
                                      "{}: starved: no heartbeat for {} ms (one is required every {} ms), but it was "
                                      "runnable and waiting for a CPU for {} ms of that: the machine is overloaded",
                                      what, st.silent_ms, st.heartbeat_ms, st.waiting_ms);
        e.with("stop_reason", detail::stop_reasons::starved);
        e.with("heartbeat_ms", st.heartbeat_ms);
        e.with("silent_ms", st.silent_ms);
        e.with("waiting_ms", st.waiting_ms);
        e.with("last_beat_ms", st.last_beat_ms);
        e.with("beats", st.beats);
        return e;
    }
    error e = st.last_beat_ms < 0
                  ? frame_at<timed_out>(where, std::move(inner), stack,
                                        "{}: stalled: no heartbeat for {} ms (one is required every {} ms); "
                                        "it never beat",
                                        what, st.silent_ms, st.heartbeat_ms)
                  : frame_at<timed_out>(where, std::move(inner), stack,
                                        "{}: stalled: no heartbeat for {} ms (one is required every {} ms); "
                                        "it last beat {} ms after it started",
                                        what, st.silent_ms, st.heartbeat_ms, st.last_beat_ms);
    e.with("stop_reason", detail::stop_reasons::heartbeat);
    e.with("heartbeat_ms", st.heartbeat_ms);
    e.with("silent_ms", st.silent_ms);
    e.with("last_beat_ms", st.last_beat_ms);
    e.with("beats", st.beats);
    if (!st.thread_state.empty()) e.with("thread_state", st.thread_state);
    return e;
}

// How many heartbeat intervals a starved task is given before it is reported.
inline constexpr int starved_intervals = 10;

// A heartbeat check of one scope: an entry of the process's timer, armed at the
// scope's last beat plus the interval, and again from each new beat (nothing
// rescans other tasks). When a beat is overdue, it looks at the thread running
// the work (its schedstat and state), then again a quarter interval later:
// - if it waited for a CPU for at least half of that time, or is runnable and
//   ran for less than half of it, it is starved: it is
//   given time (it is reported, as starved, only after starved_intervals
//   intervals without a beat);
// - otherwise it is stalled: blocked (it neither ran nor waited to run), or
//   running without beating. Reported at most 1.25 intervals late.
// Without /proc, an overdue beat is a stall. `verdict` is called once, on the
// timer's thread; the watch must be disarmed (timer_cancel) before it ends.
struct heartbeat_watch : timer_entry {
    scope* sc = nullptr;
    location where;         // for the error: where the work was started,
    std::string_view what;  // and what it is ("task 3", the operation)
    steady::duration every{};
    int tid = 0;
    void (*verdict)(heartbeat_watch*, const stall&) noexcept = nullptr;
    void* owner = nullptr;
    bool probing = false;
    steady::rep probe_beat = 0;
    steady::rep probe_at = 0;
    thread_sample probe{};
    steady::rep waited = 0;  // ns found waiting for a CPU since the beat probed

    bool start() noexcept {
        fire = &check;
        return timer_arm(this, (sc->last_beat() + every).time_since_epoch().count());
    }

    static void check(timer_entry* e) noexcept {
        auto* w = static_cast<heartbeat_watch*>(e);
        scope& sc = *w->sc;
        // A task already stopped (by its group, a parent, a deadline) is not
        // expected to beat any more.
        if (sc.stop_requested()) return;
        const steady::time_point now = steady::now();
        const steady::time_point last = sc.last_beat();
        const steady::duration every = w->every;
        if (now - last < every) {
            w->probing = false;
            timer_arm(w, (last + every).time_since_epoch().count());
            return;
        }
        const thread_sample t = w->tid ? sample_thread(w->tid) : thread_sample{};
        const steady::duration recheck = std::max<steady::duration>(every / 4, std::chrono::milliseconds(2));
        if (t.ok && (!w->probing || w->probe_beat != last.time_since_epoch().count())) {
            w->probing = true;
            w->probe_beat = last.time_since_epoch().count();
            w->probe_at = now.time_since_epoch().count();
            w->probe = t;
            w->waited = 0;
            timer_arm(w, (now + recheck).time_since_epoch().count());
            return;
        }
        stall st = stall_of(sc, every, now, last);
        if (t.ok) {
            const auto dt = static_cast<std::uint64_t>(now.time_since_epoch().count() - w->probe_at);
            const std::uint64_t dwait = t.wait_ns - w->probe.wait_ns;
            const std::uint64_t drun = t.run_ns - w->probe.run_ns;
            // Linux adds a thread's wait for a CPU to schedstat only when it gets
            // one: a thread that waited through the whole window shows neither
            // more run time nor more waiting, but it is runnable ('R').
            if (2 * dwait >= dt || (t.state == 'R' && 2 * drun < dt)) {
                w->waited += static_cast<steady::rep>(dwait);
                if (now - last < starved_intervals * every) {
                    w->probe_at = now.time_since_epoch().count();
                    w->probe = t;
                    timer_arm(w, (now + recheck).time_since_epoch().count());
                    return;
                }
                st.waiting_ms = to_ms(steady::duration(w->waited));
            } else {
                st.thread_state = 2 * drun >= dt ? "running" : "blocked";
            }
        }
        w->verdict(w, st);
    }
};

}  // namespace detail

// Records a heartbeat for the strata work running on this thread (a task of a
// group, a replica, the fn of with_timeout) and for every strata task it runs
// inside of, on whatever thread that one runs. Cost: one clock read, then a
// relaxed store and a relaxed increment per enclosing scope. Returns false when
// no strata work runs on this thread (a thread the task started itself cannot
// beat for it).
inline bool beat() noexcept {
    detail::task_context* c = detail::current_task();
    if (!c) return false;
    c->s->beat(detail::steady::now());
    return true;
}

// Why the strata scope that `token` belongs to was stopped: "lost to replica 2",
// a deadline, a missed heartbeat, the group's failure, the user, a parent. Empty
// while the token is not stopped, or when it is not a live strata scope's token.
// Works from any thread.
[[nodiscard]] inline error stop_cause(const std::stop_token& token) noexcept { return detail::scope::cause_of(token); }

namespace detail {

// Whether the canceled error a task makes for a stop with this cause may be
// seen: false when strata counts such cancellations and drops them (a replica
// that lost a first_of race; a task of a group that failed, was stopped or was
// destroyed). canceled_by() captures no stack for those, under the default
// capture policy: an unwind costs microseconds, and a first_of of 8 replicas
// made 7 of them for nothing.
inline bool cancellation_kept(const error& cause) noexcept {
    const auto reason = cause.misc().find("stop_reason");
    if (!reason) return true;
    const std::string_view r = reason->as_string();
    return !(r == stop_reasons::lost_race || r == stop_reasons::failure || r == stop_reasons::user ||
             r == stop_reasons::destroyed);
}

// Whether scope `s` was stopped by a heartbeat monitor (stalled or starved).
inline bool stopped_by_monitor(const scope& s) noexcept {
    if (!s.stop_requested()) return false;
    const error cause = s.cause();
    const auto reason = cause.misc().find("stop_reason");
    return reason && (reason->as_string() == stop_reasons::heartbeat || reason->as_string() == stop_reasons::starved);
}

// The stack canceled_by() captures: per the capture policy, and under `origin`
// only for a cancellation that may be seen.
[[gnu::always_inline]] inline void capture_cancellation_stack(stack_buffer& stack, const error& cause) noexcept {
    const capture_policy policy = get_capture_policy();
    if (policy == capture_policy::every_frame || (policy == capture_policy::origin && cancellation_kept(cause)))
        stack.capture();
}

inline wrapped_error<canceled> canceled_frame(const std::stop_token& token, error cause, location where,
                                              fmt::string_view text, fmt::format_args args,
                                              const stack_buffer& stack) noexcept {
    if (!cause)
        cause = token.stop_requested()
                    ? frame_at<canceled>(where, {}, nullptr, "the stop carried no cause (not a strata token)")
                    : frame_at<canceled>(where, {}, nullptr, "its token was not stopped");
    // The cause is a secondary error, not the inner one: this task did not fail
    // because of it (inner_as<T>(), find<L>() and the group must not take the
    // failure that stopped it for its own).
    wrapped_error<canceled> e = access::adopt_as<canceled>(new_frame(
        &layer_info_of<canceled>, &oom_frame_of<canceled>, where, text, args, nullptr, stack.n ? &stack : nullptr));
    e.with_secondary(stopped_because_label, std::move(cause));
    return e;
}

inline wrapped_error<canceled> canceled_frame(const std::stop_token& token, location where, fmt::string_view text,
                                              fmt::format_args args, const stack_buffer& stack) noexcept {
    return canceled_frame(token, stop_cause(token), where, text, args, stack);
}

}  // namespace detail

// What a task returns when it saw its token stopped: a canceled error made here
// (with the stack, as make_error, except where strata counts the cancellation
// and drops it: a first_of loser, a task of a group that failed, was stopped or
// was destroyed; capture_policy::every_frame captures it there too), with
// stop_cause(token) as its secondary error
// "stopped because" (e.secondaries()), not its inner: the failure that stopped
// the task is not this task's failure, so inner(), inner_as<T>() and find<L>()
// do not reach it. The message is
// "canceled" or, as the user will see it when this is the outermost error, one of
// your own:
//   if (token.stop_requested()) return strata::canceled_by(token, "warming the cache was canceled");
[[nodiscard, gnu::always_inline]] inline wrapped_error<canceled> canceled_by(
    const std::stop_token& token, location where = location::current()) noexcept {
    error cause = stop_cause(token);
    detail::stack_buffer stack;
    detail::capture_cancellation_stack(stack, cause);
    return detail::canceled_frame(token, std::move(cause), where, "canceled", fmt::format_args(), stack);
}

template <class... Args>
[[nodiscard, gnu::always_inline]] inline wrapped_error<canceled> canceled_by(const std::stop_token& token,
                                                                             format_string<Args...> fmt,
                                                                             Args&&... args) noexcept {
    error cause = stop_cause(token);
    detail::stack_buffer stack;
    detail::capture_cancellation_stack(stack, cause);
    return detail::canceled_frame(token, std::move(cause), fmt.where(), fmt.get(), fmt::make_format_args(args...),
                                  stack);
}

namespace detail {

// A with_timeout's deadline: an entry of the process's timer that stops the
// scope with the cause "<op>: deadline of N ms passed".
struct deadline_watch : timer_entry {
    scope* sc = nullptr;
    location where;
    std::string_view op;
    long long limit_ms = 0;
    bool stopped = false;  // read after timer_cancel(), which orders it

    static void expire(timer_entry* e) noexcept {
        auto* d = static_cast<deadline_watch*>(e);
        d->stopped = d->sc->stop(frame_at<timed_out>(d->where, {}, nullptr, "{}: deadline of {} ms passed", d->op,
                                                     d->limit_ms)
                                     .with("stop_reason", detail::stop_reasons::deadline)
                                     .with("timeout_ms", d->limit_ms));
    }
};

// The caller's stack, for an error with_timeout makes itself (taken only then:
// fn ran on the caller's thread, so the caller's frames are the same; this
// function's own frame is strata's and not printed).
struct lazy_stack {
    stack_buffer buf;
    bool taken = false;
    [[gnu::noinline]] const stack_buffer* get() noexcept {
        if (!taken && get_capture_policy() != capture_policy::off) buf.capture();
        taken = true;
        return &buf;
    }
};

// with_timeout() for one function type. No thread: the deadline (and the
// heartbeat check) are entries of the process's timer.
template <class F>
task_result_t<F> timed_call(steady::duration limit, const timeout_options& options, F& fn, location where) noexcept {
    const std::string_view op = options.operation.empty() ? std::string_view(where.function_name()) : options.operation;
    const long long limit_ms = to_ms(limit);
    lazy_stack stack;
    if (limit <= steady::duration::zero())
        return failure(frame_at<timed_out>(where, {}, stack.get(), "{}: timeout of {} ms is not positive", op, limit_ms)
                           .with("stop_reason", detail::stop_reasons::deadline)
                           .with("timeout_ms", limit_ms));
    const steady::duration heartbeat = options.heartbeat;
    const bool beats_required = heartbeat > steady::duration::zero();
    scope sc(where, parent_scope(), scope::link::nest);
    const steady::time_point deadline = sc.started() + limit;
    sc.tighten_deadline(deadline);
    deadline_watch timer;
    timer.sc = &sc;
    timer.where = where;
    timer.op = op;
    timer.limit_ms = limit_ms;
    timer.fire = &deadline_watch::expire;
    if (!timer_arm(&timer, deadline.time_since_epoch().count()))
        // Nothing could stop fn, so it is not called.
        return failure(frame_at<timed_out>(where, {}, stack.get(),
                                           "{}: the timer of a {} ms timeout could not be armed (out of memory, or "
                                           "no thread for the timer)",
                                           op, limit_ms));
    // What the heartbeat check found, if it stopped fn.
    std::optional<stall> stalled;
    heartbeat_watch watch;
    if (beats_required) {
        watch.sc = &sc;
        watch.every = heartbeat;
        watch.tid = sys::gettid();
        watch.owner = &stalled;
        watch.where = where;
        watch.what = op;
        watch.verdict = [](heartbeat_watch* w, const stall& st) noexcept {
            auto& out = *static_cast<std::optional<stall>*>(w->owner);
            if (w->sc->stop(stalled_error(w->where, w->what, st))) out = st;
        };
        if (!watch.start()) watch.sc = nullptr;
    }
    task_result_t<F> r = [&] {
        task_context_guard in_task(sc);
        return call_task(fn, sc.token());
    }();
    const steady::time_point finished = steady::now();
    timer_cancel(&timer);
    if (watch.sc) timer_cancel(&watch);
    // Stopped by a parent (or the fn's own token was stopped by someone else
    // first): that stop is the story, and fn's result says it.
    if (sc.stop_requested() && !timer.stopped && !stalled) return r;
    // A frame over fn's error records only the call site, as a wrap does; the
    // caller's stack goes on a frame with nothing below it.
    if (stalled) {
        error inner = r ? error() : without_cause(std::move(r).error(), sc.cause());
        const stack_buffer* own_stack = inner ? nullptr : stack.get();
        return failure(stalled_error(where, op, *stalled, std::move(inner), own_stack));
    }
    if (finished <= deadline) return r;
    const long long late_ms = to_ms(finished - deadline);
    error e = r ? frame_at<timed_out>(where, {}, stack.get(), "{}: no result within {} ms; it came {} ms late", op,
                                      limit_ms, late_ms)
                : frame_at<timed_out>(where, without_cause(std::move(r).error(), sc.cause()), nullptr,
                                      "{}: no result within {} ms; it stopped {} ms late", op, limit_ms, late_ms);
    e.with("stop_reason", detail::stop_reasons::deadline);
    e.with("timeout_ms", limit_ms);
    e.with("late_ms", late_ms);
    if (beats_required || sc.beats()) {
        // Slow, not stalled: when it last beat tells the two apart.
        const long long beats = static_cast<long long>(sc.beats());
        e.with("beats", beats);
        e.with("last_beat_ms", beats ? to_ms(sc.last_beat() - sc.started()) : -1LL);
    }
    return failure(std::move(e));
}

// The longest timeout with_timeout takes as it is (about 100 years): longer ones
// (and more negative ones) are cut to it rather than overflow the clock.
inline constexpr std::chrono::hours longest_timeout{24 * 365 * 100};

template <class Rep, class Period>
steady::duration clamp_timeout(std::chrono::duration<Rep, Period> timeout) noexcept {
    const std::chrono::duration<double> t = timeout;
    const std::chrono::duration<double> longest = longest_timeout;
    if (t >= longest) return std::chrono::duration_cast<steady::duration>(longest_timeout);
    if (t <= -longest) return -std::chrono::duration_cast<steady::duration>(longest_timeout);
    return std::chrono::duration_cast<steady::duration>(timeout);
}

}  // namespace detail

// Runs fn(stop_token) on the calling thread, with a token that is stopped when
// `timeout` has passed, and returns fn's result. Returns when fn returns: nothing
// is left running, so fn may use the caller's locals.
// - A result that comes after the deadline is stale: the call returns a timed_out
//   error naming the operation, the timeout and how far past it fn ran (fn's own
//   error, if it failed, is its inner cause). fn's token carries the cause
//   "<operation>: deadline of N ms passed" (see stop_cause, canceled_by).
// - With options.heartbeat, fn must call strata::beat() at least that often; if
//   it goes silent it is stopped and the call returns a timed_out error saying
//   "stalled", for how long, and when it last beat.
// - A timeout of zero or less fails at once, without calling fn.
// - Called inside a strata task (a group's task, a replica, another timeout's
//   fn), fn is also stopped when that task is, with "parent canceled".
// - An exception thrown by fn becomes an error. No thread is started: the deadline
//   and the heartbeat check are entries of the process's one timer.
template <class Rep, class Period, detail::stoppable_task F>
[[nodiscard]] inline detail::task_result_t<F> with_timeout(
    std::chrono::duration<Rep, Period> timeout, const timeout_options& options, F&& fn,
    location where = location::current()) noexcept {
    return detail::timed_call(detail::clamp_timeout(timeout), options, fn, where);
}

template <class Rep, class Period, detail::stoppable_task F>
[[nodiscard]] inline detail::task_result_t<F> with_timeout(
    std::chrono::duration<Rep, Period> timeout, F&& fn, location where = location::current()) noexcept {
    return with_timeout(timeout, timeout_options{}, std::forward<F>(fn), where);
}

// Replicated requests (the book's "first result wins"): runs every fn(stop_token)
// at once (the first on the calling thread, the others on the worker pool's threads)
// and returns the first success. The others' tokens are stopped with the cause
// "lost to replica N" (N counts from 1, in argument order), and their results,
// successes included, are dropped: exactly one result is delivered. Returns once
// every replica has returned. When all fail, the result is the failure that came
// first, with misc entries `replica` (its number) and `replica_failures` (how
// many failed), and each other replica's failure as a secondary error labeled
// "replica N failed" (e.secondaries(): printed and encoded, never a cause). The replicas are called
// as they are passed, at the same time: the same function object passed twice is
// called from two threads at once. All replicas must return the same result
// type; first_of() with no replica does not compile.
template <detail::stoppable_task F, detail::stoppable_task... More>
requires(std::is_same_v<detail::task_result_t<F>, detail::task_result_t<More>>&&...)
    [[nodiscard]] detail::task_result_t<F> first_of(F&& first, More&&... more) {
    using R = detail::task_result_t<F>;
    constexpr std::size_t n = 1 + sizeof...(More);
    detail::scope sc(location::current(), detail::parent_scope(), detail::scope::link::nest);
    std::mutex m;
    std::optional<R> winner;
    // The failures in the order they came: (replica number, error). No allocation.
    std::array<std::pair<std::size_t, error>, n> failures;
    std::size_t failed = 0;
    auto run = [&](std::size_t i, auto& fn) noexcept {
        R r = [&] {
            detail::task_context_guard in_task(sc);
            return detail::call_task(fn, sc.token());
        }();
        std::unique_lock lock(m);
        if (r) {
            if (winner) return;  // a later success is a duplicate: never delivered
            winner.emplace(std::move(r));
            lock.unlock();
            sc.stop(detail::frame_at<canceled>(sc.where(), {}, nullptr, "lost to replica {}", i)
                        .with("stop_reason", detail::stop_reasons::lost_race)
                        .with("winner", static_cast<long long>(i)));
            return;
        }
        failures[failed++] = {i, std::move(r).error()};
    };
    // Replicas 2..n are jobs of the worker pool; the caller runs replica 1, then
    // waits for the others.
    struct replica_job : detail::pool_job {
        void* run;
        void* fn;
        std::size_t index;
        void (*call)(void* run, void* fn, std::size_t index) noexcept;
        std::mutex* m;
        std::condition_variable* cv;
        std::size_t* pending;
    };
    std::array<replica_job, n - 1> jobs{};
    (void)jobs;  // none with a single replica
    std::condition_variable all_done;
    std::size_t pending = 0;
    std::size_t index = 2;
    // The other replicas, by reference (functions included), to be called by
    // their position.
    auto others = std::forward_as_tuple(more...);
    using Others = decltype(others);
    auto start = [&]<std::size_t I>() {
        const std::size_t i = index++;
        replica_job& j = jobs[i - 2];
        j.run = &run;
        j.fn = &others;
        j.index = i;
        using Run = decltype(run);
        j.call = [](void* r, void* f, std::size_t k) noexcept {
            (*static_cast<Run*>(r))(k, std::get<I>(*static_cast<Others*>(f)));
        };
        j.m = &m;
        j.cv = &all_done;
        j.pending = &pending;
        j.pool_job::run = [](detail::pool_job* p) noexcept {
            auto* r = static_cast<replica_job*>(p);
            r->call(r->run, r->fn, r->index);
            std::lock_guard lock(*r->m);
            if (--*r->pending == 0) r->cv->notify_all();  // under the lock: the caller may return at once after
        };
        {
            std::lock_guard lock(m);
            ++pending;
        }
        char why[120] = {};
        if (!detail::pool_submit(&j, &why)) {
            // No thread to be had: this replica's failure (running it here could
            // wait for a stop that only replica 1, not yet started, would make).
            error e = make_error("first_of: could not start a thread for replica {}: {}", i, std::string_view(why));
            std::lock_guard lock(m);
            --pending;
            failures[failed++] = {i, std::move(e)};
        }
    };
    [&]<std::size_t... I>(std::index_sequence<I...>) {
        (start.template operator()<I>(), ...);
    }(std::index_sequence_for<More...>{});
    (void)start;  // unused with a single replica
    run(1, first);
    {
        std::unique_lock lock(m);
        all_done.wait(lock, [&] { return pending == 0; });
    }
    if (winner) {
        for (std::size_t k = 0; k < failed; ++k) detail::drop_checked(detail::access::get(failures[k].second));
        return std::move(*winner);
    }
    error e = std::move(failures[0].second);
    e.with("replica", static_cast<long long>(failures[0].first));
    e.with("replica_failures", static_cast<long long>(failed));
    for (std::size_t k = 1; k < failed; ++k) {
        char buf[96];
        e.with_secondary(detail::numbered_label(buf, "replica ", static_cast<long long>(failures[k].first), " failed"),
                         std::move(failures[k].second));
    }
    return failure(std::move(e));
}

}  // namespace strata
