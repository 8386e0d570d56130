// strata/result.hpp: strata::result<T>, a value or an error (T may be void), with
// monadic and_then/transform/or_else, and STRATA_TRY / STRATA_TRY_ASSIGN to pass a
// failure up. sizeof(result<int>) == 16, sizeof(result<void>) == 8.
#pragma once

#include <cassert>
#include <concepts>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

#include "error.hpp"
#include "exception.hpp"

// g++ 12 at -O2 warns "maybe-uninitialized" on the value union when it cannot
// follow that the error slot says which member lives; the warnings are false.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace strata {

// Marks an error as the failure of a result explicitly. Needed when T is itself an
// error type (result<error> from an error holds it as its value); elsewhere a plain
// error converts to a failed result.
class failure {
public:
    explicit failure(error e) noexcept : e_(std::move(e)) {}
    error& get() & noexcept { return e_; }
    error&& get() && noexcept { return std::move(e_); }
    // So that STRATA_TRY also works in functions that return a plain error.
    operator error() && noexcept { return std::move(e_); }

private:
    error e_;
};

template <class T>
class result;

namespace detail {
template <class T>
struct is_result : std::false_type {};
template <class T>
struct is_result<result<T>> : std::true_type {};

[[gnu::noinline]] inline frame* empty_failure() noexcept {
    frame_spec s;
    s.layer = &layer_info_of<untagged>;
    s.message = "an empty strata::error was used as the failure of a result";
    frame* f = allocate_or_degrade(s);
    return f ? f : &oom_frame_of<untagged>;
}

// The frame a failed result holds: an empty error cannot mark a failure (a failed
// result is one whose error is not empty), so it is replaced by one that says what
// happened.
inline error failure_of(error&& e) noexcept {
    frame* f = access::take(std::move(e));
    return access::adopt(f ? f : empty_failure());
}

[[noreturn]] inline void bad_access(const error& e) {
    throw_error(e ? e : access::adopt(&moved_from_result_frame));
}

// Moves the error out of a result's slot and leaves the moved-from marker, so a
// moved-from failed result is still failed (and never mistaken for a value).
inline error take_error(error& slot) noexcept {
    error out = std::move(slot);
    slot = access::adopt(&moved_from_result_frame);
    mark_unchecked(access::get(out));  // the caller's to check (STRATA_CHECKED)
    return out;
}

// For STRATA_TRY: the error of a failed result. Bound is the type the macro bound
// the expression to: a temporary (Bound is an rvalue reference) is destroyed,
// unseen, right after, so its error is taken, and where T needs no destructor its
// slot is simply emptied (no marker to store, none to test on destruction). A
// named result the caller passed (an lvalue) keeps its error: it is shared.
struct try_access {
    template <class Bound, class T>
    static error take(result<T>& r) noexcept {
        if constexpr (std::is_lvalue_reference_v<Bound>) {
            error out = r.err_;
            mark_unchecked(access::get(out));  // the caller's to check (STRATA_CHECKED)
            return out;
        }
        else if constexpr (std::is_void_v<T> || std::is_trivially_destructible_v<T>) {
            error out = std::move(r.err_);
            mark_unchecked(access::get(out));  // the caller's to check (STRATA_CHECKED)
            return out;
        }
        else
            return take_error(r.err_);
    }
};
}  // namespace detail

// A value of type T or an error. Converts implicitly from T (and whatever T can be
// made from) and from any strata error. A result converts to bool: true when it
// holds a value. value() on a failed result throws strata::exception carrying the
// error (aborts without exceptions); operator* and -> do not check.
template <class T>
class [[nodiscard]] result {
    static_assert(!std::is_reference_v<T>, "strata::result<T&> is not supported; use std::reference_wrapper");
    static_assert(!std::is_same_v<std::remove_cv_t<T>, failure>, "strata::result<failure> makes no sense");

public:
    using value_type = T;

    result() noexcept(std::is_nothrow_default_constructible_v<T>)
        requires std::is_default_constructible_v<T>
        : val_() {}

    template <class U = T>
        requires(std::is_constructible_v<T, U &&> && !std::is_same_v<std::remove_cvref_t<U>, result> &&
                 !std::is_same_v<std::remove_cvref_t<U>, failure> && !std::is_same_v<std::remove_cvref_t<U>, std::in_place_t> &&
                 (!strata_error<U> || strata_error<T>))
    result(U&& v) noexcept(std::is_nothrow_constructible_v<T, U&&>) : val_(std::forward<U>(v)) {}

    template <class... A>
        requires std::is_constructible_v<T, A&&...>
    explicit result(std::in_place_t, A&&... a) : val_(std::forward<A>(a)...) {}

    template <class E>
        requires(strata_error<E> && !strata_error<T>)
    result(E&& e) noexcept : err_(detail::failure_of(strata::error(std::forward<E>(e)))) {}

    result(failure f) noexcept : err_(detail::failure_of(std::move(f).get())) {}

    // Copyable and movable exactly when T is, like std::expected.
    result(const result& o) noexcept(std::is_nothrow_copy_constructible_v<T>)
        requires std::is_copy_constructible_v<T>
        : err_(o.err_) {
        if (!detail::holds(err_)) ::new (std::addressof(val_)) T(o.val_);
    }
    result(result&& o) noexcept(std::is_nothrow_move_constructible_v<T>)
        requires std::is_move_constructible_v<T>
    {
        if (detail::holds(o.err_))
            err_ = detail::take_error(o.err_);
        else
            ::new (std::addressof(val_)) T(std::move(o.val_));
    }
    // If T's copy or move throws, *this still holds what it held (or, when it held
    // a value and gets an error, the error): never a destroyed object.
    result& operator=(const result& o)
        requires(std::is_copy_constructible_v<T> && std::is_copy_assignable_v<T>)
    {
        if (this == &o) return *this;
        if (!detail::holds(err_) && !detail::holds(o.err_)) {
            val_ = o.val_;
        } else if (!detail::holds(err_)) {
            val_.~T();
            err_ = o.err_;
        } else if (!detail::holds(o.err_)) {
            ::new (std::addressof(val_)) T(o.val_);
            err_ = strata::error();
        } else {
            err_ = o.err_;
        }
        return *this;
    }
    result& operator=(result&& o) noexcept(std::is_nothrow_move_constructible_v<T> &&
                                           std::is_nothrow_move_assignable_v<T>)
        requires(std::is_move_constructible_v<T> && std::is_move_assignable_v<T>)
    {
        if (this == &o) return *this;
        if (!detail::holds(err_) && !detail::holds(o.err_)) {
            val_ = std::move(o.val_);
        } else if (!detail::holds(err_)) {
            val_.~T();
            err_ = detail::take_error(o.err_);
        } else if (!detail::holds(o.err_)) {
            ::new (std::addressof(val_)) T(std::move(o.val_));
            err_ = strata::error();
        } else {
            err_ = detail::take_error(o.err_);
        }
        return *this;
    }
    ~result() {
        if (!detail::holds(err_)) val_.~T();
    }

    bool has_value() const noexcept { return !err_; }
    explicit operator bool() const noexcept { return !err_; }

    T& value() & {
        if (err_) detail::bad_access(err_);
        return val_;
    }
    const T& value() const& {
        if (err_) detail::bad_access(err_);
        return val_;
    }
    T&& value() && {
        if (err_) detail::bad_access(err_);
        return std::move(val_);
    }
    template <class U>
    T value_or(U&& fallback) const& {
        return err_ ? static_cast<T>(std::forward<U>(fallback)) : val_;
    }
    template <class U>
    T value_or(U&& fallback) && {
        return err_ ? static_cast<T>(std::forward<U>(fallback)) : std::move(val_);
    }

    T& operator*() & noexcept {
        assert(!err_);
        return val_;
    }
    const T& operator*() const& noexcept {
        assert(!err_);
        return val_;
    }
    T&& operator*() && noexcept {
        assert(!err_);
        return std::move(val_);
    }
    T* operator->() noexcept {
        assert(!err_);
        return std::addressof(val_);
    }
    const T* operator->() const noexcept {
        assert(!err_);
        return std::addressof(val_);
    }

    // The error; empty when there is a value. From an rvalue the error is moved out.
    const strata::error& error() const& noexcept { return err_; }
    strata::error error() && noexcept { return detail::take_error(err_); }

    // f(value) -> result<U>; a failure passes through unchanged.
    template <class F>
    auto and_then(F&& f) & { return and_then_impl(*this, std::forward<F>(f)); }
    template <class F>
    auto and_then(F&& f) const& { return and_then_impl(*this, std::forward<F>(f)); }
    template <class F>
    auto and_then(F&& f) && { return and_then_impl(std::move(*this), std::forward<F>(f)); }

    // f(value) -> U, giving result<U> (U may be void); a failure passes through.
    template <class F>
    auto transform(F&& f) & { return transform_impl(*this, std::forward<F>(f)); }
    template <class F>
    auto transform(F&& f) const& { return transform_impl(*this, std::forward<F>(f)); }
    template <class F>
    auto transform(F&& f) && { return transform_impl(std::move(*this), std::forward<F>(f)); }

    // f(error) -> result<T>, called only on failure; a value passes through.
    template <class F>
    result or_else(F&& f) const& {
        if (!err_) return *this;
        return std::forward<F>(f)(err_);
    }
    template <class F>
    result or_else(F&& f) && {
        if (!err_) return std::move(*this);
        return std::forward<F>(f)(detail::take_error(err_));
    }

private:
    template <class Self, class F>
    static auto and_then_impl(Self&& self, F&& f) {
        using R = std::remove_cvref_t<std::invoke_result_t<F, decltype(*std::forward<Self>(self))>>;
        static_assert(detail::is_result<R>::value, "strata: and_then's function must return a strata::result");
        if (self.err_) return R(failure(std::forward<Self>(self).error()));
        return std::forward<F>(f)(*std::forward<Self>(self));
    }
    template <class Self, class F>
    static auto transform_impl(Self&& self, F&& f) {
        using U = std::remove_cv_t<std::invoke_result_t<F, decltype(*std::forward<Self>(self))>>;
        if (self.err_) return result<U>(failure(std::forward<Self>(self).error()));
        if constexpr (std::is_void_v<U>) {
            std::forward<F>(f)(*std::forward<Self>(self));
            return result<U>();
        } else {
            return result<U>(std::in_place, std::forward<F>(f)(*std::forward<Self>(self)));
        }
    }

    union {
        T val_;
    };
    strata::error err_;  // empty exactly when val_ holds a value
    friend struct detail::try_access;
};

template <>
class [[nodiscard]] result<void> {
public:
    using value_type = void;

    result() noexcept = default;
    template <class E>
        requires strata_error<E>
    result(E&& e) noexcept : err_(detail::failure_of(strata::error(std::forward<E>(e)))) {}
    result(failure f) noexcept : err_(detail::failure_of(std::move(f).get())) {}
    result(const result&) noexcept = default;
    result(result&& o) noexcept {
        if (detail::holds(o.err_)) err_ = detail::take_error(o.err_);
    }
    result& operator=(const result&) noexcept = default;
    result& operator=(result&& o) noexcept {
        if (this != &o) err_ = detail::holds(o.err_) ? detail::take_error(o.err_) : strata::error();
        return *this;
    }

    bool has_value() const noexcept { return !err_; }
    explicit operator bool() const noexcept { return !err_; }
    void value() const {
        if (err_) detail::bad_access(err_);
    }
    void operator*() const noexcept { assert(!err_); }

    const strata::error& error() const& noexcept { return err_; }
    strata::error error() && noexcept { return detail::take_error(err_); }

    template <class F>
    auto and_then(F&& f) const& {
        using R = std::remove_cvref_t<std::invoke_result_t<F>>;
        static_assert(detail::is_result<R>::value, "strata: and_then's function must return a strata::result");
        if (err_) return R(failure(err_));
        return std::forward<F>(f)();
    }
    template <class F>
    auto and_then(F&& f) && {
        using R = std::remove_cvref_t<std::invoke_result_t<F>>;
        static_assert(detail::is_result<R>::value, "strata: and_then's function must return a strata::result");
        if (err_) return R(failure(detail::take_error(err_)));
        return std::forward<F>(f)();
    }
    template <class F>
    auto transform(F&& f) const& {
        using U = std::remove_cv_t<std::invoke_result_t<F>>;
        if (err_) return result<U>(failure(err_));
        if constexpr (std::is_void_v<U>) {
            std::forward<F>(f)();
            return result<U>();
        } else {
            return result<U>(std::in_place, std::forward<F>(f)());
        }
    }
    template <class F>
    result or_else(F&& f) const& {
        if (!err_) return *this;
        return std::forward<F>(f)(err_);
    }

private:
    strata::error err_;
    friend struct detail::try_access;
};

static_assert(sizeof(result<int>) <= 16);
static_assert(sizeof(result<void>) == sizeof(void*));

}  // namespace strata

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#define STRATA_DETAIL_CAT2(a, b) a##b
#define STRATA_DETAIL_CAT(a, b) STRATA_DETAIL_CAT2(a, b)

// Evaluates `expr` (a strata::result); on failure returns the error from the
// enclosing function, which must return a strata::result or strata::error. The
// error is never copied: moved out of a temporary result, shared (one reference
// count increment) from a named one.
#define STRATA_TRY(expr)                                                              \
    do {                                                                              \
        auto&& strata_try_result_ = (expr);                                           \
        if (!strata_try_result_) [[unlikely]]                                         \
            return ::strata::failure(                                                 \
                ::strata::detail::try_access::take<decltype(strata_try_result_)>(strata_try_result_)); \
    } while (false)

// Evaluates `expr` (a strata::result<T>); on failure returns the error, else
// assigns the value to `var`, which may be a declaration (`auto x`, `int x`) or an
// existing variable. The value is moved out of a temporary result and copied
// from a named one.
#define STRATA_TRY_ASSIGN(var, expr) STRATA_DETAIL_TRY_ASSIGN(STRATA_DETAIL_CAT(strata_try_r_, __LINE__), var, expr)
#define STRATA_DETAIL_TRY_ASSIGN(tmp, var, expr)                          \
    auto&& tmp = (expr);                                                  \
    if (!tmp) [[unlikely]]                                                \
        return ::strata::failure(::strata::detail::try_access::take<decltype(tmp)>(tmp)); \
    var = *std::forward<decltype(tmp)>(tmp)
