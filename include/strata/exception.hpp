// strata/exception.hpp: exceptions interop. strata::exception (defined in
// error.hpp) carries an error through code that throws; throw_error() throws one;
// from_exception() turns the exception being handled (or any exception_ptr) back
// into an error.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <utility>

#include "error.hpp"

namespace strata {

// Throws strata::exception carrying `e`. Without exceptions (-fno-exceptions) it
// prints the message to stderr and aborts.
[[noreturn]] inline void throw_error(error e) {
#if STRATA_HAS_EXCEPTIONS
    throw exception(std::move(e));
#else
    // Messages and the withheld text are NUL-terminated.
    std::fprintf(stderr, "strata: fatal error (exceptions are disabled): %s\n",
                 detail::safe_message(detail::access::get(e)).data());
    std::abort();
#endif
}

// The error inside an exception: a strata::exception gives back the error it
// carries; any other exception becomes a root-cause frame (message from what(),
// its type kept, the exception_ptr recoverable with inner_as<std::exception_ptr>())
// with the origin stack taken here. Call it in a catch block with no argument.
// A null pointer gives an empty error.
[[nodiscard]] inline error from_exception(std::exception_ptr p = std::current_exception()) noexcept {
    if (!p) return {};
#if STRATA_HAS_EXCEPTIONS
    try {
        std::rethrow_exception(p);
    } catch (const exception& e) {
        return e.error();
    } catch (...) {
    }
#endif
    detail::stack_buffer stack;
    const bool capture = get_capture_policy() != capture_policy::off;
    if (capture) stack.capture();
    detail::frame* f = detail::make_cause_frame<std::exception_ptr>(p, capture ? &stack : nullptr);
    // Out of memory: the static frame, never an empty error.
    return detail::access::adopt(f ? f : &detail::oom_frame_of<untagged>);
}

}  // namespace strata
