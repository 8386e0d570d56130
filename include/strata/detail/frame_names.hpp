// strata/detail/frame_names.hpp: which functions on a stack are the runtime's
// rather than the program's. Private.
#pragma once

#include <string_view>

#include "../config.hpp"

namespace strata::detail {

// Whether `name` (as symbolized: demangled, maybe after a return type) names
// where the C library or the standard library starts a thread or the program:
// the frames below the user's thread function or main that printed stacks leave
// out (JSON keeps every raw address).
STRATA_MODULE_LOCAL inline bool is_runtime_function(std::string_view name) noexcept {
    static constexpr std::string_view exact[] = {"start_thread",          "clone",         "clone3", "__clone",
                                                 "__clone3",              "_start",        "__libc_start_main",
                                                 "__libc_start_call_main", "execute_native_thread_routine"};
    if (name.starts_with("__GI_")) name.remove_prefix(5);  // glibc's internal aliases: __GI___clone3
    for (std::string_view e : exact)
        if (name == e) return true;
    if (name.starts_with("__libc_start_main")) return true;  // and its aliases: __libc_start_main_impl
    // A sanitizer's thread start and interceptors (__tsan_thread_start_func, asan_thread_start).
    static constexpr std::string_view sanitizer[] = {"__tsan_", "__asan_", "asan_thread_start", "__msan_", "__lsan_",
                                                     "__interceptor_", "__sanitizer_"};
    for (std::string_view prefix : sanitizer)
        if (name.starts_with(prefix)) return true;
    // The standard library's thread start, whichever functions were not inlined.
    static constexpr std::string_view std_parts[] = {"std::thread::_State_impl<", "std::thread::_Invoker<",
                                                     "std::__invoke_impl<", "std::__invoke<"};
    for (std::string_view part : std_parts) {
        for (auto pos = name.find(part); pos != std::string_view::npos; pos = name.find(part, pos + 1))
            if (pos == 0 || name[pos - 1] == ' ') return true;
    }
    return false;
}

}  // namespace strata::detail
