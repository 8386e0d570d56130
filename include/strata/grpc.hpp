// strata/grpc.hpp: errors, deadlines and cancellation across a gRPC call.
//
//   // server: the handler's work runs in a strata scope that stops when the
//   // caller's deadline passes or the caller cancels; a failure is logged here
//   // and sent as a status the caller can rebuild.
//   grpc::Status Get(grpc::ServerContext* ctx, const Req* req, Resp* resp) override {
//       return strata::grpc_serve(*ctx, [&](std::stop_token stop) -> strata::result<void> { ... });
//   }
//   // client: the call gets the deadline of the strata scope it runs in and is
//   // canceled when that scope stops; a failed call is the server's error.
//   grpc::ClientContext ctx;
//   strata::result<void> r = strata::grpc_call(ctx, [&](grpc::ClientContext& c) { return stub->Get(&c, req, &resp); });
//
// What crosses the wire (docs/across-machines.md): the status code (from the
// outermost layer), a message the caller's user may see ("[ID] message"), and in
// the status details (trailing metadata grpc-status-details-bin, a serialized
// google.rpc.Status) a google.rpc.ErrorInfo (reason, domain "strata", the ID)
// and a strata.v1.Error holding the error as to_json writes it. To a peer that is
// not trusted (the default) the error is cut to the user-facing frames from the
// outermost down (their layers and messages) and the ID; a bug's text, the
// frames below, misc entries, call sites, stacks, secondary errors and the host
// never leave. Sensitive values leave only as their hashes, to any peer.
//
// Not part of <strata/strata.hpp>: it needs gRPC (Debian's libgrpc++-dev) and
// json.hpp's nlohmann/json. Writes google.rpc.Status by hand (a few fields of the
// protobuf wire format), so it needs no generated code and no libprotobuf.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <grpc/support/time.h>
#include <grpcpp/client_context.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>

#include "cancel.hpp"
#include "handle.hpp"
#include "json.hpp"

namespace strata {

// The layer of a failed call whose status carries no strata error (a server
// that is not strata, or gRPC itself: no connection, a message too large).
// Not user-facing: wrap it in a layer of yours to tell the user something.
struct grpc_status {
    static constexpr std::string_view name = "grpc_status";
};

// The layer of a status whose details claim to hold a strata error but do not
// decode (a broken or hostile peer). Not user-facing.
struct bad_grpc_details {
    static constexpr std::string_view name = "bad_grpc_details";
};

// The frame that stands for what a server kept to itself (sent to a peer that
// is not trusted): the rest of the chain is in the server's record, under the ID.
struct withheld {
    static constexpr std::string_view name = "withheld";
};

// The type of the strata error in a status's details (a google.protobuf.Any):
// message strata.v1.Error { string json = 1; } (docs/across-machines.md).
STRATA_MODULE_LOCAL inline constexpr std::string_view grpc_error_type = "type.googleapis.com/strata.v1.Error";
// ErrorInfo's domain for strata's errors.
STRATA_MODULE_LOCAL inline constexpr std::string_view grpc_error_domain = "strata";
// The most details from_grpc_status reads (bytes); gRPC's own limit on
// metadata is far lower.
STRATA_MODULE_LOCAL inline constexpr std::size_t grpc_max_details = 4u << 20;
// The most of a status message from another peer kept in an error (bytes).
STRATA_MODULE_LOCAL inline constexpr std::size_t grpc_max_message = 4096;
// The most of a status message to_grpc_status sends (bytes; cut at a UTF-8
// character's start).
STRATA_MODULE_LOCAL inline constexpr std::size_t grpc_max_sent_message = 1024;

// How to_grpc_status sends an error.
struct grpc_options {
    // A peer you run yourself (another of your services): it gets the whole
    // error (every frame, misc entry, call site, stack, secondary error, and
    // the host, pid and thread). Otherwise only what its user may see.
    bool trusted_peer = false;
    // handle() the error first, so that the server's record exists and the ID
    // sent is its ID (an error handled already keeps its ID and is not logged
    // again). false: nothing is logged, and no ID is sent unless the error has
    // one.
    bool log = true;
    // How it is handled (sink, bug message, show_user_chain).
    handle_options handle{};
    // The most bytes of details and message to send (gRPC sends the message
    // twice: as grpc-message and in the details). A gRPC 1.51 client refuses
    // a response whose metadata pass 8 KiB (GRPC_ARG_MAX_METADATA_SIZE on the
    // receiving side; on this machine, details of 7 500 bytes crossed and
    // 8 000 did not): past this the stacks are left out, then everything but
    // what the user may see, then all but 8 frames of 256 bytes, then the
    // details altogether. The rest of the 8 KiB is left for the application's
    // own trailing metadata.
    std::size_t max_details = 7 * 1024;
};

// How from_grpc_status names the call in the errors it makes.
struct from_grpc_options {
    // "storage.Get"; by default "the call".
    std::string_view operation{};
};

namespace detail {

// ---- protobuf's wire format, the few fields strata needs ----------------------
namespace pb {

inline void put_varint(std::string& out, std::uint64_t v) {
    while (v >= 0x80) {
        out.push_back(static_cast<char>((v & 0x7f) | 0x80));
        v >>= 7;
    }
    out.push_back(static_cast<char>(v));
}
inline void put_uint(std::string& out, int field, std::uint64_t v) {
    put_varint(out, static_cast<std::uint64_t>(field) << 3);
    put_varint(out, v);
}
inline void put_bytes(std::string& out, int field, std::string_view bytes) {
    put_varint(out, (static_cast<std::uint64_t>(field) << 3) | 2);
    put_varint(out, bytes.size());
    out.append(bytes.data(), bytes.size());
}

// A reader of one message's fields. Every length is checked against what is
// left; a malformed input stops it with `problem` set.
struct reader {
    const unsigned char* p;
    const unsigned char* end;
    const unsigned char* begin;
    const char* problem = nullptr;

    explicit reader(std::string_view s) noexcept
        : p(reinterpret_cast<const unsigned char*>(s.data())), end(p + s.size()), begin(p) {}

    std::size_t offset() const noexcept { return static_cast<std::size_t>(p - begin); }
    bool varint(std::uint64_t& v) noexcept {
        v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (p == end) return fail("a number runs past the end");
            const unsigned char b = *p++;
            v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
            if (!(b & 0x80)) return true;
        }
        return fail("a number is longer than 10 bytes");
    }
    bool fail(const char* why) noexcept {
        problem = why;
        return false;
    }
    // The next field: its number and wire type; for wire type 0 its value in
    // `v`, for 2 its bytes in `bytes`; 1 and 5 are skipped. False at the end
    // (problem unset) or on a malformed input.
    bool next(std::uint32_t& field, std::uint32_t& wire, std::uint64_t& v, std::string_view& bytes) noexcept {
        if (p == end || problem) return false;
        std::uint64_t key = 0;
        if (!varint(key)) return false;
        field = static_cast<std::uint32_t>(key >> 3);
        wire = static_cast<std::uint32_t>(key & 7);
        if (field == 0 || (key >> 3) > 0x1fffffff) return fail("a field number is out of range");
        switch (wire) {
            case 0: return varint(v);
            case 1:
                if (end - p < 8) return fail("a fixed64 field runs past the end");
                p += 8;
                return true;
            case 5:
                if (end - p < 4) return fail("a fixed32 field runs past the end");
                p += 4;
                return true;
            case 2: {
                std::uint64_t n = 0;
                if (!varint(n)) return false;
                if (n > static_cast<std::uint64_t>(end - p)) return fail("a length-delimited field runs past the end");
                bytes = std::string_view(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
                p += n;
                return true;
            }
            default: return fail("a field has a wire type this reader does not know (groups are not used)");
        }
    }
};

}  // namespace pb

inline constexpr std::string_view grpc_code_names[] = {
    "OK",           "CANCELLED",         "UNKNOWN",   "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
    "UNIMPLEMENTED", "INTERNAL",         "UNAVAILABLE", "DATA_LOSS",       "UNAUTHENTICATED"};

inline std::string_view grpc_code_name(int code) noexcept {
    return code >= 0 && code <= 16 ? grpc_code_names[code] : std::string_view("(not a gRPC code)");
}

// The status code of an error: its outermost layer's, if it declares one (a
// cancellation whose cause is a deadline is DEADLINE_EXCEEDED); for a known
// edge case, the first code declared by the user-facing frames below it, else
// UNKNOWN; for a bug, INTERNAL.
inline int status_code_of(const frame* top) noexcept {
    if (!top) return ::grpc::StatusCode::INTERNAL;
    if (top->layer->grpc_code >= 0) {
        if (top->layer->grpc_code == ::grpc::StatusCode::CANCELLED)
            for (const secondary_node* n = top->secondaries; n; n = n->next)
                if (n->label == stopped_because_label && n->err &&
                    n->err->layer->grpc_code == ::grpc::StatusCode::DEADLINE_EXCEEDED)
                    return ::grpc::StatusCode::DEADLINE_EXCEEDED;
        return top->layer->grpc_code;
    }
    if (!top->layer->user_facing) return ::grpc::StatusCode::INTERNAL;
    for (const frame* f = top->inner; f && f->layer->user_facing; f = f->inner)
        if (f->layer->grpc_code >= 0) return f->layer->grpc_code;
    return ::grpc::StatusCode::UNKNOWN;
}

// What a peer that is not trusted gets: the frames its user may see (the
// user-facing ones from the outermost down), their layers and messages
// (sensitive values hashed), the ID on the outermost, and a `withheld` frame
// for whatever was left out. No host, call site, misc entry, stack or
// secondary error. `cut` keeps at most 8 frames and 256 bytes of each message.
inline std::string withheld_json(const frame* top, std::string_view id, bool cut) {
    fmt::memory_buffer out;
    fmt::memory_buffer text;
    json_writer w(out);
    w.begin_object();
    w.key("strata.version");
    w.value(static_cast<std::int64_t>(json_schema_version));
    w.key("strata.is_bug");
    w.value(!top || !top->layer->user_facing);
    w.key("strata.origins");
    w.begin_array();
    w.begin_object();
    w.key("host");
    w.value("(withheld)");
    w.key("pid");
    w.value(std::int64_t{0});
    w.key("thread");
    w.value(std::int64_t{0});
    w.key("time");
    w.value(utc_now_text(std::chrono::system_clock::now()));
    w.end_object();
    w.end_array();
    w.key("strata.frames");
    w.begin_array();
    // A frame's ID (the outermost only) and origin, and its end.
    auto end_frame = [&](const frame* at) {
        if (at == top && !id.empty()) {
            w.key("id");
            w.value(id);
        }
        w.key("origin");
        w.value(std::int64_t{0});
        w.end_object();
    };
    const std::size_t most = cut ? 8 : STRATA_FORMAT_MAX_FRAMES;
    const frame* f = top;
    for (std::size_t n = 0; f && f->layer->user_facing && n < most; f = f->inner, ++n) {
        w.begin_object();
        write_layer(w, *f->layer);
        w.key("message");
        text.clear();
        put_message(text, f, true);
        std::string_view m(text.data(), text.size());
        if (cut && m.size() > 256) m = m.substr(0, 256);
        w.value(m);
        end_frame(f);
    }
    if (f || !top) {
        w.begin_object();
        write_layer(w, layer_info_of<withheld>);
        w.key("message");
        w.value(cut ? "the server kept the details to itself (too large for the status)"
                    : "the server kept the details to itself");
        end_frame(f);
    }
    w.end_array();
    w.end_object();
    return std::string(out.data(), out.size());
}

// google.rpc.Status { code, message, details: [ErrorInfo, strata.v1.Error] }.
inline std::string grpc_details(int code, std::string_view message, const frame* top, std::string_view id,
                                std::string_view json) {
    std::string info;  // google.rpc.ErrorInfo
    pb::put_bytes(info, 1, !top || !top->layer->user_facing ? std::string_view("BUG") : std::string_view("KNOWN_EDGE_CASE"));
    pb::put_bytes(info, 2, grpc_error_domain);
    if (!id.empty()) {
        std::string entry;
        pb::put_bytes(entry, 1, "id");
        pb::put_bytes(entry, 2, id);
        pb::put_bytes(info, 3, entry);
    }
    std::string any;
    pb::put_bytes(any, 1, "type.googleapis.com/google.rpc.ErrorInfo");
    pb::put_bytes(any, 2, info);
    std::string err;  // strata.v1.Error
    pb::put_bytes(err, 1, json);
    std::string any2;
    pb::put_bytes(any2, 1, grpc_error_type);
    pb::put_bytes(any2, 2, err);
    std::string status;
    if (code) pb::put_uint(status, 1, static_cast<std::uint64_t>(code));
    pb::put_bytes(status, 2, message);
    pb::put_bytes(status, 3, any);
    pb::put_bytes(status, 3, any2);
    return status;
}

// `s` cut to at most `most` bytes, at a UTF-8 character's start.
inline void cut_utf8(std::string& s, std::size_t most) {
    if (s.size() <= most) return;
    std::size_t n = most;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
    s.resize(n);
}

// A status message from a peer, as kept in an error: at most grpc_max_message
// bytes. (grpc::Status::error_message() returns a copy: keep it while this is used.)
inline std::string_view peer_text(const std::string& s) noexcept {
    return std::string_view(s).substr(0, grpc_max_message);
}
inline std::string_view peer_text(std::string&&) = delete;  // a view into a temporary

// The error for a status with no strata error in it (or none that decodes).
inline error plain_status_error(const ::grpc::Status& s, std::string_view op, location where) noexcept {
    const int code = static_cast<int>(s.error_code());
    const std::string_view name = grpc_code_name(code);
    const std::string message = s.error_message();
    const std::string_view msg = peer_text(message);
    // canceled and timed_out are user-facing: the peer's own text is kept
    // only as a misc entry, which is never sent on to a peer that is not trusted.
    error e;
    if (code == ::grpc::StatusCode::DEADLINE_EXCEEDED)
        e = frame_at<timed_out>(where, {}, nullptr, "{}: no reply within the call's deadline", op);
    else if (code == ::grpc::StatusCode::CANCELLED)
        e = frame_at<canceled>(where, {}, nullptr, "{} was canceled", op);
    else
        e = frame_at<grpc_status>(where, {}, nullptr, "{} failed with gRPC status {} ({}): {}", op, name, code, msg);
    e.with("grpc_code", static_cast<long long>(code));
    if (code == ::grpc::StatusCode::DEADLINE_EXCEEDED || code == ::grpc::StatusCode::CANCELLED)
        e.with("grpc_message", msg);
    return e;
}

}  // namespace detail

// The status a gRPC server returns for `e` (see the top of this file). The code
// comes from the outermost layer: canceled is CANCELLED (DEADLINE_EXCEEDED when
// a deadline stopped it), timed_out DEADLINE_EXCEEDED, a layer's own
// `grpc_code`, a known edge case without one UNKNOWN (or the code of a
// user-facing frame below it), a bug INTERNAL. The message is what handle()
// tells a user: "[ID] message" (a bug: "[ID] There was an unexpected issue;
// please report this as a bug."). An empty error is a bug. Never throws: out of
// memory, the status has the code and as much as could be made.
[[nodiscard]] inline ::grpc::Status to_grpc_status(const error& e, const grpc_options& options = {}) noexcept {
    const detail::frame* top = detail::access::get(e);
    const int code = detail::status_code_of(top);
#if STRATA_HAS_EXCEPTIONS
    try {
#endif
        report rep;
        if (options.log) {
            rep = handle(e, options.handle);
        } else {
            detail::mark_checked(top);
            rep.is_bug = !top || !top->layer->user_facing;
            if (top) rep.id = detail::frame_id(top);
            rep.user_message = detail::user_message_of(top, options.handle);
        }
        // UTF-8, as google.rpc.Status's message must be (a parser in another
        // language rejects the details otherwise), and cut to the most sent.
        std::string message = detail::valid_utf8(rep.id.empty() ? rep.user_message : fmt::format("{}", rep));
        detail::cut_utf8(message, grpc_max_sent_message);
        // gRPC sends the message twice (grpc-message, and in the details).
        auto fits = [&](const std::string& details) { return details.size() + message.size() <= options.max_details; };
        std::string details;
        if (options.trusted_peer) {
            details = detail::grpc_details(code, message, top, rep.id, to_json(e));
            if (!fits(details)) {
                fmt::memory_buffer out;
                detail::encode_to(out, e, nullptr, nullptr, false);
                details = detail::grpc_details(code, message, top, rep.id, std::string_view(out.data(), out.size()));
            }
        }
        if (details.empty() || !fits(details))
            details = detail::grpc_details(code, message, top, rep.id, detail::withheld_json(top, rep.id, false));
        if (!fits(details))
            details = detail::grpc_details(code, message, top, rep.id, detail::withheld_json(top, rep.id, true));
        if (!fits(details)) details.clear();  // a budget too small for any: the code and the message alone
        return ::grpc::Status(static_cast<::grpc::StatusCode>(code), std::move(message), std::move(details));
#if STRATA_HAS_EXCEPTIONS
    } catch (...) {
        // Out of memory: the code alone (an empty string allocates nothing).
        return ::grpc::Status(static_cast<::grpc::StatusCode>(code), std::string());
    }
#endif
}

// The error a failed call's status carries, rebuilt here: for a strata server,
// its error as from_json rebuilds it (layers by name, so is<L>() works; the
// server's ID, so handle() here logs under it and shows it; frames, misc, stacks
// and origin as far as the server sent them). A status without a strata error
// (a server that is not strata, or gRPC itself) is an error naming the code and
// the message: canceled for CANCELLED, timed_out for DEADLINE_EXCEEDED,
// grpc_status otherwise. Details that claim a strata error but do not decode
// (bad or hostile) give a bad_grpc_details error saying what is wrong, with the
// status's code and message; never a crash, and memory bounded as from_json's.
// An OK status gives an empty error. Never throws.
[[nodiscard]] inline error from_grpc_status(const ::grpc::Status& s, const from_grpc_options& options = {},
                                            location where = location::current()) noexcept {
    if (s.ok()) return {};
    const std::string_view op = options.operation.empty() ? std::string_view("the call") : options.operation;
    const std::string details = s.error_details();  // a copy, as grpc::Status returns it
    const std::string message = s.error_message();
    if (details.empty()) return detail::plain_status_error(s, op, where);
    auto bad = [&](std::string_view why, std::size_t at, error inner = {}) noexcept {
        error e = detail::frame_at<bad_grpc_details>(
            where, std::move(inner), nullptr, "{}: the status details are not a strata error: {} (at byte {} of {})", op,
            why, at, details.size());
        e.with("grpc_code", static_cast<long long>(s.error_code()));
        e.with("grpc_message", detail::peer_text(message));
        return e;
    };
    if (details.size() > grpc_max_details) return bad("they are larger than strata reads", grpc_max_details);
    // google.rpc.Status: the strata.v1.Error among its details, if any.
    detail::pb::reader status(details);
    std::uint32_t field = 0, wire = 0;
    std::uint64_t v = 0;
    std::string_view bytes;
    std::string_view json;
    bool found = false;
    while (status.next(field, wire, v, bytes)) {
        if (field != 3 || wire != 2) continue;
        detail::pb::reader any(bytes);
        std::string_view type, value;
        while (any.next(field, wire, v, bytes)) {
            if (wire != 2) continue;
            if (field == 1) type = bytes;
            if (field == 2) value = bytes;
        }
        if (any.problem) return bad(any.problem, status.offset());
        if (type != grpc_error_type) continue;
        if (found) return bad("it holds two strata errors", status.offset());
        detail::pb::reader err(value);
        bool has_json = false;
        while (err.next(field, wire, v, bytes))
            if (field == 1 && wire == 2) {
                json = bytes;
                has_json = true;
            }
        if (err.problem) return bad(err.problem, status.offset());
        if (!has_json) return bad("its strata.v1.Error has no json", status.offset());
        found = true;
    }
    if (status.problem) return bad(status.problem, status.offset());
    if (!found) {
        // Details of someone else's (google.rpc.BadRequest, ...): a plain status.
        return detail::plain_status_error(s, op, where);
    }
    result<error> decoded = from_json(json, where);
    if (!decoded) return bad("its JSON does not decode", details.size(), std::move(decoded).error());
    // A failed call is never a success, whatever the peer encoded.
    if (decoded->empty()) return bad("its strata error is empty", details.size());
    return std::move(*decoded);
}

namespace detail {

// grpc_serve's watch of the caller: the deadline (an entry of the process's
// timer at the caller's deadline) and cancellation (gRPC's sync API says it only
// when asked: ServerContext::IsCancelled, asked every `poll`).
struct caller_watch {
    // How far apart two ends of the same deadline may be seen and still be one.
    static constexpr std::chrono::milliseconds deadline_slack{10};
    struct deadline_entry : timer_entry {
        caller_watch* w;
    } at_deadline;
    struct poll_entry : timer_entry {
        caller_watch* w;
    } poll;
    ::grpc::ServerContextBase* ctx = nullptr;
    scope* sc = nullptr;
    location where;
    long long limit_ms = 0;
    steady::time_point deadline = steady::time_point::max();
    steady::duration every{};

    void stop_for_deadline() noexcept {
        sc->stop((limit_ms > 0 ? frame_at<timed_out>(where, {}, nullptr, "caller's deadline of {} ms passed", limit_ms)
                               : frame_at<timed_out>(where, {}, nullptr,
                                                     "caller's deadline had passed when the call arrived"))
                     .with("stop_reason", stop_reasons::caller_deadline)
                     .with("timeout_ms", limit_ms));
    }
    static void expire(timer_entry* e) noexcept { static_cast<deadline_entry*>(e)->w->stop_for_deadline(); }
    static void check(timer_entry* e) noexcept {
        caller_watch& w = *static_cast<poll_entry*>(e)->w;
        if (w.sc->stop_requested()) return;
        if (w.ctx->IsCancelled()) {
            // The caller's gRPC ends the call at its deadline with the same
            // cancellation TryCancel sends, and the server's copy of that
            // deadline runs late by the request's trip (the timeout travels,
            // not the time) and gRPC's rounding of it: a cancellation in the
            // last tenth of the timeout (at least deadline_slack) is read as
            // the deadline.
            const steady::duration near =
                std::max<steady::duration>(deadline_slack, std::chrono::milliseconds(w.limit_ms) / 10);
            if (steady::now() + near >= w.deadline)
                w.stop_for_deadline();
            else
                w.sc->stop(frame_at<canceled>(w.where, {}, nullptr, "caller canceled")
                               .with("stop_reason", stop_reasons::caller_canceled));
            return;
        }
        timer_arm(&w.poll, (steady::now() + w.every).time_since_epoch().count());
    }
};

}  // namespace detail

// Options of grpc_serve().
struct grpc_serve_options {
    // How a failure is sent (and logged: by default handle() logs it here).
    grpc_options status{};
    // How often to ask gRPC whether the caller canceled (its sync API says so
    // only when asked). Zero: never (then only the deadline stops the work).
    std::chrono::milliseconds cancel_poll{5};
};

// Runs a gRPC handler's work, fn(stop_token) returning result<void>, on the
// calling thread (the handler's), in a strata scope whose token is stopped when
// the caller's deadline passes (cause: timed_out "caller's deadline of N ms
// passed", N as the server saw it when the call arrived) or the caller cancels
// (canceled "caller canceled"; one in the last tenth of the caller's timeout
// is read as its deadline, which looks the same on the wire); stop_cause(token)
// and canceled_by(token) say which. Scopes started inside (with_timeout,
// groups, first_of, grpc_call to another server) nest under it, so they stop
// too, and grpc_call passes the deadline on. A failure (or an exception fn
// throws) becomes the status to_grpc_status makes, logged here by handle()
// under the ID the caller gets. A call whose deadline has passed when it
// arrives does not run fn. No thread: the deadline and the cancellation check
// are entries of the process's timer.
template <detail::stoppable_task F>
    requires std::is_same_v<detail::task_result_t<F>, result<void>>
[[nodiscard]] ::grpc::Status grpc_serve(::grpc::ServerContextBase& ctx, F&& fn, const grpc_serve_options& options = {},
                                        location where = location::current()) noexcept {
    using detail::steady;
    detail::scope sc(where, detail::parent_scope(), detail::scope::link::nest);
    detail::caller_watch w;
    w.ctx = &ctx;
    w.sc = &sc;
    w.where = where;
    // The caller's deadline as gRPC keeps it (gpr_timespec: deadlines past
    // 2262, which std::chrono's nanoseconds cannot hold, and "none"), as the
    // time left, cut to with_timeout's longest.
    const gpr_timespec raw = ctx.raw_deadline();
    bool timed = false;
    if (gpr_time_cmp(raw, gpr_inf_future(raw.clock_type)) != 0) {
        const gpr_timespec now = gpr_now(raw.clock_type);
        std::int64_t left_ns = 0;
        if (gpr_time_cmp(raw, now) > 0) {
            const double us = gpr_timespec_to_micros(gpr_time_sub(raw, now));
            const double longest = std::chrono::duration<double, std::micro>(detail::longest_timeout).count();
            left_ns = static_cast<std::int64_t>(std::min(us, longest) * 1000.0);
        }
        const std::chrono::nanoseconds left(left_ns);
        // "of 1 ms" for what is left of less than a millisecond.
        w.limit_ms = left_ns <= 0 ? 0 : std::max<long long>(1, std::chrono::duration_cast<std::chrono::milliseconds>(left).count());
        w.deadline = steady::now() + std::chrono::duration_cast<steady::duration>(left);
        sc.tighten_deadline(w.deadline);
        if (left_ns <= 0) {
            w.stop_for_deadline();
        } else {
            w.at_deadline.w = &w;
            w.at_deadline.fire = &detail::caller_watch::expire;
            timed = detail::timer_arm(&w.at_deadline, w.deadline.time_since_epoch().count());
            if (!timed)
                // Nothing could stop fn at the deadline, so it is not called.
                sc.stop(detail::frame_at<timed_out>(where, {}, nullptr,
                                                    "the timer for the caller's deadline of {} ms could not be armed "
                                                    "(out of memory, or no thread for the timer)",
                                                    w.limit_ms));
        }
    }
    bool polled = false;
    if (options.cancel_poll.count() > 0 && !sc.stop_requested()) {
        w.every = options.cancel_poll;
        w.poll.w = &w;
        w.poll.fire = &detail::caller_watch::check;
        polled = detail::timer_arm(&w.poll, (steady::now() + w.every).time_since_epoch().count());
    }
    result<void> r;
    if (sc.stop_requested()) {
        r = failure(sc.cause());
    } else {
        detail::task_context_guard in_task(sc);
        r = detail::call_task(fn, sc.token());
    }
    if (timed) detail::timer_cancel(&w.at_deadline);
    if (polled) detail::timer_cancel(&w.poll);
    if (r) return ::grpc::Status::OK;
    return to_grpc_status(r.error(), options.status);
}

// Options of grpc_call().
struct grpc_call_options {
    // Names the call in the errors made here ("storage.Get"); by default "the call".
    std::string_view operation{};
};

// Makes a gRPC call, call(ctx) returning grpc::Status (a stub's synchronous
// method), as part of the strata work running on this thread: the call gets
// that work's deadline (with_timeout's, or the nearest of the scopes around it,
// if earlier than the one ctx has) and is canceled (ClientContext::TryCancel)
// when that work is stopped. Returns the server's error (from_grpc_status) when
// the call fails; when the work was stopped, a canceled error here whose
// secondary "stopped because" says why (stop_cause), with the call's status as
// misc entries. Outside strata work, only the status is translated.
template <class F>
    requires std::is_same_v<std::invoke_result_t<F&, ::grpc::ClientContext&>, ::grpc::Status>
[[nodiscard]] result<void> grpc_call(::grpc::ClientContext& ctx, F&& call, const grpc_call_options& options = {},
                                     location where = location::current()) {
    using detail::steady;
    detail::scope* sc = detail::parent_scope();
    const std::string_view op = options.operation.empty() ? std::string_view("the call") : options.operation;
    // On the work's stop, the call is canceled, unless the stop is the deadline
    // the call has too (within 10 ms): then gRPC ends it at that deadline, and
    // the server sees its caller's deadline pass rather than a cancellation.
    struct try_cancel {
        ::grpc::ClientContext* ctx;
        steady::time_point deadline;
        void operator()() const noexcept {
            if (steady::now() + detail::caller_watch::deadline_slack < deadline) ctx->TryCancel();
        }
    };
    std::optional<std::stop_callback<try_cancel>> cancel;
    if (sc) {
        const steady::time_point d = sc->deadline();
        steady::time_point call_deadline = steady::time_point::max();
        const auto now = std::chrono::system_clock::now();
        if (ctx.deadline() != std::chrono::system_clock::time_point::max())
            call_deadline = steady::now() + std::chrono::duration_cast<steady::duration>(ctx.deadline() - now);
        if (d < call_deadline) {
            ctx.set_deadline(now + std::chrono::duration_cast<std::chrono::system_clock::duration>(d - steady::now()));
            call_deadline = d;
        }
        if (sc->stop_requested())
            return failure(detail::canceled_frame(sc->token(), where, "{} was not made: the work was stopped",
                                                  fmt::make_format_args(op), detail::stack_buffer{}));
        cancel.emplace(sc->token(), try_cancel{&ctx, call_deadline});
    }
    const ::grpc::Status s = call(ctx);
    cancel.reset();
    if (s.ok()) return {};
    const bool ended_by_stop =
        s.error_code() == ::grpc::StatusCode::CANCELLED || s.error_code() == ::grpc::StatusCode::DEADLINE_EXCEEDED;
    if (sc && sc->stop_requested() && ended_by_stop && s.error_details().empty()) {
        const std::string message = s.error_message();
        // The work was stopped, and gRPC ended the call for it: the stop is the story.
        const std::string_view name = detail::grpc_code_name(static_cast<int>(s.error_code()));
        return failure(detail::canceled_frame(sc->token(), where, "{} was canceled ({})", fmt::make_format_args(op, name),
                                              detail::stack_buffer{})
                           .with("grpc_code", static_cast<long long>(s.error_code()))
                           .with("grpc_message", detail::peer_text(message)));
    }
    return failure(from_grpc_status(s, {.operation = op}, where));
}

}  // namespace strata
