// strata/task_group.hpp: strata::task_group, structured concurrency that keeps
// its errors. Tasks run on their own threads with a shared stop token; the first
// real failure stops the others and is what wait() returns, with the failures
// that came after it attached and counted rather than dropped (Go's errgroup
// drops them). Cancellations are never the group's failure.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <stop_token>
#include <thread>
#include <utility>
#include <vector>


#include "cancel.hpp"
#include "error.hpp"
#include "format.hpp"
#include "result.hpp"

namespace strata {

class task_group {
public:
    // max_running: most tasks running at once (0: no limit); spawn() waits for a
    // free slot.
    explicit task_group(std::size_t max_running = 0) noexcept : max_running_(max_running) {}
    task_group(const task_group&) = delete;
    task_group& operator=(const task_group&) = delete;
    // Waits for every task (it does not stop them: call stop() first for that).
    ~task_group() { join_all(); }

    // Starts fn(stop_token) on a thread of its own. fn returns a strata::result;
    // an exception it throws becomes an error. If no thread can be had, that is
    // recorded as a failure of the group.
    template <detail::stoppable_task F>
    void spawn(F&& fn) {
        {
            std::unique_lock lock(m_);
            slot_free_.wait(lock, [&] { return max_running_ == 0 || running_ < max_running_; });
            ++running_;
        }
#if STRATA_HAS_EXCEPTIONS
        try {
#endif
            threads_.emplace_back([this, fn = std::forward<F>(fn)]() mutable {
                auto r = detail::call_task(fn, source_.get_token());
                finish(r ? error() : std::move(r).error());
            });
#if STRATA_HAS_EXCEPTIONS
        } catch (...) {
            finish(from_exception());
        }
#endif
    }

    // Waits for every task spawned so far. The first real failure (not a
    // canceled error), with misc entries `later_failures` (how many came after
    // it) and `later_failure_1`... (their chains, up to 8), or success.
    [[nodiscard]] result<void> wait() {
        join_all();
        std::lock_guard lock(m_);
        if (!first_) return {};
        error e = first_;
        if (!later_.empty()) {
            e.with("later_failures", later_count_);
            for (std::size_t i = 0; i < later_.size(); ++i) detail::attach_chain(e, "later_failure_", i + 1, later_[i]);
        }
        return failure(std::move(e));
    }

    // Stops every task (their tokens fire) without a failure of the group.
    void stop() noexcept { source_.request_stop(); }

    // The group's token, stopped by the first real failure or by stop().
    std::stop_token token() const noexcept { return source_.get_token(); }

    // Why the group stopped: its first real failure (empty while there is none).
    // A task that sees its token stopped can wrap its canceled error over it.
    error cause() const {
        std::lock_guard lock(m_);
        return first_;
    }

    // The first 8 failures that came after the first one (wait() counts them all).
    std::vector<error> later_failures() const {
        std::lock_guard lock(m_);
        return later_;
    }

private:
    static constexpr std::size_t attached_failures = 8;

    void finish(error e) noexcept {
        bool stop_now = false;
        {
            std::lock_guard lock(m_);
            --running_;
            if (e && !e.is<canceled>()) {
                if (!first_) {
                    first_ = std::move(e);
                    stop_now = true;
                } else {
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
                }
            }
        }
        slot_free_.notify_all();
        if (stop_now) source_.request_stop();
    }

    void join_all() noexcept {
        for (std::thread& t : threads_)
            if (t.joinable()) t.join();
    }

    std::size_t max_running_;
    std::size_t running_ = 0;
    mutable std::mutex m_;
    std::condition_variable slot_free_;
    std::stop_source source_;
    std::vector<std::thread> threads_;
    error first_;
    std::vector<error> later_;
    long long later_count_ = 0;
};

}  // namespace strata
