// strata/task_group.hpp: strata::task_group, structured concurrency that keeps
// its errors. Each task runs on a thread of its own with its own stop token; the
// first real failure stops the others (their tokens carry it as the cause) and is
// what wait() returns, with the failures that came after it attached and counted
// rather than dropped (Go's errgroup drops them). Cancellations are never the
// group's failure. A group can require heartbeats, and a group made inside a
// strata task is stopped when that task is.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <stop_token>
#include <thread>
#include <utility>
#include <vector>

#include "cancel.hpp"
#include "error.hpp"
#include "format.hpp"
#include "location.hpp"
#include "result.hpp"

namespace strata {

// Options of a task_group.
struct task_group_options {
    // The most tasks running at once (0: no limit); spawn() waits for a free slot.
    std::size_t max_running = 0;
    // Greater than zero: every task must call strata::beat() at least this often.
    // A task that goes silent is stopped, and a timed_out error saying "stalled"
    // and when it last beat is a failure of the group.
    std::chrono::steady_clock::duration heartbeat{};
};

class task_group {
public:
    explicit task_group(std::size_t max_running = 0, location where = location::current())
        : task_group(task_group_options{max_running, {}}, where) {}
    explicit task_group(const task_group_options& options, location where = location::current())
        : options_(options), scope_(where, detail::parent_scope(), detail::scope::link::nest) {}
    task_group(const task_group&) = delete;
    task_group& operator=(const task_group&) = delete;
    // Waits for every task (it does not stop them: call stop() first for that).
    ~task_group() { join_all(); }

    // Starts fn(stop_token) on a thread of its own. fn returns a strata::result
    // (its value is dropped); an exception it throws becomes an error. Tasks are
    // numbered from 1 in the order they are spawned. If no thread can be had,
    // that is recorded as a failure of the group.
    template <detail::stoppable_task F>
    void spawn(F&& fn, location where = location::current()) {
        auto owned = std::make_unique<task>(where, scope_);
        task* t = owned.get();
        {
            std::unique_lock lock(m_);
            slot_free_.wait(lock, [&] { return options_.max_running == 0 || running_ < options_.max_running; });
            tasks_.push_back(std::move(owned));  // if this throws, nothing has changed
            t->index = ++spawned_;
            ++running_;
        }
#if STRATA_HAS_EXCEPTIONS
        try {
#endif
            start_monitor();
            threads_.emplace_back([this, t, fn = std::forward<F>(fn)]() mutable {
                auto r = [&] {
                    detail::task_context_guard in_task(t->sc);
                    return detail::call_task(fn, t->sc.token());
                }();
                finish(*t, r ? error() : std::move(r).error());
            });
#if STRATA_HAS_EXCEPTIONS
        } catch (...) {
            finish(*t, from_exception());
        }
#endif
    }

    // Waits for every task spawned so far, then:
    // - the first real failure (anything but a canceled error), with misc entries
    //   `later_failures` (how many came after it), `later_failure_1`... (their
    //   chains, up to 8) and `canceled_tasks` (how many stopped as asked); or
    // - when there was none but the group was stopped (stop(), or a parent) and
    //   tasks were canceled: a canceled error over the cause, saying how many; or
    // - success.
    [[nodiscard]] result<void> wait(location where = location::current()) {
        join_all();
        std::lock_guard lock(m_);
        if (first_) {
            error e = first_;
            if (!later_.empty()) {
                e.with("later_failures", later_count_);
                for (std::size_t i = 0; i < later_.size(); ++i)
                    detail::attach_chain(e, "later_failure_", i + 1, later_[i]);
            }
            if (canceled_count_) e.with("canceled_tasks", canceled_count_);
            return failure(std::move(e));
        }
        if (canceled_count_ && scope_.stop_requested())
            return failure(detail::frame_at<canceled>(where, scope_.cause(), nullptr, "{} of {} tasks canceled",
                                                      canceled_count_, spawned_)
                               .with("canceled_tasks", canceled_count_));
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

    // Why the group stopped (empty while it has not): "task N failed" over that
    // failure, the reason given to stop(), or "parent canceled" over the parent's
    // cause. A task that sees its token stopped returns canceled_by(token).
    error cause() const noexcept { return scope_.cause(); }

    // The first 8 failures that came after the first one (wait() counts them all).
    std::vector<error> later_failures() const {
        std::lock_guard lock(m_);
        return later_;
    }

private:
    static constexpr std::size_t attached_failures = 8;

    struct task {
        task(location where, detail::scope& group) : sc(where, &group, detail::scope::link::inherit) {}
        detail::scope sc;
        long long index = 0;  // from 1, in spawn order; set under m_ before the task runs
        bool running = true;  // guarded by m_
        bool stalled = false;
    };

    // Records a task's failure (or nothing). Under m_; true when it was the first
    // real failure, so the group must stop.
    bool record(error e) noexcept {
        if (!e) return false;
        if (e.is<canceled>()) {
            ++canceled_count_;
            return false;
        }
        if (!first_) {
            first_ = std::move(e);
            return true;
        }
        ++later_count_;
#if STRATA_HAS_EXCEPTIONS
        try {
#endif
            if (later_.size() < attached_failures) later_.push_back(std::move(e));
#if STRATA_HAS_EXCEPTIONS
        } catch (...) {
            // Out of memory: the failure stays counted.
        }
#endif
        return false;
    }

    void stop_for(long long index, const error& failure) noexcept {
        scope_.stop(detail::frame_at<canceled>(scope_.where(), failure, nullptr, "task {} of the group failed", index)
                        .with("stop_reason", "failure")
                        .with("failed_task", index));
    }

    void finish(task& t, error e) noexcept {
        bool stop_now = false;
        error failure;
        {
            std::lock_guard lock(m_);
            --running_;
            t.running = false;
            // A stalled task's failure was recorded when it was stopped; what it
            // returns after that counts only if it is a failure of its own (its
            // cancellation is not counted again).
            if (t.stalled && e.is<canceled>()) e = error();
            stop_now = record(std::move(e));
            if (stop_now) failure = first_;
        }
        slot_free_.notify_all();
        monitor_wake_.notify_all();
        if (stop_now) stop_for(t.index, failure);
    }

    // The heartbeat monitor: one thread per group that requires beats, started
    // with the first task.
    void start_monitor() {
        if (options_.heartbeat <= std::chrono::steady_clock::duration::zero() || monitor_.joinable()) return;
        monitor_ = std::thread([this]() noexcept { monitor(); });
    }

    void monitor() noexcept {
        using clock = std::chrono::steady_clock;
        const clock::duration every = options_.heartbeat;
        std::unique_lock lock(m_);
        while (!closing_) {
            const clock::time_point now = clock::now();
            clock::time_point wake = clock::time_point::max();
            std::vector<std::pair<task*, detail::stall>> silent;
            for (const std::unique_ptr<task>& p : tasks_) {
                task& t = *p;
                // A task already stopped (by the group, or for a stall) is not
                // expected to beat any more.
                if (!t.running || t.stalled || t.sc.stop_requested()) continue;
                const clock::time_point due = t.sc.last_beat() + every;
                if (now >= due) {
                    t.stalled = true;
#if STRATA_HAS_EXCEPTIONS
                    try {
#endif
                        silent.emplace_back(&t, detail::stall_of(t.sc, every, now));
#if STRATA_HAS_EXCEPTIONS
                    } catch (...) {
                        t.stalled = false;  // out of memory: looked at again next round
                    }
#endif
                } else if (due < wake) {
                    wake = due;
                }
            }
            if (!silent.empty()) {
                lock.unlock();
                for (auto& [t, st] : silent) {
                    char name[32];
                    const auto n = fmt::format_to_n(name, sizeof name, "task {}", t->index).size;
                    error e =
                        detail::stalled_error(t->sc.where(), std::string_view(name, n < sizeof name ? n : sizeof name), st);
                    // Only a task that was still meant to run is stopped as stalled.
                    if (!t->sc.stop(e)) {
                        std::lock_guard relock(m_);
                        t->stalled = false;
                        continue;
                    }
                    bool stop_now = false;
                    {
                        std::lock_guard relock(m_);
                        stop_now = record(e);
                    }
                    if (stop_now) stop_for(t->index, e);
                }
                lock.lock();
                continue;
            }
            if (wake == clock::time_point::max())
                monitor_wake_.wait(lock);
            else
                monitor_wake_.wait_until(lock, wake);
        }
    }

    void join_all() noexcept {
        for (std::thread& t : threads_)
            if (t.joinable()) t.join();
        if (monitor_.joinable()) {
            {
                std::lock_guard lock(m_);
                closing_ = true;
            }
            monitor_wake_.notify_all();
            monitor_.join();
            std::lock_guard lock(m_);
            closing_ = false;
        }
    }

    task_group_options options_;
    std::size_t running_ = 0;
    long long spawned_ = 0;
    mutable std::mutex m_;
    std::condition_variable slot_free_;
    std::condition_variable monitor_wake_;
    detail::scope scope_;
    std::vector<std::unique_ptr<task>> tasks_;  // stable addresses for the threads
    std::vector<std::thread> threads_;
    std::thread monitor_;
    bool closing_ = false;
    error first_;
    std::vector<error> later_;
    long long later_count_ = 0;
    long long canceled_count_ = 0;
};

}  // namespace strata
