// strata/json.hpp: errors as JSON, to cross process and machine boundaries.
//
//   std::string text = strata::to_json(e);                 // in the worker
//   strata::result<strata::error> r = strata::from_json(text);  // in the parent
//
// The schema (version 1) is documented in docs/json-schema.md. After a round trip
// is<L>(), find<L>(), handle()'s decision and the {:c} chain text are the same in
// the receiving process; a layer the receiver does not know passes through by
// name, user-facing or not as the sender said, and is encoded again unchanged.
// Sensitive values leave the process only as their hashes. Bad input gives a
// failed result (layer strata::bad_json) that says what is wrong and where; never a
// crash, and memory bounded by the input's size.
//
// Not part of <strata/strata.hpp>: nlohmann/json costs more to compile than all of
// strata, so only the files that encode or decode pay for it. strata writes the
// text itself and reads it with nlohmann's parser into a small tree of its own:
// nothing either does needs memory to free what it built, so running out of
// memory gives an empty string or a failed result, never a terminate.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "error.hpp"
#include "format.hpp"
#include "handle.hpp"
#include "origin.hpp"
#include "result.hpp"

namespace strata {

// The version of the schema to_json writes and from_json reads.
STRATA_MODULE_LOCAL inline constexpr int json_schema_version = 1;

// The layer of from_json's failures: the input was not an encoded strata error.
// Not user-facing: a peer that sends bad input is a bug.
struct bad_json {
    static constexpr std::string_view name = "bad_json";
};

// Limits on what from_json accepts, beyond which it fails rather than allocate.
STRATA_MODULE_LOCAL inline constexpr std::size_t json_max_input = 64u << 20;       // bytes
STRATA_MODULE_LOCAL inline constexpr std::size_t json_max_nesting = 8;              // the schema needs 5
STRATA_MODULE_LOCAL inline constexpr std::size_t json_max_frames = 1u << 20;        // frames in one chain
STRATA_MODULE_LOCAL inline constexpr std::size_t json_max_values = 2'000'000;       // values in one document
STRATA_MODULE_LOCAL inline constexpr std::size_t json_max_secondaries = 4096;       // secondary errors\' chains in one document

namespace detail {

using djson = nlohmann::json;  // its SAX parser only: strata builds its own tree

// cancel.hpp's layers, matched by name and flag without including it.
struct canceled_probe {
    static constexpr std::string_view name = "canceled";
    static constexpr bool user_facing = true;
    static constexpr int grpc_code = 1;
};
struct timed_out_probe {
    static constexpr std::string_view name = "timed_out";
    static constexpr bool user_facing = true;
    static constexpr int grpc_code = 4;
};

// The static record of a layer strata defines itself, if `name` and the flags are
// one; nullptr otherwise (the decoded frame then carries its own record).
STRATA_MODULE_LOCAL inline const layer_info* builtin_layer(std::string_view name, bool user_facing, bool is_cause,
                                                           bool show_cause, int grpc_code) noexcept {
    static const layer_info* const builtin[] = {
        &layer_info_of<untagged>,       &layer_info_of<low_level>,       &layer_info_of<intermediate>,
        &layer_info_of<canceled_probe>, &layer_info_of<timed_out_probe>, &error_code_cause,
        &exception_cause,               &value_cause};
    for (const layer_info* l : builtin)
        if (l->name == name && l->user_facing == user_facing && l->is_cause == is_cause && l->show_cause == show_cause &&
            // a peer from before grpc_code (or that leaves it out) means the layer's own
            (l->grpc_code == grpc_code || grpc_code < 0))
            return l;
    return nullptr;
}

inline std::string utc_now_text(std::chrono::system_clock::time_point t) {
    fmt::memory_buffer b;
    put_utc(b, t);
    return std::string(b.data(), b.size());
}

// The symbolized lines of a frame's stack ("function at file:line"), as {:v} shows them.
inline std::string symbolized_lines(const frame* f) {
    fmt::memory_buffer b;
    for_each_shown(stack_view(f->pcs(), f->n_pcs), [&](const symbol& s, std::uintptr_t pc) {
        put_symbol(b, s, pc);
        put(b, '\n');
    });
    return std::string(b.data(), b.size());
}

// The length of the well-formed UTF-8 sequence at p (RFC 3629: no overlong
// forms, no surrogates, nothing above U+10FFFF), or 0.
inline std::size_t utf8_length(const unsigned char* p, std::size_t left) noexcept {
    const unsigned char c = p[0];
    std::size_t len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        return 0;
    }
    if (left < len) return 0;
    if (p[1] < lo || p[1] > hi) return 0;
    for (std::size_t k = 2; k < len; ++k)
        if (p[k] < 0x80 || p[k] > 0xBF) return 0;
    return len;
}

// `s` with every byte that is not part of well-formed UTF-8 replaced by U+FFFD,
// for a place that must be UTF-8 (a protobuf string; json_writer does the same
// as it escapes).
inline std::string valid_utf8(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    for (std::size_t i = 0; i < s.size();) {
        const std::size_t len = p[i] < 0x80 ? 1 : utf8_length(p + i, s.size() - i);
        if (len == 0) {
            out += "\xEF\xBF\xBD";
            ++i;
        } else {
            out.append(s.data() + i, len);
            i += len;
        }
    }
    return out;
}

// JSON text, written straight into a buffer: no document is built, so nothing
// needs memory to be freed when memory runs out halfway.
class json_writer {
public:
    explicit json_writer(fmt::memory_buffer& out) : out_(out) {}

    void begin_object() { open('{'); }
    void end_object() { close('}'); }
    void begin_array() { open('['); }
    void end_array() { close(']'); }
    void key(std::string_view k) {
        comma();
        string_text(k);
        out_.push_back(':');
        need_comma_ = false;
    }
    void value(std::string_view s) {
        comma();
        string_text(s);
        need_comma_ = true;
    }
    void value(const char* s) { value(std::string_view(s)); }
    void value(bool b) { raw(b ? "true" : "false"); }
    void value(std::int64_t i) { number(i); }
    void value(std::uint64_t u) { number(u); }
    void value(double d) {
        if (std::isnan(d))
            value("nan");
        else if (std::isinf(d))
            value(d > 0 ? "inf" : "-inf");
        else
            real(d);
    }

private:
    template <class N>
    void number(N n) {
        comma();
        fmt::format_to(fmt::appender(out_), "{}", n);
        need_comma_ = true;
    }
    // fmt's shortest text that reads back as the same double, always with a point
    // or an exponent, so that it reads back as a double (-0.0, 2.0).
    void real(double d) {
        comma();
        const std::size_t at = out_.size();
        fmt::format_to(fmt::appender(out_), "{}", d);
        if (std::string_view(out_.data() + at, out_.size() - at).find_first_of(".e") == std::string_view::npos)
            put(out_, ".0");
        need_comma_ = true;
    }
    void raw(std::string_view text) {
        comma();
        put(out_, text);
        need_comma_ = true;
    }
    void open(char c) {
        comma();
        out_.push_back(c);
        need_comma_ = false;
    }
    void close(char c) {
        out_.push_back(c);
        need_comma_ = true;
    }
    void comma() {
        if (need_comma_) out_.push_back(',');
    }

    // A JSON string: quotes, backslashes and control characters escaped; bytes
    // that are not valid UTF-8 become U+FFFD, so that the text is always valid.
    STRATA_MODULE_LOCAL void string_text(std::string_view s) {
        static constexpr char hex[] = "0123456789abcdef";
        out_.push_back('"');
        const auto* p = reinterpret_cast<const unsigned char*>(s.data());
        const std::size_t n = s.size();
        for (std::size_t i = 0; i < n;) {
            const unsigned char c = p[i];
            if (c < 0x80) {
                switch (c) {
                    case '"': put(out_, "\\\""); break;
                    case '\\': put(out_, "\\\\"); break;
                    case '\n': put(out_, "\\n"); break;
                    case '\r': put(out_, "\\r"); break;
                    case '\t': put(out_, "\\t"); break;
                    case '\b': put(out_, "\\b"); break;
                    case '\f': put(out_, "\\f"); break;
                    default:
                        if (c < 0x20) {
                            const char esc[] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                            out_.append(esc, esc + 6);
                        } else {
                            out_.push_back(static_cast<char>(c));
                        }
                }
                ++i;
                continue;
            }
            const std::size_t len = utf8_length(p + i, n - i);
            if (len == 0) {
                put(out_, "\xEF\xBF\xBD");  // U+FFFD for one bad byte
                ++i;
            } else {
                out_.append(s.data() + i, s.data() + i + len);
                i += len;
            }
        }
        out_.push_back('"');
    }

    fmt::memory_buffer& out_;
    bool need_comma_ = false;
};

inline void write_lines(json_writer& w, std::string_view lines) {
    w.begin_array();
    for_each_line(lines, [&](std::string_view line) { w.value(line); });
    w.end_array();
}

inline void write_misc(json_writer& w, const misc_node* n) {
    w.begin_object();
    w.key("key");
    w.value(n->key);
    const misc_value& v = n->value;
    if (v.is_sensitive()) {
        fmt::memory_buffer b;
        put_misc_value(b, v, true);
        w.key("type");
        w.value("string");
        w.key("value");
        w.value(std::string_view(b.data(), b.size()));
    } else {
        w.key("type");
        switch (v.type()) {
            case misc_value::kind::string:
                w.value("string");
                w.key("value");
                w.value(v.as_string());
                break;
            case misc_value::kind::signed_integer:
                w.value("int");
                w.key("value");
                w.value(v.as_signed());
                break;
            case misc_value::kind::unsigned_integer:
                w.value("uint");
                w.key("value");
                w.value(v.as_unsigned());
                break;
            case misc_value::kind::floating_point:
                w.value("float");
                w.key("value");
                w.value(v.as_double());
                break;
            case misc_value::kind::boolean:
                w.value("bool");
                w.key("value");
                w.value(v.as_bool());
                break;
        }
    }
    w.end_object();
}

// The ID handle() gave frame f (the sender's, for a frame that was decoded or
// wraps a decoded one, as handle() reports it), if it gave one.
// A frame's layer: its name and the flags it has (show_cause, grpc_code only when set).
inline void write_layer(json_writer& w, const layer_info& l) {
    w.key("layer");
    w.value(l.name);
    w.key("user_facing");
    w.value(l.user_facing);
    if (l.show_cause) {
        w.key("show_cause");
        w.value(true);
    }
    if (l.grpc_code >= 0) {
        w.key("grpc_code");
        w.value(static_cast<std::int64_t>(l.grpc_code));
    }
}

inline std::string frame_id(const frame* f) {
    if (const decoded_frame* d = decoded_of(f); d && !d->id.empty()) return d->id;
    assigned_id given{};
    if (!reported_id(f, given)) return {};
    if (const decoded_frame* sent = sender_with_id(f->inner)) return sent->id;
    std::string id;
    format_id(id, given);
    return id;
}

// The time string just written (its characters before the closing quote) is a
// slot for the record's stamp.
inline void note_time_slot(unstamped* slots, const fmt::memory_buffer& out, std::size_t size) noexcept {
    if (slots && out.size() >= size + 1) slots->note_time(out.size() - 1 - size, size);
}

// The error as JSON into `out`. With a record (the one-line form): the record's
// fields first, then to_json's, strata.id always present (the record's), and
// this process's origin the record's host, pid, thread and time; the times are
// noted in `slots`, for handle() to stamp. Without `stacks`, no stack is
// written (grpc.hpp's form for a peer whose metadata limit the stacks pass).
inline void encode_to(fmt::memory_buffer& out, const error& e, const log_record* rec = nullptr,
                      unstamped* slots = nullptr, bool stacks = true) {
    const frame* top = access::get(e);
    json_writer w(out);
    fmt::memory_buffer text;
    std::string record_time;
    w.begin_object();
    if (rec) {
        record_time = utc_now_text(rec->time);
        w.key("strata.time");
        w.value(record_time);
        note_time_slot(slots, out, record_time.size());
        w.key("strata.id");
        w.value(rec->id);
        w.key("strata.decision");
        w.value(rec->rep.is_bug ? "bug" : "known edge case");
        w.key("strata.user_message");
        w.value(rec->rep.user_message);
        w.key("strata.host");
        w.value(rec->host);
        w.key("strata.pid");
        w.value(static_cast<std::int64_t>(rec->pid));
        w.key("strata.thread");
        w.value(static_cast<std::int64_t>(rec->thread));
    }
    w.key("exception.type");
    w.value(top ? top->layer->name : std::string_view("(no error)"));
    w.key("exception.message");
    if (top) put_message(text, top, true);
    w.value(std::string_view(text.data(), text.size()));

    // The origin stack: the innermost one captured, as {:v} shows it.
    const frame* origin_frame = nullptr;
    for (const frame* f = top; f; f = f->inner) {
        const decoded_frame* d = decoded_of(f);
        if (d ? d->has_stack : f->n_pcs != 0) origin_frame = f;
    }
    std::string origin_lines;
    if (!stacks) origin_frame = nullptr;
    if (origin_frame) {
        const decoded_frame* d = decoded_of(origin_frame);
        origin_lines = d ? d->symbolized : symbolized_lines(origin_frame);
        text.clear();
        std::size_t n = 0;
        for_each_line(origin_lines, [&](std::string_view line) { put(text, n++, "# ", line, '\n'); });
        w.key("exception.stacktrace");
        w.value(std::string_view(text.data(), text.size()));
    }
    w.key("strata.version");
    w.value(static_cast<std::int64_t>(json_schema_version));
    w.key("strata.is_bug");
    w.value(!top || !top->layer->user_facing);
    w.key("strata.chain");
    text.clear();
    write_chain(text, e, true);
    w.value(std::string_view(text.data(), text.size()));
    if (top && !rec) {
        if (const std::string id = frame_id(top); !id.empty()) {
            w.key("strata.id");
            w.value(id);
        }
    }

    // The secondary errors' chains, in the order a walk meets them: the main
    // chain's frames first, then each secondary chain's in turn (so a chain's own
    // secondaries always come after it). Each occurrence is a chain of its own;
    // past json_max_secondaries chains or json_max_frames frames in all, the rest
    // are left out.
    std::vector<const frame*> chains;
    std::size_t n_frames = 0;
    for (const frame* f = top; f; f = f->inner) ++n_frames;
    bool full = false;  // from the first chain left out on, all the rest are
    auto gather = [&](const frame* from) {
        for (const frame* f = from; f && !full; f = f->inner)
            for (const secondary_node* n = f->secondaries; n && !full; n = n->next) {
                std::size_t depth = 0;
                for (const frame* g = n->err; g; g = g->inner) ++depth;
                full = chains.size() >= json_max_secondaries || n_frames + depth > json_max_frames;
                if (full) return;
                n_frames += depth;
                chains.push_back(n->err);
            }
    };
    gather(top);
    for (std::size_t k = 0; k < chains.size(); ++k) gather(chains[k]);

    // Origins: this process (for frames made here) and each decoded one, in the
    // order the chains meet them.
    std::vector<const origin*> origins;
    std::unordered_map<const origin*, std::size_t> index_of;  // a peer may send one origin a frame
    auto origin_index = [&](const origin* o) {
        const auto [it, added] = index_of.emplace(o, origins.size());
        if (added) origins.push_back(o);
        return it->second;
    };
    std::vector<std::size_t> frame_origin;
    auto note_origins = [&](const frame* from) {
        for (const frame* f = from; f; f = f->inner) {
            const decoded_frame* d = decoded_of(f);
            frame_origin.push_back(origin_index(d ? d->from() : nullptr));
        }
    };
    note_origins(top);
    for (const frame* c : chains) note_origins(c);
    w.key("strata.origins");
    w.begin_array();
    for (const origin* o : origins) {
        w.begin_object();
        if (o) {
            w.key("host");
            w.value(o->host);
            w.key("pid");
            w.value(static_cast<std::int64_t>(o->pid));
            w.key("thread");
            w.value(static_cast<std::int64_t>(o->thread));
            w.key("time");
            w.value(o->time);
        } else if (rec) {
            w.key("host");
            w.value(rec->host);
            w.key("pid");
            w.value(static_cast<std::int64_t>(rec->pid));
            w.key("thread");
            w.value(static_cast<std::int64_t>(rec->thread));
            w.key("time");
            w.value(record_time);
            note_time_slot(slots, out, record_time.size());
        } else {
            w.key("host");
            w.value(host_name());
            w.key("pid");
            w.value(static_cast<std::int64_t>(sys::getpid()));
            w.key("thread");
            w.value(static_cast<std::int64_t>(thread_id()));
            w.key("time");
            w.value(utc_now_text(std::chrono::system_clock::now()));
        }
        w.end_object();
    }
    w.end_array();

    std::size_t index = 0;     // into frame_origin, across all chains
    std::size_t next_ref = 0;  // the next secondary chain's index, in the order gathered
    auto write_frames = [&](const frame* from) {
        w.begin_array();
        for (const frame* f = from; f; f = f->inner, ++index) {
            const decoded_frame* d = decoded_of(f);
            w.begin_object();
            write_layer(w, *f->layer);
            if (f->layer->is_cause) {
                w.key("cause");
                w.value(true);
            }
            w.key("message");
            text.clear();
            put_message(text, f, true);
            w.value(std::string_view(text.data(), text.size()));
            if (!f->detail.empty()) {
                w.key("detail");
                w.value(f->detail);
            }
            if (!f->loc.empty()) {
                w.key("at");
                w.begin_object();
                w.key("file");
                w.value(f->loc.file_name());
                w.key("line");
                w.value(static_cast<std::uint64_t>(f->loc.line()));
                w.key("function");
                w.value(f->loc.function_name());
                w.end_object();
            }
            if (f->misc_head) {
                w.key("misc");
                w.begin_array();
                for (const misc_node* n = f->misc_head; n; n = n->next) write_misc(w, n);
                w.end_array();
            }
            if (f->secondaries && next_ref < chains.size()) {
                w.key("secondaries");
                w.begin_array();
                for (const secondary_node* n = f->secondaries; n && next_ref < chains.size(); n = n->next) {
                    w.begin_object();
                    w.key("label");
                    w.value(n->label);
                    w.key("error");
                    w.value(static_cast<std::uint64_t>(next_ref++));
                    w.end_object();
                }
                w.end_array();
            }
            if (stacks && (d ? d->has_stack : f->n_pcs != 0)) {
                w.key("stack");
                w.begin_object();
                w.key("symbolized");
                write_lines(w, f == origin_frame ? std::string_view(origin_lines)
                                                 : d ? std::string_view(d->symbolized)
                                                     : std::string_view(symbolized_lines(f)));
                w.key("raw");
                w.begin_array();
                const std::size_t n = d ? d->n_raw : f->n_pcs;
                for (std::size_t i = 0; i < n; ++i) {
                    text.clear();
                    put_hex(text, d ? d->raw[i] : f->pcs()[i]);
                    w.value(std::string_view(text.data(), text.size()));
                }
                w.end_array();
                w.key("truncated");
                w.value(d ? d->truncated : (f->flags & stack_truncated) != 0);
                w.end_object();
            }
            if (const std::string id = frame_id(f); !id.empty()) {
                w.key("id");
                w.value(id);
            }
            w.key("origin");
            w.value(static_cast<std::uint64_t>(frame_origin[index]));
            w.end_object();
        }
        w.end_array();
    };
    w.key("strata.frames");
    write_frames(top);
    if (!chains.empty()) {
        // Each secondary chain: its {:c} text (for readers of the log; from_json
        // ignores it) and its frames.
        w.key("strata.secondaries");
        w.begin_array();
        for (const frame* c : chains) {
            w.begin_object();
            w.key("chain");
            text.clear();
            add_ref(const_cast<frame*>(c));
            const error chain = access::adopt(const_cast<frame*>(c));
            drop_checked(c);
            write_chain(text, chain, true);
            w.value(std::string_view(text.data(), text.size()));
            w.key("frames");
            write_frames(c);
            w.end_object();
        }
        w.end_array();
    }
    w.end_object();
}

inline std::string encode(const error& e) {
    fmt::memory_buffer out;
    encode_to(out, e);
    return std::string(out.data(), out.size());
}

// record_form's renderer for the one-line form: the JSON object and a newline.
inline void render_json_line(unstamped& out, const log_record& r) {
    encode_to(out.text, r.err, &r, &out);
    out.text.push_back('\n');
}

// The parsed document: a small tree of strata's own. (nlohmann's own document
// allocates when it is destroyed, which out of memory would terminate.) Built by
// nlohmann's SAX parser, which also checks the syntax and the UTF-8.
struct jnode {
    enum class kind : unsigned char { null, boolean, integer, unsigned_integer, floating, string, array, object };
    kind k = kind::null;
    bool b = false;
    std::int64_t i = 0;
    std::uint64_t u = 0;
    double d = 0;
    std::string text;  // a string's value, or a number's text as written
    std::string key;   // the member's name, in an object
    std::vector<jnode> children;

    bool is_object() const { return k == kind::object; }
    bool is_array() const { return k == kind::array; }
    bool is_string() const { return k == kind::string; }
    bool is_boolean() const { return k == kind::boolean; }
    bool is_number_integer() const { return k == kind::integer || k == kind::unsigned_integer; }
    bool is_number_unsigned() const { return k == kind::unsigned_integer; }
    bool is_number() const { return is_number_integer() || k == kind::floating; }
    std::size_t size() const { return children.size(); }
    bool empty() const { return children.empty(); }
    const jnode& operator[](std::size_t n) const { return children[n]; }
    // The first member of that name, or nullptr.
    const jnode* find(std::string_view name) const {
        for (const jnode& c : children)
            if (c.key == name) return &c;
        return nullptr;
    }
    const char* type_name() const {
        switch (k) {
            case kind::null: return "null";
            case kind::boolean: return "boolean";
            case kind::integer:
            case kind::unsigned_integer:
            case kind::floating: return "number";
            case kind::string: return "string";
            case kind::array: return "array";
            case kind::object: return "object";
        }
        return "value";
    }
    // For messages: a number as written, a string quoted (cut at 40 bytes).
    std::string shown() const {
        if (is_number()) return text;
        if (is_string()) return "\"" + text.substr(0, 40) + (text.size() > 40 ? "...\"" : "\"");
        return type_name();
    }
};

struct jtree_builder : nlohmann::json_sax<djson> {
    jnode root;
    std::vector<jnode*> open;  // the containers being filled, innermost last
    std::string pending_key;
    std::size_t values = 0;
    bool started = false;
    std::string problem;

    jnode* add(jnode::kind k) {
        if (++values > json_max_values) {
            problem = fmt::format("more than {} values", json_max_values);
            return nullptr;
        }
        if (!started) {
            started = true;
            root.k = k;
            return &root;
        }
        jnode& parent = *open.back();
        jnode& n = parent.children.emplace_back();
        n.k = k;
        if (parent.is_object()) n.key = std::move(pending_key);
        return &n;
    }
    bool container(jnode::kind k) {
        if (open.size() >= json_max_nesting) {
            problem = fmt::format("nested deeper than {} levels", json_max_nesting);
            return false;
        }
        jnode* n = add(k);
        if (!n) return false;
        open.push_back(n);
        return true;
    }
    bool null() override { return add(jnode::kind::null) != nullptr; }
    bool boolean(bool v) override {
        jnode* n = add(jnode::kind::boolean);
        if (n) n->b = v;
        return n != nullptr;
    }
    bool number_integer(number_integer_t v) override {
        jnode* n = add(jnode::kind::integer);
        if (!n) return false;
        n->i = v;
        n->text = fmt::format("{}", v);
        return true;
    }
    bool number_unsigned(number_unsigned_t v) override {
        jnode* n = add(jnode::kind::unsigned_integer);
        if (!n) return false;
        n->u = v;
        n->text = fmt::format("{}", v);
        return true;
    }
    bool number_float(number_float_t v, const string_t& written) override {
        jnode* n = add(jnode::kind::floating);
        if (!n) return false;
        n->d = v;
        n->text = written;
        return true;
    }
    bool string(string_t& v) override {
        jnode* n = add(jnode::kind::string);
        if (n) n->text = std::move(v);
        return n != nullptr;
    }
    bool binary(binary_t&) override {
        problem = "binary values are not JSON";
        return false;
    }
    bool start_object(std::size_t) override { return container(jnode::kind::object); }
    bool key(string_t& k) override {
        pending_key = std::move(k);
        return true;
    }
    bool end_object() override {
        open.pop_back();
        return true;
    }
    bool start_array(std::size_t) override { return container(jnode::kind::array); }
    bool end_array() override {
        open.pop_back();
        return true;
    }
    bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& ex) override {
        // nlohmann's what() is "[json.exception.parse_error.101] parse error at line 1, column 5: ..."
        std::string_view what = ex.what();
        if (const auto p = what.find("] "); p != std::string_view::npos) what.remove_prefix(p + 2);
        problem = fmt::format("not valid JSON (byte {}): {}", position, what);
        return false;
    }
};

// Decoding: each check says where it failed, as a path into the document.
class decoder {
public:
    std::string problem;
    std::string path;

    bool fail(std::string_view where, std::string what) {
        if (problem.empty()) {
            path.assign(where);
            problem = std::move(what);
        }
        return false;
    }

    static const char* type_of(const jnode& v) { return v.type_name(); }

    // A report ID a peer sends: handle() here reports under it and shows it in
    // "[ID] message", so it is plain (no brackets, spaces or line breaks).
    static bool id_text(std::string_view id) noexcept {
        if (id.empty() || id.size() > 128) return false;
        for (char c : id)
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                  c == '.' || c == ':'))
                return false;
        return true;
    }

    // Text the receiver puts into its own records' headers: no line breaks or
    // other control characters, so a peer cannot forge a log line.
    static bool one_line(std::string_view s, std::size_t min, std::size_t max) {
        return s.size() >= min && s.size() <= max && !has_control(s);
    }

    enum class want { object, array, string, boolean, integer, number };

    static bool is(const jnode& v, want w) {
        switch (w) {
            case want::object: return v.is_object();
            case want::array: return v.is_array();
            case want::string: return v.is_string();
            case want::boolean: return v.is_boolean();
            case want::integer: return v.is_number_integer();
            case want::number: return v.is_number();
        }
        return false;
    }

    static const char* want_name(want w) {
        switch (w) {
            case want::object: return "an object";
            case want::array: return "an array";
            case want::string: return "a string";
            case want::boolean: return "a boolean";
            case want::integer: return "an integer";
            case want::number: return "a number";
        }
        return "a value";
    }

    // The member `key` of `obj`, which must be of the given kind; nullptr (and a
    // problem) when it is missing or of another type, unless optional.
    const jnode* member(const jnode& obj, const char* key, want w, const std::string& where, bool optional = false) {
        const jnode* v = obj.find(key);
        if (!v) {
            if (!optional) fail(where, fmt::format("missing \"{}\"", key));
            return nullptr;
        }
        if (!is(*v, w)) {
            fail(where + "." + key, fmt::format("expected {}, got {}", want_name(w), type_of(*v)));
            return nullptr;
        }
        return v;
    }

    const std::string* string_member(const jnode& obj, const char* key, const std::string& where,
                                     bool optional = false) {
        const jnode* v = member(obj, key, want::string, where, optional);
        return v ? &v->text : nullptr;
    }

    bool integer_member(const jnode& obj, const char* key, const std::string& where, std::int64_t lo,
                        std::int64_t hi, std::int64_t& out, bool optional = false) {
        const jnode* v = member(obj, key, want::integer, where, optional);
        if (!v) return optional && problem.empty();
        if (v->is_number_unsigned() && v->u > static_cast<std::uint64_t>(hi))
            return fail(where + "." + key, fmt::format("{} is out of range", v->u));
        const std::int64_t i = v->is_number_unsigned() ? static_cast<std::int64_t>(v->u) : v->i;
        if (i < lo || i > hi) return fail(where + "." + key, fmt::format("{} is out of range", i));
        out = i;
        return true;
    }

    bool misc_entry(const jnode& m, const std::string& where, frame* f) {
        if (!m.is_object()) return fail(where, fmt::format("expected an object, got {}", type_of(m)));
        const std::string* key = string_member(m, "key", where);
        const std::string* type = string_member(m, "type", where);
        if (!key || !type) return false;
        const jnode* v = m.find("value");
        if (!v) return fail(where, "missing \"value\"");
        misc_value value;
        const std::string vw = where + ".value";
        if (*type == "string") {
            if (!v->is_string()) return fail(vw, fmt::format("expected a string, got {}", type_of(*v)));
            value = misc_value::of_string(v->text);
        } else if (*type == "int") {
            if (v->k == jnode::kind::integer)
                value = misc_value::of_signed(v->i);
            else if (v->is_number_unsigned() && v->u <= static_cast<std::uint64_t>(INT64_MAX))
                value = misc_value::of_signed(static_cast<std::int64_t>(v->u));
            else
                return fail(vw, fmt::format("expected a 64-bit signed integer, got {}", v->shown()));
        } else if (*type == "uint") {
            if (!v->is_number_unsigned())
                return fail(vw, fmt::format("expected a 64-bit unsigned integer, got {}", v->shown()));
            value = misc_value::of_unsigned(v->u);
        } else if (*type == "float") {
            if (v->k == jnode::kind::floating) {
                value = misc_value::of_double(v->d);
            } else if (v->k == jnode::kind::integer) {
                value = misc_value::of_double(static_cast<double>(v->i));
            } else if (v->k == jnode::kind::unsigned_integer) {
                value = misc_value::of_double(static_cast<double>(v->u));
            } else if (v->is_string() && (v->text == "nan" || v->text == "inf" || v->text == "-inf")) {
                value = misc_value::of_double(v->text == "nan"   ? std::nan("")
                                              : v->text == "inf" ? HUGE_VAL
                                                                 : -HUGE_VAL);
            } else {
                return fail(vw, fmt::format("expected a number, \"nan\", \"inf\" or \"-inf\", got {}", v->shown()));
            }
        } else if (*type == "bool") {
            if (!v->is_boolean()) return fail(vw, fmt::format("expected a boolean, got {}", type_of(*v)));
            value = misc_value::of_bool(v->b);
        } else {
            return fail(where + ".type",
                        fmt::format("expected \"string\", \"int\", \"uint\", \"float\" or \"bool\", got \"{}\"",
                                    type->substr(0, 40)));
        }
        misc_node* n = make_misc_node(*key, value);
        if (!n) return fail(where, "out of memory");
        if (f->misc_tail)
            f->misc_tail->next = n;
        else
            f->misc_head = n;
        f->misc_tail = n;
        return true;
    }

    bool parse_pc(std::string_view s, std::uintptr_t& out) {
        if (s.size() < 3 || s.size() > 18 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X')) return false;
        std::uintptr_t v = 0;
        for (std::size_t i = 2; i < s.size(); ++i) {
            const char c = s[i];
            int d;
            if (c >= '0' && c <= '9')
                d = c - '0';
            else if (c >= 'a' && c <= 'f')
                d = c - 'a' + 10;
            else if (c >= 'A' && c <= 'F')
                d = c - 'A' + 10;
            else
                return false;
            v = v * 16 + static_cast<std::uintptr_t>(d);
        }
        out = v;
        return true;
    }

    // One frame, put over `chain` (which then holds it); false and a problem on
    // failure. Whatever happens, `chain` owns every frame made so far, so that an
    // exception (out of memory) frees them.
    // `built` holds the secondary chains decoded so far, by index; a frame may
    // refer only to those above `first_ref` (so that no chain reaches itself).
    bool make_frame(const jnode& fr, const std::string& where, error& chain,
                    const std::vector<shared_origin*>& origins, const std::vector<error>& built,
                    std::size_t first_ref) {
        if (!fr.is_object()) {
            fail(where, fmt::format("expected an object, got {}", type_of(fr)));
            return false;
        }
        const std::string* layer = string_member(fr, "layer", where);
        const jnode* user_facing = member(fr, "user_facing", want::boolean, where);
        const jnode* cause = member(fr, "cause", want::boolean, where, true);
        const jnode* show_cause = member(fr, "show_cause", want::boolean, where, true);
        const std::string* message = string_member(fr, "message", where);
        const std::string* detail_text = string_member(fr, "detail", where, true);
        const std::string* id = string_member(fr, "id", where, true);
        std::int64_t origin_at = 0;
        std::int64_t grpc_code = -1;
        if (!layer || !user_facing || !message || !problem.empty()) return false;
        if (fr.find("grpc_code") && !integer_member(fr, "grpc_code", where, 1, 16, grpc_code)) return false;
        if (!integer_member(fr, "origin", where, 0, static_cast<std::int64_t>(origins.size()) - 1, origin_at))
            return false;
        if (!one_line(*layer, 1, 256))
            return fail(where + ".layer", "a layer name must be one line of 1 to 256 printable characters");
        if (id && !id_text(*id))
            return fail(where + ".id", "an ID must be 1 to 128 letters, digits, '-', '_', '.' or ':'");
        decoded_frame* d = new decoded_frame;
        const decoded_payload payload(d);  // owns it from here
        const bool is_cause = cause && cause->b;
        const bool shows_cause = show_cause && show_cause->b;
        const layer_info* info = builtin_layer(*layer, user_facing->b, is_cause, shows_cause, static_cast<int>(grpc_code));
        if (!info) {
            d->layer_name = *layer;
            d->layer = layer_info{d->layer_name, user_facing->b, is_cause, shows_cause, static_cast<int>(grpc_code)};
            info = &d->layer;  // in the shared block, which the frame keeps alive
        }
        d->from_block = origins[static_cast<std::size_t>(origin_at)];
        d->from_block->refs.fetch_add(1, std::memory_order_relaxed);
        if (id) d->id = *id;
        std::uint_least32_t line = 0;
        if (const jnode* at = fr.find("at")) {
            const std::string aw = where + ".at";
            if (!at->is_object()) return fail(aw, fmt::format("expected an object, got {}", type_of(*at)));
            const std::string* file = string_member(*at, "file", aw);
            const std::string* function = string_member(*at, "function", aw);
            std::int64_t l = 0;
            if (!file || !function || !integer_member(*at, "line", aw, 0, UINT32_MAX, l)) return false;
            d->file = *file;
            d->function = *function;
            line = static_cast<std::uint_least32_t>(l);
        }
        if (const jnode* st = fr.find("stack")) {
            const std::string sw = where + ".stack";
            if (!st->is_object()) return fail(sw, fmt::format("expected an object, got {}", type_of(*st)));
            const jnode* sym = member(*st, "symbolized", want::array, sw);
            const jnode* raw = member(*st, "raw", want::array, sw);
            const jnode* truncated = member(*st, "truncated", want::boolean, sw);
            if (!sym || !raw || !truncated) return false;
            for (std::size_t i = 0; i < sym->size(); ++i) {
                const jnode& l = (*sym)[i];
                if (!l.is_string() || l.text.find('\n') != std::string::npos)
                    return fail(fmt::format("{}.symbolized[{}]", sw, i), "expected a string of one line");
                d->symbolized += l.text;
                d->symbolized += '\n';
            }
            d->raw = new std::uintptr_t[raw->size() ? raw->size() : 1]();
            for (std::size_t i = 0; i < raw->size(); ++i) {
                const jnode& pc = (*raw)[i];
                if (!pc.is_string() || !parse_pc(pc.text, d->raw[i]))
                    return fail(fmt::format("{}.raw[{}]", sw, i), "expected an address such as \"0x7f3a1c\"");
            }
            d->n_raw = raw->size();
            d->truncated = truncated->b;
            d->has_stack = true;
        }
        frame_spec s;
        s.layer = info;
        s.inner = access::get(chain);
        s.message = *message;
        if (detail_text) s.detail = *detail_text;
        s.pops = &payload_ops_of<decoded_payload>;
        s.payload = &payload;
        s.extra_flags = decoded;
        frame* f = allocate_frame(s);
        if (!f) return fail(where, "out of memory");
        (void)access::take(std::move(chain));  // the new frame took over its reference
        chain = access::adopt(f);
        // The call site points into the shared payload, which no copy of the frame moves.
        const decoded_frame& df = *static_cast<const decoded_payload*>(f->payload)->get();
        if (!df.file.empty() || line) f->loc = location(df.file.c_str(), line, df.function.c_str());
        if (const jnode* misc = fr.find("misc")) {
            const std::string mw = where + ".misc";
            if (!misc->is_array()) {
                fail(mw, fmt::format("expected an array, got {}", type_of(*misc)));
            } else {
                for (std::size_t i = 0; i < misc->size() && problem.empty(); ++i)
                    misc_entry((*misc)[i], fmt::format("{}[{}]", mw, i), f);
            }
        }
        if (const jnode* secondaries = fr.find("secondaries"); secondaries && problem.empty()) {
            const std::string sw = where + ".secondaries";
            if (!secondaries->is_array()) return fail(sw, fmt::format("expected an array, got {}", type_of(*secondaries)));
            for (std::size_t i = 0; i < secondaries->size(); ++i) {
                const std::string ew = fmt::format("{}[{}]", sw, i);
                const jnode& ref = (*secondaries)[i];
                if (!ref.is_object()) return fail(ew, fmt::format("expected an object, got {}", type_of(ref)));
                const std::string* label = string_member(ref, "label", ew);
                std::int64_t at = 0;
                if (!label) return false;
                if (!one_line(*label, 0, 256))
                    return fail(ew + ".label", "a label must be one line of at most 256 printable characters");
                if (first_ref >= built.size())
                    return fail(ew + ".error", "no secondary error can be referred to from here");
                if (!integer_member(ref, "error", ew, static_cast<std::int64_t>(first_ref),
                                    static_cast<std::int64_t>(built.size()) - 1, at))
                    return false;
                frame* sf = access::get(built[static_cast<std::size_t>(at)]);
                add_ref(sf);
                if (!add_secondary(f, *label, sf)) return fail(ew, "out of memory");
            }
        }
        return problem.empty();
    }

    // The frames of one chain, innermost first, so that each frame adopts the one
    // below it. A chain given up (bad input, or an exception) is dropped
    // knowingly, not reported as unchecked under STRATA_CHECKED.
    bool make_chain(const jnode& frames, const std::string& where, error& out,
                    const std::vector<shared_origin*>& origins, const std::vector<error>& built,
                    std::size_t first_ref) {
        struct dropped_chain {
            error e;
            ~dropped_chain() { drop_checked(access::get(e)); }
        } chain;
        for (std::size_t i = frames.size(); i-- > 0;)
            if (!make_frame(frames[i], fmt::format("{}[{}]", where, i), chain.e, origins, built, first_ref))
                return false;
        out = std::move(chain.e);
        return true;
    }

    // The whole document; an empty error for an encoded empty error.
    bool decode(const jnode& j, error& out) {
        if (!j.is_object()) return fail("$", fmt::format("expected an object, got {}", type_of(j)));
        std::int64_t version = 0;
        if (!integer_member(j, "strata.version", "$", 0, INT32_MAX, version)) return false;
        if (version != json_schema_version)
            return fail("$.strata.version", fmt::format("schema version {} is not one this strata reads ({})", version,
                                                        json_schema_version));
        const jnode* os = member(j, "strata.origins", want::array, "$");
        const jnode* frames = member(j, "strata.frames", want::array, "$");
        if (!os || !frames) return false;
        if (frames->size() > json_max_frames)
            return fail("$.strata.frames", fmt::format("{} frames; the most accepted is {}", frames->size(),
                                                       json_max_frames));
        struct origin_refs {  // this function's references; each frame takes its own
            std::vector<shared_origin*> v;
            ~origin_refs() {
                for (shared_origin* o : v)
                    if (o->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete o;
            }
        } origins;
        origins.v.reserve(os->size());  // so that push_back below cannot throw
        for (std::size_t i = 0; i < os->size(); ++i) {
            const std::string ow = fmt::format("$.strata.origins[{}]", i);
            const jnode& o = (*os)[i];
            if (!o.is_object()) return fail(ow, fmt::format("expected an object, got {}", type_of(o)));
            const std::string* host = string_member(o, "host", ow);
            const std::string* time = string_member(o, "time", ow);
            std::int64_t pid = 0, thread = 0;
            if (!host || !time || !integer_member(o, "pid", ow, 0, INT64_MAX, pid) ||
                !integer_member(o, "thread", ow, 0, INT64_MAX, thread))
                return false;
            if (!one_line(*host, 1, 255))
                return fail(ow + ".host", "a host name must be one line of 1 to 255 printable characters");
            if (!one_line(*time, 1, 64))
                return fail(ow + ".time", "a time must be one line of 1 to 64 printable characters");
            origins.v.push_back(new shared_origin);
            origin& org = origins.v.back()->value;
            org.host = *host;
            org.time = *time;
            org.pid = static_cast<long>(pid);
            org.thread = static_cast<long>(thread);
        }
        if (!frames->empty() && origins.v.empty()) return fail("$.strata.origins", "empty, but there are frames");
        // The secondary errors' chains first, the last one first: chain k may
        // refer only to chains after it, so each is built before any that refers
        // to it, and none can reach itself.
        struct built_chains {
            std::vector<error> v;
            ~built_chains() {
                for (const error& e : v) drop_checked(access::get(e));
            }
        } built;
        if (const jnode* sec = j.find("strata.secondaries")) {
            if (!sec->is_array())
                return fail("$.strata.secondaries", fmt::format("expected an array, got {}", type_of(*sec)));
            if (sec->size() > json_max_secondaries)
                return fail("$.strata.secondaries", fmt::format("{} secondary errors; the most accepted is {}",
                                                                sec->size(), json_max_secondaries));
            std::size_t total = frames->size();
            built.v.resize(sec->size());
            for (std::size_t k = sec->size(); k-- > 0;) {
                const std::string cw = fmt::format("$.strata.secondaries[{}]", k);
                const jnode& c = (*sec)[k];
                if (!c.is_object()) return fail(cw, fmt::format("expected an object, got {}", type_of(c)));
                const jnode* cf = member(c, "frames", want::array, cw);
                if (!cf) return false;
                total += cf->size();
                if (total > json_max_frames)
                    return fail(cw + ".frames", fmt::format("more than {} frames in all; the most accepted is {}",
                                                            json_max_frames, json_max_frames));
                if (cf->empty()) return fail(cw + ".frames", "a secondary error has at least one frame");
                if (origins.v.empty()) return fail("$.strata.origins", "empty, but there are frames");
                if (!make_chain(*cf, cw + ".frames", built.v[k], origins.v, built.v, k + 1)) return false;
            }
        }
        return make_chain(*frames, "$.strata.frames", out, origins.v, built.v, 0);
    }
};

inline std::string failure_message(std::string_view where, std::string_view what) {
    std::string message = "strata::from_json: ";
    message.append(where);
    if (!where.empty()) message.append(": ");
    message.append(what);
    return message;
}

inline std::string input_excerpt(std::string_view text) {
    constexpr std::size_t n = 64;
    return std::string(text.substr(0, n)) + (text.size() > n ? "..." : "");
}

}  // namespace detail

// The error as a JSON object (schema version json_schema_version; see
// docs/json-schema.md): OpenTelemetry's exception.type, exception.message and
// exception.stacktrace, then strata's own fields: every frame (layer, user-facing,
// message, call site, misc, stack symbolized and raw), the report ID if the error
// was handled, and the host, pid, thread and time of the process(es) it comes
// from. Sensitive values appear only as their hashes. Never throws: out of memory,
// returns an empty string.
[[nodiscard]] inline std::string to_json(const error& e) noexcept {
    detail::mark_checked(detail::access::get(e));
#if STRATA_HAS_EXCEPTIONS
    try {
        return detail::encode(e);
    } catch (...) {
        return {};
    }
#else
    return detail::encode(e);
#endif
}

// The one-line form of handle()'s records (JSON Lines), for a sink to ask for:
// log_sink(f, strata::json_line_form) gets it as log_record::line, rendered
// before the record is stamped. See docs/reading-a-record.md.
STRATA_MODULE_LOCAL inline constexpr record_form json_line_form{&detail::render_json_line};

// A record as one line of JSON ending in a newline: one JSON object (no line
// break inside: strings escaped) with the record's fields (strata.time, strata.id,
// strata.decision, strata.user_message, strata.host, strata.pid, strata.thread)
// and then to_json's, which from_json reads back as the record's error.
// Sensitive values appear only as their hashes. For a sink that did not ask for
// json_line_form (the form it asked for is rendered before the record is
// stamped; this, inside the sink's call, while other records wait). Never
// throws: out of memory, returns an empty string.
[[nodiscard]] inline std::string to_json_line(const log_record& r) noexcept {
#if STRATA_HAS_EXCEPTIONS
    try {
#endif
        detail::unstamped line;
        detail::render_json_line(line, r);
        return std::string(line.text.data(), line.text.size());
#if STRATA_HAS_EXCEPTIONS
    } catch (...) {
        return {};
    }
#endif
}

// A sink that writes each record's one-line form to `out` (stdout, a file
// opened for appending), in one write, flushed: for a log shipper that reads
// JSON Lines. A null `out` gives an empty sink, which means the default (stderr).
[[nodiscard]] inline log_sink json_lines_sink(std::FILE* out) {
    if (!out) return {};
    return log_sink(
        [out](const log_record& r) {
            detail::unstamped buf;
            const std::string_view line = detail::line_in(r, json_line_form, buf);
            std::fwrite(line.data(), 1, line.size(), out);
            std::fflush(out);
        },
        json_line_form);
}

// A sink `f` (any callable taking a log_record) that gets the one-line form as
// log_record::line: log_sink(f, json_line_form).
template <class F>
    requires std::is_invocable_v<const std::decay_t<F>&, const log_record&>
[[nodiscard]] log_sink json_lines_sink(F&& f) {
    return log_sink(std::forward<F>(f), json_line_form);
}

// The error to_json encoded, rebuilt in this process: its frames keep their layer
// (by name), user-facing flag, message, call site and misc; their stacks are the
// sender's (printed as the sender symbolized them; stack() is empty); origin_of()
// says where it came from. A failed result, in layer bad_json, says what is wrong
// with the input and where (a path such as $.strata.frames[2].misc[0].value); its
// misc has the input's size and first bytes; its call site is the caller's. Never
// throws.
[[nodiscard]] inline result<error> from_json(std::string_view text, location loc = location::current()) noexcept {
    // The failure's call site is the caller's; its message is built first (a
    // run-time format string, so no compile-time check is needed here).
    auto failed = [&](std::string_view where, std::string_view what) noexcept -> result<error> {
#if STRATA_HAS_EXCEPTIONS
        try {
#endif
            return failure(make_error<bad_json>(format_string<std::string>(fmt::runtime("{}"), loc),
                                                detail::failure_message(where, what))
                               .with("input_bytes", text.size())
                               .with("input_start", detail::input_excerpt(text)));
#if STRATA_HAS_EXCEPTIONS
        } catch (...) {
            return failure(make_error<bad_json>(
                               format_string<>(fmt::runtime("strata::from_json: out of memory while describing bad input"),
                                               loc))
                               .with("input_bytes", text.size()));
        }
#endif
    };
#if STRATA_HAS_EXCEPTIONS
    try {
#endif
        if (text.size() > json_max_input)
            return failed("", fmt::format("the input has {} bytes; the most accepted is {}", text.size(),
                                          json_max_input));
        detail::jtree_builder tree;
        if (!detail::djson::sax_parse(text, &tree, nlohmann::detail::input_format_t::json, true) ||
            !tree.problem.empty())
            return failed("", tree.problem.empty() ? std::string("not valid JSON") : tree.problem);
        const detail::jnode& j = tree.root;
        detail::decoder d;
        error out;
        if (!d.decode(j, out)) return failed(d.path, d.problem);
        return result<error>(std::move(out));
#if STRATA_HAS_EXCEPTIONS
    } catch (const std::bad_alloc&) {
        return failed("", "out of memory while decoding");
    } catch (const std::exception& ex) {
        return failed("", std::string("decoding failed: ") + ex.what());
    }
#endif
}

}  // namespace strata
