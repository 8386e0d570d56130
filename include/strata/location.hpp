// strata/location.hpp: strata::location, the call site a frame was made at.
// Captured without a macro through default arguments; strata's own type so that
// a frame decoded from another process can carry one too.
#pragma once

#include <cstdint>
#include <string_view>

namespace strata {

class location {
public:
    constexpr location() noexcept = default;
    constexpr location(const char* file, std::uint_least32_t line, const char* function) noexcept
        : file_(file ? file : ""), function_(function ? function : ""), line_(line) {}

    // The call site of whoever calls current() through a default argument.
    // (std::source_location is unusable with clang 14 on libstdc++ 12; these
    // builtins work on both compilers.)
    static constexpr location current(const char* file = __builtin_FILE(),
                                      std::uint_least32_t line = __builtin_LINE(),
                                      const char* function = __builtin_FUNCTION()) noexcept {
        return location(file, line, function);
    }

    constexpr const char* file_name() const noexcept { return file_; }
    constexpr std::uint_least32_t line() const noexcept { return line_; }
    constexpr const char* function_name() const noexcept { return function_; }
    // True when no call site is known (no file and line 0).
    constexpr bool empty() const noexcept { return line_ == 0 && *file_ == '\0'; }

private:
    const char* file_ = "";
    const char* function_ = "";
    std::uint_least32_t line_ = 0;
};

}  // namespace strata
