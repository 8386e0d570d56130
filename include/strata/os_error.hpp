// strata/os_error.hpp: common std::errc values as messages for users. The layer
// strata::os_error, user_message_of(ec) (a sentence for a common code), and
// user_facing_errc(ec), an error a user-facing layer can wrap and show.
#pragma once

#include <string_view>
#include <system_error>
#include <type_traits>

#include "error.hpp"
#include "layer.hpp"
#include "location.hpp"

namespace strata {

// What the operating system said, in words for users: "the disk is full". The
// frame's cause is the std::error_code itself (inner_as<std::error_code>()), so
// the log keeps the system's own text and code below it.
struct os_error {
    static constexpr std::string_view name = "os_error";
    static constexpr bool user_facing = true;
};

// A sentence for users saying what `ec` means, when it is one of the common codes
// (compared as `ec == std::errc::...`, so a system_category errno matches too);
// an empty view otherwise. Lower case with no final period, as a message that
// may follow "can't read settings.toml: ".
[[nodiscard]] inline std::string_view user_message_of(std::error_code ec) noexcept {
    struct entry {
        std::errc code;
        std::string_view text;
    };
    static constexpr entry common[] = {
        {std::errc::no_such_file_or_directory, "the file or directory does not exist"},
        {std::errc::permission_denied, "permission was denied"},
        {std::errc::operation_not_permitted, "the operation is not permitted"},
        {std::errc::file_exists, "a file with that name already exists"},
        {std::errc::is_a_directory, "it is a directory, not a file"},
        {std::errc::not_a_directory, "a part of the path is not a directory"},
        {std::errc::directory_not_empty, "the directory is not empty"},
        {std::errc::filename_too_long, "the file name is too long"},
        {std::errc::file_too_large, "the file is too large"},
        {std::errc::no_space_on_device, "the disk is full"},
        {std::errc::read_only_file_system, "the file system is read-only"},
        {std::errc::too_many_files_open, "too many files are open"},
        {std::errc::too_many_files_open_in_system, "too many files are open on this system"},
        {std::errc::device_or_resource_busy, "the file or device is busy; try again later"},
        {std::errc::text_file_busy, "the file is in use by a running program"},
        {std::errc::io_error, "the device reported an input/output error"},
        {std::errc::not_enough_memory, "the system is out of memory"},
        {std::errc::resource_unavailable_try_again, "the resource is temporarily unavailable; try again"},
        {std::errc::connection_refused, "the server refused the connection"},
        {std::errc::connection_reset, "the connection was reset by the other side"},
        {std::errc::connection_aborted, "the connection was aborted"},
        {std::errc::broken_pipe, "the other side closed the connection"},
        {std::errc::not_connected, "there is no connection"},
        {std::errc::timed_out, "the operation timed out"},
        {std::errc::host_unreachable, "the host cannot be reached"},
        {std::errc::network_unreachable, "the network cannot be reached"},
        {std::errc::network_down, "the network is down"},
        {std::errc::address_in_use, "the address is already in use"},
        {std::errc::address_not_available, "the address is not available on this machine"},
        {std::errc::interrupted, "the operation was interrupted"},
        {std::errc::operation_canceled, "the operation was canceled"},
    };
    if (!ec) return {};
    for (const entry& e : common)
        if (ec == e.code) return e.text;
    return {};
}

// `ec` as an error to wrap in a user-facing layer that shows its cause
// (`show_cause`, or handle_options::show_user_chain):
//   return strata::wrap<cli_error>(strata::user_facing_errc(ec), "can't read {}", path);
// shows "can't read settings.toml: the file or directory does not exist". For a
// common code (user_message_of) it is an os_error frame with that sentence over
// the code; for any other code it is the code alone, which is not user-facing,
// so the user sees the outer message without it (an unexpected errno is not
// worded for users; the log has it). The stack is captured here, as wrap()
// captures it for a non-strata cause. Never throws.
[[nodiscard, gnu::always_inline]] inline error user_facing_errc(std::error_code ec,
                                                               location where = location::current()) noexcept {
    const capture_policy p = get_capture_policy();
    detail::stack_buffer stack;
    if (p != capture_policy::off) stack.capture();
    detail::frame* below = detail::cause_of(ec, p != capture_policy::off ? &stack : nullptr);
    const std::string_view sentence = user_message_of(ec);
    if (sentence.empty())
        return detail::access::adopt(below ? below : &detail::oom_frame_of<low_level>);
    return detail::access::adopt(detail::new_frame(&layer_info_of<os_error>, &detail::oom_frame_of<os_error>, where,
                                                   "{}", fmt::make_format_args(sentence), below,
                                                   p == capture_policy::every_frame ? &stack : nullptr,
                                                   detail::format_origin::checked));
}

// The same for std::errc or another error-code enum: user_facing_errc(std::errc::timed_out).
template <class E>
    requires(std::is_error_code_enum_v<E> || std::is_same_v<E, std::errc>)
[[nodiscard, gnu::always_inline]] inline error user_facing_errc(E code, location where = location::current()) noexcept {
    using std::make_error_code;
    return user_facing_errc(std::error_code(make_error_code(code)), where);
}

}  // namespace strata
