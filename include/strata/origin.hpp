// strata/origin.hpp: what a frame decoded by from_json (json.hpp) carries from the
// process that encoded it: that process's host, pid and thread, the report ID the
// sender gave it, its call site and its symbolized stack.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "detail/frame.hpp"
#include "error.hpp"

namespace strata {

// The process an error was encoded in (to_json), as the sender described it.
struct origin {
    std::string host;
    long pid = 0;
    long thread = 0;  // the thread that encoded the error
    std::string time;  // when it was encoded, UTC, e.g. "2026-11-27T13:56:05.471Z"
};

namespace detail {

// The payload of a decoded frame. Shared (immutable) between copies of the frame,
// so that the call site's strings stay where the frame's location points.
struct decoded_frame {
    // The frame's layer record points here: a decoded layer lives as long as the
    // frames that have it, so no table of names grows with what a peer sends.
    // (A layer strata defines itself keeps its static record.)
    std::string layer_name;
    layer_info layer;
    std::shared_ptr<const origin> from;
    std::string file;
    std::string function;
    std::string id;  // the report ID the sender's handle() gave this frame, if any
    bool has_stack = false;
    bool truncated = false;
    std::string symbolized;  // the sender's stack, one "function at file:line" a line, each ending in '\n'
    std::unique_ptr<std::uintptr_t[]> raw;  // the sender's program counters (meaningless here)
    std::size_t n_raw = 0;
};

using decoded_payload = std::shared_ptr<const decoded_frame>;

inline const decoded_frame* decoded_of(const frame* f) noexcept {
    if (!f || !(f->flags & decoded) || !f->pops || f->pops->type_id != &type_id_of<decoded_payload>) return nullptr;
    return static_cast<const decoded_payload*>(f->payload)->get();
}

}  // namespace detail

// Where an error decoded by from_json came from: the origin of its outermost
// decoded frame. nullptr for an error made in this process. Valid while `e` lives.
[[nodiscard]] inline const origin* origin_of(const error& e) noexcept {
    for (const detail::frame* f = detail::access::get(e); f; f = f->inner)
        if (const detail::decoded_frame* d = detail::decoded_of(f)) return d->from.get();
    return nullptr;
}

}  // namespace strata
