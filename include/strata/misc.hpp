// strata/misc.hpp: the values of an error's misc map (the book's
// `Misc map[string]interface{}`): strings, integers, floating point, booleans,
// and the text of anything else fmt can format.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace strata {

class misc_value {
public:
    enum class kind : unsigned char { string, signed_integer, unsigned_integer, floating_point, boolean };

    constexpr misc_value() noexcept : s_() {}
    static constexpr misc_value of_string(std::string_view s) noexcept {
        misc_value v;
        v.k_ = kind::string;
        v.s_ = s;
        return v;
    }
    static constexpr misc_value of_signed(std::int64_t i) noexcept {
        misc_value v;
        v.k_ = kind::signed_integer;
        v.i_ = i;
        return v;
    }
    static constexpr misc_value of_unsigned(std::uint64_t u) noexcept {
        misc_value v;
        v.k_ = kind::unsigned_integer;
        v.u_ = u;
        return v;
    }
    static constexpr misc_value of_double(double d) noexcept {
        misc_value v;
        v.k_ = kind::floating_point;
        v.d_ = d;
        return v;
    }
    static constexpr misc_value of_bool(bool b) noexcept {
        misc_value v;
        v.k_ = kind::boolean;
        v.b_ = b;
        return v;
    }

    constexpr kind type() const noexcept { return k_; }
    // Marked with strata::sensitive(): shown in local {:v} output, hashed elsewhere.
    constexpr bool is_sensitive() const noexcept { return sensitive_; }
    constexpr misc_value marked_sensitive() const noexcept {
        misc_value v = *this;
        v.sensitive_ = true;
        return v;
    }
    // Each accessor returns its kind's value, or a zero value for another kind.
    constexpr std::string_view as_string() const noexcept { return k_ == kind::string ? s_ : std::string_view(); }
    constexpr std::int64_t as_signed() const noexcept { return k_ == kind::signed_integer ? i_ : 0; }
    constexpr std::uint64_t as_unsigned() const noexcept { return k_ == kind::unsigned_integer ? u_ : 0; }
    constexpr double as_double() const noexcept { return k_ == kind::floating_point ? d_ : 0.0; }
    constexpr bool as_bool() const noexcept { return k_ == kind::boolean ? b_ : false; }

private:
    kind k_ = kind::string;
    bool sensitive_ = false;
    union {
        std::string_view s_;
        std::int64_t i_;
        std::uint64_t u_;
        double d_;
        bool b_;
    };
};

struct misc_entry {
    std::string_view key;
    misc_value value;
};

}  // namespace strata
