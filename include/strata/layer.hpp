// strata/layer.hpp: layer tags. A layer is any type with
// `static constexpr std::string_view name`; it is shown to users only when it
// also says `static constexpr bool user_facing = true`, and its user-facing cause
// is shown after it when it says `static constexpr bool show_cause = true`.
#pragma once

#include <concepts>
#include <string_view>
#include <type_traits>

#include "config.hpp"

namespace strata {

// What a frame knows about its layer at run time. One static record per layer type.
struct layer_info {
    std::string_view name;
    bool user_facing = false;
    // Set for the records strata makes for non-strata causes (std::error_code,
    // exceptions, plain values): such a frame is the root cause, not a layer.
    bool is_cause = false;
    // A user-facing layer whose messages read as the start of a sentence that
    // their cause ends ("can't load settings" + ": line 3: expected '='"): when
    // its frame is what handle() shows, the next frame is shown too, after ": ",
    // if that frame is user-facing (and the one after it if that one also says
    // so). Never a frame that is not user-facing.
    bool show_cause = false;
    // The canonical status code (gRPC's, absl::Status's: 0 to 16) the layer's
    // errors have across an RPC (grpc.hpp's to_grpc_status); -1: none declared.
    int grpc_code = -1;
};

template <class L>
concept layer_tag = requires {
    { L::name } -> std::convertible_to<std::string_view>;
} && !std::is_member_pointer_v<decltype(&L::name)>;  // a static member, not a data member

namespace detail {
template <class L>
constexpr bool user_facing_of() noexcept {
    if constexpr (requires { { L::user_facing } -> std::convertible_to<bool>; })
        return static_cast<bool>(L::user_facing);
    else
        return false;
}
template <class L>
constexpr bool show_cause_of() noexcept {
    if constexpr (requires { { L::show_cause } -> std::convertible_to<bool>; })
        return static_cast<bool>(L::show_cause);
    else
        return false;
}
template <class L>
constexpr int grpc_code_of() noexcept {
    if constexpr (requires { static_cast<int>(L::grpc_code); }) {
        constexpr int code = static_cast<int>(L::grpc_code);
        static_assert(code >= 1 && code <= 16,
                      "a layer's grpc_code is a canonical status code other than OK: 1 (CANCELLED) to 16 (UNAUTHENTICATED)");
        return code;
    } else {
        return -1;
    }
}
}  // namespace detail

// The static record of layer L. Layers are compared by this record's address and,
// failing that, by name (a frame decoded from JSON has only the name), so layer
// names must be unique within an application.
template <layer_tag L>
STRATA_MODULE_LOCAL inline constexpr layer_info layer_info_of{std::string_view(L::name), detail::user_facing_of<L>(), false,
                                                                   detail::show_cause_of<L>(),
                                                                   detail::grpc_code_of<L>()};

// The book's LowLevelErr: a raw failure at a module boundary. Not shown to users.
struct low_level {
    static constexpr std::string_view name = "low_level";
};

// The book's IntermediateErr: a crafted, user-facing message.
struct intermediate {
    static constexpr std::string_view name = "intermediate";
    static constexpr bool user_facing = true;
};

// The layer of wrap()/make_error() without a layer: a bug if it reaches the top.
struct untagged {
    static constexpr std::string_view name = "untagged";
};

}  // namespace strata
