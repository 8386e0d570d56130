// strata/detail/frame.hpp: the frame, strata's one allocation per link of a chain.
// Private: the layout may change in any release.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string_view>
#include <type_traits>
#include <typeinfo>

#include "../config.hpp"
#include "../layer.hpp"
#include "../location.hpp"
#include "../misc.hpp"
#include "process.hpp"

namespace strata {

// What STRATA_CHECKED reports about an error destroyed without being checked:
// its outermost frame.
struct unchecked_error {
    std::string_view layer;
    std::string_view message;
    location where;
};

using unchecked_error_handler = void (*)(const unchecked_error&) noexcept;

namespace detail {

inline void default_unchecked_error_handler(const unchecked_error& e) noexcept {
    std::fprintf(stderr,
                 "strata: an error was destroyed without being checked (STRATA_CHECKED): %.*s: %.*s, made at %s:%u "
                 "in %s\n",
                 static_cast<int>(e.layer.size()), e.layer.data(), static_cast<int>(e.message.size()),
                 e.message.data(), e.where.file_name(), static_cast<unsigned>(e.where.line()),
                 e.where.function_name());
    std::abort();
}

// The handler in force, process-wide (detail/process.hpp).
inline unchecked_error_handler current_unchecked_handler() noexcept {
    void* h = process().unchecked_handler.load(std::memory_order_acquire);
    return h ? reinterpret_cast<unchecked_error_handler>(h) : &default_unchecked_error_handler;
}

}  // namespace detail

// Under STRATA_CHECKED, called for each error destroyed without anyone having
// tested it (operator bool, empty(), is<L>(), is_user_facing(), message(), a
// result's has_value()), wrapped it, found in it, formatted or handled it. The
// default prints the error and aborts, as LLVM does; returns the previous one.
// Process-wide: one handler for every module (a plugin that sets one puts the
// previous one back before it is unloaded).
inline unchecked_error_handler set_unchecked_error_handler(unchecked_error_handler h) noexcept {
    void* old = detail::process().unchecked_handler.exchange(h ? reinterpret_cast<void*>(h) : nullptr,
                                                              std::memory_order_acq_rel);
    return old ? reinterpret_cast<unchecked_error_handler>(old) : &detail::default_unchecked_error_handler;
}

}  // namespace strata

namespace strata::detail {

// How to manage a non-strata cause kept inside a frame (an error_code, an
// exception_ptr, or any value), without knowing its type.
struct payload_ops {
    // typeid(T): compared with ==, which compares names, so that a payload made in
    // one module is found by inner_as<T>() in another (each has its own type_info
    // under -fvisibility=hidden); a type local to one module has a name of its own.
    const std::type_info* type;
    void (*destroy)(void*) noexcept;
    // Copy-constructs *src into dst; false when the copy failed.
    bool (*copy)(const void* src, void* dst) noexcept;
    std::size_t size;
    std::size_t align;
};

template <class T>
STRATA_MODULE_LOCAL inline constexpr payload_ops payload_ops_of{
    &typeid(T),
    [](void* p) noexcept { static_cast<T*>(p)->~T(); },
    [](const void* src, void* dst) noexcept -> bool {
#if STRATA_HAS_EXCEPTIONS
        try {
            ::new (dst) T(*static_cast<const T*>(src));
            return true;
        } catch (...) {
            return false;
        }
#else
        ::new (dst) T(*static_cast<const T*>(src));
        return true;
#endif
    },
    sizeof(T),
    alignof(T),
};

// A part of a frame's message that came from a sensitive() argument.
// Its hash is taken when the message is made, of the value as "{}" prints it (so
// that a width or fill does not change it, and it matches a misc value's).
struct secret_span {
    std::uint32_t begin;
    std::uint32_t size;
    std::uint64_t hash;
};

// A misc entry as the frame keeps it: misc_view's iterator hands out references
// to the entry inside the node (valid while the error lives).
struct misc_node : misc_entry {
    misc_node* next = nullptr;
};

// One allocation holding the node, the key and a string value.
inline misc_node* make_misc_node(std::string_view key, const misc_value& value) noexcept {
    const std::string_view str = value.as_string();
    void* mem = ::operator new(sizeof(misc_node) + key.size() + str.size(), std::nothrow);
    if (!mem) return nullptr;
    auto* n = ::new (mem) misc_node();
    char* text = static_cast<char*>(mem) + sizeof(misc_node);
    if (!key.empty()) std::memcpy(text, key.data(), key.size());
    n->key = std::string_view(text, key.size());
    if (value.type() == misc_value::kind::string) {
        if (!str.empty()) std::memcpy(text + key.size(), str.data(), str.size());
        n->value = misc_value::of_string(std::string_view(text + key.size(), str.size()));
        if (value.is_sensitive()) n->value = n->value.marked_sensitive();
    } else {
        n->value = value;
    }
    return n;
}

struct frame;

// A secondary error of a frame: an error that explains the frame without being
// its cause (why work stopped, a later failure of a group, another replica's
// failure), with a label saying which ("stopped because"). The node holds one
// reference to the secondary's outermost frame; one allocation holds the node
// and the label.
struct secondary_node {
    secondary_node* next = nullptr;
    frame* err = nullptr;
    std::string_view label;
};

inline secondary_node* make_secondary_node(std::string_view label, frame* err) noexcept {
    void* mem = ::operator new(sizeof(secondary_node) + label.size(), std::nothrow);
    if (!mem) return nullptr;
    auto* n = ::new (mem) secondary_node();
    char* text = static_cast<char*>(mem) + sizeof(secondary_node);
    if (!label.empty()) std::memcpy(text, label.data(), label.size());
    n->label = std::string_view(text, label.size());
    n->err = err;
    return n;
}

enum frame_flags : std::uint8_t {
    immortal = 1,         // static frame: never counted, never freed
    stack_truncated = 2,  // the stack was deeper than STRATA_MAX_STACK_DEPTH
    decoded = 4,          // made by from_json: the payload is a decoded_frame (origin.hpp)
};

struct frame {
    constexpr frame(const layer_info* l, std::string_view msg, std::uint8_t fl) noexcept
        : flags(fl), layer(l), message(msg) {}

    std::atomic<std::uint32_t> refs{1};
    std::uint16_t n_pcs = 0;
    std::uint8_t flags = 0;
    // Whether anyone looked at this error (used only under STRATA_CHECKED, but
    // always there, in what would be padding: the layout is the same in both
    // modes).
    mutable std::atomic<bool> checked{false};
    const layer_info* layer;
    location loc;
    frame* inner = nullptr;
    misc_node* misc_head = nullptr;
    misc_node* misc_tail = nullptr;
    const payload_ops* pops = nullptr;
    void* payload = nullptr;
    // 0 until handle() reports this error; then the report's sequence number,
    // with the ID prefix in force when it was given (stored whole: a fork()
    // child draws a new prefix, and this ID keeps the one it was given under).
    std::atomic<std::uint64_t> report_seq{0};
    std::atomic<std::uint64_t> report_prefix{0};
    std::string_view message;
    // For cause frames: what kind of cause, e.g. "std::error_code generic:2".
    std::string_view detail;
    // The parts of the message that came from sensitive() arguments, in order.
    const secret_span* secrets = nullptr;
    std::uint32_t n_secrets = 0;
    // With secrets: the size of the message with each of them replaced by its
    // hash token, kept (NUL-terminated) right after the spans (in padding: the
    // frame is no larger). See redacted_message().
    std::uint32_t redacted_size = 0;
    // Secondary errors (never visited by inner(), inner_as<T>() or find<L>()), in
    // the order they were added.
    secondary_node* secondaries = nullptr;

    std::uintptr_t* pcs() noexcept { return reinterpret_cast<std::uintptr_t*>(this + 1); }
    const std::uintptr_t* pcs() const noexcept { return reinterpret_cast<const std::uintptr_t*>(this + 1); }
};

static_assert(alignof(frame) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__);

// Records that someone looked at the error (STRATA_CHECKED; nothing otherwise).
inline void mark_checked([[maybe_unused]] const frame* f) noexcept {
#if STRATA_CHECKED
    if (f && !f->checked.load(std::memory_order_relaxed)) f->checked.store(true, std::memory_order_relaxed);
#endif
}

// A failure handed up by STRATA_TRY (or taken out of a result) is the caller's
// to check again, as with LLVM's errors: a function that tested an error and
// returns it leaves its caller to test it too.
inline void mark_unchecked([[maybe_unused]] const frame* f) noexcept {
#if STRATA_CHECKED
    if (f && !(f->flags & immortal)) f->checked.store(false, std::memory_order_relaxed);
#endif
}

// For an error strata drops on purpose (a replica that lost, a cause nobody
// asked for): not a forgotten one.
inline void drop_checked(const frame* f) noexcept { mark_checked(f); }

inline void add_ref(frame* f) noexcept {
    if (f && !(f->flags & immortal)) f->refs.fetch_add(1, std::memory_order_relaxed);
}

inline void free_misc(misc_node* n) noexcept {
    while (n) {
        misc_node* next = n->next;
        n->~misc_node();
        ::operator delete(n);
        n = next;
    }
}

// What is shown of a message holding a sensitive value where it cannot be hashed.
inline constexpr std::string_view withheld_message = "(message withheld: it holds a sensitive value)";

// The message with each part that came from a sensitive() argument replaced by
// its hash token, as {} prints it: made with the frame (the hash is taken when the
// error is made), so reading it needs no memory. NUL-terminated.
inline std::string_view redacted_message(const frame* f) noexcept {
    if (!f->n_secrets) return f->message;
    return std::string_view(reinterpret_cast<const char*>(f->secrets + f->n_secrets), f->redacted_size);
}

// The outermost message as text that never shows a sensitive value, without
// hashing or allocating: the redacted message ("(no error)" for none).
// NUL-terminated.
inline std::string_view safe_message(const frame* f) noexcept {
    if (!f) return "(no error)";
    return redacted_message(f);
}

inline void destroy_frame(frame* f) noexcept {
#if STRATA_CHECKED
    if (!f->checked.load(std::memory_order_relaxed))
        current_unchecked_handler()(unchecked_error{f->layer->name, safe_message(f), f->loc});
#endif
    if (f->pops) f->pops->destroy(f->payload);
    free_misc(f->misc_head);
    f->~frame();
    ::operator delete(f);
}

// Frees the chain from `f` down as far as nobody else holds it, in a loop: a
// chain of any depth is destroyed without recursion. The secondary errors of the
// frames freed wait in a list (linked through their own nodes, so no memory is
// needed) and their chains are freed the same way after, however deep they are
// nested.
[[gnu::noinline]] inline void destroy_chain(frame* f) noexcept {
    secondary_node* pending = nullptr;
    for (;;) {
        do {
            frame* next = f->inner;
            if (secondary_node* s = f->secondaries) {
                f->secondaries = nullptr;
                secondary_node* last = s;
                while (last->next) last = last->next;
                last->next = pending;
                pending = s;
            }
            destroy_frame(f);
            f = next;
        } while (f && !(f->flags & immortal) && f->refs.fetch_sub(1, std::memory_order_acq_rel) == 1);
        f = nullptr;
        while (pending && !f) {
            secondary_node* n = pending;
            pending = n->next;
            frame* s = n->err;
            n->~secondary_node();
            ::operator delete(n);
            if (s && !(s->flags & immortal) && s->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) f = s;
        }
        if (!f) return;
    }
}

// Drops one reference (inline: the null and last-reference tests are on every
// result's and error's destruction).
inline void release(frame* f) noexcept {
    if (f && !(f->flags & immortal) && f->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) destroy_chain(f);
}

// Everything a new frame is made of. The frame copies the strings, the stack and
// the payload into its single allocation.
struct frame_spec {
    const layer_info* layer = nullptr;
    location loc;
    frame* inner = nullptr;  // adopted: the new frame takes over this reference
    std::string_view message;
    std::string_view detail;
    const std::uintptr_t* pcs = nullptr;
    std::size_t n_pcs = 0;
    bool truncated = false;
    const payload_ops* pops = nullptr;
    const void* payload = nullptr;  // copied with pops->copy
    const secret_span* secrets = nullptr;  // spans of `message`
    std::size_t n_secrets = 0;
    std::string_view redacted;  // with n_secrets: `message` with the spans hashed
    std::uint8_t extra_flags = 0;  // e.g. decoded
};

inline constexpr std::size_t align_up(std::size_t n, std::size_t a) noexcept { return (n + a - 1) / a * a; }

// One allocation: [frame][pcs][payload][message NUL][detail NUL][secret spans][redacted message NUL].
// Returns nullptr when memory is short (the caller degrades); never throws.
inline frame* allocate_frame(const frame_spec& s) noexcept {
    std::size_t size = sizeof(frame) + s.n_pcs * sizeof(std::uintptr_t);
    std::size_t payload_at = 0;
    if (s.pops) {
        payload_at = align_up(size, s.pops->align);
        size = payload_at + s.pops->size;
    }
    const std::size_t msg_at = size;
    size += s.message.size() + 1 + s.detail.size() + 1;  // both NUL-terminated, for what()
    const std::size_t secrets_at = align_up(size, alignof(secret_span));
    if (s.n_secrets) size = secrets_at + s.n_secrets * sizeof(secret_span) + s.redacted.size() + 1;
    void* mem = ::operator new(size, std::nothrow);
    if (!mem) return nullptr;
    auto* f = ::new (mem) frame(s.layer, {}, 0);
    auto* bytes = static_cast<char*>(mem);
    if (s.pops) {
        if (!s.pops->copy(s.payload, bytes + payload_at)) {
            f->~frame();
            ::operator delete(mem);
            return nullptr;
        }
        f->pops = s.pops;
        f->payload = bytes + payload_at;
    }
    f->loc = s.loc;
    f->inner = s.inner;
    mark_checked(s.inner);  // wrapping an error is looking at it
    f->n_pcs = static_cast<std::uint16_t>(s.n_pcs);
    if (s.truncated) f->flags |= stack_truncated;
    if (s.n_pcs) std::memcpy(f->pcs(), s.pcs, s.n_pcs * sizeof(std::uintptr_t));
    char* text = bytes + msg_at;
    if (!s.message.empty()) std::memcpy(text, s.message.data(), s.message.size());
    text[s.message.size()] = '\0';
    f->message = std::string_view(text, s.message.size());
    text += s.message.size() + 1;
    if (!s.detail.empty()) std::memcpy(text, s.detail.data(), s.detail.size());
    text[s.detail.size()] = '\0';
    f->detail = std::string_view(text, s.detail.size());
    if (s.n_secrets) {
        auto* spans = reinterpret_cast<secret_span*>(bytes + secrets_at);
        std::memcpy(static_cast<void*>(spans), s.secrets, s.n_secrets * sizeof(secret_span));
        f->secrets = spans;
        f->n_secrets = static_cast<std::uint32_t>(s.n_secrets);
        char* redacted = reinterpret_cast<char*>(spans + s.n_secrets);
        if (!s.redacted.empty()) std::memcpy(redacted, s.redacted.data(), s.redacted.size());
        redacted[s.redacted.size()] = '\0';
        f->redacted_size = static_cast<std::uint32_t>(s.redacted.size());
    }
    f->flags |= s.extra_flags;
    return f;
}

STRATA_MODULE_LOCAL inline constexpr std::string_view oom_message = "out of memory while reporting an error";

// The last resort when memory is short: one static frame per layer, so that the
// layer (and with it is<L>() and the bug/user decision) survives.
template <class L>
STRATA_MODULE_LOCAL inline frame oom_frame_of{&layer_info_of<L>, oom_message, immortal};

// What a failed strata::result holds after its error was moved out: it stays failed.
STRATA_MODULE_LOCAL inline frame moved_from_result_frame{&layer_info_of<untagged>, "(moved-from strata::result)", immortal};

// Appends a secondary error to `f` (which must not be shared yet), adopting the
// reference `err`. False (and the reference dropped) when memory is short.
inline bool add_secondary(frame* f, std::string_view label, frame* err) noexcept {
    secondary_node* n = make_secondary_node(label, err);
    if (!n) {
        release(err);
        return false;
    }
    secondary_node** at = &f->secondaries;
    while (*at) at = &(*at)->next;
    *at = n;
    return true;
}

// Gives `to` the secondaries of `from` (new references); out of memory, the ones
// copied so far.
inline void copy_secondaries(frame* to, const frame* from) noexcept {
    for (const secondary_node* n = from->secondaries; n; n = n->next) {
        add_ref(n->err);
        if (!add_secondary(to, n->label, n->err)) break;
    }
}

// Copy of `f` with its own misc list, so that with() never changes a shared frame,
// over `inner` (a new reference is taken; by default f's own). nullptr when memory
// is short.
inline frame* clone_frame(const frame* f, frame* inner) noexcept {
    frame_spec s;
    s.layer = f->layer;
    s.loc = f->loc;
    s.inner = inner;
    s.message = f->message;
    s.detail = f->detail;
    s.pcs = f->pcs();
    s.n_pcs = f->n_pcs;
    s.truncated = (f->flags & stack_truncated) != 0;
    s.pops = f->pops;
    s.payload = f->payload;
    s.secrets = f->secrets;
    s.n_secrets = f->n_secrets;
    s.redacted = redacted_message(f);
    s.extra_flags = static_cast<std::uint8_t>(f->flags & decoded);
    frame* c = allocate_frame(s);
    if (!c) return nullptr;
    add_ref(c->inner);
    c->checked.store(f->checked.load(std::memory_order_relaxed), std::memory_order_relaxed);
    for (const misc_node* n = f->misc_head; n; n = n->next) {
        misc_node* copy = make_misc_node(n->key, n->value);
        if (!copy) break;  // out of memory: keep the entries copied so far
        if (c->misc_tail)
            c->misc_tail->next = copy;
        else
            c->misc_head = copy;
        c->misc_tail = copy;
    }
    copy_secondaries(c, f);
    return c;
}
inline frame* clone_frame(const frame* f) noexcept { return clone_frame(f, f->inner); }

}  // namespace strata::detail
