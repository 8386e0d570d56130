// strata/handle.hpp: the top-level decision. handle(e) shows the message of a
// user-facing error or the bug text, gives the report an ID unique across
// processes and machines, and logs the full record under that ID to a sink.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <new>
#include <type_traits>
#include <utility>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "error.hpp"
#include "format.hpp"

namespace strata {

// The text users see for a bug (an error whose outermost layer is not user-facing).
inline constexpr std::string_view default_bug_message = "There was an unexpected issue; please report this as a bug.";

// What handle() decided. fmt::format("{}", r) is "[id] user_message".
struct report {
    std::string id;
    std::string user_message;
    bool is_bug = true;
};

// What a log sink receives: the record as text (multi-line, ending in a newline;
// sensitive values hashed, every field escaped onto one line), and its parts for
// sinks that build their own. Such a sink should print `err` with {:c}, not {:v},
// which shows sensitive values. `time` is when the record was handed to the sink
// (the time in `text` and `line`): records reach sinks one at a time, in the
// order of their times. `line` is the record in the form the sink asked for
// (record_form: json.hpp's json_line_form gives one JSON object on one line,
// ending in a newline), empty if it asked for none.
struct log_record {
    std::string_view id;
    std::string_view text;
    const error& err;
    const report& rep;
    std::chrono::system_clock::time_point time;
    std::string_view host;
    long pid;
    long thread;
    std::string_view line = {};
};

namespace detail {
struct unstamped;
}

// A form of the record that a sink asks for besides its text: handle() renders
// it before the record is stamped (symbolizing on the calling thread, not while
// other records wait), and hands it over as log_record::line. Empty: none.
// json.hpp's strata::json_line_form is the one-line JSON form (JSON Lines).
struct record_form {
    void (*render)(detail::unstamped& out, const log_record& r) = nullptr;
    explicit operator bool() const noexcept { return render != nullptr; }
};

// Where records go: any callable taking a log_record (a lambda, a function). An
// empty sink means "the default". Copyable; calling it is one indirect call.
// (strata's own type rather than std::function, which costs more to compile than
// the rest of this header.)
class log_sink {
public:
    log_sink() noexcept = default;
    template <class F>
        requires(!std::is_same_v<std::decay_t<F>, log_sink> && std::is_invocable_v<const std::decay_t<F>&, const log_record&>)
    log_sink(F&& f) : impl_(new model<std::decay_t<F>>(std::forward<F>(f))) {}
    // A sink that also gets the record in `form` (log_record::line), e.g.
    // log_sink(ship, strata::json_line_form).
    template <class F>
        requires(!std::is_same_v<std::decay_t<F>, log_sink> && std::is_invocable_v<const std::decay_t<F>&, const log_record&>)
    log_sink(F&& f, record_form form) : impl_(new model<std::decay_t<F>>(std::forward<F>(f))), form_(form) {}
    log_sink(const log_sink& o) : impl_(o.impl_ ? o.impl_->clone() : nullptr), form_(o.form_) {}
    log_sink(log_sink&& o) noexcept : impl_(std::exchange(o.impl_, nullptr)), form_(std::exchange(o.form_, {})) {}
    log_sink& operator=(log_sink o) noexcept {
        std::swap(impl_, o.impl_);
        std::swap(form_, o.form_);
        return *this;
    }
    ~log_sink() { delete impl_; }

    explicit operator bool() const noexcept { return impl_ != nullptr; }
    void operator()(const log_record& r) const { impl_->call(r); }
    // The form it asked for (a sink that wraps another passes it on).
    record_form form() const noexcept { return form_; }

private:
    struct concept_t {
        virtual ~concept_t() = default;
        virtual void call(const log_record&) const = 0;
        virtual concept_t* clone() const = 0;
    };
    template <class F>
    struct model final : concept_t {
        template <class G>
        explicit model(G&& g) : f(std::forward<G>(g)) {}
        void call(const log_record& r) const override { f(r); }
        concept_t* clone() const override { return new model(f); }
        F f;
    };
    concept_t* impl_ = nullptr;
    record_form form_{};
};

struct handle_options {
    // Where the record goes; null means the process-wide sink (set_log_sink),
    // which is stderr unless replaced.
    const log_sink* sink = nullptr;
    // What a user is told about a bug.
    std::string_view bug_message = default_bug_message;
    // What a user is told about a known edge case. false: the outermost message,
    // followed by the user-facing causes its layer asks to show (show_cause in
    // layer.hpp). true: every user-facing frame from the outermost down to the
    // first that is not, joined with ": " (anyhow's "{:#}", stopped where the
    // text stops being written for users). Either way sensitive() values are
    // hashed, and a bug is told `bug_message`.
    bool show_user_chain = false;
};

namespace detail {

// The message shown for a known edge case (f is user-facing): f's own, then the
// next frame's for as long as the frame before says to show its cause (or
// `chain`) and the next is user-facing. A frame with no message adds nothing; at
// most STRATA_FORMAT_MAX_FRAMES frames, then "...".
inline void put_user_message(fmt::memory_buffer& out, const frame* f, bool chain) {
    put_message(out, f, true);
    for (std::size_t n = 1; (chain || f->layer->show_cause) && f->inner && f->inner->layer->user_facing; ++n) {
        f = f->inner;
        if (n == STRATA_FORMAT_MAX_FRAMES) {
            put(out, ": ...");
            break;
        }
        if (f->message.empty()) continue;
        if (out.size()) put(out, ": ");
        put_message(out, f, true);
    }
}

// What handle() tells the user about frame f: the bug text for a bug (f not
// user-facing, or null), else the user-facing message (put_user_message).
inline std::string user_message_of(const frame* f, const handle_options& options) {
    if (!f || !f->layer->user_facing) return std::string(options.bug_message);
    fmt::memory_buffer shown;
    put_user_message(shown, f, options.show_user_chain);
    return std::string(shown.data(), shown.size());
}

inline void stderr_sink(const log_record& r) noexcept {
    // One write, so that records from several threads do not interleave.
    std::fwrite(r.text.data(), 1, r.text.size(), stderr);
    std::fflush(stderr);
}

// The process-wide sink (one for every module: detail/process.hpp). A replaced
// sink is never freed: a handle() on another thread may still be calling it, and
// reading the pointer must stay lock-free.
inline const log_sink* global_sink() noexcept {
    return static_cast<const log_sink*>(process().log_sink.load(std::memory_order_acquire));
}

// Replaced sinks, kept reachable until the process ends.
struct retired_sink {
    const log_sink* sink;
    retired_sink* next;
};

// The calling thread's id, cached per module; 0 means "look it up again" (a fork()
// child's thread is its parent's forking thread, with its cache).
STRATA_MODULE_LOCAL inline thread_local long cached_thread_id = 0;
STRATA_MODULE_LOCAL inline void forget_thread_id() noexcept { cached_thread_id = 0; }

// IDs: a random per-process prefix (50 bits, 10 base-32 characters) plus a
// counter, unique across processes and machines without a lock or a registry. A
// child made by fork() draws a new prefix for new IDs; an ID given is stored whole
// (prefix and number) in its frame, so it keeps its value in the child.
struct assigned_id {
    std::uint64_t prefix;
    std::uint64_t seq;
};
inline assigned_id next_id() noexcept {
    process_state& st = process();
    const std::uint64_t seq = st.id_next.fetch_add(1, std::memory_order_relaxed);
    return {st.id_prefix.load(std::memory_order_relaxed), seq};
}

// "<prefix>-<seq>", assigned in one go: out is the whole ID or, if memory for it
// cannot be had (it throws), left as it was.
inline std::size_t format_id(char (&text)[32], assigned_id id) noexcept {
    constexpr char alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";  // Crockford's base 32
    const fmt::format_int digits(id.seq);
    for (int i = 0; i < 10; ++i) text[i] = alphabet[(id.prefix >> (5 * i)) & 31];
    text[10] = '-';
    std::memcpy(text + 11, digits.data(), digits.size());
    text[11 + digits.size()] = '\0';
    return 11 + digits.size();
}
inline void format_id(std::string& out, assigned_id id) {
    char text[32];
    out.assign(text, format_id(text, id));
}

// The first frame of f's chain (f first) decoded from another process with the
// ID its sender's handle() gave it: handle() of f reports under that ID.
inline const decoded_frame* sender_with_id(const frame* f) noexcept {
    for (; f; f = f->inner)
        if (const decoded_frame* d = decoded_of(f); d && !d->id.empty()) return d;
    return nullptr;
}

// The ID handle() gave frame f, if it gave one.
inline bool reported_id(const frame* f, assigned_id& id) noexcept {
    if (!f || (f->flags & immortal)) return false;
    id.seq = f->report_seq.load(std::memory_order_acquire);
    if (id.seq == 0) return false;
    id.prefix = f->report_prefix.load(std::memory_order_relaxed);
    return true;
}

STRATA_MODULE_LOCAL inline std::string_view host_name() noexcept {
    static const struct host {
        char name[256] = {};
        host() noexcept {
            if (sys::gethostname(name, sizeof name - 1) != 0) std::snprintf(name, sizeof name, "unknown-host");
        }
    } h;
    return h.name;
}

STRATA_MODULE_LOCAL inline long thread_id() noexcept {
    if (cached_thread_id == 0) {
        // This module's cache is forgotten in a fork() child (detail/process.hpp).
        if (!module_fork_child_hook.load(std::memory_order_relaxed))
            module_fork_child_hook.store(&forget_thread_id, std::memory_order_release);
        cached_thread_id = static_cast<long>(sys::gettid());
    }
    return cached_thread_id;
}

// UTC, ISO 8601 with milliseconds: 2026-11-27T13:54:29.484Z. Arithmetic only
// (the proleptic Gregorian calendar, as gmtime's, by Howard Hinnant's
// civil_from_days): handle() stamps records under a lock, and glibc's gmtime_r
// takes a lock of its own.
inline void put_utc(fmt::memory_buffer& out, std::chrono::system_clock::time_point t) {
    using namespace std::chrono;
    const auto since = floor<milliseconds>(t.time_since_epoch());
    const auto day = floor<days>(since);
    const long long ms_of_day = (since - day).count();
    const long long z = day.count() + 719468;
    const long long era = (z >= 0 ? z : z - 146096) / 146097;
    const long long doe = z - era * 146097;                                      // [0, 146096]
    const long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  // [0, 399]
    const long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               // [0, 365]
    const long long mp = (5 * doy + 2) / 153;                                    // [0, 11], from March
    const long long mday = doy - (153 * mp + 2) / 5 + 1;
    const long long month = mp < 10 ? mp + 3 : mp - 9;
    const long long year = yoe + era * 400 + (month <= 2 ? 1 : 0);
    put_padded(out, static_cast<long>(year), 4);
    put(out, '-');
    put_padded(out, static_cast<long>(month), 2);
    put(out, '-');
    put_padded(out, static_cast<long>(mday), 2);
    put(out, 'T');
    put_padded(out, static_cast<long>(ms_of_day / 3600000), 2);
    put(out, ':');
    put_padded(out, static_cast<long>(ms_of_day / 60000 % 60), 2);
    put(out, ':');
    put_padded(out, static_cast<long>(ms_of_day / 1000 % 60), 2);
    put(out, '.');
    put_padded(out, static_cast<long>(ms_of_day % 1000), 3);
    put(out, 'Z');
}

// A record's text rendered before it is stamped, and where in it the time goes
// (each slot as put_utc wrote it): stamp() writes the time of delivery there.
struct unstamped {
    fmt::memory_buffer text;
    std::size_t slot[4] = {};
    std::size_t slot_size[4] = {};
    unsigned slots = 0;

    // put_utc(t) at the end of the text, a slot for the stamp.
    void put_time(std::chrono::system_clock::time_point t) {
        const std::size_t at = text.size();
        put_utc(text, t);
        note_time(at, text.size() - at);
    }
    // The time already written at [at, at + size) is a slot.
    void note_time(std::size_t at, std::size_t size) noexcept {
        if (slots < 4) {
            slot[slots] = at;
            slot_size[slots++] = size;
        }
    }
    // The time written in every slot (put_utc's text of the stamp: `stamp`).
    void stamp(std::string_view time) noexcept {
        for (unsigned i = 0; i < slots; ++i)
            if (slot_size[i] == time.size() && slot[i] + time.size() <= text.size())
                std::memcpy(text.data() + slot[i], time.data(), time.size());
    }
    std::string_view view() const noexcept { return {text.data(), text.size()}; }
};

inline void write_record(unstamped& rec, const error& e, const report& r, std::chrono::system_clock::time_point t,
                         long pid, long tid) {
    fmt::memory_buffer& out = rec.text;
    put(out, '[', r.id, "] ");
    rec.put_time(t);
    put(out, ' ', r.is_bug ? "bug" : "known edge case", '\n');
    put(out, "  user saw: [", r.id, "] ");
    put_escaped(out, r.user_message);
    put(out, '\n');
    if (!e)
        put(out, "  why: handle() was given an empty strata::error\n");
    else if (r.is_bug)
        put(out, "  why: the outermost layer \"", e.layer().name, "\" is not user-facing\n");
    else
        put(out, "  why: the outermost layer \"", e.layer().name, "\" is user-facing\n");
    put(out, "  where: host ", host_name(), ", pid ", pid, ", thread ", tid, '\n');
    if (const origin* o = origin_of(e))
        put(out, "  from: host ", o->host, ", pid ", o->pid, ", thread ", o->thread, " (sent ", o->time,
            ", decoded from JSON)\n");
    put(out, "  chain: ");
    write_chain(out, e, true, true);
    put(out, "\n");
    write_verbose(out, e, "  ", true);
}

// The record in `form`: r.line, or rendered now into `buf` (for a sink wrapped
// by one that did not pass the form on).
inline std::string_view line_in(const log_record& r, record_form form, unstamped& buf) {
    if (!r.line.empty() || !form) return r.line;
    form.render(buf, r);
    return buf.view();
}

// Stamps the record and hands it to the sink (null: stderr), one record at a
// time in the process: the time is taken under the lock, so records arrive in
// the order of their times. A sink that handles an error itself (on the same
// thread) delivers that record at once, inside its own call.
inline void deliver(const log_sink* sink, log_record& rec, unstamped& text, unstamped& line) noexcept {
    process_state& st = process();
    const unsigned long me = sys::pthread_self();
    struct delivery_lock {
        process_state& st;
        bool held;
        delivery_lock(process_state& s, unsigned long self) : st(s), held(s.sink_owner.load(std::memory_order_relaxed) != self) {
            if (!held) return;
            st.sink_mutex.lock();
            st.sink_owner.store(self, std::memory_order_relaxed);
        }
        delivery_lock(const delivery_lock&) = delete;
        delivery_lock& operator=(const delivery_lock&) = delete;
        ~delivery_lock() {
            if (!held) return;
            st.sink_owner.store(0, std::memory_order_relaxed);
            st.sink_mutex.unlock();
        }
    } lock(st, me);
    rec.time = std::chrono::system_clock::now();
    fmt::memory_buffer stamp;  // 24 characters, in its inline storage
    put_utc(stamp, rec.time);
    text.stamp({stamp.data(), stamp.size()});
    line.stamp({stamp.data(), stamp.size()});
    if (sink) {
#if STRATA_HAS_EXCEPTIONS
        try {
            (*sink)(rec);
        } catch (...) {
            stderr_sink(rec);
        }
#else
        (*sink)(rec);
#endif
    } else {
        stderr_sink(rec);
    }
}

}  // namespace detail

// Replaces the process-wide log sink; an empty sink restores stderr. Thread-safe:
// handle() calls in flight finish with the sink they started with. The sink
// replaced is kept (not destroyed) until the process ends, since such a call may
// still be using it: set a sink once, not in a loop. One sink for the process:
// records handled in any module (shared library, plugin) go to it. The sink is
// code of the module that set it: a plugin that sets one puts the previous one
// back before it is unloaded.
inline void set_log_sink(log_sink sink) {
    detail::process_state& st = detail::process();
    const log_sink* next = sink ? new log_sink(std::move(sink)) : nullptr;
    const auto* old = static_cast<const log_sink*>(st.log_sink.exchange(next, std::memory_order_acq_rel));
    if (old) {
        auto* r = new detail::retired_sink{old, static_cast<detail::retired_sink*>(st.retired_sinks.load(std::memory_order_relaxed))};
        void* head = r->next;
        while (!st.retired_sinks.compare_exchange_weak(head, r, std::memory_order_release))
            r->next = static_cast<detail::retired_sink*>(head);
    }
}

// The top-level decision (the book's handleError). An error whose outermost layer
// is user-facing is a known edge case: its message is shown (with the user-facing
// causes below it that its layer or `show_user_chain` asks for). Anything else,
// including an empty error, is a bug: the user is told `bug_message`. Either way
// the full record is written to the sink under a new ID, and the report carries
// that ID: rendered on the calling thread, then stamped and handed over under a
// process-wide lock, so records reach sinks in the order of their times. Handling the same error again gives the same ID and logs nothing.
// An error that came from another process (from_json, from_grpc_status), or
// wraps one, keeps the ID the sender's handle() gave it: the first such ID in
// the chain, outermost first.
// Never throws: if the sink throws, the record goes to stderr instead, and out of
// memory the record is written to stderr as far as it can be.
[[nodiscard]] inline report handle(const error& e, const handle_options& options = {}) noexcept {
    detail::mark_checked(detail::access::get(e));
    report r;
    detail::frame* f = detail::access::get(e);
    r.is_bug = !f || !f->layer->user_facing;
    // Report once: the first handle() of a frame fixes its ID, stored whole.
    bool first = true;
    detail::assigned_id id{};
    if (f && !(f->flags & detail::immortal)) {
        if (detail::reported_id(f, id)) {
            first = false;
        } else {
            const detail::assigned_id mine = detail::next_id();
            // The prefix is written before the number is published; a racing
            // handle() in this process writes the same prefix.
            f->report_prefix.store(mine.prefix, std::memory_order_relaxed);
            std::uint64_t seen = 0;
            if (f->report_seq.compare_exchange_strong(seen, mine.seq, std::memory_order_acq_rel)) {
                id = mine;
            } else {
                first = false;  // another thread reported it first
                detail::reported_id(f, id);
            }
        }
    } else {
        id = detail::next_id();
    }
#if STRATA_HAS_EXCEPTIONS
    try {
#endif
        // The sender handled it (or the error this one wraps, decoded from
        // another process): its ID finds the sender's record too, so one ID
        // finds every record of the failure.
        if (const detail::decoded_frame* sent = detail::sender_with_id(f))
            r.id = sent->id;
        else
            detail::format_id(r.id, id);
        r.user_message = detail::user_message_of(f, options);
        if (!first) return r;
        // Rendered first, on this thread (symbolizing may take milliseconds),
        // with the time left open; then stamped and delivered under one lock, so
        // that records reach the sink in the order of their times.
        const long pid = static_cast<long>(detail::sys::getpid());
        const long tid = detail::thread_id();
        const log_sink* sink = options.sink ? options.sink : detail::global_sink();
        if (sink && !*sink) sink = nullptr;
        const auto rendered_at = std::chrono::system_clock::now();
        detail::unstamped text;
        detail::write_record(text, e, r, rendered_at, pid, tid);
        log_record rec{r.id, text.view(), e, r, rendered_at, detail::host_name(), pid, tid};
        detail::unstamped line;
        if (sink && sink->form()) {
            sink->form().render(line, rec);
            rec.line = line.view();
        }
        detail::deliver(sink, rec, text, line);
#if STRATA_HAS_EXCEPTIONS
    } catch (...) {
        // Out of memory while reporting: say so on stderr without allocating.
        if (!r.id.empty())  // the ID the caller got (the sender's, for a decoded error)
            std::fprintf(stderr, "[%s] strata: out of memory while reporting an error: %.200s\n", r.id.c_str(),
                         detail::safe_message(f).data());
        else {
            char text[32];
            detail::format_id(text, id);
            std::fprintf(stderr, "[%s] strata: out of memory while reporting an error: %.200s\n", text,
                         detail::safe_message(f).data());
        }
    }
#endif
    return r;
}

}  // namespace strata

template <>
struct fmt::formatter<strata::report> {
    constexpr auto parse(format_parse_context& ctx) -> decltype(ctx.begin()) { return ctx.begin(); }
    template <class FormatContext>
    auto format(const strata::report& r, FormatContext& ctx) const -> decltype(ctx.out()) {
        return fmt::format_to(ctx.out(), "[{}] {}", r.id, r.user_message);
    }
};
