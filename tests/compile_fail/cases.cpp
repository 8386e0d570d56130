// Code that must not compile. CMake builds this file once per case with
// STRATA_CASE=N (and must fail, with the diagnostic it expects) and once with
// STRATA_CASE=0 (and must succeed), so a failure is caused by the case alone.
#include <strata/strata.hpp>

#include <memory>
#include <string>
#include <system_error>
#include <vector>

struct not_formattable {};

// A layer that says its errors are OK across an RPC (grpc.hpp): not a failure's code.
struct says_ok {
    static constexpr std::string_view name = "says_ok";
    static constexpr int grpc_code = 0;
};

strata::error open_config() { return strata::make_error("no config"); }

int main() {
    auto e = strata::make_error<strata::low_level>("fine {}", 1);
#if STRATA_CASE == 1  // a format string that does not match its arguments
    auto bad = strata::make_error("{} and {}", 1);
#elif STRATA_CASE == 2  // a bad format string in wrap
    auto bad = strata::wrap(e, "{:d}", "not a number");
#elif STRATA_CASE == 3  // wrapping a value that is neither an error nor formattable
    auto bad = strata::wrap(not_formattable{}, "boom");
#elif STRATA_CASE == 4  // asking is<T>() for a type that is not a layer
    bool bad = e.is<int>();
#elif STRATA_CASE == 5  // a format specifier strata::error does not have
    auto bad = fmt::format("{:x}", e);
#elif STRATA_CASE == 6  // a misc value that is not formattable
    auto bad = strata::make_error("x").with("key", not_formattable{});
#elif STRATA_CASE == 7  // first_of with no replica
    auto bad = strata::first_of();
#elif STRATA_CASE == 8  // an error from the user's own function dropped ([[nodiscard]] type; -Werror)
    open_config();
    int bad = 0;
#elif STRATA_CASE == 9  // a result's error taken and dropped
    std::move(strata::result<int>(strata::make_error("lost"))).error();
    int bad = 0;
#elif STRATA_CASE == 10  // the inner error dropped
    e.inner();
    int bad = 0;
#elif STRATA_CASE == 11  // a secret as a kept cause (inner_as would hand it back)
    auto bad = strata::wrap(strata::sensitive(std::string("hunter2")), "login failed");
#elif STRATA_CASE == 12  // a sensitive value's spec is checked as its value's
    auto bad = strata::make_error("{:d}", strata::sensitive(std::string("hunter2")));
// result<T> rejects the conversions std::expected<T, E> rejects (implicit only
// where T converts implicitly; LWG 3836 for bool).
#elif STRATA_CASE == 13  // bool from an error_code (explicit operator bool): was success(true)
    strata::result<bool> bad = std::error_code{};
#elif STRATA_CASE == 14  // unique_ptr's explicit constructor from a raw pointer
    strata::result<std::unique_ptr<int>> bad = static_cast<int*>(nullptr);
#elif STRATA_CASE == 15  // vector's explicit size constructor
    strata::result<std::vector<int>> bad = 5;
#elif STRATA_CASE == 16  // result<bool> from another result through its operator bool (LWG 3836)
    strata::result<bool> bad(strata::result<std::string>(std::string("lost")));
#elif STRATA_CASE == 17  // value_or with a fallback that converts only explicitly
    auto bad = strata::result<std::vector<int>>().value_or(5);
// The TRY macros: a misuse is one readable static_assert (the text after
// "expect:" must be in the output, and only one error).
#elif STRATA_CASE == 18  // expect: "STRATA_TRY(expr): expr must be a strata::result<T> or a strata::error"
    auto bad = []() -> strata::result<int> { STRATA_TRY(42); return 1; };
#elif STRATA_CASE == 19  // expect: "STRATA_TRY_ASSIGN(var, expr): expr must be a strata::result<T> with a value"
    auto bad = []() -> strata::result<int> { STRATA_TRY_ASSIGN(int x, strata::error()); return x; };
// wrapped_error<L> cannot be seen as an error& (slicing would change its layer).
#elif STRATA_CASE == 20  // a wrapped_error bound to error&, through which another layer could be assigned
    strata::error& bad = e;
#elif STRATA_CASE == 21  // the same through a pointer
    strata::error* bad = &e;
#elif STRATA_CASE == 22  // assigning another layer's error to a wrapped_error seen as an error
    auto bad = static_cast<strata::error&>(e) = strata::make_error("untagged");
// Wrapping a failed result in one expression (result::wrap, STRATA_TRY_WRAP):
// the format string is checked at compile time as wrap's is.
#elif STRATA_CASE == 23  // a bad format string in result::wrap
    auto bad = strata::result<int>(1).wrap<strata::low_level>("{:d}", "not a number");
#elif STRATA_CASE == 24  // too few arguments for result<void>::wrap's format string
    auto bad = strata::result<void>().wrap<strata::low_level>("{} and {}", 1);
#elif STRATA_CASE == 25  // a bad format string in STRATA_TRY_WRAP
    auto bad = []() -> strata::result<int> { STRATA_TRY_WRAP(strata::low_level, strata::result<int>(1), "{:d}", "x"); return 1; };
#elif STRATA_CASE == 26  // expect: "STRATA_TRY_WRAP(L, expr, fmt, args...): expr must be a strata::result<T>, a strata::error or a std::error_code"
    auto bad = []() -> strata::result<int> { STRATA_TRY_WRAP(strata::low_level, 42, "x"); return 1; };
#elif STRATA_CASE == 27  // expect: "STRATA_TRY_WRAP_ASSIGN(var, L, expr, fmt, args...): expr must be a strata::result<T> with a value"
    auto bad = []() -> strata::result<int> { STRATA_TRY_WRAP_ASSIGN(int x, strata::low_level, strata::result<void>(), "x"); return x; };
#elif STRATA_CASE == 28  // expect: "on a named result copies its value, and T is not copyable"
    strata::result<std::unique_ptr<int>> named; auto bad = named.wrap<strata::low_level>("x");
#elif STRATA_CASE == 29  // expect: "wrap_lazy's function returns the message, not an error"
    auto bad = strata::result<int>(1).wrap_lazy<strata::low_level>([] { return strata::make_error("x"); });
#elif STRATA_CASE == 30  // expect: "a layer's grpc_code is a canonical status code other than OK"
    auto bad = strata::make_error<says_ok>("fine");
#else
    auto bad = fmt::format("{} {:c} {:v}", e, e, e);
#endif
    (void)bad;
    return 0;
}
