// strata/task_group.hpp: strata::task_group, structured concurrency that keeps
// its errors. Each task runs on a thread of its own with its own stop token; the
// first real failure stops the others (their tokens carry it as the cause) and is
// what wait() returns, with the failures that came after it counted and attached
// as its secondary errors rather than dropped (Go's errgroup drops them).
// Cancellations are never the group's failure, and a canceled task's error holds
// the failure that stopped it as a secondary error, never as its cause. A group can require heartbeats, and a group made inside a
// strata task is stopped when that task is.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <mutex>
#include <stop_token>
#include <thread>
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
            busy = running_ > 0;
        }
        if (busy)
            scope_.stop(detail::frame_at<canceled>(scope_.where(), {}, nullptr,
                                                   "task_group destroyed before its tasks finished")
                            .with("stop_reason", "destroyed"));
        join_all();
        // Destroyed without wait(): its failures are dropped knowingly, not
        // forgotten (STRATA_CHECKED).
        detail::drop_checked(detail::access::get(first_));
        for (std::size_t i = 0; i < later_.n; ++i) detail::drop_checked(detail::access::get(later_.items[i]));
    }

    // Starts fn(stop_token) on a thread of its own. fn returns a strata::result
    // (its value is dropped); an exception it throws becomes an error. Tasks are
    // numbered from 1 in spawn order; a name, if given, appears next to the number
    // in the group's errors ("task 2 (index-docs)"). Any thread may spawn, a task
    // of the group included; with max_running, spawn() waits for a free slot (so a
    // task that spawns into its own full group waits for a sibling to finish).
    // If no thread can be had, that is recorded as a failure of the group.
    template <detail::stoppable_task F>
    void spawn(F&& fn, location where = location::current()) {
        spawn(std::string_view(), std::forward<F>(fn), where);
    }
    template <detail::stoppable_task F>
    void spawn(std::string_view name, F&& fn, location where = location::current()) {
        auto owned = std::make_shared<task>(where, scope_, name);
        task* t = owned.get();
        std::shared_ptr<task> finished;
        {
            std::unique_lock lock(m_);
            slot_free_.wait(lock, [&] { return options_.max_running == 0 || running_ < options_.max_running; });
            owned->next = std::move(tasks_);
            tasks_ = std::move(owned);
            t->index = ++spawned_;
            ++running_;
            t->sc.restart();  // not stalled for the time it waited for a slot
            finished = take_finished();
        }
        join_and_free(std::move(finished));
#if STRATA_HAS_EXCEPTIONS
        try {
#endif
            start_monitor();
            std::thread th([this, t, fn = std::forward<F>(fn)]() mutable {
                t->sc.restart();  // the heartbeat clock starts with the task
                auto r = [&] {
                    detail::task_context_guard in_task(t->sc);
                    return detail::call_task(fn, t->sc.token());
                }();
                finish(*t, r ? error() : std::move(r).error());
            });
            std::lock_guard lock(m_);
            t->thread = std::move(th);
            t->thread_set = true;
#if STRATA_HAS_EXCEPTIONS
        } catch (...) {
            {
                std::lock_guard lock(m_);
                t->thread_set = true;  // there is none to join
            }
            finish(*t, from_exception());
        }
#endif
        slot_free_.notify_all();
        monitor_wake_.notify_all();
    }

    // Waits for every task spawned so far (and those they spawn), then returns:
    // - the first real failure, with misc entries `failed_task` (its number) and
    //   `failed_task_name` (its name, if it has one),
    //   `later_failures` (how many came after it) and `canceled_tasks` (how
    //   many stopped as asked), and the first 8 later failures as secondary
    //   errors labeled "later failure 2 of 5" (e.secondaries(): printed and
    //   encoded, never taken for the cause by inner_as<T>() or find<L>()); a
    //   canceled error counts as asked for only when the task's token had been
    //   stopped, otherwise it is a failure like any other; or
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
            if (later_count_) {
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
                                                      spawned_)
                               .with("canceled_tasks", canceled_count_)
                               .with_secondary(detail::stopped_because_label, scope_.cause()));
        return {};
    }

    // Stops every task with the cause "<why>" (stop_reason "user"). The
    // cancellations it causes are not failures. The first cause is kept: after
    // a failure, or a second stop(), this does nothing.
    void stop(std::string_view why = "stopped on request", location where = location::current()) noexcept {
        scope_.stop(detail::frame_at<canceled>(where, {}, nullptr, "{}", why).with("stop_reason", "user"));
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

    struct task {
        task(location where, detail::scope& group, std::string_view name)
            : sc(where, &group, detail::scope::link::inherit), name(name) {}
        detail::scope sc;
        std::string name;
        long long index = 0;  // from 1, in spawn order; set under m_ before the task runs
        std::thread thread;        // guarded by m_
        bool thread_set = false;   // guarded by m_: `thread` is final
        bool running = true;       // guarded by m_
        std::shared_ptr<task> next;  // guarded by m_
    };

    // "task 3" or "task 3 (index-docs)", for messages. Never throws: a name that
    // does not fit is cut.
    static std::string_view label(const task& t, char (&buf)[128]) noexcept {
        const fmt::format_int number(t.index);
        std::size_t n = 0;
        auto add = [&](std::string_view part) noexcept {
            for (char c : part)
                if (n < sizeof buf) buf[n++] = c;
        };
        add("task ");
        add(std::string_view(number.data(), number.size()));
        if (!t.name.empty()) {
            add(" (");
            add(t.name);
            add(")");
        }
        return std::string_view(buf, n);
    }

    // Whether the task's own token was stopped for a missed beat.
    static bool stopped_for_stall(const task& t) noexcept {
        const error cause = t.sc.cause();
        const auto reason = cause.misc().find("stop_reason");
        return reason && reason->as_string() == "heartbeat";
    }

    // Records a task's failure (or nothing). Under m_; true when it was the first
    // real failure, so the group must stop.
    bool record(const task& t, error e) noexcept {
        if (!e) return false;
        if (e.is<canceled>() && t.sc.stop_requested()) {  // is<> checks it (STRATA_CHECKED)
            ++canceled_count_;
            return false;
        }
        if (!first_) {
            first_ = std::move(e);
            first_index_ = t.index;
#if STRATA_HAS_EXCEPTIONS
            try {
#endif
                first_name_ = t.name;
#if STRATA_HAS_EXCEPTIONS
            } catch (...) {
                // Out of memory: the number is enough.
            }
#endif
            return true;
        }
        ++later_count_;
        if (later_.n < attached_failures)
            later_.items[later_.n++] = std::move(e);
        else
            detail::drop_checked(detail::access::get(e));  // counted only
        return false;
    }

    void stop_for(const task& t, const error& failure) noexcept {
        char buf[128];
        scope_.stop(
            detail::frame_at<canceled>(scope_.where(), failure, nullptr, "{} of the group failed", label(t, buf))
                .with("stop_reason", "failure")
                .with("failed_task", t.index));
    }

    void finish(task& t, error e) noexcept {
        // A task stopped as stalled has had its failure recorded; its own
        // cancellation after that is not counted again.
        if (e && e.is<canceled>() && stopped_for_stall(t)) e = error();
        bool stop_now = false;
        error failure;
        {
            std::lock_guard lock(m_);
            --running_;
            t.running = false;
            stop_now = record(t, std::move(e));
            if (stop_now) failure = first_;
        }
        slot_free_.notify_all();
        monitor_wake_.notify_all();
        if (stop_now) stop_for(t, failure);
    }

    // Tasks whose work is over, taken out of tasks_ (a list linked by `next`) to
    // be joined. Under m_.
    std::shared_ptr<task> take_finished() noexcept {
        std::shared_ptr<task> done;
        for (std::shared_ptr<task>* at = &tasks_; *at;) {
            if (!(*at)->running && (*at)->thread_set) {
                std::shared_ptr<task> t = std::move(*at);
                *at = std::move(t->next);
                t->next = std::move(done);
                done = std::move(t);
            } else {
                at = &(*at)->next;
            }
        }
        return done;
    }

    // Joins the threads of a list of finished tasks and frees it, without
    // recursion however long it is.
    static void join_and_free(std::shared_ptr<task> list) noexcept {
        while (list) {
            if (list->thread.joinable()) list->thread.join();
            std::shared_ptr<task> next = std::move(list->next);
            list = std::move(next);
        }
    }

    // The heartbeat monitor: one thread per group that requires beats, started
    // with the first task.
    void start_monitor() {
        if (options_.heartbeat <= std::chrono::steady_clock::duration::zero()) return;
        std::lock_guard lock(m_);
        if (!monitor_.joinable()) monitor_ = std::thread([this]() noexcept { monitor(); });
    }

    void monitor() noexcept {
        using clock = std::chrono::steady_clock;
        const clock::duration every = options_.heartbeat;
        std::unique_lock lock(m_);
        while (!closing_) {
            const clock::time_point now = clock::now();
            clock::time_point wake = clock::time_point::max();
            // The first task that went silent, if any (one at a time, since
            // stopping it runs callbacks, which must not run under m_).
            std::shared_ptr<task> silent;
            detail::stall st{};
            for (const std::shared_ptr<task>* at = &tasks_; *at; at = &(*at)->next) {
                const task* p = at->get();
                // A task already stopped (by the group, or for a stall) is not
                // expected to beat any more.
                if (!p->running || p->sc.stop_requested()) continue;
                const clock::time_point last = p->sc.last_beat();
                if (now - last >= every) {
                    st = detail::stall_of(p->sc, every, now, last);
                    silent = *at;
                    break;
                }
                if (last + every < wake) wake = last + every;
            }
            if (silent) {
                lock.unlock();
                char buf[128];
                error e = detail::stalled_error(silent->sc.where(), label(*silent, buf), st);
                // Only a task that was still meant to run is stopped as stalled.
                if (silent->sc.stop(e)) {
                    bool stop_now = false;
                    {
                        std::lock_guard relock(m_);
                        stop_now = record(*silent, e);
                    }
                    if (stop_now) stop_for(*silent, e);
                }
                silent.reset();
                lock.lock();
                continue;
            }
            if (wake == clock::time_point::max())
                monitor_wake_.wait(lock);
            else
                monitor_wake_.wait_until(lock, wake);
        }
    }

    // Waits until no task runs (tasks that spawn more keep the count up), joins
    // their threads, then stops the monitor.
    void join_all() noexcept {
        std::shared_ptr<task> done;
        {
            std::unique_lock lock(m_);
            slot_free_.wait(lock, [&] {
                if (running_ > 0) return false;
                for (task* t = tasks_.get(); t; t = t->next.get())
                    if (!t->thread_set) return false;
                return true;
            });
            done = std::move(tasks_);
        }
        join_and_free(std::move(done));
        std::thread monitor;
        {
            std::lock_guard lock(m_);
            if (!monitor_.joinable()) return;
            closing_ = true;
            monitor = std::move(monitor_);
        }
        monitor_wake_.notify_all();
        monitor.join();
        std::lock_guard lock(m_);
        closing_ = false;
    }

    task_group_options options_;
    std::size_t running_ = 0;
    long long spawned_ = 0;
    mutable std::mutex m_;
    std::condition_variable slot_free_;
    std::condition_variable monitor_wake_;
    detail::scope scope_;
    std::shared_ptr<task> tasks_;  // not yet joined: a list linked by task::next
    std::thread monitor_;
    bool closing_ = false;
    error first_;
    long long first_index_ = 0;
    std::string first_name_;
    failure_list later_;
    long long later_count_ = 0;
    long long canceled_count_ = 0;
};

}  // namespace detail

// Structured concurrency that keeps its errors (see the top of this file).
using task_group = detail::basic_task_group<>;

}  // namespace strata
