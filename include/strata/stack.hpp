// strata/stack.hpp: raw stack capture (program counters only) and the capture
// policy. Turning addresses into names is format.hpp's job, done lazily.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "config.hpp"
#include "detail/process.hpp"
#include "detail/sys.hpp"

namespace strata {

// Which frames of a chain capture a stack.
enum class capture_policy : unsigned char {
    off = 0,          // never: errors carry call sites only
    origin = 1,       // the first frame of a chain (make_error, or a wrap of a non-strata cause)
    every_frame = 2,  // every frame, including wraps of strata errors
};

// The policy in force, process-wide (every module sees the same; it starts from
// the STRATA_CAPTURE_POLICY of the module that first used strata). Relaxed: a
// change is seen by other threads soon, not at once.
inline capture_policy get_capture_policy() noexcept {
    if constexpr (STRATA_CAPTURE_POLICY == 0)
        return capture_policy::off;
    else
        return static_cast<capture_policy>(detail::process().capture_policy.load(std::memory_order_relaxed));
}

// Change the policy at run time, for the whole process. In a module built with
// STRATA_CAPTURE_POLICY=0 capture is compiled out and this has no effect there.
inline void set_capture_policy(capture_policy p) noexcept {
    detail::process().capture_policy.store(static_cast<unsigned char>(p), std::memory_order_relaxed);
}

// A view of the program counters one frame captured, innermost call first. Each
// address points into the calling instruction (return address minus one), so
// symbolizing it gives the line of the call. Valid while the error that owns it lives.
class stack_view {
public:
    constexpr stack_view() noexcept = default;
    constexpr stack_view(const std::uintptr_t* pcs, std::size_t size, bool truncated = false) noexcept
        : pcs_(pcs), size_(size), truncated_(truncated) {}

    constexpr const std::uintptr_t* begin() const noexcept { return pcs_; }
    constexpr const std::uintptr_t* end() const noexcept { return pcs_ + size_; }
    constexpr std::size_t size() const noexcept { return size_; }
    constexpr bool empty() const noexcept { return size_ == 0; }
    constexpr std::uintptr_t operator[](std::size_t i) const noexcept { return pcs_[i]; }
    // True when the stack was deeper than STRATA_MAX_STACK_DEPTH and was cut.
    constexpr bool truncated() const noexcept { return truncated_; }

private:
    const std::uintptr_t* pcs_ = nullptr;
    std::size_t size_ = 0;
    bool truncated_ = false;
};

namespace detail {

struct unwind_state {
    std::uintptr_t* out;
    std::size_t n;
    std::size_t max;
    bool truncated;
};

inline int unwind_step(void* ctx, void* arg) noexcept {
    auto* s = static_cast<unwind_state*>(arg);
    int before_insn = 0;
    std::uintptr_t ip = sys::unwind_get_ip_info(ctx, &before_insn);
    if (ip == 0) return sys::urc_end_of_stack;
    if (s->n == s->max) {
        s->truncated = true;
        return sys::urc_end_of_stack;
    }
    // A return address points after the call; step back into it.
    s->out[s->n++] = before_insn ? ip : ip - 1;
    return sys::urc_no_reason;
}

#if STRATA_FRAME_POINTERS
// The calling thread's stack, [low, high), looked up once per thread.
struct thread_stack_bounds {
    std::uintptr_t low = 0;
    std::uintptr_t high = 0;

    thread_stack_bounds() noexcept {
        sys::pthread_attr attr;
        if (sys::pthread_getattr_np(sys::pthread_self(), &attr) != 0) return;
        void* addr = nullptr;
        std::size_t size = 0;
        if (sys::pthread_attr_getstack(&attr, &addr, &size) == 0) {
            low = reinterpret_cast<std::uintptr_t>(addr);
            high = low + size;
        }
        sys::pthread_attr_destroy(&attr);
    }
};

// Walks the chain of saved frame pointers. Every address is checked to lie inside
// the thread's stack, and each frame must be above the last, so a frame without a
// frame pointer ends the walk instead of crashing it.
[[gnu::noinline, gnu::no_sanitize_address]] STRATA_MODULE_LOCAL inline std::size_t capture_stack(std::uintptr_t* out, std::size_t max,
                                                                             bool& truncated) noexcept {
    thread_local const thread_stack_bounds bounds;
    truncated = false;
    std::size_t n = 0;
    auto fp = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
    while (fp >= bounds.low && fp + 2 * sizeof(void*) <= bounds.high && fp % sizeof(void*) == 0) {
        const auto* frame = reinterpret_cast<const std::uintptr_t*>(fp);
        const std::uintptr_t ret = frame[1];
        if (ret == 0) break;
        if (n == max) {
            truncated = true;
            break;
        }
        out[n++] = ret - 1;  // into the call instruction
        const std::uintptr_t next = frame[0];
        if (next <= fp) break;
        fp = next;
    }
    return n;
}
#else
// Fills `out` with up to `max` program counters of the calling thread, innermost
// first, and returns how many. Costs about 100 ns a frame (libgcc's unwinder);
// never allocates.
[[gnu::noinline]] inline std::size_t capture_stack(std::uintptr_t* out, std::size_t max, bool& truncated) noexcept {
    unwind_state s{out, 0, max, false};
    sys::unwind_backtrace(&unwind_step, &s);
    truncated = s.truncated;
    return s.n;
}
#endif

}  // namespace detail
}  // namespace strata
