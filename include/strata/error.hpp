// strata/error.hpp: strata::error (a shared, immutable chain of frames, one pointer
// wide), wrapped_error<Layer>, and the calls that make them: make_error, wrap, find.
// Creating and wrapping never throw; out of memory an error degrades but survives.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iterator>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include <fmt/format.h>

#include "config.hpp"
#include "detail/fmt_extern.hpp"
#include "detail/frame.hpp"
#include "layer.hpp"
#include "location.hpp"
#include "misc.hpp"
#include "sensitive.hpp"
#include "stack.hpp"

namespace strata {

class [[nodiscard]] error;
template <layer_tag L>
class [[nodiscard]] wrapped_error;

// A format string checked at compile time against its arguments (as fmt does),
// which also records where it was written: the call site of wrap()/make_error().
// fmt::runtime(s) is accepted for strings known only at run time; a bad one gives
// an error that says so instead of throwing.
template <class... Args>
class basic_located_format {
public:
    template <class S>
        requires std::convertible_to<const S&, std::string_view>
    consteval basic_located_format(const S& s, location loc = location::current()) : fmt_(s), loc_(loc) {}

    basic_located_format(fmt::basic_runtime<char> r, location loc = location::current()) noexcept
        : fmt_(r), loc_(loc), runtime_(true) {}

    constexpr fmt::string_view get() const noexcept { return fmt_; }
    constexpr location where() const noexcept { return loc_; }
    // Given through fmt::runtime: not checked at compile time.
    constexpr bool runtime() const noexcept { return runtime_; }

private:
    fmt::format_string<Args...> fmt_;
    location loc_;
    bool runtime_ = false;
};

template <class... Args>
using format_string = basic_located_format<std::type_identity_t<Args>...>;

namespace detail {

struct access;

template <class T>
constexpr std::string_view type_name() noexcept {
    std::string_view p = __PRETTY_FUNCTION__;
    const auto b = p.find("T = ");
    if (b == std::string_view::npos) return "value";
    const auto e = p.find_first_of(";]", b + 4);
    return p.substr(b + 4, e - (b + 4));
}

inline void append(fmt::memory_buffer& buf, std::string_view s) noexcept {
#if STRATA_HAS_EXCEPTIONS
    try {
        buf.append(s.data(), s.data() + s.size());
    } catch (...) {
    }
#else
    buf.append(s.data(), s.data() + s.size());
#endif
}

// A message with each part that came from a sensitive() argument (the spans)
// replaced by its hash token. Throws only what appending to `out` throws.
inline void append_redacted_text(fmt::memory_buffer& out, std::string_view m, const secret_span* spans,
                                 std::size_t n) {
    std::size_t at = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const secret_span sp = spans[i];
        if (sp.begin < at || sp.begin > m.size() || sp.size > m.size() - sp.begin) continue;
        out.append(m.data() + at, m.data() + sp.begin);
        append_hash_token(out, sp.hash);
        at = sp.begin + sp.size;
    }
    out.append(m.data() + at, m.data() + m.size());
}
inline void append_redacted_message(fmt::memory_buffer& out, const frame* f) {
    append_redacted_text(out, f->message, f->secrets, f->n_secrets);
}

inline void append_demangled(fmt::memory_buffer& buf, const char* mangled) noexcept {
    int status = 0;
    char* d = sys::cxa_demangle(mangled, nullptr, nullptr, &status);
    append(buf, d ? d : mangled);
    std::free(d);
}

// Where a message's format string came from, which says who threw when formatting
// it does. Checked at compile time, the string is good: whatever is thrown comes
// from an argument's formatter. Unchecked (fmt::runtime), a fmt::format_error is
// the string's (or a spec's) fault. For a misc value strata formats it with "{}".
enum class format_origin : unsigned char { unchecked, checked, misc_value };

// The message that replaces one whose formatting threw a std::exception of
// `type` with `what`; nullptr for both: an exception not derived from it.
inline void describe_throw(fmt::memory_buffer& buf, fmt::string_view f, format_origin origin,
                           const std::type_info* type, const char* what) noexcept {
    buf.clear();
    append(buf, origin == format_origin::misc_value ? "the value's formatter threw " : "an argument's formatter threw ");
    if (type) {
        append_demangled(buf, type->name());
        append(buf, ": ");
        append(buf, what);
    } else {
        append(buf, "an exception not derived from std::exception");
    }
    if (origin != format_origin::misc_value) {
        append(buf, " (format string \"");
        append(buf, std::string_view(f.data(), f.size()));
        append(buf, "\")");
    }
}

// Formats a message; out of memory gives the static out-of-memory text, a bad
// run-time format string a message that says so, and an argument whose formatter
// throws a message that says that (the exception's type and what()), never that
// the format string was bad. False when the message is such a replacement.
inline bool format_message(fmt::memory_buffer& buf, fmt::string_view f, fmt::format_args args,
                           [[maybe_unused]] format_origin origin = format_origin::unchecked) noexcept {
#if STRATA_HAS_EXCEPTIONS
    try {
        fmt::vformat_to(fmt::appender(buf), f, args);
        return true;
    } catch (const std::bad_alloc&) {
        buf.clear();
        append(buf, oom_message);
    } catch (const fmt::format_error& e) {
        if (origin != format_origin::unchecked) {
            describe_throw(buf, f, origin, &typeid(e), e.what());
            return false;
        }
        buf.clear();
        try {
            // (vformat_to: a compile-time checked string costs every includer ~0.1 s)
            fmt::vformat_to(fmt::appender(buf), "invalid format string \"{}\": {}", fmt::make_format_args(f, e.what()));
        } catch (...) {
            buf.clear();
            append(buf, "invalid format string");
        }
    } catch (const std::exception& e) {
        describe_throw(buf, f, origin, &typeid(e), e.what());
    } catch (...) {
        describe_throw(buf, f, origin, nullptr, nullptr);
    }
    return false;
#else
    fmt::vformat_to(fmt::appender(buf), f, args);
    return true;
#endif
}

// Program counters captured in the caller's own frame (make_error and wrap are
// forced inline so that capture_stack is called straight from the user's code:
// the unwinder walks no frame of strata's but capture_stack), before the frame is
// allocated.
struct stack_buffer {
    std::uintptr_t pcs[STRATA_MAX_STACK_DEPTH];
    std::size_t n = 0;
    bool truncated = false;

    void capture() noexcept { n = capture_stack(pcs, STRATA_MAX_STACK_DEPTH, truncated); }
    void apply(frame_spec& s) const noexcept {
        s.pcs = pcs;
        s.n_pcs = n;
        s.truncated = truncated;
    }
};

// Allocates a frame, degrading as memory runs short: without its stack, then with
// the out-of-memory message. nullptr when even that fails.
inline frame* allocate_or_degrade(frame_spec& s) noexcept {
    if (frame* f = allocate_frame(s)) return f;
    s.n_pcs = 0;
    if (frame* f = allocate_frame(s)) return f;
    s.message = oom_message;
    s.detail = {};
    s.n_secrets = 0;
    return allocate_frame(s);
}

STRATA_MODULE_LOCAL inline constexpr layer_info error_code_cause{"std::error_code", false, true};
STRATA_MODULE_LOCAL inline constexpr layer_info exception_cause{"exception", false, true};
STRATA_MODULE_LOCAL inline constexpr layer_info value_cause{"value", false, true};

template <class T>
concept string_like = std::convertible_to<const T&, std::string_view>;

// Makes the root frame for a non-strata cause, with the stack captured by the
// caller (if any). nullptr only when memory is short.
template <class T>
frame* make_cause_frame(const T& cause, const stack_buffer* stack) noexcept {
    fmt::memory_buffer msg;
    fmt::memory_buffer det;
    frame_spec s;
    if (stack) stack->apply(s);
#if STRATA_HAS_EXCEPTIONS
    try {
#endif
        if constexpr (std::is_same_v<T, std::error_code>) {
            s.layer = &error_code_cause;
            append(msg, cause.message());
            fmt::format_to(fmt::appender(det), "{}:{}", cause.category().name(), cause.value());
            s.pops = &payload_ops_of<std::error_code>;
            s.payload = &cause;
        } else if constexpr (std::is_same_v<T, std::exception_ptr>) {
            s.layer = &exception_cause;
            s.pops = &payload_ops_of<std::exception_ptr>;
            s.payload = &cause;
            if (!cause) {
                append(msg, "(null std::exception_ptr)");
            } else {
#if STRATA_HAS_EXCEPTIONS
                try {
                    std::rethrow_exception(cause);
                } catch (const std::exception& e) {
                    append(msg, e.what());
                    append_demangled(det, sys::cxa_current_exception_type()->name());
                } catch (...) {
                    const std::type_info* t = sys::cxa_current_exception_type();
                    if (t) append_demangled(det, t->name());
                    fmt::format_to(fmt::appender(msg), "exception of type {} (not derived from std::exception)",
                                   std::string_view(det.data(), det.size()));
                }
#else
                append(msg, "std::exception_ptr (exceptions are disabled)");
#endif
            }
        } else if constexpr (std::is_base_of_v<std::exception, T>) {
            s.layer = &exception_cause;
            append(msg, cause.what());
            append_demangled(det, typeid(cause).name());
        } else if constexpr (string_like<T>) {
            s.layer = &value_cause;
            std::string_view text;
            if constexpr (std::is_convertible_v<const T&, const char*>) {
                const char* p = cause;
                text = p ? std::string_view(p) : std::string_view("(null)");
            } else {
                text = std::string_view(cause);
            }
            append(msg, text);
            const std::string owned(text);
            s.pops = &payload_ops_of<std::string>;
            s.payload = &owned;
            s.message = std::string_view(msg.data(), msg.size());
            s.detail = "std::string";
            return allocate_or_degrade(s);
        } else {
            static_assert(alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__, "strata: cause type is over-aligned");
            s.layer = &value_cause;
            append(det, type_name<T>());
            s.pops = &payload_ops_of<T>;
            s.payload = &cause;
            fmt::format_to(fmt::appender(msg), "{}", cause);
        }
#if STRATA_HAS_EXCEPTIONS
    } catch (const std::bad_alloc&) {
        msg.clear();
        append(msg, oom_message);
    } catch (const std::exception& e) {
        msg.clear();
        append(msg, "describing the cause threw: ");
        append(msg, e.what());
    } catch (...) {
        msg.clear();
        append(msg, "describing the cause threw an unknown exception");
    }
#endif
    if (!s.layer) s.layer = &value_cause;
    s.message = std::string_view(msg.data(), msg.size());
    s.detail = std::string_view(det.data(), det.size());
    return allocate_or_degrade(s);
}

}  // namespace detail

// Causes that wrap() accepts besides another strata error.
template <class T>
concept foreign_cause =
    std::is_same_v<std::remove_cvref_t<T>, std::error_code> || std::is_error_code_enum_v<std::remove_cvref_t<T>> ||
    std::is_same_v<std::remove_cvref_t<T>, std::errc> ||
    std::is_same_v<std::remove_cvref_t<T>, std::exception_ptr> ||
    std::is_base_of_v<std::exception, std::remove_cvref_t<T>> ||
    (fmt::is_formattable<std::remove_cvref_t<T>>::value &&
     !is_sensitive_v<std::remove_cvref_t<T>>);  // a secret is an argument or a misc value, never a kept cause

template <class T>
inline constexpr bool is_wrapped_error_v = false;
template <layer_tag L>
inline constexpr bool is_wrapped_error_v<wrapped_error<L>> = true;

// strata::error (or a class derived from it) or any wrapped_error<L>.
template <class T>
concept strata_error =
    std::derived_from<std::remove_cvref_t<T>, error> || is_wrapped_error_v<std::remove_cvref_t<T>>;

template <class T>
concept error_cause = strata_error<T> || foreign_cause<T>;

// The misc entries of one frame, in the order they were added.
class misc_view {
public:
    class iterator {
    public:
        using iterator_category = std::forward_iterator_tag;
        using value_type = misc_entry;
        using difference_type = std::ptrdiff_t;
        using pointer = const misc_entry*;
        using reference = const misc_entry&;
        iterator() noexcept = default;
        explicit iterator(const detail::misc_node* n) noexcept : n_(n) {}
        // Refers into the error's frame, never into the iterator: valid while the
        // error lives, however short-lived the iterator.
        const misc_entry& operator*() const noexcept { return *n_; }
        const misc_entry* operator->() const noexcept { return n_; }
        iterator& operator++() noexcept {
            n_ = n_->next;
            return *this;
        }
        iterator operator++(int) noexcept {
            auto t = *this;
            n_ = n_->next;
            return t;
        }
        friend bool operator==(const iterator& a, const iterator& b) noexcept { return a.n_ == b.n_; }

    private:
        const detail::misc_node* n_ = nullptr;
    };

    misc_view() noexcept = default;
    explicit misc_view(const detail::misc_node* head) noexcept : head_(head) {}
    iterator begin() const noexcept { return iterator(head_); }
    iterator end() const noexcept { return iterator(); }
    bool empty() const noexcept { return head_ == nullptr; }
    std::size_t size() const noexcept {
        std::size_t n = 0;
        for (auto* p = head_; p; p = p->next) ++n;
        return n;
    }
    // The first entry with this key, if any.
    std::optional<misc_value> find(std::string_view key) const noexcept {
        for (auto* p = head_; p; p = p->next)
            if (p->key == key) return p->value;
        return std::nullopt;
    }

private:
    const detail::misc_node* head_ = nullptr;
};

// Asks error::message(strata::reveal) for the message as it was written,
// sensitive() values in clear: for local use only (see message()).
struct reveal_t {
    explicit constexpr reveal_t() = default;
};
inline constexpr reveal_t reveal{};

// The secondary errors of one frame (see error::secondaries()), in the order they
// were added: each a strata::error of its own, with a label saying what it is
// ("stopped because", "later failure 2 of 5", "replica 3 failed"). Valid while
// the error it came from lives and is not changed.
class secondary_view {
public:
    class iterator {
    public:
        using value_type = error;
        using difference_type = std::ptrdiff_t;
        iterator() noexcept = default;
        explicit iterator(const detail::secondary_node* n) noexcept : n_(n) {}
        inline error operator*() const noexcept;  // a new reference to the secondary
        std::string_view label() const noexcept { return n_->label; }
        iterator& operator++() noexcept {
            n_ = n_->next;
            return *this;
        }
        iterator operator++(int) noexcept {
            auto t = *this;
            n_ = n_->next;
            return t;
        }
        friend bool operator==(const iterator& a, const iterator& b) noexcept { return a.n_ == b.n_; }

    private:
        const detail::secondary_node* n_ = nullptr;
    };

    secondary_view() noexcept = default;
    explicit secondary_view(const detail::secondary_node* head) noexcept : head_(head) {}
    iterator begin() const noexcept { return iterator(head_); }
    iterator end() const noexcept { return iterator(); }
    bool empty() const noexcept { return head_ == nullptr; }
    std::size_t size() const noexcept {
        std::size_t n = 0;
        for (auto* p = head_; p; p = p->next) ++n;
        return n;
    }
    // The i-th secondary (empty when i >= size()) and its label ("" then).
    inline error operator[](std::size_t i) const noexcept;
    std::string_view label(std::size_t i) const noexcept {
        const detail::secondary_node* p = at(i);
        return p ? p->label : std::string_view();
    }

private:
    const detail::secondary_node* at(std::size_t i) const noexcept {
        const detail::secondary_node* p = head_;
        for (; p && i; --i) p = p->next;
        return p;
    }
    const detail::secondary_node* head_ = nullptr;
};

namespace detail {

// What error and wrapped_error<L> share: the pointer to the outermost frame and
// every accessor. Not a public base of anything a user can assign through: its
// copy and assignment are protected, and wrapped_error<L> is not an error (it
// converts to one), so no reference to error can ever refer to a wrapped_error
// and an assignment through it cannot give the wrapped_error another layer.
class error_base {
public:
    // True when this holds an error (Go's err != nil).
    // Testing an error (operator bool, empty(), is<L>(), is_user_facing(),
    // message()) is what STRATA_CHECKED counts as checking it.
    explicit operator bool() const noexcept {
        detail::mark_checked(f_);
        return f_ != nullptr;
    }
    bool empty() const noexcept {
        detail::mark_checked(f_);
        return f_ == nullptr;
    }

    // The outermost frame's message ("" when empty), as {} prints it: each part
    // that came from a sensitive() argument is replaced by its hash token,
    // "<sensitive:...>". message() is what code logs and shows (it stands in for
    // what() and Status::message()), so it never shows a secret; the hashed text
    // is made with the frame, so this costs nothing. NUL-terminated.
    std::string_view message() const noexcept {
        detail::mark_checked(f_);
        return f_ ? detail::redacted_message(f_) : std::string_view();
    }
    // The message as it was written, sensitive() values in clear (as local {:v}
    // shows them): for a local look, never for a log, a user or another process.
    std::string_view message(reveal_t) const noexcept {
        detail::mark_checked(f_);
        return f_ ? f_->message : std::string_view();
    }

    // The next frame of the chain (empty at the root cause).
    error inner() const noexcept;

    // The first non-strata cause of type T in the chain (std::error_code,
    // std::exception_ptr, std::string for string causes, or the value type that was
    // wrapped), or nullptr. Valid while this error lives.
    template <class T>
    const T* inner_as() const noexcept {
        detail::mark_checked(f_);
        for (const detail::frame* f = f_; f; f = f->inner)
            if (f->pops && *f->pops->type == typeid(T)) return static_cast<const T*>(f->payload);
        return nullptr;
    }

    // The stack captured where the chain started: this frame's own, or else the
    // nearest captured below it. Empty when capture was off.
    stack_view stack() const noexcept {
        for (const detail::frame* f = f_; f; f = f->inner)
            if (f->n_pcs) return stack_view(f->pcs(), f->n_pcs, (f->flags & detail::stack_truncated) != 0);
        return {};
    }

    // This frame's misc entries.
    misc_view misc() const noexcept {
        detail::mark_checked(f_);
        return misc_view(f_ ? f_->misc_head : nullptr);
    }

    // This frame's secondary errors: errors that explain it without being its
    // cause (why work stopped, a group's later failures, other replicas'
    // failures), as cockroachdb/errors' secondary errors and Go's context.Cause.
    // inner(), inner_as<T>(), find<L>(), is<L>() and {:c} never visit them; {:v},
    // handle()'s record and to_json() show them.
    secondary_view secondaries() const noexcept {
        detail::mark_checked(f_);
        return secondary_view(f_ ? f_->secondaries : nullptr);
    }

    // Where this frame was made.
    ::strata::location location() const noexcept { return f_ ? f_->loc : ::strata::location(); }

    // The outermost frame's layer.
    const layer_info& layer() const noexcept {
        detail::mark_checked(f_);
        return f_ ? *f_->layer : empty_layer;
    }
    bool is_user_facing() const noexcept {
        detail::mark_checked(f_);
        return f_ && f_->layer->user_facing;
    }

    // Is the outermost layer L (the book's err.(IntermediateErr))?
    template <layer_tag L>
    bool is() const noexcept {
        detail::mark_checked(f_);
        return f_ && matches(f_->layer, &layer_info_of<L>);
    }

    // For a root cause made from a non-strata value: what it was, e.g.
    // "generic:2" for a std::error_code or the exception's type. Otherwise "".
    std::string_view cause_detail() const noexcept {
        detail::mark_checked(f_);
        return f_ ? f_->detail : std::string_view();
    }

    // Frames in the chain, this one included. Walks the chain.
    std::size_t depth() const noexcept {
        std::size_t n = 0;
        for (const detail::frame* f = f_; f; f = f->inner) ++n;
        return n;
    }

    // The label of a secondary error added without one.
    static constexpr std::string_view default_secondary_label = "secondary error";

    // Same chain (not equal text): the two share their outermost frame.
    bool same_as(const error_base& o) const noexcept { return f_ == o.f_; }

    static bool matches(const layer_info* a, const layer_info* b) noexcept {
        return a == b || (!a->is_cause && !b->is_cause && a->name == b->name);
    }

protected:
    constexpr error_base() noexcept = default;
    explicit error_base(detail::frame* f) noexcept : f_(f) {}
    error_base(const error_base& o) noexcept : f_(o.f_) { detail::add_ref(f_); }
    error_base(error_base&& o) noexcept : f_(std::exchange(o.f_, nullptr)) {}
    error_base& operator=(const error_base& o) noexcept {
        detail::add_ref(o.f_);
        detail::release(f_);
        f_ = o.f_;
        return *this;
    }
    error_base& operator=(error_base&& o) noexcept {
        if (this != &o) {
            detail::release(f_);
            f_ = std::exchange(o.f_, nullptr);
        }
        return *this;
    }
    ~error_base() {
        if (f_) detail::release(f_);
    }

    template <class V>
    void add_misc(std::string_view key, const V& value, bool secret = false) noexcept {
        auto add_misc_value = [&](std::string_view k, const misc_value& v) {
            this->add_misc_value(k, secret ? v.marked_sensitive() : v);
        };
        if constexpr (is_sensitive_v<V>) {
            using T = std::remove_cvref_t<decltype(value.value)>;
            if constexpr (std::is_floating_point_v<T> && !std::is_same_v<T, double>) {
                // As its text: a float widened to double would print (and hash)
                // otherwise than it does in a message.
                if (!f_) return;
                fmt::memory_buffer buf;
                detail::format_message(buf, "{}", fmt::make_format_args(value.value), detail::format_origin::misc_value);
                this->add_misc_value(key,
                                     misc_value::of_string(std::string_view(buf.data(), buf.size())).marked_sensitive());
            } else {
                add_misc(key, value.value, true);
            }
        } else if constexpr (std::is_same_v<V, misc_value>) {
            add_misc_value(key, value);  // its kind, and whether it is sensitive, kept
        } else if constexpr (std::is_same_v<V, bool>) {
            add_misc_value(key, misc_value::of_bool(value));
        } else if constexpr (std::is_same_v<V, char>) {
            add_misc_value(key, misc_value::of_string(std::string_view(&value, 1)));
        } else if constexpr (std::is_integral_v<V> && std::is_signed_v<V>) {
            add_misc_value(key, misc_value::of_signed(value));
        } else if constexpr (std::is_integral_v<V>) {
            add_misc_value(key, misc_value::of_unsigned(value));
        } else if constexpr (std::is_floating_point_v<V>) {
            add_misc_value(key, misc_value::of_double(static_cast<double>(value)));
        } else if constexpr (std::is_convertible_v<const V&, const char*>) {
            const char* p = value;
            add_misc_value(key, misc_value::of_string(p ? std::string_view(p) : std::string_view("(null)")));
        } else if constexpr (detail::string_like<V>) {
            add_misc_value(key, misc_value::of_string(std::string_view(value)));
        } else {
            static_assert(fmt::is_formattable<V>::value,
                          "strata: a misc value must be a string, a number, a bool, or formattable with fmt");
            if (!f_) return;
            fmt::memory_buffer buf;
            detail::format_message(buf, "{}", fmt::make_format_args(value), detail::format_origin::misc_value);
            add_misc_value(key, misc_value::of_string(std::string_view(buf.data(), buf.size())));
        }
    }

    void add_misc_value(std::string_view key, const misc_value& v) noexcept {
        if (!f_ || (f_->flags & detail::immortal)) return;
        if (f_->refs.load(std::memory_order_acquire) != 1) {
            detail::frame* c = detail::clone_frame(f_);
            if (!c) return;
            detail::release(f_);
            f_ = c;
        }
        detail::misc_node* n = detail::make_misc_node(key, v);
        if (!n) return;
        if (f_->misc_tail)
            f_->misc_tail->next = n;
        else
            f_->misc_head = n;
        f_->misc_tail = n;
    }

    // Adds `secondary` to this frame's secondary errors (see error::with_secondary).
    void add_secondary(std::string_view label, error secondary) noexcept;

    STRATA_MODULE_LOCAL static constexpr layer_info empty_layer{"(no error)", false, false};

    detail::frame* f_ = nullptr;
    friend struct detail::access;
};

}  // namespace detail

// A type-erased error: a pointer to the outermost frame of an immutable,
// reference-counted chain. Copying costs one atomic increment; frames are shared
// between copies and threads and never change (with() copies a shared frame first).
//
// A default-constructed or moved-from error is empty: it is false in a boolean
// context, its message() is "", its layer() is "(no error)", it formats as
// "(no error)", and handle() treats it as a bug.
class [[nodiscard]] error : public detail::error_base {
public:
    constexpr error() noexcept = default;
    error(const error&) noexcept = default;
    error(error&&) noexcept = default;
    error& operator=(const error&) noexcept = default;
    error& operator=(error&&) noexcept = default;
    ~error() = default;

    // Adds a misc entry to this frame: strings, integers, floating point and bool
    // keep their type; anything else fmt can format is kept as its text. A frame
    // shared with other copies is copied first, so they never see the change.
    // Out of memory, the entry is dropped. No effect on an empty error.
    template <class V>
    error& with(std::string_view key, const V& value) & noexcept {
        add_misc(key, value);
        return *this;
    }
    template <class V>
    error with(std::string_view key, const V& value) && noexcept {
        add_misc(key, value);
        return std::move(*this);
    }

    // Adds `secondary` to this frame's secondary errors, with a label saying what
    // it is (by default "secondary error"): kept, printed by {:v} and handle(),
    // encoded by to_json(), reachable with secondaries(), but not a cause. A frame
    // shared with other copies is copied first. Out of memory, or when either
    // error is empty, nothing is added.
    //   return strata::wrap<app>(first, "sync failed").with_secondary("cleanup also failed", cleanup_error);
    error& with_secondary(std::string_view label, error secondary) & noexcept {
        add_secondary(label, std::move(secondary));
        return *this;
    }
    error with_secondary(std::string_view label, error secondary) && noexcept {
        add_secondary(label, std::move(secondary));
        return std::move(*this);
    }
    error& with_secondary(error secondary) & noexcept {
        add_secondary(default_secondary_label, std::move(secondary));
        return *this;
    }
    error with_secondary(error secondary) && noexcept {
        add_secondary(default_secondary_label, std::move(secondary));
        return std::move(*this);
    }

private:
    explicit error(detail::frame* f) noexcept : error_base(f) {}
    friend struct detail::access;
};

static_assert(sizeof(error) == sizeof(void*));

// An error whose outermost layer is L, known at compile time. It has every
// accessor of error and converts implicitly to error (a copy, or a move from an
// rvalue), but it is not an error: no error& or error* can refer to one, so
// assigning another error through such a reference cannot leave it with an
// outer layer other than L (slicing).
//
// There is no default constructor: an empty wrapped_error<L> would not be of
// layer L (is<L>() false, handle() a bug), which is all its type says.
// make_error, wrap and find always give one that holds a frame of layer L (out of
// memory, L's static frame). A moved-from wrapped_error is empty, as a
// moved-from error is: assign to it or let it go.
template <layer_tag L>
class [[nodiscard]] wrapped_error : public detail::error_base {
public:
    using layer_type = L;
    wrapped_error() = delete;
    wrapped_error(const wrapped_error&) noexcept = default;
    wrapped_error(wrapped_error&&) noexcept = default;
    wrapped_error& operator=(const wrapped_error&) noexcept = default;
    wrapped_error& operator=(wrapped_error&&) noexcept = default;
    ~wrapped_error() = default;

    operator error() const& noexcept;
    operator error() && noexcept;

    template <class V>
    wrapped_error& with(std::string_view key, const V& value) & noexcept {
        add_misc(key, value);
        return *this;
    }
    template <class V>
    wrapped_error with(std::string_view key, const V& value) && noexcept {
        add_misc(key, value);
        return std::move(*this);
    }

    wrapped_error& with_secondary(std::string_view label, error secondary) & noexcept {
        add_secondary(label, std::move(secondary));
        return *this;
    }
    wrapped_error with_secondary(std::string_view label, error secondary) && noexcept {
        add_secondary(label, std::move(secondary));
        return std::move(*this);
    }
    wrapped_error& with_secondary(error secondary) & noexcept {
        add_secondary(default_secondary_label, std::move(secondary));
        return *this;
    }
    wrapped_error with_secondary(error secondary) && noexcept {
        add_secondary(default_secondary_label, std::move(secondary));
        return std::move(*this);
    }

private:
    explicit wrapped_error(detail::frame* f) noexcept : error_base(f) {}
    friend struct detail::access;
};

static_assert(sizeof(wrapped_error<untagged>) == sizeof(void*));

namespace detail {

struct access {
    static frame* get(const error_base& e) noexcept { return e.f_; }
    static error adopt(frame* f) noexcept { return error(f); }
    template <class L>
    static wrapped_error<L> adopt_as(frame* f) noexcept {
        return wrapped_error<L>(f);
    }
    static frame* take(error_base&& e) noexcept { return std::exchange(e.f_, nullptr); }
    static frame* share(const error_base& e) noexcept {
        add_ref(e.f_);
        return e.f_;
    }
};

// Whether e holds an error, for strata's own bookkeeping: unlike operator bool,
// not a check under STRATA_CHECKED.
inline bool holds(const error_base& e) noexcept { return access::get(e) != nullptr; }

inline error error_base::inner() const noexcept {
    detail::mark_checked(f_);
    if (!f_) return {};
    detail::add_ref(f_->inner);
    return access::adopt(f_->inner);
}

inline void error_base::add_secondary(std::string_view label, error secondary) noexcept {
    detail::frame* s = std::exchange(secondary.f_, nullptr);
    if (!s) return;
    detail::mark_checked(s);  // attaching an error is looking at it
    // The secondary's reference is held first: if it is this very frame, the
    // frame is shared and copied, so no frame ever reaches itself.
    if (!f_ || (f_->flags & detail::immortal)) {
        detail::release(s);
        return;
    }
    if (f_->refs.load(std::memory_order_acquire) != 1) {
        detail::frame* c = detail::clone_frame(f_);
        if (!c) {
            detail::release(s);
            return;
        }
        detail::release(f_);
        f_ = c;
    }
    detail::add_secondary(f_, label, s);
}

}  // namespace detail

template <layer_tag L>
wrapped_error<L>::operator error() const& noexcept {
    return detail::access::adopt(detail::access::share(*this));
}
template <layer_tag L>
wrapped_error<L>::operator error() && noexcept {
    return detail::access::adopt(detail::access::take(std::move(*this)));
}

inline error secondary_view::iterator::operator*() const noexcept {
    detail::add_ref(n_->err);
    return detail::access::adopt(n_->err);
}

inline error secondary_view::operator[](std::size_t i) const noexcept {
    const detail::secondary_node* p = at(i);
    if (!p) return {};
    detail::add_ref(p->err);
    return detail::access::adopt(p->err);
}

// An exception that carries a strata error (thrown by throw_error() or
// result::value(); see exception.hpp). what() is the outermost message, with
// sensitive values hashed (what() is what generic handlers log). Defined here so
// that wrap() can give back the chain an exception carries.
class exception : public std::exception {
public:
    explicit exception(strata::error e) noexcept : e_(std::move(e)) {}
    const char* what() const noexcept override {
        if (!e_) return "(no error)";
        // message(), hashed where it holds a sensitive value, is NUL-terminated
        // inside the frame's allocation.
        return e_.message().data();
    }
    const strata::error& error() const& noexcept { return e_; }
    strata::error error() && noexcept { return std::move(e_); }

private:
    strata::error e_;
};

namespace detail {

// The chain a strata::exception carries (a new reference), or nullptr.
inline frame* carried_frame(const std::exception_ptr& p) noexcept {
#if STRATA_HAS_EXCEPTIONS
    if (!p) return nullptr;
    try {
        std::rethrow_exception(p);
    } catch (const strata::exception& e) {
        return access::share(e.error());
    } catch (...) {
    }
#else
    (void)p;
#endif
    return nullptr;
}

inline frame* carried_frame(const std::exception& x) noexcept {
    if (const auto* e = dynamic_cast<const strata::exception*>(&x)) return access::share(e->error());
    return nullptr;
}

// The frame below a new wrap: the strata error's own chain, or a new root frame
// for a non-strata cause, which takes `stack`.
template <class Inner>
frame* cause_of(Inner&& inner, const stack_buffer* stack) noexcept {
    using T = std::remove_cvref_t<Inner>;
    if constexpr (strata_error<Inner>) {
        if constexpr (std::is_rvalue_reference_v<Inner&&> && !std::is_const_v<std::remove_reference_t<Inner>>)
            return access::take(std::move(inner));
        else
            return access::share(inner);
    } else if constexpr (std::is_error_code_enum_v<T> || std::is_same_v<T, std::errc>) {
        return make_cause_frame(std::error_code(make_error_code(inner)), stack);
    } else if constexpr (std::is_same_v<T, std::exception_ptr> || std::is_base_of_v<std::exception, T>) {
        // An exception that carries a strata error gives back its chain.
        if (frame* carried = carried_frame(inner)) return carried;
        return make_cause_frame<T>(inner, stack);
    } else if constexpr (std::is_same_v<T, std::error_code> || string_like<T>) {
        return make_cause_frame<T>(inner, stack);
    } else {
        return make_cause_frame<std::decay_t<T>>(inner, stack);
    }
}

template <class... Args>
constexpr format_origin origin_of(const basic_located_format<Args...>& f) noexcept {
    return f.runtime() ? format_origin::unchecked : format_origin::checked;
}

// What make_error and wrap do after the capture, independent of the argument
// types: formats the message and allocates the frame over `inner` (adopted). At
// worst returns `oom`, the static frame of the layer.
inline frame* new_frame(const layer_info* layer, frame* oom, location loc, fmt::string_view f, fmt::format_args args,
                        frame* inner, const stack_buffer* stack,
                        format_origin origin = format_origin::unchecked) noexcept {
    fmt::memory_buffer buf;
    // sensitive() arguments mark their part of this buffer in `secrets`.
    secret_collector secrets;
    secrets.buffer = static_cast<const void*>(static_cast<fmt::detail::buffer<char>*>(&buf));
    secret_collector* const outer = std::exchange(active_secrets, &secrets);
    const bool formatted = format_message(buf, f, args, origin);
    active_secrets = outer;
    frame_spec s;
    s.layer = layer;
    s.loc = loc;
    s.message = std::string_view(buf.data(), buf.size());
    // The message as message() and {} show it, made once here.
    fmt::memory_buffer redacted;
    if (formatted && secrets.n) {
        s.secrets = secrets.spans;
        s.n_secrets = secrets.n;
#if STRATA_HAS_EXCEPTIONS
        try {
#endif
            append_redacted_text(redacted, s.message, secrets.spans, secrets.n);
            s.redacted = std::string_view(redacted.data(), redacted.size());
#if STRATA_HAS_EXCEPTIONS
        } catch (...) {
            s.n_secrets = 0;  // out of memory for the hashed text: the message is withheld
            s.message = withheld_message;
        }
#endif
        if (s.redacted.size() >= 0xffffffffu) {
            s.n_secrets = 0;
            s.message = withheld_message;
        }
    }
    s.inner = inner;
    if (stack) stack->apply(s);
    if (frame* fr = allocate_or_degrade(s)) return fr;
    mark_checked(inner);  // wrapped, though memory ran out for the wrapper
    release(inner);
    return oom;
}

// wrap() once the format string is taken apart: the call site, the format and
// its arguments. Also what result::wrap and STRATA_TRY_WRAP reach, with their
// caller's call site. Forced inline, as wrap is: the capture runs in the caller's
// frame.
template <layer_tag L, class Inner>
[[nodiscard, gnu::always_inline]] inline wrapped_error<L> wrap_at(Inner&& inner, location loc, fmt::string_view f,
                                                                 fmt::format_args args, format_origin origin) noexcept {
    const capture_policy p = get_capture_policy();
    // The root frame of a non-strata cause takes the origin stack; this frame has
    // its own only under every_frame, or when there is nothing below it.
    const bool for_cause = !strata_error<Inner> && p != capture_policy::off;
    bool for_this = p == capture_policy::every_frame;
    if constexpr (strata_error<Inner>) for_this = for_this || (p == capture_policy::origin && !inner);
    stack_buffer stack;
    if (for_cause || for_this) stack.capture();
    frame* below = cause_of(std::forward<Inner>(inner), for_cause ? &stack : nullptr);
    return access::adopt_as<L>(new_frame(&layer_info_of<L>, &oom_frame_of<L>, loc, f, args, below,
                                         for_this ? &stack : nullptr, origin));
}

}  // namespace detail

// A new error with no inner cause, in layer L (untagged by default). Captures the
// stack unless the capture policy is off. Never throws. Forced inline: the capture
// runs in the caller's frame, and the rest is one non-template function.
//   return strata::make_error<strata::intermediate>("can't run job {}", id);
template <layer_tag L = untagged, class... Args>
[[nodiscard, gnu::always_inline]] inline wrapped_error<L> make_error(format_string<Args...> fmt,
                                                                    Args&&... args) noexcept {
    detail::stack_buffer stack;
    const bool capture = get_capture_policy() != capture_policy::off;
    if (capture) stack.capture();
    return detail::access::adopt_as<L>(detail::new_frame(&layer_info_of<L>, &detail::oom_frame_of<L>, fmt.where(),
                                                         fmt.get(), fmt::make_format_args(args...), nullptr,
                                                         capture ? &stack : nullptr, detail::origin_of(fmt)));
}

// A new outermost frame in layer L over `inner`: another strata error (shared, or
// taken over when passed as an rvalue), a std::error_code or error-code enum, a
// std::exception_ptr, a std::exception, or any value fmt can format (kept, and
// recoverable with inner_as<T>()). A non-strata cause becomes the chain's root
// frame and captures the origin stack; wrapping a strata error records only this
// call site (unless the policy is every_frame). Never throws.
//   return strata::wrap<strata::low_level>(ec, "stat {}", path);
template <layer_tag L = untagged, error_cause Inner, class... Args>
[[nodiscard, gnu::always_inline]] inline wrapped_error<L> wrap(Inner&& inner, format_string<Args...> fmt,
                                                              Args&&... args) noexcept {
    return detail::wrap_at<L>(std::forward<Inner>(inner), fmt.where(), fmt.get(), fmt::make_format_args(args...),
                              detail::origin_of(fmt));
}

// The first frame of layer L anywhere in the chain, outermost first (Go's
// errors.As), sharing the chain below it.
template <layer_tag L>
[[nodiscard]] std::optional<wrapped_error<L>> find(const error& e) noexcept {
    detail::mark_checked(detail::access::get(e));
    for (detail::frame* f = detail::access::get(e); f; f = f->inner) {
        if (error::matches(f->layer, &layer_info_of<L>)) {
            detail::add_ref(f);
            return detail::access::adopt_as<L>(f);
        }
    }
    return std::nullopt;
}

}  // namespace strata
