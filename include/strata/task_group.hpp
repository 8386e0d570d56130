// strata/task_group.hpp: strata::task_group, structured concurrency that keeps
// its errors. Tasks run on the process's worker pool (reused threads; see
// detail/runtime.hpp), each with its own stop token; the first real failure
// stops the others (their tokens carry it as the cause) and is what wait()
// returns, with the failures that came after it counted and attached as its
// secondary errors rather than dropped (Go's errgroup drops them). With
// failure_policy::run_all, every task runs and every failure is reported.
// Cancellations are never the group's failure, and a canceled task's error holds
// the failure that stopped it as a secondary error, never as its cause. A group
// can require heartbeats (checked by the process's one timer), and a group made
// inside a strata task is stopped when that task is.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <mutex>
#include <optional>
#include <stop_token>
#include <utility>

#include "cancel.hpp"
#include "error.hpp"
#include "format.hpp"
#include "location.hpp"
#include "result.hpp"

namespace strata {

// What a group does when one of its tasks fails.
enum class failure_policy {
    // The first real failure stops the other tasks, and wait() returns it with
    // the later failures counted (Go's errgroup.WithContext).
    stop_others,
    // Every task runs to its end whatever the others do, and wait() reports
    // every failure: the first, with each later one as a secondary error
    // labeled with its task ("task 7 (index-docs) failed").
    run_all,
};

// Options of a task_group.
struct task_group_options {
    // The most tasks running at once (0: no limit); spawn() waits for a free slot.
    std::size_t max_running = 0;
    // Greater than zero: every task must call strata::beat() at least this often.
    // A task that goes silent is stopped, and a timed_out error saying "stalled"
    // and when it last beat is a failure of the group.
    std::chrono::steady_clock::duration heartbeat{};
    // What a failure does to the other tasks.
    failure_policy policy = failure_policy::stop_others;
};

namespace detail {

// "task 3" or "task 3 (index-docs)", for messages (the thread and the
// coroutine groups). Never throws: a name that does not fit is cut.
inline std::string_view task_label(long long index, std::string_view name, char (&buf)[128]) noexcept {
    const fmt::format_int number(index);
    std::size_t n = 0;
    auto add = [&](std::string_view part) noexcept {
        for (char c : part)
            if (n < sizeof buf) buf[n++] = c;
    };
    add("task ");
    add(std::string_view(number.data(), number.size()));
    if (!name.empty()) {
        add(" (");
        add(name);
        add(")");
    }
    return std::string_view(buf, n);
}

// task_group's implementation. A template (task_group is basic_task_group<>) only
// so that a file that includes this header without using a group does not
// compile the group's machinery.
template <class = void>
class basic_task_group {
public:
    explicit basic_task_group(std::size_t max_running = 0, location where = location::current())
        : basic_task_group(task_group_options{max_running, {}}, where) {}
    explicit basic_task_group(const task_group_options& options, location where = location::current())
        : options_(options), scope_(where, detail::parent_scope(), detail::scope::link::nest) {}
    basic_task_group(const basic_task_group&) = delete;
    basic_task_group& operator=(const basic_task_group&) = delete;
    // Like std::jthread: if tasks are still running (wait() was not called, or
    // more were spawned since), stops them with the cause "task_group destroyed
    // before its tasks finished" (stop_reason "destroyed"), then waits for them.
    ~basic_task_group() {
        bool busy = false;
        {
            std::lock_guard lock(m_);
            busy = running_.load(std::memory_order_acquire) > 0;
        }
        if (busy)
            scope_.stop(detail::frame_at<canceled>(scope_.where(), {}, nullptr,
                                                   "task_group destroyed before its tasks finished")
                            .with("stop_reason", detail::stop_reasons::destroyed));
        join_all();
        // Destroyed without wait(): its failures are dropped knowingly, not
        // forgotten (STRATA_CHECKED).
        detail::drop_checked(detail::access::get(first_));
        for (std::size_t i = 0; i < later_.n; ++i) detail::drop_checked(detail::access::get(later_.items[i]));
        while (all_) {
            failed_task* next = all_->next;
            detail::drop_checked(detail::access::get(all_->e));
            delete all_;
            all_ = next;
        }
    }

    // Queues fn(stop_token) to run on a thread of the process's worker pool
    // (threads are reused; the pool grows while its threads are blocked, so a
    // task may block). fn returns a strata::result (its value is dropped); an
    // exception it throws becomes an error. Tasks are numbered from 1 in spawn
    // order; a name, if given, appears next to the number in the group's errors
    // ("task 2 (index-docs)"). Any thread may spawn, a task of the group
    // included; with max_running, spawn() waits for a free slot (so a task that
    // spawns into its own full group waits for a sibling to finish).
    // A task spawned after the group stopped is never run: it counts as
    // canceled (by the group's cause). One spawned before runs, its token
    // stopped, even if it was still waiting for a thread. If no thread can be had for
    // it, that is a failure of the group: "could not start a thread for task N:
    // <why>" (after a failed start, none is tried for 100 ms).
    template <detail::stoppable_task F>
    void spawn(F&& fn, location where = location::current()) {
        spawn(std::string_view(), std::forward<F>(fn), where);
    }
    template <detail::stoppable_task F>
    void spawn(std::string_view name, F&& fn, location where = location::current()) {
        long long index = 0;
        if (options_.max_running == 0) {
            // No lock: the count of unfinished tasks is atomic.
            running_.fetch_add(1, std::memory_order_relaxed);
            index = spawned_.fetch_add(1, std::memory_order_relaxed) + 1;
            if (scope_.stop_requested()) {
                {
                    std::lock_guard lock(m_);
                    ++canceled_count_;  // never run
                }
                finished();
                return;
            }
        } else {
            std::unique_lock lock(m_);
            if (running_.load(std::memory_order_relaxed) >= options_.max_running) {
                ++slot_waiters_;
                slot_free_.wait(lock, [&] { return running_.load(std::memory_order_relaxed) < options_.max_running; });
                --slot_waiters_;
            }
            index = spawned_.fetch_add(1, std::memory_order_relaxed) + 1;
            if (scope_.stop_requested()) {
                ++canceled_count_;  // never run
                return;
            }
            running_.fetch_add(1, std::memory_order_relaxed);
        }
        task* t = nullptr;
#if STRATA_HAS_EXCEPTIONS
        try {
#endif
            t = new task_of<std::decay_t<F>>(*this, where, name, index, std::forward<F>(fn));
#if STRATA_HAS_EXCEPTIONS
        } catch (...) {
            // Out of memory: the task's failure, with what can be had.
            finish(nullptr, index, from_exception());
            return;
        }
#endif
        char why[120] = {};
        if (!detail::pool_submit(t, &why)) {
            char buf[128];
            error e = detail::frame_at<untagged>(where, {}, nullptr, "could not start a thread for {}: {}",
                                                 label(*t, buf), std::string_view(why))
                          .with("failed_task", index);
            finish(t, index, std::move(e));
        }
    }

    // Waits for every task spawned so far (and those they spawn), then returns:
    // - the first real failure, with misc entries `failed_task` (its number) and
    //   `failed_task_name` (its name, if it has one),
    //   `later_failures` (how many came after it) and `canceled_tasks` (how
    //   many stopped as asked, or were spawned after the stop), and the first 8 later failures as
    //   secondary errors labeled "later failure 2 of 5" (e.secondaries(): printed
    //   and encoded, never taken for the cause by inner_as<T>() or find<L>()); a
    //   canceled error counts as asked for only when the task's token had been
    //   stopped, otherwise it is a failure like any other. With
    //   failure_policy::run_all, also `failed_tasks` (all of them) and every
    //   later failure as a secondary error labeled "task 7 (name) failed"; or
    // - when there was none but the group was stopped (stop(), or a parent) and
    //   tasks were canceled: a canceled error saying how many, with the cause as
    //   its secondary error "stopped because"; or
    // - success.
    [[nodiscard]] result<void> wait(location where = location::current()) {
        join_all();
        std::lock_guard lock(m_);
        if (first_) {
            detail::drop_checked(detail::access::get(first_));  // handed to the caller below
            for (std::size_t i = 0; i < later_.n; ++i) detail::drop_checked(detail::access::get(later_.items[i]));
            error e = first_;
            e.with("failed_task", first_index_);
            if (!first_name_.empty()) e.with("failed_task_name", first_name_);
            if (options_.policy == failure_policy::run_all) {
                e.with("failed_tasks", 1 + later_count_);
                for (failed_task* f = all_; f; f = f->next) {
                    detail::drop_checked(detail::access::get(f->e));
                    char buf[128];
                    char label_buf[160];
                    const std::string_view what = label(f->index, f->name, buf);
                    std::size_t n = 0;
                    for (std::string_view part : {what, std::string_view(" failed")})
                        for (char c : part)
                            if (n < sizeof label_buf) label_buf[n++] = c;
                    e.with_secondary(std::string_view(label_buf, n), f->e);
                }
                if (later_count_) e.with("later_failures", later_count_);
            } else if (later_count_) {
                e.with("later_failures", later_count_);
                for (std::size_t i = 0; i < later_.n; ++i) {
                    char buf[96];
                    e.with_secondary(detail::numbered_label(buf, "later failure ", static_cast<long long>(i + 1),
                                                            " of ", later_count_),
                                     later_.items[i]);
                }
            }
            if (canceled_count_) e.with("canceled_tasks", canceled_count_);
            return failure(std::move(e));
        }
        if (canceled_count_ && scope_.stop_requested())
            return failure(detail::frame_at<canceled>(where, {}, nullptr, "{} of {} tasks canceled", canceled_count_,
                                                      spawned_.load(std::memory_order_relaxed))
                               .with("canceled_tasks", canceled_count_)
                               .with_secondary(detail::stopped_because_label, scope_.cause()));
        return {};
    }

    // Stops every task with the cause "<why>" (stop_reason "user"). The
    // cancellations it causes are not failures. The first cause is kept: after
    // a failure, or a second stop(), this does nothing.
    void stop(std::string_view why = "stopped on request", location where = location::current()) noexcept {
        scope_.stop(
            detail::frame_at<canceled>(where, {}, nullptr, "{}", why).with("stop_reason", detail::stop_reasons::user));
    }

    // The group's token: stopped by its first real failure, by stop(), or by its
    // parent. Each task's own token is stopped with it (and alone for a missed beat).
    std::stop_token token() const noexcept { return scope_.token(); }

    // Why the group stopped (empty while it has not): "task N of the group
    // failed" over that failure, the reason given to stop(), or "parent canceled"
    // over the parent's cause. A task that sees its token stopped returns
    // canceled_by(token).
    error cause() const noexcept { return scope_.cause(); }

    // The first 8 failures that came after the first one (wait() counts them all).
    // A copy of them; iterate it, or use size(), empty() and [i].
    struct failure_list {
        error items[8];
        std::size_t n = 0;
        const error* begin() const noexcept { return items; }
        const error* end() const noexcept { return items + n; }
        std::size_t size() const noexcept { return n; }
        bool empty() const noexcept { return n == 0; }
        const error& operator[](std::size_t i) const noexcept { return items[i]; }
    };
    failure_list later_failures() const {
        std::lock_guard lock(m_);
        return later_;
    }

private:
    static constexpr std::size_t attached_failures = 8;

    // A task: a job of the worker pool. It runs in the group's scope, or, in a
    // group that requires beats, in a scope of its own made when it starts (and
    // ended before the group hears it finished).
    struct task : detail::pool_job {
        task(basic_task_group& g, location where, std::string_view name, long long index)
            : group(&g), where(where), name(name), index(index) {
            run = &task::go;
        }
        virtual ~task() = default;
        detail::scope& scope() noexcept { return sc ? *sc : group->scope_; }
        virtual error call() noexcept = 0;

        static void go(detail::pool_job* job) noexcept {
            auto* t = static_cast<task*>(job);
            basic_task_group& g = *t->group;
            // Stopped while it waited for a thread, it runs all the same, its
            // token stopped: it was spawned before the stop (whether a task runs
            // does not depend on timing).
            // It runs in the group's scope (its token, its cause), unless the
            // group requires beats: then in a scope of its own that follows the
            // group's, so that a task that misses a beat can be stopped alone.
            bool watched = false;
            if (g.options_.heartbeat > std::chrono::steady_clock::duration::zero()) {
                t->sc.emplace(t->where, &g.scope_, detail::scope::link::inherit);
                t->watch.sc = &*t->sc;
                t->watch.every = g.options_.heartbeat;
                t->watch.tid = detail::sys::gettid();
                t->watch.where = t->where;
                t->watch.owner = t;
                t->watch.verdict = &basic_task_group::stalled;
                watched = t->watch.start();
            }
            error e = [&] {
                detail::task_context_guard in_task(t->scope());
                return t->call();
            }();
            if (watched) detail::timer_cancel(&t->watch);
            // A task stopped for a missed beat has had its failure recorded; its
            // own cancellation after that is not counted again.
            if (e && e.is<canceled>() && stopped_for_stall(*t)) e = error();
            g.finish(t, t->index, std::move(e));
        }

        basic_task_group* group;
        location where;
        std::string name;
        long long index;
        std::optional<detail::scope> sc;
        detail::heartbeat_watch watch;
    };
    template <class F>
    struct task_of final : task {
        template <class G>
        task_of(basic_task_group& g, location where, std::string_view name, long long index, G&& fn)
            : task(g, where, name, index), fn(std::forward<G>(fn)) {}
        error call() noexcept override {
            auto r = detail::call_task(fn, this->scope().token());
            return r ? error() : std::move(r).error();
        }
        F fn;
    };

    // A later failure kept for failure_policy::run_all.
    struct failed_task {
        error e;
        long long index;
        std::string name;
        failed_task* next = nullptr;
    };

    static std::string_view label(long long index, std::string_view name, char (&buf)[128]) noexcept {
        return detail::task_label(index, name, buf);
    }
    static std::string_view label(const task& t, char (&buf)[128]) noexcept { return label(t.index, t.name, buf); }

    // Whether the task's own token was stopped for a missed beat.
    static bool stopped_for_stall(const task& t) noexcept { return t.sc && detail::stopped_by_monitor(*t.sc); }

    // The heartbeat check's verdict on a task (on the timer's thread).
    static void stalled(detail::heartbeat_watch* w, const detail::stall& st) noexcept {
        auto* t = static_cast<task*>(w->owner);
        basic_task_group& g = *t->group;
        char buf[128];
        error e = detail::stalled_error(t->where, label(*t, buf), st);
        // Only a task that was still meant to run is stopped as stalled.
        if (!t->sc->stop(e)) return;
        bool stop_now = false;
        error failure;
        {
            std::lock_guard lock(g.m_);
            stop_now = g.record(t->index, t->name, true, e);
            if (stop_now) failure = g.first_;
        }
        if (stop_now) g.stop_for(t->index, t->name, failure);
    }

    // Records a task's failure (or nothing). Under m_; true when it was the first
    // real failure and the group must stop.
    bool record(long long index, std::string_view name, bool stopped, error e) noexcept {
        if (!e) return false;
        if (e.is<canceled>() && stopped) {  // is<> checks it (STRATA_CHECKED)
            ++canceled_count_;
            return false;
        }
        if (!first_) {
            first_ = std::move(e);
            first_index_ = index;
#if STRATA_HAS_EXCEPTIONS
            try {
#endif
                first_name_ = name;
#if STRATA_HAS_EXCEPTIONS
            } catch (...) {
                // Out of memory: the number is enough.
            }
#endif
            return options_.policy == failure_policy::stop_others;
        }
        ++later_count_;
        if (options_.policy == failure_policy::run_all) {
            // Every one, in the order they came (appended: all_last_).
            failed_task* f = nullptr;
#if STRATA_HAS_EXCEPTIONS
            try {
#endif
                f = new failed_task{e, index, std::string(name)};
#if STRATA_HAS_EXCEPTIONS
            } catch (...) {
                f = nullptr;  // out of memory: counted only
            }
#endif
            if (f) {
                *all_last_ = f;
                all_last_ = &f->next;
            }
        }
        if (later_.n < attached_failures)
            later_.items[later_.n++] = std::move(e);
        else
            detail::drop_checked(detail::access::get(e));  // counted only
        return false;
    }

    void stop_for(long long index, std::string_view name, const error& failure) noexcept {
        char buf[128];
        scope_.stop(detail::frame_at<canceled>(scope_.where(), failure, nullptr, "{} of the group failed",
                                               label(index, name, buf))
                        .with("stop_reason", detail::stop_reasons::failure)
                        .with("failed_task", index));
    }

    // A task is over (t is null when it could not even be made). Records its
    // outcome, stops the group on its first failure, frees the task, and only
    // then counts it finished: after that, the group may be gone.
    void finish(task* t, long long index, error e) noexcept {
        // Whether its token was stopped (a canceled error is then asked for),
        // read before the task (and its own scope, if any) is freed.
        const bool stopped = t ? t->scope().stop_requested() : scope_.stop_requested();
        std::string name;
        if (t) {
            name.swap(t->name);
            delete t;  // its own scope, if any, leaves the group's here
        }
        if (e) {
            std::unique_lock lock(m_);
            const bool stop_now = record(index, name, stopped, std::move(e));
            if (stop_now) {
                const error failure = first_;
                lock.unlock();
                stop_for(index, name, failure);
            }
        }
        finished();
    }

    // Counts a task finished. The count reaches zero only under the lock (a
    // waiter reads it under the lock, and may end the group as soon as it is
    // let go); without a limit, other decrements take no lock.
    void finished() noexcept {
        if (options_.max_running == 0) {
            std::size_t n = running_.load(std::memory_order_relaxed);
            while (n > 1)
                if (running_.compare_exchange_weak(n, n - 1, std::memory_order_acq_rel)) return;
        }
        std::lock_guard lock(m_);
        if (running_.fetch_sub(1, std::memory_order_acq_rel) == 1) done_.notify_all();
        if (slot_waiters_) slot_free_.notify_one();
    }

    // Waits until no task runs or waits to run (tasks that spawn more keep the
    // count up).
    void join_all() noexcept {
        detail::pool_ensure_worker();
        std::unique_lock lock(m_);
        done_.wait(lock, [&] { return running_.load(std::memory_order_acquire) == 0; });
    }

    task_group_options options_;
    std::atomic<std::size_t> running_{0};  // spawned and not finished: queued or running
    std::size_t slot_waiters_ = 0;
    std::atomic<long long> spawned_{0};
    mutable std::mutex m_;
    std::condition_variable slot_free_;
    std::condition_variable done_;
    detail::scope scope_;
    error first_;
    long long first_index_ = 0;
    std::string first_name_;
    failure_list later_;
    long long later_count_ = 0;
    long long canceled_count_ = 0;
    failed_task* all_ = nullptr;
    failed_task** all_last_ = &all_;
};

}  // namespace detail

// Structured concurrency that keeps its errors (see the top of this file).
using task_group = detail::basic_task_group<>;

}  // namespace strata
