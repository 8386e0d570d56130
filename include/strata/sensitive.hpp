// strata/sensitive.hpp: strata::sensitive(x), a value kept out of exported records.
//
//   return strata::make_error<auth>("wrong password for {}", strata::sensitive(user))
//       .with("card", strata::sensitive(card_number));
//
// The value is shown only in local {:v} output (and by e.message(strata::reveal)
// and the misc accessors, which are local). Everywhere a record leaves the
// process, or is shown to someone, it is replaced by a short keyed hash,
// "<sensitive:3fa94c0b12de>": in e.message(), {} and {:c}, in handle()'s user
// message and log record, in strata::exception::what(), and in to_json(). The
// same value gives the same hash under the same key, so two records can be
// correlated without revealing it. The key is random per process unless set with
// set_sensitive_key() or the environment variable STRATA_SENSITIVE_KEY; give every
// process of a fleet the same key to correlate across them.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <fmt/format.h>

#include "detail/frame.hpp"

namespace strata {

// A value marked secret; made by sensitive(x). Holds a reference to an lvalue (use
// it in the call that makes the error, as a format argument or a misc value) and
// a copy of an rvalue.
template <class T>
struct sensitive_value {
    T value;
};

template <class T>
[[nodiscard]] constexpr sensitive_value<T> sensitive(T&& x) noexcept(std::is_nothrow_constructible_v<T, T&&>) {
    return sensitive_value<T>{std::forward<T>(x)};
}

template <class T>
inline constexpr bool is_sensitive_v = false;
template <class T>
inline constexpr bool is_sensitive_v<sensitive_value<T>> = true;

namespace detail {

// SipHash-2-4 (Aumasson and Bernstein): a keyed hash made for short inputs.
inline std::uint64_t siphash24(std::uint64_t k0, std::uint64_t k1, std::string_view data) noexcept {
    auto rotl = [](std::uint64_t x, int b) { return (x << b) | (x >> (64 - b)); };
    std::uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
    std::uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
    auto round = [&] {
        v0 += v1;
        v1 = rotl(v1, 13);
        v1 ^= v0;
        v0 = rotl(v0, 32);
        v2 += v3;
        v3 = rotl(v3, 16);
        v3 ^= v2;
        v0 += v3;
        v3 = rotl(v3, 21);
        v3 ^= v0;
        v2 += v1;
        v1 = rotl(v1, 17);
        v1 ^= v2;
        v2 = rotl(v2, 32);
    };
    const auto* p = reinterpret_cast<const unsigned char*>(data.data());
    const std::size_t n = data.size();
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        std::uint64_t m = 0;
        for (int b = 0; b < 8; ++b) m |= static_cast<std::uint64_t>(p[i + b]) << (8 * b);
        v3 ^= m;
        round();
        round();
        v0 ^= m;
    }
    std::uint64_t last = static_cast<std::uint64_t>(n & 0xff) << 56;
    for (int b = 0; i + b < n; ++b) last |= static_cast<std::uint64_t>(p[i + b]) << (8 * b);
    v3 ^= last;
    round();
    round();
    v0 ^= last;
    v2 ^= 0xff;
    round();
    round();
    round();
    round();
    return v0 ^ v1 ^ v2 ^ v3;
}

// The process's hashing key (one for every module, detail/process.hpp): from
// STRATA_SENSITIVE_KEY (read, and removed from the environment, when strata is
// first used), else random. The 128 bits are published together (one pointer to
// an immutable pair), so a hash never mixes halves of two keys. Keys replaced are
// kept: a hash in flight may still read one (set the key once, at start-up).
struct sensitive_key {
    using pair = key_pair;
    // A key of any length becomes 128 bits.
    static pair derive(std::string_view secret, const pair* older) noexcept {
        return pair{siphash24(0x7374726174612d30ULL, 0x6b65792d64657269ULL, secret),
                    siphash24(0x7374726174612d31ULL, 0x6b65792d64657269ULL, secret), older};
    }
    static const pair& current() noexcept {
        process_state& st = process();
        if (const pair* p = st.key.load(std::memory_order_acquire)) [[likely]]
            return *p;
        std::lock_guard lock(st.key_mutex);
        if (const pair* p = st.key.load(std::memory_order_acquire)) return *p;
        st.first_key = st.key_secret ? derive(st.key_secret, nullptr) : pair{random_bits(), random_bits(), nullptr};
        st.key.store(&st.first_key, std::memory_order_release);
        return st.first_key;
    }
    // False when memory for the new key cannot be had (the old one stays).
    static bool set(std::string_view secret) noexcept {
        current();  // the first key is made, so that the chain keeps it reachable
        process_state& st = process();
        std::lock_guard lock(st.key_mutex);
        const pair* p = new (std::nothrow) pair(derive(secret, st.key.load(std::memory_order_acquire)));
        if (!p) return false;
        st.key.store(p, std::memory_order_release);
        return true;
    }
};

inline constexpr std::size_t sensitive_digest_size = 12;  // hex digits: 48 bits
STRATA_MODULE_LOCAL inline constexpr std::string_view sensitive_prefix = "<sensitive:";

// A value's keyed hash, under the key in force now.
inline std::uint64_t sensitive_hash(std::string_view value) noexcept {
    const sensitive_key::pair k = sensitive_key::current();
    return siphash24(k.k0, k.k1, value);
}

// Appends "<sensitive:" + the hash's first 12 hex digits + ">".
STRATA_MODULE_LOCAL inline void append_hash_token(fmt::detail::buffer<char>& out, std::uint64_t h) {
    static constexpr char hex[] = "0123456789abcdef";
    char digest[sensitive_digest_size];
    for (std::size_t i = 0; i < sensitive_digest_size; ++i) digest[i] = hex[(h >> (60 - 4 * i)) & 15];
    out.append(sensitive_prefix.data(), sensitive_prefix.data() + sensitive_prefix.size());
    out.append(digest, digest + sensitive_digest_size);
    out.push_back('>');
}

// Appends the token of `value`.
inline void append_sensitive_token(fmt::detail::buffer<char>& out, std::string_view value) {
    append_hash_token(out, sensitive_hash(value));
}

// Where make_error/wrap collect the spans of their message that came from
// sensitive() arguments. Set only while strata formats a message, for its buffer.
struct secret_collector {
    static constexpr std::uint32_t capacity = 16;
    const void* buffer = nullptr;
    secret_span spans[capacity];
    std::uint32_t n = 0;
};
STRATA_MODULE_LOCAL inline thread_local secret_collector* active_secrets = nullptr;

}  // namespace detail

// Hashes values from now on with a key derived from `secret` (of any length). Set
// it once, at start-up, and the same in every process whose records should
// correlate. STRATA_SENSITIVE_KEY in the environment does the same when strata is
// first used in the process (and is then removed from the environment, so that
// child processes do not inherit it). One key for the whole process, every module.
// Each call keeps a few bytes until the process ends. False only when memory for
// the new key cannot be had; the key in force then stays.
inline bool set_sensitive_key(std::string_view secret) noexcept { return detail::sensitive_key::set(secret); }

// The hash a value is shown as: "<sensitive:" + 12 hex digits + ">". The text of a
// non-string value is what fmt prints for it ("{}").
[[nodiscard]] inline std::string sensitive_token(std::string_view value) {
    fmt::memory_buffer out;
    detail::append_sensitive_token(out, value);
    return std::string(out.data(), out.size());
}

// What formatting a sensitive value throws when the value's own formatter threw
// (anything but fmt::format_error or std::bad_alloc): that exception's what() may
// show the value, so it is not passed on.
class sensitive_format_error : public std::runtime_error {
public:
    sensitive_format_error()
        : std::runtime_error("a sensitive value's formatter threw (what it said is withheld: it may show the value)") {}
};

}  // namespace strata

// A sensitive value takes the format specification of the value it holds. In a
// strata message it is kept (and marked); formatted anywhere else it prints only
// its hash.
template <class T, class Char>
struct fmt::formatter<strata::sensitive_value<T>, Char> {
    fmt::formatter<std::remove_cvref_t<T>, Char> inner;

    constexpr auto parse(basic_format_parse_context<Char>& ctx) -> decltype(ctx.begin()) { return inner.parse(ctx); }

    template <class FormatContext>
    auto format(const strata::sensitive_value<T>& v, FormatContext& ctx) const -> decltype(ctx.out()) {
#if STRATA_HAS_EXCEPTIONS
        try {
            return format_marked(v, ctx);
        } catch (const std::bad_alloc&) {
            throw;
        } catch (const fmt::format_error&) {
            throw;  // fmt's own (a dynamic width that is not a number...): about the string
        } catch (...) {
            throw strata::sensitive_format_error();
        }
#else
        return format_marked(v, ctx);
#endif
    }

private:
    template <class FormatContext>
    auto format_marked(const strata::sensitive_value<T>& v, FormatContext& ctx) const -> decltype(ctx.out()) {
        // The hash is of the value as "{}" prints it, whatever the specification.
        fmt::basic_memory_buffer<Char, 128> plain;
        fmt::format_to(fmt::appender(plain), "{}", v.value);
        const std::uint64_t hash = strata::detail::sensitive_hash(std::string_view(plain.data(), plain.size()));
        if constexpr (std::is_same_v<FormatContext, fmt::format_context>) {
            auto& out = fmt::detail::get_container(ctx.out());
            strata::detail::secret_collector* c = strata::detail::active_secrets;
            if (c && c->buffer == static_cast<const void*>(&out) && c->n < c->capacity) {
                fmt::basic_memory_buffer<Char, 128> text;
                fmt::format_context scratch(fmt::appender(text), ctx.args(), ctx.locale());
                auto f = inner;  // some formatters' format() is not const
                f.format(v.value, scratch);
                if (out.size() + text.size() < 0xffffffffu) {
                    const auto begin = static_cast<std::uint32_t>(out.size());
                    out.append(text.data(), text.data() + text.size());
                    c->spans[c->n++] =
                        strata::detail::secret_span{begin, static_cast<std::uint32_t>(text.size()), hash};
                    return ctx.out();
                }
            }
        }
        fmt::memory_buffer token;
        strata::detail::append_hash_token(token, hash);
        return std::copy(token.data(), token.data() + token.size(), ctx.out());
    }
};
