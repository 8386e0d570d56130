// strata/result.hpp: strata::result<T>, a value or an error (T may be void), with
// the operations of C++23 std::expected<T, strata::error> (monadic and_then,
// transform, or_else, transform_error; emplace, swap, ==), and STRATA_TRY /
// STRATA_TRY_ASSIGN (STRATA_CO_TRY / STRATA_CO_TRY_ASSIGN in a coroutine) to pass a
// failure up. At a boundary, r.wrap<L>(fmt, args...), r.wrap_lazy<L>(f) and
// STRATA_TRY_WRAP / STRATA_TRY_WRAP_ASSIGN wrap a failure in one expression.
// sizeof(result<int>) == 16, sizeof(result<void>) == 8.
#pragma once

#include <cassert>
#include <concepts>
#include <initializer_list>
#include <memory>
#include <new>
#include <string_view>
#include <system_error>
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

// Marks an error as the failure of a result explicitly (std::expected's
// unexpected). Needed when T is itself an error type (result<error> from an error
// holds it as its value); elsewhere a plain error converts to a failed result.
class failure {
public:
    explicit failure(error e) noexcept : e_(std::move(e)) {}
    error& get() & noexcept { return e_; }
    const error& get() const& noexcept { return e_; }
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
template <class T>
inline constexpr bool is_result_v = is_result<std::remove_cvref_t<T>>::value;

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

// Moves the error out of a failed result's slot and leaves the moved-from
// marker, so a moved-from failed result is still failed (and never mistaken for
// a value). Only for a slot that holds an error.
inline error take_error(error& slot) noexcept {
    error out = std::move(slot);
    slot = access::adopt(&moved_from_result_frame);
    mark_unchecked(access::get(out));  // the caller's to check (STRATA_CHECKED)
    return out;
}

// std::invoke for the one- and zero-argument calls of the monadic operations
// (<functional> is not included for it).
template <class F, class... A>
constexpr decltype(auto) invoke(F&& f, A&&... a) {
    if constexpr (sizeof...(A) == 1 && std::is_member_function_pointer_v<std::remove_cvref_t<F>>)
        return ((std::forward<A>(a).*f)(), ...);
    else if constexpr (sizeof...(A) == 1 && std::is_member_object_pointer_v<std::remove_cvref_t<F>>)
        return ((std::forward<A>(a).*f), ...);
    else
        return std::forward<F>(f)(std::forward<A>(a)...);
}

// The checks of std::expected's converting constructor (the "8 checks"): T must
// not itself be made from a result<U>, or the two constructors would compete.
// Skipped when T is bool (LWG 3836): bool is made from anything with an explicit
// operator bool, a result included, and the error must not be lost through it.
template <class T, class U>
inline constexpr bool made_from_result =
    std::is_constructible_v<T, result<U>&> || std::is_constructible_v<T, result<U>> ||
    std::is_constructible_v<T, const result<U>&> || std::is_constructible_v<T, const result<U>> ||
    std::is_convertible_v<result<U>&, T> || std::is_convertible_v<result<U>, T> ||
    std::is_convertible_v<const result<U>&, T> || std::is_convertible_v<const result<U>, T>;

// For result::wrap_lazy: the message, from f(error) when f takes the error
// (const), else from f(). Called before the error is taken, so f sees it whole.
template <class F>
decltype(auto) lazy_message(F&& f, const error& e) {
    if constexpr (std::is_invocable_v<F, const error&>) {
        return std::forward<F>(f)(e);
    } else {
        static_assert(std::is_invocable_v<F>,
                      "strata: wrap_lazy's function must be callable as f() or f(const strata::error&)");
        return std::forward<F>(f)();
    }
}
template <class F>
inline constexpr bool lazy_nothrow = std::is_invocable_v<F, const error&> ? std::is_nothrow_invocable_v<F, const error&>
                                                                          : std::is_nothrow_invocable_v<F>;

// The frame result::wrap_lazy puts over `inner`: the message formatted with "{}".
template <layer_tag L, class Inner, class M>
[[nodiscard, gnu::always_inline]] inline wrapped_error<L> wrap_message(Inner&& inner, const M& message,
                                                                       location loc) noexcept {
    static_assert(!std::is_void_v<M>, "strata: wrap_lazy's function must return the message");
    static_assert(!strata_error<M>,
                  "strata: wrap_lazy's function returns the message, not an error (to replace the error, use transform_error)");
    static_assert(fmt::is_formattable<M>::value, "strata: wrap_lazy's message must be a string or formattable with fmt");
    return wrap_at<L>(std::forward<Inner>(inner), loc, "{}", fmt::make_format_args(message), format_origin::checked);
}

struct try_access;
}  // namespace detail

// A value of type T or an error: C++23 std::expected<T, strata::error>, with the
// differences docs/api.md lists (a strata error converts implicitly to a failure;
// a failed result never holds an empty error; error() is empty when there is a
// value; value() throws strata::exception). A result converts to bool: true when
// it holds a value. value() on a failed result throws strata::exception carrying
// the error (aborts without exceptions); operator* and -> do not check.
template <class T>
class [[nodiscard]] result {
    static_assert(!std::is_reference_v<T>, "strata::result<T&> is not supported; use std::reference_wrapper");
    static_assert(!std::is_function_v<T>, "strata::result of a function type is not supported");
    static_assert(!std::is_same_v<std::remove_cv_t<T>, failure>, "strata::result<failure> makes no sense");
    static_assert(!std::is_same_v<std::remove_cv_t<T>, std::in_place_t>, "strata::result<std::in_place_t> makes no sense");

    template <class U>
    static constexpr bool value_ctor_ok =
        !std::is_same_v<std::remove_cvref_t<U>, result> && !std::is_same_v<std::remove_cvref_t<U>, failure> &&
        !std::is_same_v<std::remove_cvref_t<U>, std::in_place_t> && std::is_constructible_v<T, U> &&
        (!strata_error<U> || strata_error<T>) &&
        (!std::is_same_v<std::remove_cv_t<T>, bool> || !detail::is_result_v<U>);  // LWG 3836

    template <class U>
    static constexpr bool convert_ok = std::is_same_v<std::remove_cv_t<T>, bool> || !detail::made_from_result<T, U>;

public:
    using value_type = T;
    using error_type = strata::error;
    using unexpected_type = failure;
    template <class U>
    using rebind = result<U>;

    result() noexcept(std::is_nothrow_default_constructible_v<T>)
        requires std::is_default_constructible_v<T>
        : val_() {}

    // From a value: implicit exactly when U converts implicitly to T.
    template <class U = T>
        requires value_ctor_ok<U>
    explicit(!std::is_convertible_v<U, T>) result(U&& v) noexcept(std::is_nothrow_constructible_v<T, U>)
        : val_(std::forward<U>(v)) {}

    template <class... A>
        requires std::is_constructible_v<T, A...>
    explicit result(std::in_place_t, A&&... a) noexcept(std::is_nothrow_constructible_v<T, A...>)
        : val_(std::forward<A>(a)...) {}

    template <class U, class... A>
        requires std::is_constructible_v<T, std::initializer_list<U>&, A...>
    explicit result(std::in_place_t, std::initializer_list<U> il, A&&... a) noexcept(
        std::is_nothrow_constructible_v<T, std::initializer_list<U>&, A...>)
        : val_(il, std::forward<A>(a)...) {}

    // From any strata error (std::expected needs unexpected(e) here): a failure.
    template <class E>
        requires(strata_error<E> && !strata_error<T>)
    result(E&& e) noexcept : err_(detail::failure_of(strata::error(std::forward<E>(e)))) {}

    result(failure f) noexcept : err_(detail::failure_of(std::move(f).get())) {}

    // From a result<U>: the value converted, or the same error.
    template <class U>
        requires(std::is_constructible_v<T, const U&> && convert_ok<U>)
    explicit(!std::is_convertible_v<const U&, T>) result(const result<U>& o) noexcept(
        std::is_nothrow_constructible_v<T, const U&>)
        : err_(o.err_) {
        if (!detail::holds(err_)) ::new (std::addressof(val_)) T(o.val_);
    }
    template <class U>
        requires(std::is_constructible_v<T, U> && convert_ok<U>)
    explicit(!std::is_convertible_v<U, T>) result(result<U>&& o) noexcept(std::is_nothrow_constructible_v<T, U>) {
        if (detail::holds(o.err_))
            err_ = detail::take_error(o.err_);
        else
            ::new (std::addressof(val_)) T(std::move(o.val_));
    }

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

    // Assignments give the strong guarantee where std::expected does: if T's
    // constructor throws, *this still holds what it held. (The error has its own
    // slot, so a value is built before the error is released.)
    result& operator=(const result& o) noexcept(std::is_nothrow_copy_constructible_v<T> &&
                                                std::is_nothrow_copy_assignable_v<T>)
        requires(std::is_copy_constructible_v<T> && std::is_copy_assignable_v<T>)
    {
        if (this == &o) return *this;
        if (!detail::holds(o.err_))
            assign_value(o.val_);
        else
            assign_error(strata::error(o.err_));
        return *this;
    }
    result& operator=(result&& o) noexcept(std::is_nothrow_move_constructible_v<T> &&
                                           std::is_nothrow_move_assignable_v<T>)
        requires(std::is_move_constructible_v<T> && std::is_move_assignable_v<T>)
    {
        if (this == &o) return *this;
        if (!detail::holds(o.err_))
            assign_value(std::move(o.val_));
        else
            assign_error(detail::take_error(o.err_));
        return *this;
    }
    template <class U = T>
        requires(value_ctor_ok<U> && std::is_assignable_v<T&, U>)
    result& operator=(U&& v) {
        assign_value(std::forward<U>(v));
        return *this;
    }
    template <class E>
        requires(strata_error<E> && !strata_error<T>)
    result& operator=(E&& e) noexcept {
        assign_error(detail::failure_of(strata::error(std::forward<E>(e))));
        return *this;
    }
    result& operator=(failure f) noexcept {
        assign_error(detail::failure_of(std::move(f).get()));
        return *this;
    }

    ~result() {
        if (!detail::holds(err_)) val_.~T();
    }

    // A value in place of whatever was held (T's constructor must not throw, as
    // for std::expected).
    template <class... A>
        requires std::is_nothrow_constructible_v<T, A...>
    T& emplace(A&&... a) noexcept {
        if (detail::holds(err_))
            err_ = strata::error();
        else
            val_.~T();
        return *::new (std::addressof(val_)) T(std::forward<A>(a)...);
    }
    template <class U, class... A>
        requires std::is_nothrow_constructible_v<T, std::initializer_list<U>&, A...>
    T& emplace(std::initializer_list<U> il, A&&... a) noexcept {
        if (detail::holds(err_))
            err_ = strata::error();
        else
            val_.~T();
        return *::new (std::addressof(val_)) T(il, std::forward<A>(a)...);
    }

    // Strong guarantee: if moving T throws, both results are unchanged.
    void swap(result& o) noexcept(std::is_nothrow_move_constructible_v<T> && std::is_nothrow_swappable_v<T>)
        requires(std::is_swappable_v<T> && std::is_move_constructible_v<T>)
    {
        const bool a = !detail::holds(err_), b = !detail::holds(o.err_);
        if (a && b) {
            using std::swap;
            swap(val_, o.val_);
        } else if (a) {
            swap_value_error(*this, o);
        } else if (b) {
            swap_value_error(o, *this);
        } else {
            std::swap(err_, o.err_);
        }
    }
    friend void swap(result& x, result& y) noexcept(noexcept(x.swap(y)))
        requires requires { x.swap(y); }
    {
        x.swap(y);
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
    const T&& value() const&& {
        if (err_) detail::bad_access(err_);
        return std::move(val_);
    }
    template <class U>
    T value_or(U&& fallback) const& noexcept(std::is_nothrow_copy_constructible_v<T> &&
                                             std::is_nothrow_convertible_v<U, T>) {
        static_assert(std::is_copy_constructible_v<T>, "strata: value_or needs a copyable T (or use std::move(r).value_or)");
        static_assert(std::is_convertible_v<U, T>, "strata: value_or's fallback must convert implicitly to T");
        if (has_value()) return val_;
        return static_cast<T>(std::forward<U>(fallback));
    }
    template <class U>
    T value_or(U&& fallback) && noexcept(std::is_nothrow_move_constructible_v<T> &&
                                         std::is_nothrow_convertible_v<U, T>) {
        static_assert(std::is_move_constructible_v<T>, "strata: value_or needs a movable T");
        static_assert(std::is_convertible_v<U, T>, "strata: value_or's fallback must convert implicitly to T");
        if (has_value()) return std::move(val_);
        return static_cast<T>(std::forward<U>(fallback));
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
    const T&& operator*() const&& noexcept {
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

    // The error; empty when there is a value. From a non-const rvalue the error is
    // moved out and the result stays failed (it holds a marker that says it was
    // moved from); a successful result is left alone.
    const strata::error& error() const& noexcept { return err_; }
    strata::error error() && noexcept { return detail::holds(err_) ? detail::take_error(err_) : strata::error(); }
    const strata::error&& error() const&& noexcept { return std::move(err_); }

    // The error, or `fallback` when there is a value.
    template <class G = strata::error>
    strata::error error_or(G&& fallback) const& {
        static_assert(std::is_convertible_v<G, strata::error>, "strata: error_or's fallback must be a strata error");
        if (has_value()) return std::forward<G>(fallback);
        return err_;
    }
    template <class G = strata::error>
    strata::error error_or(G&& fallback) && {
        static_assert(std::is_convertible_v<G, strata::error>, "strata: error_or's fallback must be a strata error");
        if (has_value()) return std::forward<G>(fallback);
        return detail::take_error(err_);
    }

    // f(value) -> result<U>; a failure passes through unchanged.
    template <class F>
    auto and_then(F&& f) & { return and_then_impl(*this, std::forward<F>(f)); }
    template <class F>
    auto and_then(F&& f) const& { return and_then_impl(*this, std::forward<F>(f)); }
    template <class F>
    auto and_then(F&& f) && { return and_then_impl(std::move(*this), std::forward<F>(f)); }
    template <class F>
    auto and_then(F&& f) const&& { return and_then_impl(std::move(*this), std::forward<F>(f)); }

    // f(value) -> U, giving result<U> (U may be void); a failure passes through.
    template <class F>
    auto transform(F&& f) & { return transform_impl(*this, std::forward<F>(f)); }
    template <class F>
    auto transform(F&& f) const& { return transform_impl(*this, std::forward<F>(f)); }
    template <class F>
    auto transform(F&& f) && { return transform_impl(std::move(*this), std::forward<F>(f)); }
    template <class F>
    auto transform(F&& f) const&& { return transform_impl(std::move(*this), std::forward<F>(f)); }

    // f(error) -> result<T>, called only on failure; a value passes through.
    template <class F>
        requires std::is_constructible_v<T, T&>
    auto or_else(F&& f) & { return or_else_impl(*this, std::forward<F>(f)); }
    template <class F>
        requires std::is_constructible_v<T, const T&>
    auto or_else(F&& f) const& { return or_else_impl(*this, std::forward<F>(f)); }
    template <class F>
        requires std::is_constructible_v<T, T&&>
    auto or_else(F&& f) && { return or_else_impl(std::move(*this), std::forward<F>(f)); }
    template <class F>
        requires std::is_constructible_v<T, const T&&>
    auto or_else(F&& f) const&& { return or_else_impl(std::move(*this), std::forward<F>(f)); }

    // f(error) -> a strata error (a wrap, say), giving result<T>; a value passes
    // through. (std::expected's transform_error may change the error type; here
    // it is always strata::error.)
    template <class F>
        requires std::is_constructible_v<T, T&>
    result transform_error(F&& f) & { return transform_error_impl(*this, std::forward<F>(f)); }
    template <class F>
        requires std::is_constructible_v<T, const T&>
    result transform_error(F&& f) const& { return transform_error_impl(*this, std::forward<F>(f)); }
    template <class F>
        requires std::is_constructible_v<T, T&&>
    result transform_error(F&& f) && { return transform_error_impl(std::move(*this), std::forward<F>(f)); }
    template <class F>
        requires std::is_constructible_v<T, const T&&>
    result transform_error(F&& f) const&& { return transform_error_impl(std::move(*this), std::forward<F>(f)); }

    // A boundary's wrap in one expression (anyhow's .context(), error-stack's
    // change_context): on failure, the same result<T> failed with
    // wrap<L>(error, fmt, args...), called from the caller's line; a value passes
    // through (moved, or copied from a named result), nothing formatted.
    //   return read_file(path).wrap<strata::low_level>("read config {}", path);
    // The arguments are evaluated before the error is taken, so one may read the
    // error (r.error().message()): nothing here is ever moved from. From an rvalue
    // the error is taken over; from a named (or const) result it is shared (one
    // reference count) and the value copied.
    template <layer_tag L = untagged, class... Args>
    [[nodiscard, gnu::always_inline]] result wrap(format_string<Args...> fmt, Args&&... args) && noexcept(
        std::is_nothrow_move_constructible_v<T>) {
        if (!detail::holds(err_)) return result(std::in_place, std::move(val_));
        return failure(strata::wrap<L>(detail::take_error(err_), fmt, std::forward<Args>(args)...));
    }
    template <layer_tag L = untagged, class... Args>
    [[nodiscard, gnu::always_inline]] result wrap(format_string<Args...> fmt, Args&&... args) const& noexcept(
        std::is_nothrow_copy_constructible_v<T>) {
        static_assert(std::is_copy_constructible_v<T>,
                      "strata: r.wrap<L>(...) on a named result copies its value, and T is not copyable: write std::move(r).wrap<L>(...)");
        if constexpr (std::is_copy_constructible_v<T>) {
            if (!detail::holds(err_)) return result(std::in_place, val_);
            return failure(strata::wrap<L>(err_, fmt, std::forward<Args>(args)...));
        } else {
            return failure(strata::error());
        }
    }
    // The same with the message made by f() or f(const strata::error&) (anyhow's
    // with_context), called only on failure, before the error is taken: for a
    // message that costs something to make. f returns the message (a string, or
    // anything fmt formats, sensitive(x) included).
    //   return load(id).wrap_lazy<strata::low_level>([&] { return describe(id); });
    template <layer_tag L = untagged, class F>
    [[nodiscard, gnu::always_inline]] result wrap_lazy(F&& f, location loc = location::current()) && noexcept(
        std::is_nothrow_move_constructible_v<T> && detail::lazy_nothrow<F>) {
        if (!detail::holds(err_)) return result(std::in_place, std::move(val_));
        auto&& message = detail::lazy_message(std::forward<F>(f), std::as_const(err_));
        return failure(detail::wrap_message<L>(detail::take_error(err_), message, loc));
    }
    template <layer_tag L = untagged, class F>
    [[nodiscard, gnu::always_inline]] result wrap_lazy(F&& f, location loc = location::current()) const& noexcept(
        std::is_nothrow_copy_constructible_v<T> && detail::lazy_nothrow<F>) {
        static_assert(std::is_copy_constructible_v<T>,
                      "strata: r.wrap_lazy<L>(...) on a named result copies its value, and T is not copyable: write std::move(r).wrap_lazy<L>(...)");
        if constexpr (std::is_copy_constructible_v<T>) {
            if (!detail::holds(err_)) return result(std::in_place, val_);
            auto&& message = detail::lazy_message(std::forward<F>(f), err_);
            return failure(detail::wrap_message<L>(err_, message, loc));
        } else {
            return failure(strata::error());
        }
    }

    // Adds a misc entry to the error's outermost frame (error::with) when this
    // failed; nothing when it holds a value. After wrap, the entry is the wrap's:
    //   return read_file(path).wrap<strata::low_level>("read config").with("path", path);
    template <class V>
    result& with(std::string_view key, const V& value) & noexcept {
        if (detail::holds(err_)) err_.with(key, value);
        return *this;
    }
    template <class V>
    result with(std::string_view key, const V& value) && noexcept(std::is_nothrow_move_constructible_v<T>) {
        if (detail::holds(err_)) err_.with(key, value);
        return std::move(*this);
    }

    // Equal: both values and equal, or both failed with the same error (the same
    // chain: error identity, as same_as).
    template <class U>
        requires(!std::is_void_v<U>)
    friend bool operator==(const result& x, const result<U>& y) {
        if (x.has_value()) return y.has_value() && static_cast<bool>(*x == *y);
        return !y.has_value() && x.err_.same_as(y.error());
    }
    // Only when *x == v is valid (as C++26 has it; C++23 makes a bad one
    // ill-formed). R is deduced, so that nothing converts to a result here (a
    // conversion would make the check of *x == v recurse through other types'
    // operator==, Catch's expression templates for one).
    template <class R, class U>
        requires(std::is_same_v<R, result> && !detail::is_result_v<U> && !std::is_same_v<U, failure> &&
                 requires(const T& a, const U& b) {
                     { a == b } -> std::convertible_to<bool>;
                 })
    friend bool operator==(const R& x, const U& v) {
        return x.has_value() && static_cast<bool>(*x == v);
    }
    friend bool operator==(const result& x, const failure& f) noexcept {
        return !x.has_value() && x.err_.same_as(f.get());
    }

private:
    template <class V>
    void assign_value(V&& v) {
        if (!detail::holds(err_)) {
            val_ = std::forward<V>(v);
        } else {
            ::new (std::addressof(val_)) T(std::forward<V>(v));  // may throw: the error stays
            err_ = strata::error();
        }
    }
    void assign_error(strata::error&& e) noexcept {
        if (!detail::holds(err_)) val_.~T();
        err_ = std::move(e);
    }
    static void swap_value_error(result& v, result& e) {
        ::new (std::addressof(e.val_)) T(std::move(v.val_));  // may throw: nothing changed
        v.val_.~T();
        v.err_ = std::move(e.err_);  // e's slot is empty now: e holds the value
    }

    template <class Self, class F>
    static auto and_then_impl(Self&& self, F&& f) {
        using R = std::remove_cvref_t<std::invoke_result_t<F, decltype(*std::forward<Self>(self))>>;
        static_assert(detail::is_result<R>::value, "strata: and_then's function must return a strata::result");
        if (!self.has_value()) return R(failure(std::forward<Self>(self).error()));
        return detail::invoke(std::forward<F>(f), *std::forward<Self>(self));
    }
    template <class Self, class F>
    static auto transform_impl(Self&& self, F&& f) {
        using U = std::remove_cv_t<std::invoke_result_t<F, decltype(*std::forward<Self>(self))>>;
        if (!self.has_value()) return result<U>(failure(std::forward<Self>(self).error()));
        if constexpr (std::is_void_v<U>) {
            detail::invoke(std::forward<F>(f), *std::forward<Self>(self));
            return result<U>();
        } else {
            return result<U>(std::in_place, detail::invoke(std::forward<F>(f), *std::forward<Self>(self)));
        }
    }
    template <class Self, class F>
    static auto or_else_impl(Self&& self, F&& f) {
        using G = std::remove_cvref_t<std::invoke_result_t<F, decltype(std::forward<Self>(self).error())>>;
        static_assert(detail::is_result<G>::value && std::is_same_v<typename G::value_type, T>,
                      "strata: or_else's function must return a strata::result of the same value type");
        if (self.has_value()) return G(std::in_place, *std::forward<Self>(self));
        return detail::invoke(std::forward<F>(f), std::forward<Self>(self).error());
    }
    template <class Self, class F>
    static result transform_error_impl(Self&& self, F&& f) {
        using G = std::remove_cvref_t<std::invoke_result_t<F, decltype(std::forward<Self>(self).error())>>;
        static_assert(strata_error<G>, "strata: transform_error's function must return a strata error");
        if (self.has_value()) return result(std::in_place, *std::forward<Self>(self));
        return failure(detail::invoke(std::forward<F>(f), std::forward<Self>(self).error()));
    }

    union {
        T val_;
    };
    strata::error err_;  // empty exactly when val_ holds a value
    template <class>
    friend class result;
    friend struct detail::try_access;
};

template <>
class [[nodiscard]] result<void> {
public:
    using value_type = void;
    using error_type = strata::error;
    using unexpected_type = failure;
    template <class U>
    using rebind = result<U>;

    result() noexcept = default;
    explicit result(std::in_place_t) noexcept {}
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
    template <class E>
        requires strata_error<E>
    result& operator=(E&& e) noexcept {
        err_ = detail::failure_of(strata::error(std::forward<E>(e)));
        return *this;
    }
    result& operator=(failure f) noexcept {
        err_ = detail::failure_of(std::move(f).get());
        return *this;
    }

    void emplace() noexcept { err_ = strata::error(); }
    void swap(result& o) noexcept { std::swap(err_, o.err_); }
    friend void swap(result& x, result& y) noexcept { x.swap(y); }

    bool has_value() const noexcept { return !err_; }
    explicit operator bool() const noexcept { return !err_; }
    void value() const& {
        if (err_) detail::bad_access(err_);
    }
    void value() && {
        if (err_) detail::bad_access(err_);
    }
    void operator*() const noexcept { assert(!err_); }

    const strata::error& error() const& noexcept { return err_; }
    strata::error error() && noexcept { return detail::holds(err_) ? detail::take_error(err_) : strata::error(); }
    const strata::error&& error() const&& noexcept { return std::move(err_); }

    template <class G = strata::error>
    strata::error error_or(G&& fallback) const& {
        static_assert(std::is_convertible_v<G, strata::error>, "strata: error_or's fallback must be a strata error");
        if (has_value()) return std::forward<G>(fallback);
        return err_;
    }
    template <class G = strata::error>
    strata::error error_or(G&& fallback) && {
        static_assert(std::is_convertible_v<G, strata::error>, "strata: error_or's fallback must be a strata error");
        if (has_value()) return std::forward<G>(fallback);
        return detail::take_error(err_);
    }

    template <class F>
    auto and_then(F&& f) & { return and_then_impl(*this, std::forward<F>(f)); }
    template <class F>
    auto and_then(F&& f) const& { return and_then_impl(*this, std::forward<F>(f)); }
    template <class F>
    auto and_then(F&& f) && { return and_then_impl(std::move(*this), std::forward<F>(f)); }
    template <class F>
    auto and_then(F&& f) const&& { return and_then_impl(std::move(*this), std::forward<F>(f)); }

    template <class F>
    auto transform(F&& f) & { return transform_impl(*this, std::forward<F>(f)); }
    template <class F>
    auto transform(F&& f) const& { return transform_impl(*this, std::forward<F>(f)); }
    template <class F>
    auto transform(F&& f) && { return transform_impl(std::move(*this), std::forward<F>(f)); }
    template <class F>
    auto transform(F&& f) const&& { return transform_impl(std::move(*this), std::forward<F>(f)); }

    template <class F>
    auto or_else(F&& f) & { return or_else_impl(*this, std::forward<F>(f)); }
    template <class F>
    auto or_else(F&& f) const& { return or_else_impl(*this, std::forward<F>(f)); }
    template <class F>
    auto or_else(F&& f) && { return or_else_impl(std::move(*this), std::forward<F>(f)); }
    template <class F>
    auto or_else(F&& f) const&& { return or_else_impl(std::move(*this), std::forward<F>(f)); }

    template <class F>
    result transform_error(F&& f) & { return transform_error_impl(*this, std::forward<F>(f)); }
    template <class F>
    result transform_error(F&& f) const& { return transform_error_impl(*this, std::forward<F>(f)); }
    template <class F>
    result transform_error(F&& f) && { return transform_error_impl(std::move(*this), std::forward<F>(f)); }
    template <class F>
    result transform_error(F&& f) const&& { return transform_error_impl(std::move(*this), std::forward<F>(f)); }

    // As result<T>'s wrap, wrap_lazy and with.
    template <layer_tag L = untagged, class... Args>
    [[nodiscard, gnu::always_inline]] result wrap(format_string<Args...> fmt, Args&&... args) && noexcept {
        if (!detail::holds(err_)) return result();
        return failure(strata::wrap<L>(detail::take_error(err_), fmt, std::forward<Args>(args)...));
    }
    template <layer_tag L = untagged, class... Args>
    [[nodiscard, gnu::always_inline]] result wrap(format_string<Args...> fmt, Args&&... args) const& noexcept {
        if (!detail::holds(err_)) return result();
        return failure(strata::wrap<L>(err_, fmt, std::forward<Args>(args)...));
    }
    template <layer_tag L = untagged, class F>
    [[nodiscard, gnu::always_inline]] result wrap_lazy(F&& f, location loc = location::current()) && noexcept(
        detail::lazy_nothrow<F>) {
        if (!detail::holds(err_)) return result();
        auto&& message = detail::lazy_message(std::forward<F>(f), std::as_const(err_));
        return failure(detail::wrap_message<L>(detail::take_error(err_), message, loc));
    }
    template <layer_tag L = untagged, class F>
    [[nodiscard, gnu::always_inline]] result wrap_lazy(F&& f, location loc = location::current()) const& noexcept(
        detail::lazy_nothrow<F>) {
        if (!detail::holds(err_)) return result();
        auto&& message = detail::lazy_message(std::forward<F>(f), err_);
        return failure(detail::wrap_message<L>(err_, message, loc));
    }
    template <class V>
    result& with(std::string_view key, const V& value) & noexcept {
        if (detail::holds(err_)) err_.with(key, value);
        return *this;
    }
    template <class V>
    result with(std::string_view key, const V& value) && noexcept {
        if (detail::holds(err_)) err_.with(key, value);
        return std::move(*this);
    }

    template <class U>
        requires std::is_void_v<U>
    friend bool operator==(const result& x, const result<U>& y) noexcept {
        if (x.has_value()) return y.has_value();
        return !y.has_value() && x.err_.same_as(y.error());
    }
    friend bool operator==(const result& x, const failure& f) noexcept {
        return !x.has_value() && x.err_.same_as(f.get());
    }

private:
    template <class Self, class F>
    static auto and_then_impl(Self&& self, F&& f) {
        using R = std::remove_cvref_t<std::invoke_result_t<F>>;
        static_assert(detail::is_result<R>::value, "strata: and_then's function must return a strata::result");
        if (!self.has_value()) return R(failure(std::forward<Self>(self).error()));
        return std::forward<F>(f)();
    }
    template <class Self, class F>
    static auto transform_impl(Self&& self, F&& f) {
        using U = std::remove_cv_t<std::invoke_result_t<F>>;
        if (!self.has_value()) return result<U>(failure(std::forward<Self>(self).error()));
        if constexpr (std::is_void_v<U>) {
            std::forward<F>(f)();
            return result<U>();
        } else {
            return result<U>(std::in_place, std::forward<F>(f)());
        }
    }
    template <class Self, class F>
    static auto or_else_impl(Self&& self, F&& f) {
        using G = std::remove_cvref_t<std::invoke_result_t<F, decltype(std::forward<Self>(self).error())>>;
        static_assert(detail::is_result<G>::value && std::is_void_v<typename G::value_type>,
                      "strata: or_else's function must return a strata::result of the same value type");
        if (self.has_value()) return G();
        return detail::invoke(std::forward<F>(f), std::forward<Self>(self).error());
    }
    template <class Self, class F>
    static result transform_error_impl(Self&& self, F&& f) {
        using G = std::remove_cvref_t<std::invoke_result_t<F, decltype(std::forward<Self>(self).error())>>;
        static_assert(strata_error<G>, "strata: transform_error's function must return a strata error");
        if (self.has_value()) return result();
        return failure(detail::invoke(std::forward<F>(f), std::forward<Self>(self).error()));
    }

    strata::error err_;
    friend struct detail::try_access;
};

static_assert(sizeof(result<int>) <= 16);
static_assert(sizeof(result<void>) == sizeof(void*));

namespace detail {

// What STRATA_TRY accepts: a result<T> or a strata error, any value category,
// const included.
template <class X>
inline constexpr bool tryable = is_result_v<X> || strata_error<X>;
// STRATA_TRY_WRAP also takes a std::error_code (failed when it is not zero).
template <class X>
inline constexpr bool wrap_tryable = tryable<X> || std::is_same_v<std::remove_cvref_t<X>, std::error_code>;
template <class X>
struct has_value_type : std::false_type {};
template <class T>
struct has_value_type<result<T>> : std::bool_constant<!std::is_void_v<T>> {};
template <class X>
inline constexpr bool try_assignable = has_value_type<std::remove_cvref_t<X>>::value;

// For STRATA_TRY: whether the bound expression failed, and its error. Bound is
// the type the macro bound the expression to: a non-const temporary (Bound is an
// rvalue reference) is destroyed, unseen, right after, so its error is taken, and
// where T needs no destructor its slot is simply emptied (no marker to store, none
// to test on destruction). A named result the caller passed (an lvalue), or a
// const one, keeps its error: it is shared.
struct try_access {
    template <class X>
    static bool failed(const X& x) noexcept {
        if constexpr (is_result_v<X>)
            return !x.has_value();
        else if constexpr (strata_error<X>)
            return static_cast<bool>(x);
        else if constexpr (std::is_same_v<std::remove_cv_t<X>, std::error_code>)
            return static_cast<bool>(x);  // STRATA_TRY_WRAP only
        else
            return false;  // not tryable: the macro's static_assert says so
    }

    template <class Bound, class X>
    static error take(X& x) noexcept {
        constexpr bool steal = std::is_rvalue_reference_v<Bound> && !std::is_const_v<X>;
        if constexpr (is_result_v<X>) {
            using T = typename std::remove_cv_t<X>::value_type;
            if constexpr (!steal) {
                error out = x.err_;
                mark_unchecked(access::get(out));  // the caller's to check (STRATA_CHECKED)
                return out;
            } else if constexpr (std::is_void_v<T> || std::is_trivially_destructible_v<T>) {
                error out = std::move(x.err_);
                mark_unchecked(access::get(out));  // the caller's to check (STRATA_CHECKED)
                return out;
            } else {
                return take_error(x.err_);
            }
        } else if constexpr (strata_error<X>) {
            error out = steal ? error(std::move(x)) : error(x);
            mark_unchecked(access::get(out));  // the caller's to check (STRATA_CHECKED)
            return out;
        } else {
            return error();  // not tryable: the macro's static_assert says so
        }
    }

    // For STRATA_TRY_WRAP: the failure wrapped in layer L. The format arguments
    // are evaluated (as this call's arguments) before the error is taken.
    template <layer_tag L, class Bound, class X, class... Args>
    [[nodiscard, gnu::always_inline]] static wrapped_error<L> wrap(X& x, format_string<Args...> fmt,
                                                                   Args&&... args) noexcept {
        if constexpr (std::is_same_v<std::remove_cv_t<X>, std::error_code>)
            return strata::wrap<L>(std::as_const(x), fmt, std::forward<Args>(args)...);
        else
            return strata::wrap<L>(take<Bound>(x), fmt, std::forward<Args>(args)...);
    }

    // For STRATA_TRY_ASSIGN: the value, moved from a non-const temporary.
    struct not_a_value {
        template <class V>
        operator V() const;  // never defined: only where the macro's static_assert failed
    };
    template <class Bound, class X>
    static decltype(auto) value(X& x) noexcept {
        if constexpr (try_assignable<X>)
            return *static_cast<Bound&&>(x);
        else
            return not_a_value{};  // not a result with a value: the macro's static_assert says so
    }
};

}  // namespace detail

}  // namespace strata

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#define STRATA_DETAIL_CAT2(a, b) a##b
#define STRATA_DETAIL_CAT(a, b) STRATA_DETAIL_CAT2(a, b)

// Evaluates `expr` (a strata::result<T>, any value category, const included, or
// a plain strata::error); on failure (a non-empty error) returns the error from
// the enclosing function, which must return a strata::result or strata::error;
// otherwise continues. The error is never copied: moved out of a temporary, shared
// (one reference count increment) from a named or const one.
#define STRATA_TRY(...) STRATA_DETAIL_TRY(return, STRATA_DETAIL_CAT(strata_try_, __COUNTER__), __VA_ARGS__)
// The same in a coroutine whose promise takes a strata::result (co_return).
#define STRATA_CO_TRY(...) STRATA_DETAIL_TRY(co_return, STRATA_DETAIL_CAT(strata_try_, __COUNTER__), __VA_ARGS__)

#define STRATA_DETAIL_TRY(ret, tmp, ...)                                                               \
    do {                                                                                               \
        auto&& tmp = (__VA_ARGS__);                                                                    \
        static_assert(::strata::detail::tryable<decltype(tmp)>,                                        \
                      "STRATA_TRY(expr): expr must be a strata::result<T> or a strata::error");        \
        if (::strata::detail::try_access::failed(tmp)) [[unlikely]]                                    \
            ret ::strata::failure(::strata::detail::try_access::take<decltype(tmp)>(tmp));             \
    } while (false)

// Evaluates `expr` (a strata::result<T>); on failure returns the error, else
// assigns the value to `var`, which may be a declaration (`auto x`, `int x`,
// `std::pair<int, int> p`: commas in the type are fine) or an existing variable.
// The expression is the last argument (a comma in it needs parentheses). The
// value is moved out of a temporary result and copied from a named one. Any
// number of these may share a line (one macro of the user's expanding to two).
#define STRATA_TRY_ASSIGN(...)                                                                         \
    STRATA_DETAIL_TRY_ASSIGN(return, STRATA_DETAIL_CAT(strata_try_r_, __COUNTER__),                   \
                             STRATA_DETAIL_CAT(STRATA_DETAIL_LAST_, STRATA_DETAIL_NARGS(__VA_ARGS__))(__VA_ARGS__), \
                             STRATA_DETAIL_CAT(STRATA_DETAIL_INIT_, STRATA_DETAIL_NARGS(__VA_ARGS__))(__VA_ARGS__))
#define STRATA_CO_TRY_ASSIGN(...)                                                                      \
    STRATA_DETAIL_TRY_ASSIGN(co_return, STRATA_DETAIL_CAT(strata_try_r_, __COUNTER__),                \
                             STRATA_DETAIL_CAT(STRATA_DETAIL_LAST_, STRATA_DETAIL_NARGS(__VA_ARGS__))(__VA_ARGS__), \
                             STRATA_DETAIL_CAT(STRATA_DETAIL_INIT_, STRATA_DETAIL_NARGS(__VA_ARGS__))(__VA_ARGS__))

#define STRATA_DETAIL_TRY_ASSIGN(ret, tmp, expr, ...)                                                  \
    auto&& tmp = (expr);                                                                               \
    static_assert(::strata::detail::try_assignable<decltype(tmp)>,                                     \
                  "STRATA_TRY_ASSIGN(var, expr): expr must be a strata::result<T> with a value (T not void)"); \
    if (::strata::detail::try_access::failed(tmp)) [[unlikely]]                                        \
        ret ::strata::failure(::strata::detail::try_access::take<decltype(tmp)>(tmp));                 \
    __VA_ARGS__ = ::strata::detail::try_access::value<decltype(tmp)>(tmp)

// STRATA_TRY with a wrap: on failure returns wrap<L>(error, fmt, args...) (the
// caller's line as its call site); otherwise continues. `expr` is as for
// STRATA_TRY, or a std::error_code (a failure when it is not zero); a comma in it
// needs parentheses. The format string is checked at compile time, and the
// arguments are evaluated only on failure, before the error is taken from `expr`.
//   STRATA_TRY_WRAP(strata::low_level, write_all(fd, buf), "write {} bytes to {}", buf.size(), path);
#define STRATA_TRY_WRAP(L, expr, ...) \
    STRATA_DETAIL_TRY_WRAP(return, STRATA_DETAIL_CAT(strata_try_, __COUNTER__), L, expr, __VA_ARGS__)
#define STRATA_CO_TRY_WRAP(L, expr, ...) \
    STRATA_DETAIL_TRY_WRAP(co_return, STRATA_DETAIL_CAT(strata_try_, __COUNTER__), L, expr, __VA_ARGS__)

#define STRATA_DETAIL_TRY_WRAP(ret, tmp, L, expr, ...)                                                 \
    do {                                                                                               \
        auto&& tmp = (expr);                                                                           \
        static_assert(::strata::detail::wrap_tryable<decltype(tmp)>,                                   \
                      "STRATA_TRY_WRAP(L, expr, fmt, args...): expr must be a strata::result<T>, a strata::error or a std::error_code"); \
        if (::strata::detail::try_access::failed(tmp)) [[unlikely]]                                    \
            ret ::strata::failure(::strata::detail::try_access::wrap<L, decltype(tmp)>(tmp, __VA_ARGS__)); \
    } while (false)

// STRATA_TRY_ASSIGN with a wrap: declares or assigns `var` from the value, or
// returns wrap<L>(error, fmt, args...). `var` comes first and must not contain a
// comma (`auto x`, `int x`, or a type alias); a comma in `expr` needs parentheses.
//   STRATA_TRY_WRAP_ASSIGN(auto text, strata::low_level, read_file(path), "read config {}", path);
#define STRATA_TRY_WRAP_ASSIGN(var, L, expr, ...) \
    STRATA_DETAIL_TRY_WRAP_ASSIGN(return, STRATA_DETAIL_CAT(strata_try_r_, __COUNTER__), var, L, expr, __VA_ARGS__)
#define STRATA_CO_TRY_WRAP_ASSIGN(var, L, expr, ...) \
    STRATA_DETAIL_TRY_WRAP_ASSIGN(co_return, STRATA_DETAIL_CAT(strata_try_r_, __COUNTER__), var, L, expr, __VA_ARGS__)

#define STRATA_DETAIL_TRY_WRAP_ASSIGN(ret, tmp, var, L, expr, ...)                                     \
    auto&& tmp = (expr);                                                                               \
    static_assert(::strata::detail::try_assignable<decltype(tmp)>,                                     \
                  "STRATA_TRY_WRAP_ASSIGN(var, L, expr, fmt, args...): expr must be a strata::result<T> with a value (T not void)"); \
    if (::strata::detail::try_access::failed(tmp)) [[unlikely]]                                        \
        ret ::strata::failure(::strata::detail::try_access::wrap<L, decltype(tmp)>(tmp, __VA_ARGS__)); \
    var = ::strata::detail::try_access::value<decltype(tmp)>(tmp)

// Argument counting for STRATA_TRY_ASSIGN: the last argument is the expression,
// the ones before it (rejoined with their commas) the variable.
#define STRATA_DETAIL_NARGS(...) STRATA_DETAIL_NARGS_(__VA_ARGS__, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define STRATA_DETAIL_NARGS_(a1, a2, a3, a4, a5, a6, a7, a8, a9, n, ...) n
#define STRATA_DETAIL_LAST_2(a, b) b
#define STRATA_DETAIL_LAST_3(a, b, c) c
#define STRATA_DETAIL_LAST_4(a, b, c, d) d
#define STRATA_DETAIL_LAST_5(a, b, c, d, e) e
#define STRATA_DETAIL_LAST_6(a, b, c, d, e, f) f
#define STRATA_DETAIL_LAST_7(a, b, c, d, e, f, g) g
#define STRATA_DETAIL_LAST_8(a, b, c, d, e, f, g, h) h
#define STRATA_DETAIL_LAST_9(a, b, c, d, e, f, g, h, i) i
#define STRATA_DETAIL_INIT_2(a, b) a
#define STRATA_DETAIL_INIT_3(a, b, c) a, b
#define STRATA_DETAIL_INIT_4(a, b, c, d) a, b, c
#define STRATA_DETAIL_INIT_5(a, b, c, d, e) a, b, c, d
#define STRATA_DETAIL_INIT_6(a, b, c, d, e, f) a, b, c, d, e
#define STRATA_DETAIL_INIT_7(a, b, c, d, e, f, g) a, b, c, d, e, f
#define STRATA_DETAIL_INIT_8(a, b, c, d, e, f, g, h) a, b, c, d, e, f, g
#define STRATA_DETAIL_INIT_9(a, b, c, d, e, f, g, h, i) a, b, c, d, e, f, g, h
