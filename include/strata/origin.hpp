// strata/origin.hpp: what a frame decoded by from_json (json.hpp) carries from the
// process that encoded it: that process's host, pid and thread, the report ID the
// sender gave it, its call site and its symbolized stack.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
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

// An origin shared by the frames decoded from one document (reference-counted by
// hand: std::shared_ptr costs every includer of format.hpp compile time).
struct shared_origin {
    std::atomic<long> refs{1};
    origin value;
};

// The payload of a decoded frame. Shared (immutable) between copies of the frame,
// so that the call site's strings stay where the frame's location points.
struct decoded_frame {
    decoded_frame() = default;
    decoded_frame(const decoded_frame&) = delete;
    decoded_frame& operator=(const decoded_frame&) = delete;
    ~decoded_frame() {
        delete[] raw;
        if (from_block && from_block->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete from_block;
    }
    const origin* from() const noexcept { return from_block ? &from_block->value : nullptr; }

    std::atomic<long> refs{1};
    // The frame's layer record points here: a decoded layer lives as long as the
    // frames that have it, so no table of names grows with what a peer sends.
    // (A layer strata defines itself keeps its static record.)
    std::string layer_name;
    layer_info layer;
    shared_origin* from_block = nullptr;  // one reference held
    std::string file;
    std::string function;
    std::string id;  // the report ID the sender's handle() gave this frame, if any
    bool has_stack = false;
    bool truncated = false;
    std::string symbolized;  // the sender's stack, one "function at file:line" a line, each ending in '\n'
    std::uintptr_t* raw = nullptr;  // the sender's program counters (meaningless here); owned
    std::size_t n_raw = 0;
};

// What a decoded frame keeps as its payload: one reference to its decoded_frame.
class decoded_payload {
public:
    explicit decoded_payload(decoded_frame* d) noexcept : d_(d) {}
    decoded_payload(const decoded_payload& o) noexcept : d_(o.d_) { d_->refs.fetch_add(1, std::memory_order_relaxed); }
    decoded_payload& operator=(const decoded_payload&) = delete;
    ~decoded_payload() {
        if (d_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete d_;
    }
    const decoded_frame* get() const noexcept { return d_; }

private:
    decoded_frame* d_;
};

inline const decoded_frame* decoded_of(const frame* f) noexcept {
    if (!f || !(f->flags & decoded) || !f->pops || *f->pops->type != typeid(decoded_payload)) return nullptr;
    return static_cast<const decoded_payload*>(f->payload)->get();
}

}  // namespace detail

// Where an error decoded by from_json came from: the origin of its outermost
// decoded frame. nullptr for an error made in this process. Valid while `e` lives.
[[nodiscard]] inline const origin* origin_of(const error& e) noexcept {
    for (const detail::frame* f = detail::access::get(e); f; f = f->inner)
        if (const detail::decoded_frame* d = detail::decoded_of(f)) return d->from();
    return nullptr;
}

}  // namespace strata
