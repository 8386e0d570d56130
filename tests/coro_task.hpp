// Shared by the coroutine tests: the smallest coroutine type that co_returns a
// strata::result<T> (its promise takes one in return_value), started eagerly,
// read once.
#pragma once

#include <coroutine>
#include <utility>

#include <strata/result.hpp>

namespace test {

template <class T>
class task {
public:
    struct promise_type {
        strata::result<T> r = strata::make_error("the coroutine did not co_return");
        task get_return_object() { return task(std::coroutine_handle<promise_type>::from_promise(*this)); }
        std::suspend_never initial_suspend() noexcept { return {}; }
        std::suspend_always final_suspend() noexcept { return {}; }
        void return_value(strata::result<T> v) { r = std::move(v); }
        void unhandled_exception() { r = strata::from_exception(); }
    };
    task(task&& o) noexcept : h_(std::exchange(o.h_, {})) {}
    task& operator=(task&&) = delete;
    ~task() {
        if (h_) h_.destroy();
    }
    bool done() const { return h_.done(); }
    strata::result<T> get() && { return std::move(h_.promise().r); }

private:
    explicit task(std::coroutine_handle<promise_type> h) : h_(h) {}
    std::coroutine_handle<promise_type> h_;
};

}  // namespace test
