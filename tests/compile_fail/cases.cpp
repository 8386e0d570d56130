// Code that must not compile. CMake builds this file once per case with
// STRATA_CASE=N (and must fail, with the diagnostic it expects) and once with
// STRATA_CASE=0 (and must succeed), so a failure is caused by the case alone.
#include <strata/strata.hpp>

struct not_formattable {};

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
#elif STRATA_CASE == 13  // a wrapped_error bound to error&, through which another layer could be assigned
    strata::error& bad = e;
#elif STRATA_CASE == 14  // the same through a pointer
    strata::error* bad = &e;
#elif STRATA_CASE == 15  // assigning another layer's error to a wrapped_error seen as an error
    auto bad = static_cast<strata::error&>(e) = strata::make_error("untagged");
#else
    auto bad = fmt::format("{} {:c} {:v}", e, e, e);
#endif
    (void)bad;
    return 0;
}
