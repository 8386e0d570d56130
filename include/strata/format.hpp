// strata/format.hpp: fmt formatters for errors at three levels ({} message, {:c}
// chain, {:v} every frame and the symbolized stack), and symbolization with a
// process-wide cache. Include it where errors are printed, not where they are made.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <new>
#include <string>
#include <string_view>
#include <thread>

#include <fmt/format.h>
#if STRATA_USE_LIBDW
#include "detail/dwarf.hpp"
#else
#include <boost/stacktrace/frame.hpp>
#endif

#include "detail/frame_names.hpp"
#include "error.hpp"
#include "location.hpp"
#include "misc.hpp"
#include "origin.hpp"

namespace strata {

namespace detail {
inline void tidy_function_name(std::string& name);
inline std::string_view tidy_file_name(std::string_view file) noexcept;
inline unsigned char classify_function(std::string_view name) noexcept;
struct symbol_access;
}  // namespace detail

// What a program counter is: function (demangled), source file and line; empty
// and 0 where the debug information does not say. One string holds it all, so
// a symbol is neither copied nor moved: symbolize() hands out references.
class symbol {
public:
    std::string_view function;
    std::string_view file;
    std::size_t line = 0;

    symbol() noexcept = default;
    // From Boost.Stacktrace's "function at file:line" (or "function in module").
    explicit symbol(std::string text) : text_(std::move(text)) {
        detail::tidy_function_name(text_);
        std::size_t function_end = text_.size();
        if (const auto at = text_.rfind(" at "); at != std::string::npos) {
            const auto colon = text_.rfind(':');
            if (colon != std::string::npos && colon > at) {
                file = detail::tidy_file_name(std::string_view(text_).substr(at + 4, colon - (at + 4)));
                for (std::size_t i = colon + 1; i < text_.size() && text_[i] >= '0' && text_[i] <= '9'; ++i)
                    line = line * 10 + static_cast<std::size_t>(text_[i] - '0');
            }
            function_end = at;
        } else if (const auto in = text_.rfind(" in "); in != std::string::npos) {
            function_end = in;  // no source location
        }
        if (text_.starts_with("0x")) function_end = 0;  // no name: just the address
        function = std::string_view(text_).substr(0, function_end);
        kind_ = detail::classify_function(function);  // once, not at every print
    }
    symbol(const symbol&) = delete;
    symbol& operator=(const symbol&) = delete;

private:
    friend struct detail::symbol_access;
    std::string text_;
    unsigned char kind_ = 0;  // detail::classify_function's bits
};

namespace detail {

// The process-wide symbol cache: an open-addressing table that readers search
// without a lock (two atomic loads a probe), so threads formatting at once do not
// contend. Symbols are never freed, so a reference stays valid. Addresses that
// find no free slot within a few probes go to a short list under a mutex.
struct symbol_cache {
    static constexpr std::size_t slots = std::size_t{1} << 14;
    static constexpr std::size_t max_probes = 32;

    struct slot {
        std::atomic<std::uintptr_t> pc{0};
        std::atomic<const symbol*> sym{nullptr};
    };
    struct overflow_node {
        std::uintptr_t pc;
        const symbol* sym;
        overflow_node* next;
    };

    slot table[slots];
    std::mutex overflow_mutex;
    overflow_node* overflow = nullptr;
    // The dlpi_subs (objects unloaded so far) the cache was made under: after an
    // unload, an address may belong to another object, so the cache is replaced.
    unsigned long long subs = 0;
    std::atomic<std::uint64_t> modules_unloaded{0};  // process_state's count when last checked
    symbol_cache* retired_next = nullptr;  // the caches replaced before this one

    static std::size_t home(std::uintptr_t pc) noexcept {
        return static_cast<std::size_t>((pc * 0x9E3779B97F4A7C15ull) >> (64 - 14));
    }

    static const symbol* wait_for(const slot& s) noexcept {
        const symbol* sym;
        while (!(sym = s.sym.load(std::memory_order_acquire))) std::this_thread::yield();  // being stored right now
        return sym;
    }

    const symbol* find(std::uintptr_t pc) noexcept {
        for (std::size_t i = 0, h = home(pc); i < max_probes; ++i) {
            const slot& s = table[(h + i) % slots];
            const std::uintptr_t p = s.pc.load(std::memory_order_acquire);
            if (p == pc) return wait_for(s);
            if (p == 0) return nullptr;
        }
        std::lock_guard lock(overflow_mutex);
        for (overflow_node* n = overflow; n; n = n->next)
            if (n->pc == pc) return n->sym;
        return nullptr;
    }

    // Stores `fresh` (allocated with new) for pc, or returns what another thread
    // stored first (and deletes `fresh`).
    const symbol* insert(std::uintptr_t pc, symbol* fresh) noexcept {
        for (std::size_t i = 0, h = home(pc); i < max_probes; ++i) {
            slot& s = table[(h + i) % slots];
            std::uintptr_t p = s.pc.load(std::memory_order_acquire);
            if (p == 0 && s.pc.compare_exchange_strong(p, pc, std::memory_order_acq_rel)) {
                s.sym.store(fresh, std::memory_order_release);
                return fresh;
            }
            if (p == pc) {
                delete fresh;
                return wait_for(s);
            }
        }
        std::lock_guard lock(overflow_mutex);
        for (overflow_node* n = overflow; n; n = n->next) {
            if (n->pc == pc) {
                delete fresh;
                return n->sym;
            }
        }
        auto* n = new (std::nothrow) overflow_node{pc, fresh, overflow};
        if (!n) {
            delete fresh;
            return nullptr;
        }
        overflow = n;
        return fresh;
    }
};

// How many objects the process has loaded and unloaded so far (dl_iterate_phdr's
// counters; it asks the first object only).
struct loaded_objects {
    unsigned long long adds = 0;
    unsigned long long subs = 0;
};
inline loaded_objects objects_counted() noexcept {
    loaded_objects n;
    sys::dl_iterate_phdr(
        [](sys::dl_phdr_info* info, std::size_t size, void* out) -> int {
            if (size >= offsetof(sys::dl_phdr_info, subs) + sizeof info->subs)
                *static_cast<loaded_objects*>(out) = {info->adds, info->subs};
            return 1;
        },
        &n);
    return n;
}
inline unsigned long long objects_unloaded() noexcept { return objects_counted().subs; }

// The process-wide cache (one for every module: detail/process.hpp), made again
// when an object (a plugin) has been unloaded since it was made, so that no
// address is ever named after code that is gone. Each stack printed asks the
// loader (dl_iterate_phdr's count of unloads); a single symbolize() asks it only
// when a module that includes strata has been unloaded since. Deliberately never destroyed:
// errors may be formatted during static destruction, and symbols handed out stay
// valid (replaced caches stay reachable). Made on first use; if memory is short
// then, tried again next time (the first that succeeds is installed), so one
// failure does not turn symbols off for the rest of the process.
inline symbol_cache* the_symbol_cache(bool ask_the_loader = true) noexcept {
    process_state& st = process();
    auto* c = static_cast<symbol_cache*>(st.symbol_cache.load(std::memory_order_acquire));
    // Without asking the loader (about 20 ns): only a module that includes strata
    // being unloaded since the cache was made sends us to it.
    const std::uint64_t modules = st.modules_unloaded.load(std::memory_order_acquire);
    if (c && !ask_the_loader && c->modules_unloaded == modules) return c;
    const unsigned long long subs = objects_unloaded();
    if (c && c->subs == subs) {
        if (c->modules_unloaded != modules) c->modules_unloaded = modules;  // an exit-time bump, or a benign race
        return c;
    }
    auto* fresh = new (std::nothrow) symbol_cache();
    if (!fresh) return nullptr;
    fresh->subs = subs;
    fresh->modules_unloaded = modules;
    fresh->retired_next = c;
    void* expected = c;
    if (st.symbol_cache.compare_exchange_strong(expected, fresh, std::memory_order_acq_rel)) return fresh;
    delete fresh;
    return static_cast<symbol_cache*>(expected);
}

#if !STRATA_USE_LIBDW
// Boost.Stacktrace's libbacktrace state is made once per thread, on the thread's
// first look-up, from the objects loaded then, and never refreshed: after an
// unload it would name a new object's code after the old one's, and an object
// loaded later it does not know at all. So each thread's state is dated (the
// loader's counts when it was made, a thread-specific value of the process
// state): after an unload, a dated thread's look-ups run on a new thread (whose
// state is new); after a load, the addresses it cannot name are asked again on a
// new thread. A new thread loads debug information again (milliseconds): this
// happens only after the set of objects changed, and once per address (cached).
struct symbolizer_age {
    bool missed_unloads = false;  // an object was unloaded since this thread's state was made
    bool missed_loads = false;    // an object was loaded since
};
inline symbolizer_age this_thread_symbolizer() noexcept {
    const process_state& st = process();
    if (!st.symbolizer_key_ok) return {};
    const loaded_objects now = objects_counted();
    // 32 bits of each count, and a bit that makes the value never null.
    const std::uintptr_t stamp = (static_cast<std::uintptr_t>(now.adds & 0x7fffffffULL) << 32) |
                                 static_cast<std::uintptr_t>(now.subs & 0x7fffffffULL) | (std::uintptr_t{1} << 31);
    const auto made = reinterpret_cast<std::uintptr_t>(sys::pthread_getspecific(st.symbolizer_key));
    if (made == 0) {
        sys::pthread_setspecific(st.symbolizer_key, reinterpret_cast<void*>(stamp));
        return {};
    }
    return {(made & 0x7fffffffULL) != (stamp & 0x7fffffffULL), (made >> 32) != (stamp >> 32)};
}

// Runs fn() on a new thread, whose libbacktrace state is made from the objects
// loaded now; if no thread can be started, here (a stale name beats none).
template <class Fn>
void on_new_symbolizer(Fn&& fn) {
#if STRATA_HAS_EXCEPTIONS
    try {
        std::thread t([&] {
            this_thread_symbolizer();  // dates the new thread's state
            fn();
        });
        t.join();
        return;
    } catch (const std::system_error&) {
    }
#endif
    fn();
}

#endif

// Which of pcs[0, n) lie in an object loaded now (in one of its PT_LOAD
// segments): one walk of the loader's list for all of them (dladdr would search
// each object's symbols, once per address).
inline void mark_loaded(const std::uintptr_t* pcs, std::size_t n, bool* loaded) noexcept {
    struct walk {
        const std::uintptr_t* pcs;
        std::size_t n;
        bool* loaded;
        std::size_t left;
    } w{pcs, n, loaded, n};
    for (std::size_t i = 0; i < n; ++i) loaded[i] = false;
    if (n == 0) return;
    sys::dl_iterate_phdr(
        [](sys::dl_phdr_info* info, std::size_t, void* data) -> int {
            auto& w = *static_cast<walk*>(data);
            for (std::uint16_t h = 0; h < info->phnum; ++h) {
                const sys::elf_phdr& ph = info->phdr[h];
                if (ph.type != sys::pt_load) continue;
                const std::uintptr_t lo = info->addr + ph.vaddr, hi = lo + ph.memsz;
                for (std::size_t i = 0; i < w.n; ++i)
                    if (!w.loaded[i] && w.pcs[i] >= lo && w.pcs[i] < hi) {
                        w.loaded[i] = true;
                        --w.left;
                    }
            }
            return w.left == 0;  // stop once every address is placed
        },
        &w);
}

// libbacktrace (gcc 12) joins the compilation directory to a file name that is
// already absolute in clang's DWARF 5 line tables ("/build/dir//src/a.cpp"); keep
// the absolute part.
inline std::string_view tidy_file_name(std::string_view file) noexcept {
    const auto pos = file.rfind("//");
    return pos == std::string_view::npos ? file : file.substr(pos + 1);
}

STRATA_MODULE_LOCAL inline const symbol& unknown_symbol() noexcept {
    static const symbol s{};
    return s;
}

// Spells the standard library's string types as their users write them.
STRATA_MODULE_LOCAL inline void tidy_function_name(std::string& name) {
    static constexpr std::string_view long_forms[][2] = {
        {"std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >", "std::string"},
        {"std::basic_string_view<char, std::char_traits<char> >", "std::string_view"},
    };
    for (const auto& [from, to] : long_forms) {
        for (auto pos = name.find(from); pos != std::string::npos; pos = name.find(from, pos + to.size()))
            name.replace(pos, from.size(), to);
    }
}

#if !STRATA_USE_LIBDW
// Boost's "function at file:line" for each of pcs[0, n) (n at most
// STRATA_MAX_STACK_DEPTH), from this thread's libbacktrace state, in one call to
// the function behind Boost's to_string(stacktrace), which sets up its formatter
// once for all of them (name(), source_file() and source_line() would ask three
// times each). Lines come back as " 3# function at file:line".
inline void boost_texts(const std::uintptr_t* pcs, std::size_t n, std::string* out) {
    std::size_t done = 0;
    if (n) {
        boost::stacktrace::frame frames[STRATA_MAX_STACK_DEPTH];
        for (std::size_t i = 0; i < n; ++i)
            frames[i] = boost::stacktrace::frame(reinterpret_cast<boost::stacktrace::frame::native_frame_ptr_t>(pcs[i]));
        const std::string text = boost::stacktrace::detail::to_string(frames, n);
        for (std::size_t pos = 0; pos < text.size() && done < n;) {
            std::size_t end = text.find('\n', pos);
            if (end == std::string::npos) end = text.size();
            const std::string_view line(text.data() + pos, end - pos);
            if (const auto mark = line.find("# "); mark != std::string_view::npos)
                out[done++] = std::string(line.substr(mark + 2));
            pos = end + 1;
        }
    }
    for (; done < n; ++done) {  // not expected: whatever Boost did not list, one at a time
        const boost::stacktrace::frame f(reinterpret_cast<boost::stacktrace::frame::native_frame_ptr_t>(pcs[done]));
        out[done] = boost::stacktrace::to_string(f);
    }
}

// Whether Boost's text names no function (just the address).
inline bool nameless(std::string_view text) noexcept { return text.empty() || text.starts_with("0x"); }
#endif

// Symbolizes several addresses (at most STRATA_MAX_STACK_DEPTH): each(i, text)
// gets "function at file:line" for pcs[i]. An address in no loaded object is
// never named: its text is empty, and callers do not cache it (an object loaded
// later may hold it). The others are asked of the process's libdw session,
// brought up to date with the loader (detail/dwarf.hpp), or, with the Boost
// symbolizer, of a libbacktrace state that knows the objects loaded now
// (this_thread_symbolizer).
template <class Each>
void resolve_symbols(const std::uintptr_t* pcs, std::size_t n, Each&& each) {
    if (n > STRATA_MAX_STACK_DEPTH) n = STRATA_MAX_STACK_DEPTH;
    std::string texts[STRATA_MAX_STACK_DEPTH];
    std::uintptr_t loaded[STRATA_MAX_STACK_DEPTH];
    std::size_t at[STRATA_MAX_STACK_DEPTH];
    std::size_t k = 0;
    bool is_loaded[STRATA_MAX_STACK_DEPTH];
    mark_loaded(pcs, n, is_loaded);
    for (std::size_t i = 0; i < n; ++i) {
        if (is_loaded[i]) {
            loaded[k] = pcs[i];
            at[k++] = i;
        }  // else: in no loaded object (unloaded, or never code): an empty text, never cached
    }
    std::string found[STRATA_MAX_STACK_DEPTH];
#if STRATA_USE_LIBDW
    const loaded_objects now = objects_counted();
    dwarf_texts(loaded, k, found, now.adds, now.subs);
#else
    const symbolizer_age age = this_thread_symbolizer();
    if (age.missed_unloads) {
        on_new_symbolizer([&] { boost_texts(loaded, k, found); });
    } else {
        boost_texts(loaded, k, found);
        if (age.missed_loads) {
            // What this thread's state could not name may be in an object loaded
            // after it was made: asked again of a new one.
            std::uintptr_t again[STRATA_MAX_STACK_DEPTH];
            std::size_t which[STRATA_MAX_STACK_DEPTH];
            std::size_t m = 0;
            for (std::size_t j = 0; j < k; ++j)
                if (nameless(found[j])) {
                    again[m] = loaded[j];
                    which[m++] = j;
                }
            if (m) {
                std::string second[STRATA_MAX_STACK_DEPTH];
                on_new_symbolizer([&] { boost_texts(again, m, second); });
                for (std::size_t j = 0; j < m; ++j) found[which[j]] = std::move(second[j]);
            }
        }
    }
#endif
    for (std::size_t j = 0; j < k; ++j) texts[at[j]] = std::move(found[j]);
    for (std::size_t i = 0; i < n; ++i) each(i, std::move(texts[i]));
}

}  // namespace detail

namespace detail {
inline const symbol& symbolize_in(symbol_cache* cache, std::uintptr_t pc) noexcept {
    if (!cache || pc == 0) return unknown_symbol();  // 0 marks a free slot
    if (const symbol* known = cache->find(pc)) return *known;
#if STRATA_HAS_EXCEPTIONS
    try {
#endif
        std::string text;
        resolve_symbols(&pc, 1, [&](std::size_t, std::string t) { text = std::move(t); });
        if (text.empty()) return unknown_symbol();  // in no loaded object now: not cached
        const symbol* stored = cache->insert(pc, new symbol(std::move(text)));
        return stored ? *stored : unknown_symbol();
#if STRATA_HAS_EXCEPTIONS
    } catch (...) {
        return unknown_symbol();
    }
#endif
}
}  // namespace detail

// Symbolizes a program counter, once per address per process: through libdw
// (STRATA_USE_LIBDW, the default with CMake), whose one session per process reads
// an object's debug information when an address in it is first asked about
// (the first report of a process: about 8 ms on the benchmark's machine, see
// docs/stacks.md), or through Boost.Stacktrace; later ones come from the cache.
// Thread-safe; never throws (an unknown symbol when memory is short). The reference stays valid for the
// process's lifetime.
inline const symbol& symbolize(std::uintptr_t pc) noexcept {
    return detail::symbolize_in(detail::the_symbol_cache(false), pc);
}

namespace detail {

// Records are written by appending their parts (strings, characters, integers)
// rather than through fmt's format strings: each format string would instantiate
// fmt's machinery in every file that includes this header, which cost more to
// compile than the rest of strata.
inline void append_part(fmt::memory_buffer& out, std::string_view s) { out.append(s.data(), s.data() + s.size()); }
inline void append_part(fmt::memory_buffer& out, const char* s) { append_part(out, std::string_view(s)); }
inline void append_part(fmt::memory_buffer& out, char c) { out.push_back(c); }
template <class I>
    requires(std::is_integral_v<I> && !std::is_same_v<I, char> && !std::is_same_v<I, bool>)
void append_part(fmt::memory_buffer& out, I n) {
    const fmt::format_int digits(n);
    out.append(digits.data(), digits.data() + digits.size());
}

template <class... Parts>
void put(fmt::memory_buffer& out, const Parts&... parts) {
    (append_part(out, parts), ...);
}

// n in decimal, zero-padded to `width` digits.
inline void put_padded(fmt::memory_buffer& out, long n, int width) {
    char digits[24];
    int len = 0;
    for (unsigned long v = n < 0 ? 0 : static_cast<unsigned long>(n); v || len == 0; v /= 10) digits[len++] = static_cast<char>('0' + v % 10);
    for (int i = len; i < width; ++i) out.push_back('0');
    while (len) out.push_back(digits[--len]);
}

STRATA_MODULE_LOCAL inline void put_hex(fmt::memory_buffer& out, std::uintptr_t v) {
    static constexpr char hex[] = "0123456789abcdef";
    char digits[2 * sizeof v];
    int len = 0;
    do {
        digits[len++] = hex[v & 15];
        v >>= 4;
    } while (v);
    put(out, "0x");
    while (len) out.push_back(digits[--len]);
}

// A string in double quotes with the escapes of fmt's {:?}: \" \\ \n \r \t, and
// \xNN for other control characters.
STRATA_MODULE_LOCAL inline void put_quoted(fmt::memory_buffer& out, std::string_view s) {
    out.push_back('"');
    for (const char c : s) {
        switch (c) {
            case '"': put(out, "\\\""); break;
            case '\\': put(out, "\\\\"); break;
            case '\n': put(out, "\\n"); break;
            case '\r': put(out, "\\r"); break;
            case '\t': put(out, "\\t"); break;
            default:
                if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
                    static constexpr char hex[] = "0123456789abcdef";
                    const auto u = static_cast<unsigned char>(c);
                    put(out, "\\x", hex[u >> 4], hex[u & 15]);
                } else {
                    out.push_back(c);
                }
        }
    }
    out.push_back('"');
}

// A frame's message, with each part that came from a sensitive() argument
// replaced by its hash when `redact`.
inline bool has_control(std::string_view s) noexcept {
    for (const char c : s)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return true;
    return false;
}

// Text with its line breaks and other control characters escaped (\n, \r, \t,
// \xNN): in a log record, one field stays on one line, so that no message (least
// of all one decoded from another process) can forge a record's lines.
STRATA_MODULE_LOCAL inline void put_escaped(fmt::memory_buffer& out, std::string_view s) {
    if (!has_control(s)) {
        put(out, s);
        return;
    }
    static constexpr char hex[] = "0123456789abcdef";
    for (const char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '\n')
            put(out, "\\n");
        else if (c == '\r')
            put(out, "\\r");
        else if (c == '\t')
            put(out, "\\t");
        else if (u < 0x20 || u == 0x7f)
            put(out, "\\x", hex[u >> 4], hex[u & 15]);
        else
            out.push_back(c);
    }
}

inline void put_message(fmt::memory_buffer& out, const frame* f, bool redact, bool escape = false) {
    if (escape && has_control(f->message)) {
        fmt::memory_buffer text;
        put_message(text, f, redact, false);
        put_escaped(out, std::string_view(text.data(), text.size()));
    } else if (!redact || f->n_secrets == 0) {
        put(out, f->message);
    } else {
        append_redacted_message(out, f);
    }
}

inline void put_plain_misc_value(fmt::memory_buffer& out, const misc_value& v, bool quoted) {
    switch (v.type()) {
        case misc_value::kind::string:
            if (quoted)
                put_quoted(out, v.as_string());
            else
                put(out, v.as_string());
            break;
        case misc_value::kind::signed_integer: put(out, v.as_signed()); break;
        case misc_value::kind::unsigned_integer: put(out, v.as_unsigned()); break;
        case misc_value::kind::floating_point:
            fmt::vformat_to(fmt::appender(out), "{}", fmt::make_format_args(v.as_double()));
            break;
        case misc_value::kind::boolean: put(out, v.as_bool() ? "true" : "false"); break;
    }
}

// A misc value as {:v} prints it (strings quoted); a sensitive one as its hash
// when `redact`. The hash is of the value's text, as in a message.
inline void put_misc_value(fmt::memory_buffer& out, const misc_value& v, bool redact = false) {
    if (redact && v.is_sensitive()) {
        fmt::memory_buffer text;
        put_plain_misc_value(text, v, false);
        append_sensitive_token(out, std::string_view(text.data(), text.size()));
        return;
    }
    put_plain_misc_value(out, v, true);
}

// The most secondary errors one {:v} or record prints, and how deep secondaries
// of secondaries are followed; the rest are counted ("2 more secondary errors not
// shown").
#ifndef STRATA_FORMAT_MAX_SECONDARIES
#define STRATA_FORMAT_MAX_SECONDARIES 64
#endif
#ifndef STRATA_FORMAT_MAX_SECONDARY_DEPTH
#define STRATA_FORMAT_MAX_SECONDARY_DEPTH 4
#endif

// Frames a chain prints: all of them up to STRATA_FORMAT_MAX_FRAMES, else the
// outermost and innermost halves with the middle elided.
struct frame_window {
    std::size_t depth;
    std::size_t head;  // frames printed before the gap
    std::size_t skip;  // frames elided

    explicit frame_window(const frame* f) noexcept : depth(0), head(0), skip(0) {
        for (; f; f = f->inner) ++depth;
        if (depth > STRATA_FORMAT_MAX_FRAMES) {
            head = STRATA_FORMAT_MAX_FRAMES / 2;
            skip = depth - STRATA_FORMAT_MAX_FRAMES;
        } else {
            head = depth;
        }
    }
};

// The {:c} form, "outer: middle: root cause", sensitive values hashed. Secondary
// errors are not in it: {:c} is the causal story on one log line, and a secondary
// error is not a cause (a canceled task's line reading "canceled: permission
// denied" is the confusion they exist to avoid). As cockroachdb/errors leaves
// them out of Error() and Go's context.Cause out of ctx.Err(); {:v}, handle()'s
// record and to_json() have them.
inline void write_chain(fmt::memory_buffer& out, const error& e, bool redact = true, bool escape = false) {
    const frame* f = access::get(e);
    if (!f) {
        put(out, "(no error)");
        return;
    }
    frame_window w(f);
    for (std::size_t i = 0; f; ++i, f = f->inner) {
        if (i == w.head && w.skip) {
            put(out, ": ... ", w.skip, " frames elided ...");
            for (std::size_t k = 0; k < w.skip; ++k) f = f->inner;
            i += w.skip;
        }
        if (i) put(out, ": ");
        put_message(out, f, redact, escape);
    }
}

// strata's own frames: the capture and the calls that make frames (on top of a
// captured stack), and the task, timeout and replica machinery (between the
// user's frames, or at the bottom of a task's thread). Matched as a whole name
// after any return type, since a user's function template's name starts with
// its return type (often a strata type).
STRATA_MODULE_LOCAL inline bool is_internal_name(std::string_view name) noexcept {
    static constexpr std::string_view internal[] = {
        "strata::detail::",   "strata::wrap<",          "strata::make_error<", "strata::from_exception(",
        "strata::from_json(", "strata::with_timeout<", "strata::first_of<",   "strata::scope::",
        "strata::grpc_serve<", "strata::grpc_call<",  "_Unwind_"};
    for (std::string_view prefix : internal) {
        for (auto pos = name.find(prefix); pos != std::string_view::npos; pos = name.find(prefix, pos + 1))
            if (pos == 0 || name[pos - 1] == ' ') return true;
    }
    return false;
}

// A symbol's kind, worked out once when it is made (symbols are cached): bit 1
// strata's own frame, bit 2 the runtime's thread or program start.
inline constexpr unsigned char internal_frame = 1, runtime_frame = 2;
inline unsigned char classify_function(std::string_view name) noexcept {
    return static_cast<unsigned char>((is_internal_name(name) ? internal_frame : 0) |
                                      (is_runtime_function(name) ? runtime_frame : 0));
}
struct symbol_access {
    static unsigned char kind(const symbol& s) noexcept { return s.kind_; }
};
inline bool is_internal(const symbol& s) noexcept { return (symbol_access::kind(s) & internal_frame) != 0; }
inline bool is_runtime(const symbol& s) noexcept { return (symbol_access::kind(s) & runtime_frame) != 0; }

// The frames of a stack worth printing: strata's own capture frames at the top
// and the C library's start-up frames below main (or a thread's start) dropped.
// Puts every address of a stack not yet in the cache there, in one look-up.
inline symbol_cache* symbolize_all(stack_view st) noexcept {
    symbol_cache* cache = the_symbol_cache();
    if (!cache) return nullptr;
    std::uintptr_t missing[STRATA_MAX_STACK_DEPTH];
    std::size_t n = 0;
    for (std::size_t i = 0; i < st.size() && n < STRATA_MAX_STACK_DEPTH; ++i)
        if (st[i] && !cache->find(st[i])) missing[n++] = st[i];
    if (n == 0) return cache;
#if STRATA_HAS_EXCEPTIONS
    try {
#endif
        resolve_symbols(missing, n, [&](std::size_t i, std::string text) {
            if (!text.empty()) cache->insert(missing[i], new symbol(std::move(text)));
        });
#if STRATA_HAS_EXCEPTIONS
    } catch (...) {
        // Out of memory: symbolize_in() tries each address again, or shows it raw.
    }
#endif
    return cache;
}

// "function at file:line", or the address when nothing is known of it.
inline void put_symbol(fmt::memory_buffer& out, const symbol& s, std::uintptr_t pc) {
    if (!s.function.empty())
        put(out, s.function);
    else
        put_hex(out, pc);
    if (!s.file.empty()) put(out, " at ", s.file, ':', s.line);
}

// Calls each(symbol, pc) for the frames of a stack worth showing: the user's.
// Left out: strata's own frames (is_internal), everything below main, and the
// runtime's frames below the thread function (std::thread's start, the C
// library's start_thread and clone, nameless frames there). A stack with
// nothing else is shown whole. STRATA_STACK_ALL_FRAMES=1 shows every frame
// captured; JSON's raw addresses always hold them all.
template <class Each>
void for_each_shown(stack_view st, Each&& each) {
    symbol_cache* cache = symbolize_all(st);
#if !STRATA_STACK_ALL_FRAMES
    std::size_t end = st.size();
    for (std::size_t i = 0; i < end; ++i)
        if (symbolize_in(cache, st[i]).function == "main") end = i + 1;
    while (end > 0) {
        const symbol& s = symbolize_in(cache, st[end - 1]);
        if (!s.function.empty() && !is_runtime(s)) break;
        --end;
    }
    bool any = false;
    for (std::size_t i = 0; i < end; ++i) {
        const symbol& s = symbolize_in(cache, st[i]);
        if (is_internal(s)) continue;
        any = true;
        each(s, st[i]);
    }
    if (any) return;
#endif
    for (std::size_t i = 0; i < st.size(); ++i) each(symbolize_in(cache, st[i]), st[i]);
}

inline void write_stack(fmt::memory_buffer& out, stack_view st, std::string_view indent) {
    std::size_t shown = 0;
    for_each_shown(st, [&](const symbol& s, std::uintptr_t pc) {
        put(out, indent, shown++, "# ");
        put_symbol(out, s, pc);
        put(out, "\n");
    });
    if (st.truncated())
        put(out, indent, "... deeper frames not captured (STRATA_MAX_STACK_DEPTH=", STRATA_MAX_STACK_DEPTH, ")\n");
}

// Calls each(line) for each '\n'-terminated line of `lines` (a decoded stack).
template <class Each>
void for_each_line(std::string_view lines, Each&& each) {
    while (!lines.empty()) {
        const auto end = lines.find('\n');
        each(lines.substr(0, end));
        lines = end == std::string_view::npos ? std::string_view() : lines.substr(end + 1);
    }
}

// A stack decoded from JSON, as the sender symbolized it.
inline void write_decoded_stack(fmt::memory_buffer& out, const decoded_frame& d, std::string_view indent) {
    std::size_t n = 0;
    for_each_line(d.symbolized, [&](std::string_view line) {
        put(out, indent, n++, "# ");
        put_escaped(out, line);  // the sender's text: kept to one line
        put(out, '\n');
    });
    if (d.truncated) put(out, indent, "... deeper frames not captured by the sender\n");
}

// One frame of {:v}. Exported text (`redact`: handle()'s record) has its
// sensitive values hashed and every field escaped onto one line.
inline void write_frame(fmt::memory_buffer& out, const frame* f, std::size_t index, std::string_view indent,
                        bool redact) {
    auto field = [&](std::string_view s) {
        if (redact)
            put_escaped(out, s);
        else
            put(out, s);
    };
    put(out, indent, '#', index, ' ');
    if (f->layer->is_cause) {
        put(out, "cause ");
        field(f->layer->name);
        if (!f->detail.empty()) {
            put(out, " (");
            field(f->detail);
            put(out, ')');
        }
    } else {
        field(f->layer->name);
        if (f->layer->user_facing) put(out, " [user-facing]");
    }
    put(out, ": ");
    put_message(out, f, redact, redact);
    put(out, '\n');
    if (!f->loc.empty()) {
        put(out, indent, "   at ");
        field(f->loc.function_name());
        put(out, " (");
        field(f->loc.file_name());
        put(out, ':', f->loc.line(), ")\n");
    }
    for (const misc_node* n = f->misc_head; n; n = n->next) {
        put(out, indent, "   ");
        field(n->key);
        put(out, " = ");
        put_misc_value(out, n->value, redact);
        put(out, "\n");
    }
}

// The {:v} form: every frame (layer, message, call site, misc, and its secondary
// errors, each a record of its own indented under its label), then each captured
// stack, innermost (the origin) first. A stack further out prints only the frames
// it does not share with the one below it. Sensitive values are shown, unless
// `redact` (handle()'s record, which leaves the process).
// How much of the secondary errors one record prints: they nest (a replica's
// failure may carry its own), and may share chains.
struct secondary_budget {
    std::size_t left = STRATA_FORMAT_MAX_SECONDARIES;
    std::size_t depth = 0;
};

inline void write_verbose_frames(fmt::memory_buffer& out, const frame* top, std::string_view indent, bool redact,
                                 secondary_budget& budget);

// A frame's secondary errors, each under its label, indented below the frame.
inline void write_secondaries(fmt::memory_buffer& out, const frame* f, std::string_view indent, bool redact,
                              secondary_budget& budget) {
    if (!f->secondaries) return;
    std::string nested(indent);
    nested += "     ";
    for (const secondary_node* n = f->secondaries; n; n = n->next) {
        if (budget.left == 0 || budget.depth >= STRATA_FORMAT_MAX_SECONDARY_DEPTH) {
            std::size_t rest = 0;
            for (const secondary_node* m = n; m; m = m->next) ++rest;
            put(out, indent, "   (", rest, rest == 1 ? " more secondary error" : " more secondary errors",
                " not shown)\n");
            return;
        }
        --budget.left;
        put(out, indent, "   ");
        if (redact)
            put_escaped(out, n->label);
        else
            put(out, n->label);
        put(out, ":\n");
        ++budget.depth;
        write_verbose_frames(out, n->err, nested, redact, budget);
        --budget.depth;
    }
}

inline void write_verbose(fmt::memory_buffer& out, const error& e, std::string_view indent = "", bool redact = false) {
    secondary_budget budget;
    write_verbose_frames(out, access::get(e), indent, redact, budget);
}

inline void write_verbose_frames(fmt::memory_buffer& out, const frame* top, std::string_view indent, bool redact,
                                 secondary_budget& budget) {
    if (!top) {
        put(out, indent, "(no error)\n");
        return;
    }
    frame_window w(top);
    std::size_t i = 0;
    const frame* with_stack[8];
    std::size_t stack_index[8];
    std::size_t n_stacks = 0;
    for (const frame* f = top; f; f = f->inner, ++i) {
        if (i == w.head && w.skip) {
            put(out, indent, "... ", w.skip, " frames elided ...\n");
            for (std::size_t k = 0; k < w.skip; ++k) f = f->inner;
            i += w.skip;
        }
        write_frame(out, f, i, indent, redact);
        write_secondaries(out, f, indent, redact, budget);
        const decoded_frame* d = decoded_of(f);
        if (f->n_pcs || (d && d->has_stack)) {
            // Keep the innermost eight stacks; the origin is always among them.
            if (n_stacks == 8) {
                for (std::size_t k = 1; k < 8; ++k) {
                    with_stack[k - 1] = with_stack[k];
                    stack_index[k - 1] = stack_index[k];
                }
                --n_stacks;
            }
            with_stack[n_stacks] = f;
            stack_index[n_stacks++] = i;
        }
    }
    if (n_stacks == 0) {
        if (budget.depth == 0) put(out, indent, "(no stack captured)\n");  // a secondary's absent stack is not news
        return;
    }
    std::string inner_indent(indent);
    inner_indent += "  ";
    for (std::size_t k = n_stacks; k-- > 0;) {
        const frame* f = with_stack[k];
        if (const decoded_frame* d = decoded_of(f)) {
            put(out, indent, "stack of #", stack_index[k], k == n_stacks - 1 ? " (origin, as " : " (as ",
                d->from() ? std::string_view(d->from()->host) : std::string_view("the sender"), " pid ",
                d->from() ? d->from()->pid : 0L, " symbolized it):\n");
            write_decoded_stack(out, *d, inner_indent);
            continue;
        }
        stack_view st(f->pcs(), f->n_pcs, (f->flags & stack_truncated) != 0);
        if (k == n_stacks - 1) {
            put(out, indent, "stack of #", stack_index[k], " (origin):\n");
            write_stack(out, st, inner_indent);
            continue;
        }
        // Frames shared with the stack below are the common tail (the callers).
        const frame* below = with_stack[k + 1];
        std::size_t common = 0;
        while (!decoded_of(below) && common < st.size() && common < below->n_pcs &&
               st[st.size() - 1 - common] == below->pcs()[below->n_pcs - 1 - common])
            ++common;
        put(out, indent, "stack of #", stack_index[k], ":\n");
        write_stack(out, stack_view(st.begin(), st.size() - common, false), inner_indent);
        if (common) put(out, indent, "  ... ", common, " frames in common with the stack of #", stack_index[k + 1], '\n');
    }
}

}  // namespace detail
}  // namespace strata

// {} outermost message, {:c} the chain "outer: middle: root cause", {:v} the full
// record (multi-line). Any other specifier fails to compile.
template <>
struct fmt::formatter<strata::error> {
    char mode = 0;

    constexpr auto parse(format_parse_context& ctx) -> decltype(ctx.begin()) {
        auto it = ctx.begin();
        if (it != ctx.end() && (*it == 'c' || *it == 'v')) mode = *it++;
        if (it != ctx.end() && *it != '}') {
#if STRATA_HAS_EXCEPTIONS
            throw format_error("strata::error takes {}, {:c} (chain) or {:v} (verbose)");
#else
            // As fmt's own formatters do: not a constant expression, so a bad
            // specifier still fails to compile; at run time, fmt's failure path.
            fmt::detail::throw_format_error("strata::error takes {}, {:c} (chain) or {:v} (verbose)");
#endif
        }
        return it;
    }

    template <class FormatContext>
    auto format(const strata::error& e, FormatContext& ctx) const -> decltype(ctx.out()) {
        const strata::detail::frame* f = strata::detail::access::get(e);
        strata::detail::mark_checked(f);
        // Inside another strata message (an argument of make_error or wrap), {:v}
        // hashes sensitive values too: that message does not know they are secret.
        const bool in_message = strata::detail::active_secrets != nullptr;
        if (mode == 0 && (!f || f->n_secrets == 0))
            return fmt::format_to(ctx.out(), "{}", f ? f->message : std::string_view("(no error)"));
        fmt::memory_buffer buf;
#if STRATA_HAS_EXCEPTIONS
        try {
#endif
            if (mode == 0)
                strata::detail::put_message(buf, f, true);
            else if (mode == 'c')
                strata::detail::write_chain(buf, e);
            else
                strata::detail::write_verbose(buf, e, "", in_message);
#if STRATA_HAS_EXCEPTIONS
        } catch (...) {
            // Out of memory for the text: the outermost message (unless it holds a
            // sensitive value), and why.
            return fmt::format_to(ctx.out(), "{} [out of memory while formatting this error]",
                                  strata::detail::safe_message(f));
        }
#endif
        return fmt::format_to(ctx.out(), "{}", std::string_view(buf.data(), buf.size()));
    }
};

template <strata::layer_tag L>
struct fmt::formatter<strata::wrapped_error<L>> : fmt::formatter<strata::error> {};

template <>
struct fmt::formatter<strata::location> {
    constexpr auto parse(format_parse_context& ctx) -> decltype(ctx.begin()) { return ctx.begin(); }
    template <class FormatContext>
    auto format(const strata::location& l, FormatContext& ctx) const -> decltype(ctx.out()) {
        return fmt::format_to(ctx.out(), "{} ({}:{})", l.function_name(), l.file_name(), l.line());
    }
};

// A misc value as {:v} prints it; a sensitive one as its hash (it has left the
// error that knew it was secret).
template <>
struct fmt::formatter<strata::misc_value> {
    constexpr auto parse(format_parse_context& ctx) -> decltype(ctx.begin()) { return ctx.begin(); }
    template <class FormatContext>
    auto format(const strata::misc_value& v, FormatContext& ctx) const -> decltype(ctx.out()) {
        fmt::memory_buffer buf;
        strata::detail::put_misc_value(buf, v, true);
        return fmt::format_to(ctx.out(), "{}", std::string_view(buf.data(), buf.size()));
    }
};
