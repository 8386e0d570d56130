// Differential test: strata::result<T> against C++23 std::expected<T, strata::error>
// (libstdc++'s <expected>, g++ 12 in -std=c++23 mode; CMake builds this file only
// where <expected> compiles, so not with clang 14, which cannot compile libstdc++
// 12's <expected>).
//
// The same sequences of operations (construct, assign, emplace, swap, compare,
// convert, value_or, value() on failure) are applied to both, and every observable
// is compared: has_value, the value, the error's identity. Which constructors and
// assignments are well-formed, implicit and noexcept is compared with type traits,
// side by side, at compile time.
//
// What is compared against the standard's wording rather than libstdc++ 12:
// - the monadic operations (and_then, transform, or_else, transform_error) and
//   error_or, which libstdc++ 12 does not have (P2505, GCC 13): reference
//   functions below follow [expected.object.monadic] word for word on
//   std::expected, and their results are compared with strata's;
// - operator== between two failed expecteds, which needs E == E (strata::error
//   has same_as, no ==): the standard's formula, with same_as for the errors;
// - bool and conversions between results (LWG 3836, C++23, after libstdc++ 12):
//   see "bool" below.
//
// Deliberate differences (docs/api.md, "strata::result<T> and std::expected"):
// a strata error converts implicitly to a failed result (std::expected needs
// unexpected(e); strata::failure(e) is the explicit form, compared as such); a
// moved-from failed result holds a marker error, never an empty one; error() on a
// success is an empty error (a precondition violation for std::expected); error()
// on a non-const lvalue is const (a failed result cannot be given an empty error);
// error() && returns the error by value; value() throws strata::exception.

#include <catch2/catch.hpp>
#include <strata/result.hpp>

#include <expected>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

template <class T>
using S = strata::result<T>;
template <class T>
using X = std::expected<T, strata::error>;
using U = std::unexpected<strata::error>;

// A move-only type.
struct move_only {
    std::unique_ptr<int> p;
    explicit move_only(int v) : p(std::make_unique<int>(v)) {}
    move_only(move_only&&) noexcept = default;
    move_only& operator=(move_only&&) noexcept = default;
    friend bool operator==(const move_only& a, const move_only& b) { return *a.p == *b.p; }
};

// A type whose copy and move may throw (when armed).
struct thrower {
    static inline bool armed = false;
    std::string s;
    explicit thrower(int v) : s(200, static_cast<char>('a' + v % 26)) {}
    // Throws before touching the source, as a copy that fails to allocate does.
    thrower(const thrower& o) : s(check(o.s, "copy")) {}
    thrower(thrower&& o) noexcept(false) : s(std::move(check(o.s, "move"))) {}
    static std::string& check(std::string& s, const char* what) {
        if (armed) throw std::runtime_error(what);
        return s;
    }
    static const std::string& check(const std::string& s, const char* what) {
        if (armed) throw std::runtime_error(what);
        return s;
    }
    thrower& operator=(const thrower& o) {
        if (armed) throw std::runtime_error("copy=");
        s = o.s;
        return *this;
    }
    thrower& operator=(thrower&& o) noexcept(false) {
        if (armed) throw std::runtime_error("move=");
        s = std::move(o.s);
        return *this;
    }
    friend bool operator==(const thrower& a, const thrower& b) { return a.s == b.s; }
};

// Distinct sample values of each T.
template <class T>
T make(int i);
template <>
int make<int>(int i) { return i + 1; }
template <>
bool make<bool>(int i) { return i % 2 == 0; }
template <>
std::string make<std::string>(int i) { return std::string(100 + i, 'x'); }
template <>
move_only make<move_only>(int i) { return move_only(i); }
template <>
thrower make<thrower>(int i) { return thrower(i); }

// Both hold the same thing: both a value, equal, or both failed, with the same
// error (by identity) unless `moved_from` (a moved-from failed expected holds an
// empty error, a moved-from failed result a marker: only failure is compared).
template <class T>
void check_same(const S<T>& s, const X<T>& x, bool moved_from = false) {
    REQUIRE(s.has_value() == x.has_value());
    REQUIRE(static_cast<bool>(s) == static_cast<bool>(x));
    if (x.has_value()) {
        CHECK(*s == *x);
        CHECK(s.value() == x.value());
        CHECK(s.error().empty());
    } else if (!moved_from) {
        CHECK(s.error().same_as(x.error()));
    } else {
        CHECK_FALSE(s.error().empty());
    }
}
inline void check_same(const S<void>& s, const X<void>& x, bool moved_from = false) {
    REQUIRE(s.has_value() == x.has_value());
    if (!x.has_value() && !moved_from) CHECK(s.error().same_as(x.error()));
}

// A pair (strata, std) in the same state: index 0..1 values, 2..3 errors.
template <class T>
struct both {
    S<T> s;
    X<T> x;
};
template <class T>
both<T> state(int i, const strata::error& e1, const strata::error& e2) {
    if constexpr (std::is_void_v<T>) {
        if (i < 2) return {S<T>(), X<T>()};
    } else {
        if (i < 2) return {S<T>(make<T>(i)), X<T>(make<T>(i))};
    }
    const strata::error& e = i == 2 ? e1 : e2;
    return {S<T>(strata::failure(e)), X<T>(U(e))};
}

// ---------------------------------------------------------------------------
// Compile time: which operations exist, are implicit, are noexcept.

template <class T>
constexpr bool same_special_members() {
    using s = S<T>;
    using x = X<T>;
    static_assert(std::is_default_constructible_v<s> == std::is_default_constructible_v<x>);
    static_assert(std::is_nothrow_default_constructible_v<s> == std::is_nothrow_default_constructible_v<x>);
    static_assert(std::is_copy_constructible_v<s> == std::is_copy_constructible_v<x>);
    static_assert(std::is_nothrow_copy_constructible_v<s> == std::is_nothrow_copy_constructible_v<x>);
    static_assert(std::is_move_constructible_v<s> == std::is_move_constructible_v<x>);
    static_assert(std::is_nothrow_move_constructible_v<s> == std::is_nothrow_move_constructible_v<x>);
    static_assert(std::is_copy_assignable_v<s> == std::is_copy_assignable_v<x>);
    static_assert(std::is_nothrow_copy_assignable_v<s> == std::is_nothrow_copy_assignable_v<x>);
    static_assert(std::is_move_assignable_v<s> == std::is_move_assignable_v<x>);
    static_assert(std::is_nothrow_move_assignable_v<s> == std::is_nothrow_move_assignable_v<x>);
    static_assert(std::is_swappable_v<s> == std::is_swappable_v<x>);
    static_assert(std::is_nothrow_swappable_v<s> == std::is_nothrow_swappable_v<x>);
    static_assert(std::is_trivially_copy_constructible_v<s> == std::is_trivially_copy_constructible_v<x>);
    static_assert(std::is_trivially_destructible_v<s> == std::is_trivially_destructible_v<x>);
    static_assert(std::is_same_v<typename s::value_type, typename x::value_type>);
    static_assert(std::is_same_v<typename s::error_type, typename x::error_type>);
    static_assert(std::is_same_v<typename s::template rebind<long>, S<long>>);
    return true;
}
static_assert(same_special_members<int>());
static_assert(same_special_members<bool>());
static_assert(same_special_members<std::string>());
static_assert(same_special_members<move_only>());
static_assert(same_special_members<thrower>());
static_assert(same_special_members<std::vector<int>>());
static_assert(same_special_members<std::unique_ptr<int>>());
static_assert(same_special_members<void>());

// Construction and assignment from an argument A (not a result, not an error).
template <class T, class A>
constexpr bool same_from() {
    static_assert(std::is_constructible_v<S<T>, A> == std::is_constructible_v<X<T>, A>);
    static_assert(std::is_convertible_v<A, S<T>> == std::is_convertible_v<A, X<T>>);
    static_assert(std::is_nothrow_constructible_v<S<T>, A> == std::is_nothrow_constructible_v<X<T>, A>);
    static_assert(std::is_assignable_v<S<T>&, A> == std::is_assignable_v<X<T>&, A>);
    return true;
}
// The found conversions: std::expected rejects them implicitly, strata too now.
static_assert(same_from<bool, std::error_code>());
static_assert(same_from<bool, const std::error_code&>());
static_assert(same_from<std::unique_ptr<int>, int*>());
static_assert(same_from<std::vector<int>, int>());
static_assert(same_from<std::vector<int>, std::size_t>());
static_assert(!std::is_convertible_v<std::error_code, S<bool>>);
static_assert(!std::is_convertible_v<int*, S<std::unique_ptr<int>>>);
static_assert(!std::is_convertible_v<int, S<std::vector<int>>>);
static_assert(std::is_constructible_v<S<std::unique_ptr<int>>, int*>);  // explicit, as std::expected
// Plain values.
static_assert(same_from<int, int>());
static_assert(same_from<int, long>());
static_assert(same_from<int, double>());
static_assert(same_from<int, const int&>());
static_assert(same_from<int, int*>());
static_assert(same_from<int, std::string>());
static_assert(same_from<bool, int>());
static_assert(same_from<bool, int*>());
static_assert(same_from<bool, std::nullptr_t>());
static_assert(same_from<bool, std::unique_ptr<int>>());
static_assert(same_from<std::string, const char*>());
static_assert(same_from<std::string, const char (&)[4]>());
static_assert(same_from<std::string, std::string_view>());
static_assert(same_from<std::string, int>());
static_assert(same_from<std::string, char>());
static_assert(same_from<move_only, move_only>());
static_assert(same_from<move_only, const move_only&>());
static_assert(same_from<move_only, int>());
static_assert(same_from<thrower, thrower>());
static_assert(same_from<thrower, const thrower&>());
static_assert(same_from<thrower, int>());
static_assert(same_from<std::vector<int>, std::initializer_list<int>>());
static_assert(same_from<void, int>());
// in_place and in_place with an initializer_list.
template <class T, class... A>
constexpr bool same_in_place() {
    static_assert(std::is_constructible_v<S<T>, std::in_place_t, A...> == std::is_constructible_v<X<T>, std::in_place_t, A...>);
    static_assert(std::is_convertible_v<std::in_place_t, S<T>> == std::is_convertible_v<std::in_place_t, X<T>>);
    static_assert(std::is_nothrow_constructible_v<S<T>, std::in_place_t, A...> ==
                  std::is_nothrow_constructible_v<X<T>, std::in_place_t, A...>);
    return true;
}
static_assert(same_in_place<int>());
static_assert(same_in_place<int, int>());
static_assert(same_in_place<int, int, int>());
static_assert(same_in_place<std::string, std::size_t, char>());
static_assert(same_in_place<std::string, std::initializer_list<char>>());
static_assert(same_in_place<std::vector<int>, std::initializer_list<int>, std::allocator<int>>());
static_assert(same_in_place<move_only, int>());
static_assert(same_in_place<void>());
// Errors: a strata error (any) converts as unexpected(e) does for std::expected,
// and strata::failure is unexpected.
template <class T, class E>
constexpr bool same_from_error() {
    static_assert(std::is_constructible_v<S<T>, strata::failure> == std::is_constructible_v<X<T>, U>);
    static_assert(std::is_convertible_v<strata::failure, S<T>> == std::is_convertible_v<U, X<T>>);
    static_assert(std::is_nothrow_constructible_v<S<T>, strata::failure> == std::is_nothrow_constructible_v<X<T>, U>);
    static_assert(std::is_assignable_v<S<T>&, strata::failure> == std::is_assignable_v<X<T>&, U>);
    static_assert(std::is_convertible_v<E, S<T>>);  // the deliberate difference
    static_assert(!std::is_convertible_v<E, X<T>>);
    return true;
}
static_assert(same_from_error<int, strata::error>());
static_assert(same_from_error<bool, strata::error>());
static_assert(same_from_error<std::string, const strata::error&>());
static_assert(same_from_error<move_only, strata::wrapped_error<strata::low_level>>());
static_assert(same_from_error<thrower, strata::error>());
static_assert(same_from_error<void, strata::error>());

// Conversions between results, in every value category.
template <class T, class V, template <class> class Q>
constexpr bool same_conversion_q() {
    using sa = Q<S<V>>;
    using xa = Q<X<V>>;
    static_assert(std::is_constructible_v<S<T>, sa> == std::is_constructible_v<X<T>, xa>);
    static_assert(std::is_convertible_v<sa, S<T>> == std::is_convertible_v<xa, X<T>>);
    static_assert(std::is_nothrow_constructible_v<S<T>, sa> == std::is_nothrow_constructible_v<X<T>, xa>);
    static_assert(std::is_assignable_v<S<T>&, sa> == std::is_assignable_v<X<T>&, xa>);
    return true;
}
template <class A>
using lref = A&;
template <class A>
using clref = const A&;
template <class A>
using rref = A&&;
template <class A>
using crref = const A&&;
template <class T, class V>
constexpr bool same_conversion() {
    return same_conversion_q<T, V, lref>() && same_conversion_q<T, V, clref>() && same_conversion_q<T, V, rref>() &&
           same_conversion_q<T, V, crref>();
}
static_assert(same_conversion<long, int>());
static_assert(same_conversion<int, long>());
static_assert(same_conversion<double, int>());
static_assert(same_conversion<int, std::string>());
static_assert(same_conversion<std::string, const char*>());
static_assert(same_conversion<std::string, std::string_view>());
static_assert(same_conversion<std::unique_ptr<int>, int*>());
static_assert(same_conversion<std::vector<int>, int>());
static_assert(same_conversion<move_only, int>());
static_assert(same_conversion<std::unique_ptr<const int>, std::unique_ptr<int>>());
static_assert(same_conversion<std::shared_ptr<int>, std::unique_ptr<int>>());
// bool from another result: libstdc++ 12 predates LWG 3836 (C++23), which strata
// follows: result<bool> from result<U> converts like any other converting
// constructor (keeping the error), and never through the source's explicit
// operator bool (which lost the error: the bug found). libstdc++ 12 rejects the
// implicit form and takes the value constructor for the explicit one.
static_assert(std::is_convertible_v<const S<int>&, S<bool>>);  // converting, keeps the error
static_assert(std::is_convertible_v<S<int>, S<bool>>);
static_assert(!std::is_convertible_v<const X<int>&, X<bool>>);  // libstdc++ 12, pre-LWG 3836
static_assert(!std::is_constructible_v<S<bool>, const S<std::string>&>);  // LWG 3836: no value constructor
static_assert(std::is_constructible_v<X<bool>, const X<std::string>&>);  // libstdc++ 12: explicit operator bool
// Same value type: the copy and move constructors.
static_assert(same_conversion<int, int>());
static_assert(same_conversion<std::string, std::string>());
static_assert(same_conversion<move_only, move_only>());

// value_or and the observers' return types.
template <class T>
constexpr bool same_observers() {
    static_assert(std::is_same_v<decltype(*std::declval<S<T>&>()), decltype(*std::declval<X<T>&>())>);
    static_assert(std::is_same_v<decltype(*std::declval<const S<T>&>()), decltype(*std::declval<const X<T>&>())>);
    static_assert(std::is_same_v<decltype(*std::declval<S<T>&&>()), decltype(*std::declval<X<T>&&>())>);
    static_assert(std::is_same_v<decltype(*std::declval<const S<T>&&>()), decltype(*std::declval<const X<T>&&>())>);
    static_assert(std::is_same_v<decltype(std::declval<S<T>&>().value()), decltype(std::declval<X<T>&>().value())>);
    static_assert(std::is_same_v<decltype(std::declval<const S<T>&>().value()), decltype(std::declval<const X<T>&>().value())>);
    static_assert(std::is_same_v<decltype(std::declval<S<T>&&>().value()), decltype(std::declval<X<T>&&>().value())>);
    static_assert(std::is_same_v<decltype(std::declval<const S<T>&&>().value()), decltype(std::declval<const X<T>&&>().value())>);
    static_assert(std::is_same_v<decltype(std::declval<S<T>&>().operator->()), decltype(std::declval<X<T>&>().operator->())>);
    static_assert(std::is_same_v<decltype(std::declval<const S<T>&>().error()), decltype(std::declval<const X<T>&>().error())>);
    static_assert(std::is_same_v<decltype(std::declval<const S<T>&&>().error()), decltype(std::declval<const X<T>&&>().error())>);
    return true;
}
static_assert(same_observers<int>());
static_assert(same_observers<std::string>());
static_assert(same_observers<move_only>());
static_assert(same_observers<thrower>());
template <class T, class A>
constexpr bool same_value_or_noexcept() {
    static_assert(noexcept(std::declval<const S<T>&>().value_or(std::declval<A>())) ==
                  noexcept(std::declval<const X<T>&>().value_or(std::declval<A>())));
    static_assert(noexcept(std::declval<S<T>&&>().value_or(std::declval<A>())) ==
                  noexcept(std::declval<X<T>&&>().value_or(std::declval<A>())));
    static_assert(std::is_same_v<decltype(std::declval<const S<T>&>().value_or(std::declval<A>())),
                                 decltype(std::declval<const X<T>&>().value_or(std::declval<A>()))>);
    return true;
}
static_assert(same_value_or_noexcept<int, int>());
static_assert(same_value_or_noexcept<int, long>());
static_assert(same_value_or_noexcept<std::string, const char*>());
static_assert(same_value_or_noexcept<thrower, thrower>());

// emplace exists exactly when std::expected's does.
template <class R, class... A>
concept can_emplace = requires(R& r, A&&... a) { r.emplace(std::forward<A>(a)...); };
static_assert(can_emplace<S<int>, int> == can_emplace<X<int>, int>);
static_assert(can_emplace<S<std::string>, const char*> == can_emplace<X<std::string>, const char*>);
static_assert(can_emplace<S<std::vector<int>>, std::initializer_list<int>> ==
              can_emplace<X<std::vector<int>>, std::initializer_list<int>>);
static_assert(can_emplace<S<thrower>, int> == can_emplace<X<thrower>, int>);  // both: no (may throw)
static_assert(can_emplace<S<move_only>, move_only> == can_emplace<X<move_only>, move_only>);
static_assert(can_emplace<S<void>> == can_emplace<X<void>>);

// ==: with a result, a value, a failure.
template <class A, class B>
concept eq = requires(const A& a, const B& b) { a == b; a != b; b == a; };
static_assert(eq<S<int>, S<int>> && eq<S<int>, S<long>> && eq<S<int>, int> && eq<S<int>, double>);
static_assert(eq<S<std::string>, const char*> && eq<S<std::string>, S<std::string_view>>);
static_assert(eq<S<int>, strata::failure> && eq<S<void>, strata::failure> && eq<S<void>, S<void>>);
static_assert(!eq<S<void>, S<int>>);  // (libstdc++ 12 makes X<void> == X<int> a hard error)

// ---------------------------------------------------------------------------
// Run time: the same operations on both.

using value_types = std::tuple<int, bool, std::string, move_only, thrower>;

}  // namespace

TEMPLATE_LIST_TEST_CASE("construction gives the same state", "[result][expected]", value_types) {
    using T = TestType;
    thrower::armed = false;
    const strata::error e = strata::make_error("construct");
    if constexpr (std::is_default_constructible_v<T>) check_same(S<T>(), X<T>());
    check_same(S<T>(make<T>(1)), X<T>(make<T>(1)));
    check_same(S<T>(std::in_place, make<T>(2)), X<T>(std::in_place, make<T>(2)));
    check_same(S<T>(strata::failure(e)), X<T>(U(e)));
    check_same(S<T>(e), X<T>(U(e)));
    if constexpr (std::is_copy_constructible_v<T>) {
        for (int i = 0; i < 4; ++i) {
            both<T> b = state<T>(i, e, strata::make_error("other"));
            check_same(S<T>(b.s), X<T>(b.x));
            check_same(b.s, b.x);
        }
    }
    for (int i = 0; i < 4; ++i) {
        both<T> b = state<T>(i, e, strata::make_error("other"));
        const bool failed = !b.x.has_value();
        S<T> s2(std::move(b.s));
        X<T> x2(std::move(b.x));
        check_same(s2, x2);
        if (failed) check_same(b.s, b.x, true);  // NOLINT(bugprone-use-after-move)
    }
}

TEMPLATE_LIST_TEST_CASE("assignment in every combination gives the same state", "[result][expected]", value_types) {
    using T = TestType;
    thrower::armed = false;
    const strata::error e1 = strata::make_error("one"), e2 = strata::make_error("two");
    for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) {
            CAPTURE(i, j);
            if constexpr (std::is_copy_assignable_v<S<T>>) {
                both<T> a = state<T>(i, e1, e2), b = state<T>(j, e1, e2);
                a.s = b.s;
                a.x = b.x;
                check_same(a.s, a.x);
                check_same(b.s, b.x);
            }
            {
                both<T> a = state<T>(i, e1, e2), b = state<T>(j, e1, e2);
                const bool failed = !b.x.has_value();
                a.s = std::move(b.s);
                a.x = std::move(b.x);
                check_same(a.s, a.x);
                if (failed) check_same(b.s, b.x, true);  // NOLINT(bugprone-use-after-move)
            }
            {
                both<T> a = state<T>(i, e1, e2);
                a.s = make<T>(j);
                a.x = make<T>(j);
                check_same(a.s, a.x);
            }
            {
                both<T> a = state<T>(i, e1, e2);
                a.s = strata::failure(e2);
                a.x = U(e2);
                check_same(a.s, a.x);
                a.s = e1;  // a plain error, for result only
                a.x = U(e1);
                check_same(a.s, a.x);
            }
        }
}

TEMPLATE_LIST_TEST_CASE("emplace and swap give the same state", "[result][expected]", value_types) {
    using T = TestType;
    thrower::armed = false;
    const strata::error e1 = strata::make_error("one"), e2 = strata::make_error("two");
    for (int i = 0; i < 4; ++i) {
        if constexpr (can_emplace<X<T>, T>) {
            both<T> a = state<T>(i, e1, e2);
            T& sv = a.s.emplace(make<T>(7));
            T& xv = a.x.emplace(make<T>(7));
            check_same(a.s, a.x);
            CHECK(&sv == &*a.s);
            CHECK(&xv == &*a.x);
        }
        for (int j = 0; j < 4; ++j) {
            CAPTURE(i, j);
            both<T> a = state<T>(i, e1, e2), b = state<T>(j, e1, e2);
            a.s.swap(b.s);
            a.x.swap(b.x);
            check_same(a.s, a.x);
            check_same(b.s, b.x);
            using std::swap;
            swap(a.s, b.s);
            swap(a.x, b.x);
            check_same(a.s, a.x);
            check_same(b.s, b.x);
        }
    }
}

TEST_CASE("a throwing move or copy leaves both unchanged (the strong guarantee)", "[result][expected]") {
    const strata::error e = strata::make_error("kept");
    // swap of a value and an error: the value must move, and throws.
    for (int order = 0; order < 2; ++order) {
        CAPTURE(order);
        both<thrower> v = state<thrower>(0, e, e), f = state<thrower>(2, e, e);
        thrower::armed = true;
        if (order == 0) {
            CHECK_THROWS_AS(v.s.swap(f.s), std::runtime_error);
            CHECK_THROWS_AS(v.x.swap(f.x), std::runtime_error);
        } else {
            CHECK_THROWS_AS(f.s.swap(v.s), std::runtime_error);
            CHECK_THROWS_AS(f.x.swap(v.x), std::runtime_error);
        }
        thrower::armed = false;
        check_same(v.s, v.x);
        check_same(f.s, f.x);
        CHECK(v.s->s == make<thrower>(0).s);
    }
    // Assigning a value over an error: the copy throws, the error stays.
    {
        both<thrower> f = state<thrower>(2, e, e);
        const thrower t = make<thrower>(3);
        const both<thrower> src = {S<thrower>(std::in_place, 1), X<thrower>(std::in_place, 1)};
        thrower::armed = true;
        CHECK_THROWS_AS(f.s = t, std::runtime_error);
        CHECK_THROWS_AS(f.x = t, std::runtime_error);
        CHECK_THROWS_AS(f.s = src.s, std::runtime_error);
        CHECK_THROWS_AS(f.x = src.x, std::runtime_error);
        thrower::armed = false;
        check_same(f.s, f.x);
    }
}

TEMPLATE_LIST_TEST_CASE("observers: value, value_or, value() on failure", "[result][expected]", value_types) {
    using T = TestType;
    thrower::armed = false;
    const strata::error e = strata::make_error("observed");
    for (int i = 0; i < 4; ++i) {
        CAPTURE(i);
        both<T> b = state<T>(i, e, e);
        if constexpr (std::is_copy_constructible_v<T>) CHECK(b.s.value_or(make<T>(9)) == b.x.value_or(make<T>(9)));
        {
            both<T> c = state<T>(i, e, e);
            CHECK(std::move(c.s).value_or(make<T>(9)) == std::move(c.x).value_or(make<T>(9)));
        }
        if (b.x.has_value()) {
            CHECK(b.s.value() == b.x.value());
            CHECK(std::as_const(b.s).value() == std::as_const(b.x).value());
            const T from_s = std::move(b.s).value();
            const T from_x = std::move(b.x).value();
            CHECK(from_s == from_x);
        } else {
            strata::error thrown;
            try {
                (void)b.s.value();
            } catch (const strata::exception& ex) {
                thrown = ex.error();
            }
            try {
                (void)b.x.value();
            } catch (const std::bad_expected_access<strata::error>& ex) {
                CHECK(thrown.same_as(ex.error()));
            }
        }
    }
}

namespace {

// [expected.object.monadic] and [expected.object.obs] (error_or), written from the
// standard's wording over std::expected (libstdc++ 12 has none of them).
template <class Self, class F>
auto ref_and_then(Self&& x, F&& f) {
    using T = typename std::remove_cvref_t<Self>::value_type;
    if constexpr (std::is_void_v<T>) {
        using R = std::remove_cvref_t<std::invoke_result_t<F>>;
        if (x.has_value()) return std::invoke(std::forward<F>(f));
        return R(std::unexpect, std::forward<Self>(x).error());
    } else {
        using R = std::remove_cvref_t<std::invoke_result_t<F, decltype(std::forward<Self>(x).value())>>;
        if (x.has_value()) return std::invoke(std::forward<F>(f), std::forward<Self>(x).value());
        return R(std::unexpect, std::forward<Self>(x).error());
    }
}
template <class Self, class F>
auto ref_transform(Self&& x, F&& f) {
    using T = typename std::remove_cvref_t<Self>::value_type;
    if constexpr (std::is_void_v<T>) {
        using V = std::remove_cv_t<std::invoke_result_t<F>>;
        if (!x.has_value()) return X<V>(std::unexpect, std::forward<Self>(x).error());
        if constexpr (std::is_void_v<V>) {
            std::invoke(std::forward<F>(f));
            return X<V>();
        } else {
            return X<V>(std::in_place, std::invoke(std::forward<F>(f)));
        }
    } else {
        using V = std::remove_cv_t<std::invoke_result_t<F, decltype(std::forward<Self>(x).value())>>;
        if (!x.has_value()) return X<V>(std::unexpect, std::forward<Self>(x).error());
        if constexpr (std::is_void_v<V>) {
            std::invoke(std::forward<F>(f), std::forward<Self>(x).value());
            return X<V>();
        } else {
            return X<V>(std::in_place, std::invoke(std::forward<F>(f), std::forward<Self>(x).value()));
        }
    }
}
template <class Self, class F>
auto ref_or_else(Self&& x, F&& f) {
    using T = typename std::remove_cvref_t<Self>::value_type;
    using G = std::remove_cvref_t<std::invoke_result_t<F, decltype(std::forward<Self>(x).error())>>;
    if (!x.has_value()) return std::invoke(std::forward<F>(f), std::forward<Self>(x).error());
    if constexpr (std::is_void_v<T>)
        return G();
    else
        return G(std::in_place, std::forward<Self>(x).value());
}
template <class Self, class F>
auto ref_transform_error(Self&& x, F&& f) {
    using T = typename std::remove_cvref_t<Self>::value_type;
    using G = std::remove_cv_t<std::invoke_result_t<F, decltype(std::forward<Self>(x).error())>>;
    using R = std::expected<T, G>;
    if (!x.has_value()) return R(std::unexpect, std::invoke(std::forward<F>(f), std::forward<Self>(x).error()));
    if constexpr (std::is_void_v<T>)
        return R();
    else
        return R(std::in_place, std::forward<Self>(x).value());
}
template <class Self, class G>
strata::error ref_error_or(Self&& x, G&& g) {
    if (x.has_value()) return std::forward<G>(g);
    return std::forward<Self>(x).error();
}

// The standard's operator== over expected<T, strata::error>, errors compared by
// identity (strata::error has same_as, not ==).
template <class A, class B>
bool ref_equal(const std::expected<A, strata::error>& x, const std::expected<B, strata::error>& y) {
    if (x.has_value() != y.has_value()) return false;
    if (!x.has_value()) return x.error().same_as(y.error());
    if constexpr (std::is_void_v<A>)
        return true;
    else
        return *x == *y;
}

}  // namespace

TEMPLATE_LIST_TEST_CASE("monadic operations and error_or agree with the standard's wording", "[result][expected]",
                        value_types) {
    using T = TestType;
    thrower::armed = false;
    const strata::error e = strata::make_error("monadic");
    const strata::error replacement = strata::make_error("replacement");
    const strata::error wrapped = strata::make_error("wrapped");

    for (int i = 0; i < 4; ++i) {
        CAPTURE(i);
        // and_then to a result of another type; to a failure.
        auto to_size_s = [](const T&) -> S<std::size_t> { return std::size_t{4}; };
        auto to_size_x = [](const T&) -> X<std::size_t> { return std::size_t{4}; };
        auto fail_s = [&](const T&) -> S<int> { return strata::failure(replacement); };
        auto fail_x = [&](const T&) -> X<int> { return U(replacement); };
        // transform to another type, and to void.
        auto eq7 = [](const T& v) { return v == make<T>(7); };
        int calls_s = 0, calls_x = 0;
        auto void_s = [&](const T&) { ++calls_s; };
        auto void_x = [&](const T&) { ++calls_x; };
        auto recover_s = [&](const strata::error&) -> S<T> { return make<T>(5); };
        auto recover_x = [&](const strata::error&) -> X<T> { return make<T>(5); };
        auto rewrap = [&](const strata::error&) { return wrapped; };

        both<T> b = state<T>(i, e, e);
        check_same(b.s.and_then(to_size_s), ref_and_then(b.x, to_size_x));
        check_same(b.s.and_then(fail_s), ref_and_then(b.x, fail_x));
        check_same(b.s.transform(eq7), ref_transform(b.x, eq7));
        check_same(b.s.transform(void_s), ref_transform(b.x, void_x));
        CHECK(calls_s == calls_x);
        CHECK(b.s.error_or(replacement).same_as(ref_error_or(b.x, replacement)));
        if constexpr (std::is_copy_constructible_v<T>) {
            check_same(b.s.or_else(recover_s), ref_or_else(b.x, recover_x));
            check_same(b.s.transform_error(rewrap), ref_transform_error(b.x, rewrap));
            check_same(std::as_const(b.s).or_else(recover_s), ref_or_else(std::as_const(b.x), recover_x));
            check_same(std::as_const(b.s).transform(eq7), ref_transform(std::as_const(b.x), eq7));
        }
        // The rvalue overloads (the source is consumed).
        {
            both<T> c = state<T>(i, e, e);
            auto take_s = [](T&& v) -> S<T> { return T(std::move(v)); };
            auto take_x = [](T&& v) -> X<T> { return T(std::move(v)); };
            check_same(std::move(c.s).and_then(take_s), ref_and_then(std::move(c.x), take_x));
        }
        {
            both<T> c = state<T>(i, e, e);
            auto own = [](T&& v) { return T(std::move(v)); };
            check_same(std::move(c.s).transform(own), ref_transform(std::move(c.x), own));
        }
        {
            both<T> c = state<T>(i, e, e);
            auto recover_rs = [&](strata::error) -> S<T> { return make<T>(5); };
            auto recover_rx = [&](strata::error&&) -> X<T> { return make<T>(5); };
            check_same(std::move(c.s).or_else(recover_rs), ref_or_else(std::move(c.x), recover_rx));
        }
        {
            both<T> c = state<T>(i, e, e);
            auto rewrap_r = [&](auto&&) { return wrapped; };
            check_same(std::move(c.s).transform_error(rewrap_r), ref_transform_error(std::move(c.x), rewrap_r));
        }
        {
            both<T> c = state<T>(i, e, e);
            CHECK(std::move(c.s).error_or(replacement).same_as(ref_error_or(std::move(c.x), replacement)));
        }
    }
}

TEMPLATE_LIST_TEST_CASE("== with a result, a value and a failure agrees with the standard's", "[result][expected]",
                        value_types) {
    using T = TestType;
    thrower::armed = false;
    const strata::error e1 = strata::make_error("one"), e2 = strata::make_error("two");
    for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) {
            CAPTURE(i, j);
            both<T> a = state<T>(i, e1, e2), b = state<T>(j, e1, e2);
            CHECK((a.s == b.s) == ref_equal(a.x, b.x));
            CHECK((a.s != b.s) == !ref_equal(a.x, b.x));
            const T v = make<T>(j);
            CHECK((a.s == v) == (a.x == v));
            CHECK((v == a.s) == (v == a.x));
            CHECK((a.s != v) == (a.x != v));
            CHECK((a.s == strata::failure(e1)) == (!a.x.has_value() && a.x.error().same_as(e1)));
        }
}

TEST_CASE("result<void> agrees with expected<void, strata::error>", "[result][expected]") {
    const strata::error e1 = strata::make_error("one"), e2 = strata::make_error("two");
    check_same(S<void>(), X<void>());
    check_same(S<void>(std::in_place), X<void>(std::in_place));
    check_same(S<void>(strata::failure(e1)), X<void>(U(e1)));
    for (int i = 1; i < 4; ++i)
        for (int j = 1; j < 4; ++j) {
            CAPTURE(i, j);
            both<void> a = state<void>(i, e1, e2), b = state<void>(j, e1, e2);
            a.s = b.s;
            a.x = b.x;
            check_same(a.s, a.x);
            both<void> c = state<void>(i, e1, e2);
            c.s.swap(b.s);
            c.x.swap(b.x);
            check_same(c.s, c.x);
            check_same(b.s, b.x);
            c.s.emplace();
            c.x.emplace();
            check_same(c.s, c.x);
            both<void> d = state<void>(j, e1, e2), f = state<void>(i, e1, e2);
            CHECK((d.s == f.s) == ref_equal(d.x, f.x));
            CHECK((d.s == strata::failure(e1)) == (!d.x.has_value() && d.x.error().same_as(e1)));

            int calls_s = 0, calls_x = 0;
            check_same(d.s.and_then([&]() -> S<int> { return ++calls_s; }),
                       ref_and_then(d.x, [&]() -> X<int> { return ++calls_x; }));
            check_same(std::move(d.s).transform([&] { ++calls_s; }), ref_transform(std::move(d.x), [&] { ++calls_x; }));
            CHECK(calls_s == calls_x);
            both<void> g = state<void>(j, e1, e2);
            check_same(std::move(g.s).or_else([&](strata::error) -> S<void> { return {}; }),
                       ref_or_else(std::move(g.x), [&](strata::error&&) -> X<void> { return {}; }));
            both<void> h = state<void>(j, e1, e2);
            check_same(h.s.transform_error([&](const strata::error&) { return e2; }),
                       ref_transform_error(h.x, [&](const strata::error&) { return e2; }));
            CHECK(h.s.error_or(e1).same_as(ref_error_or(h.x, e1)));
        }
}
