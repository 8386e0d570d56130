// strata/exception.hpp: exceptions interop. strata::exception carries an error
// through code that throws; from_exception() turns the exception being handled
// (or any exception_ptr) back into an error.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <utility>

#include "error.hpp"

namespace strata {

// An exception that carries a strata error. what() is the outermost message.
class exception : public std::exception {
public:
    explicit exception(strata::error e) noexcept : e_(std::move(e)) {}
    const char* what() const noexcept override {
        // Frame messages are NUL-terminated inside their allocation.
        return e_ ? e_.message().data() : "(no error)";
    }
    const strata::error& error() const& noexcept { return e_; }
    strata::error error() && noexcept { return std::move(e_); }

private:
    strata::error e_;
};

// Throws strata::exception carrying `e`. Without exceptions (-fno-exceptions) it
// prints the message to stderr and aborts.
[[noreturn]] inline void throw_error(error e) {
#if STRATA_HAS_EXCEPTIONS
    throw exception(std::move(e));
#else
    std::fprintf(stderr, "strata: fatal error (exceptions are disabled): %s\n",
                 e ? e.message().data() : "(no error)");
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
    return detail::access::adopt(
        detail::make_cause_frame<std::exception_ptr>(p, get_capture_policy() != capture_policy::off));
}

}  // namespace strata
