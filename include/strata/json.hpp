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
// strata, so only the files that encode or decode pay for it.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
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
inline constexpr int json_schema_version = 1;

// The layer of from_json's failures: the input was not an encoded strata error.
// Not user-facing: a peer that sends bad input is a bug.
struct bad_json {
    static constexpr std::string_view name = "bad_json";
};

// Limits on what from_json accepts, beyond which it fails rather than allocate.
inline constexpr std::size_t json_max_input = 64u << 20;       // bytes
inline constexpr std::size_t json_max_nesting = 8;              // the schema needs 5
inline constexpr std::size_t json_max_frames = 1u << 20;        // frames in one chain

namespace detail {

using ojson = nlohmann::ordered_json;  // writing: keys in the schema's order
using djson = nlohmann::json;          // reading: keys looked up in a map, not a list

// The static record of a layer strata defines itself, if `name` and the flags are
// one; nullptr otherwise (the decoded frame then carries its own record).
struct canceled_probe {  // cancel.hpp's layers, matched without including it
    static constexpr std::string_view name = "canceled";
    static constexpr bool user_facing = true;
};
struct timed_out_probe {
    static constexpr std::string_view name = "timed_out";
    static constexpr bool user_facing = true;
};

inline const layer_info* builtin_layer(std::string_view name, bool user_facing, bool is_cause) noexcept {
    static const layer_info* const builtin[] = {
        &layer_info_of<untagged>,       &layer_info_of<low_level>,       &layer_info_of<intermediate>,
        &layer_info_of<canceled_probe>, &layer_info_of<timed_out_probe>, &error_code_cause,
        &exception_cause,               &value_cause};
    for (const layer_info* l : builtin)
        if (l->name == name && l->user_facing == user_facing && l->is_cause == is_cause) return l;
    return nullptr;
}

inline std::string utc_now_text(std::chrono::system_clock::time_point t) {
    fmt::memory_buffer b;
    put_utc(b, t);
    return std::string(b.data(), b.size());
}

inline std::string hex_pc(std::uintptr_t pc) {
    fmt::memory_buffer b;
    put_hex(b, pc);
    return std::string(b.data(), b.size());
}

inline std::string text_of(const fmt::memory_buffer& b) { return std::string(b.data(), b.size()); }

// The symbolized lines of a frame's stack ("function at file:line"), as {:v} shows them.
inline std::string symbolized_lines(const frame* f) {
    fmt::memory_buffer b;
    for_each_shown(stack_view(f->pcs(), f->n_pcs), [&](const symbol& s, std::uintptr_t pc) {
        put_symbol(b, s, pc);
        put(b, '\n');
    });
    return text_of(b);
}

inline ojson lines_array(std::string_view lines) {
    ojson a = ojson::array();
    while (!lines.empty()) {
        const auto end = lines.find('\n');
        a.push_back(std::string(lines.substr(0, end)));
        lines = end == std::string_view::npos ? std::string_view() : lines.substr(end + 1);
    }
    return a;
}

inline ojson misc_json(const misc_node* n) {
    ojson m = ojson::object();
    m["key"] = std::string(n->key);
    const misc_value& v = n->value;
    if (v.is_sensitive()) {
        fmt::memory_buffer b;
        put_misc_value(b, v, true);
        m["type"] = "string";
        m["value"] = text_of(b);
        return m;
    }
    switch (v.type()) {
        case misc_value::kind::string:
            m["type"] = "string";
            m["value"] = std::string(v.as_string());
            break;
        case misc_value::kind::signed_integer:
            m["type"] = "int";
            m["value"] = v.as_signed();
            break;
        case misc_value::kind::unsigned_integer:
            m["type"] = "uint";
            m["value"] = v.as_unsigned();
            break;
        case misc_value::kind::floating_point: {
            m["type"] = "float";
            const double d = v.as_double();
            if (std::isnan(d))
                m["value"] = "nan";
            else if (std::isinf(d))
                m["value"] = d > 0 ? "inf" : "-inf";
            else
                m["value"] = d;
            break;
        }
        case misc_value::kind::boolean:
            m["type"] = "bool";
            m["value"] = v.as_bool();
            break;
    }
    return m;
}

inline std::string frame_id(const frame* f) {
    if (const decoded_frame* d = decoded_of(f); d && !d->id.empty()) return d->id;
    const std::uint64_t seq = (f->flags & immortal) ? 0 : f->report_seq.load(std::memory_order_acquire);
    if (seq == 0) return {};
    std::string id;
    format_id(id, seq);
    return id;
}

inline std::string encode(const error& e) {
    const frame* top = access::get(e);
    ojson j = ojson::object();
    j["exception.type"] = top ? std::string(top->layer->name) : std::string("(no error)");
    fmt::memory_buffer message;
    if (top) put_message(message, top, true);
    j["exception.message"] = text_of(message);

    // Origins: this process first (for frames made here), then each decoded one
    // in the order the chain meets it.
    std::vector<const origin*> origins;
    auto origin_index = [&](const origin* o) {
        for (std::size_t i = 0; i < origins.size(); ++i)
            if (origins[i] == o) return i;
        origins.push_back(o);
        return origins.size() - 1;
    };

    ojson frames = ojson::array();
    std::string origin_stack;
    bool have_origin_stack = false;
    for (const frame* f = top; f; f = f->inner) {
        const decoded_frame* d = decoded_of(f);
        ojson fr = ojson::object();
        fr["layer"] = std::string(f->layer->name);
        fr["user_facing"] = f->layer->user_facing;
        if (f->layer->is_cause) fr["cause"] = true;
        fmt::memory_buffer msg;
        put_message(msg, f, true);
        fr["message"] = text_of(msg);
        if (!f->detail.empty()) fr["detail"] = std::string(f->detail);
        if (!f->loc.empty()) {
            ojson at = ojson::object();
            at["file"] = std::string(f->loc.file_name());
            at["line"] = static_cast<std::uint64_t>(f->loc.line());
            at["function"] = std::string(f->loc.function_name());
            fr["at"] = std::move(at);
        }
        if (f->misc_head) {
            ojson misc = ojson::array();
            for (const misc_node* n = f->misc_head; n; n = n->next) misc.push_back(misc_json(n));
            fr["misc"] = std::move(misc);
        }
        if (d ? d->has_stack : f->n_pcs != 0) {
            ojson st = ojson::object();
            const std::string lines = d ? d->symbolized : symbolized_lines(f);
            st["symbolized"] = lines_array(lines);
            ojson raw = ojson::array();
            if (d)
                for (std::size_t i = 0; i < d->n_raw; ++i) raw.push_back(hex_pc(d->raw[i]));
            else
                for (std::size_t i = 0; i < f->n_pcs; ++i) raw.push_back(hex_pc(f->pcs()[i]));
            st["raw"] = std::move(raw);
            st["truncated"] = d ? d->truncated : (f->flags & stack_truncated) != 0;
            fr["stack"] = std::move(st);
            origin_stack = lines;  // the innermost stack is the origin's
            have_origin_stack = true;
        }
        if (std::string id = frame_id(f); !id.empty()) fr["id"] = std::move(id);
        fr["origin"] = origin_index(d ? d->from.get() : nullptr);
        frames.push_back(std::move(fr));
    }
    if (have_origin_stack) {
        fmt::memory_buffer st;
        std::size_t n = 0;
        for (const auto& line : lines_array(origin_stack)) put(st, n++, "# ", line.get_ref<const std::string&>(), '\n');
        j["exception.stacktrace"] = text_of(st);
    }
    j["strata.version"] = json_schema_version;
    j["strata.is_bug"] = !top || !top->layer->user_facing;
    fmt::memory_buffer chain;
    write_chain(chain, e, true);
    j["strata.chain"] = text_of(chain);
    if (top) {
        if (std::string id = frame_id(top); !id.empty()) j["strata.id"] = std::move(id);
    }
    ojson os = ojson::array();
    for (const origin* o : origins) {
        ojson oj = ojson::object();
        if (o) {
            oj["host"] = o->host;
            oj["pid"] = o->pid;
            oj["thread"] = o->thread;
            oj["time"] = o->time;
        } else {
            oj["host"] = std::string(host_name());
            oj["pid"] = static_cast<long>(::getpid());
            oj["thread"] = thread_id();
            oj["time"] = utc_now_text(std::chrono::system_clock::now());
        }
        os.push_back(std::move(oj));
    }
    j["strata.origins"] = std::move(os);
    j["strata.frames"] = std::move(frames);
    // Messages may hold any bytes: invalid UTF-8 becomes U+FFFD rather than failing.
    return j.dump(-1, ' ', false, ojson::error_handler_t::replace);
}

// First pass over the input: well-formed JSON, nested no deeper than the limit.
// Builds nothing, so a hostile input costs no memory here.
struct json_checker : nlohmann::json_sax<djson> {
    std::size_t depth = 0;
    std::string problem;

    bool open(std::size_t) {
        if (++depth > json_max_nesting) {
            problem = fmt::format("nested deeper than {} levels", json_max_nesting);
            return false;
        }
        return true;
    }
    bool close() {
        --depth;
        return true;
    }
    bool null() override { return true; }
    bool boolean(bool) override { return true; }
    bool number_integer(number_integer_t) override { return true; }
    bool number_unsigned(number_unsigned_t) override { return true; }
    bool number_float(number_float_t, const string_t&) override { return true; }
    bool string(string_t&) override { return true; }
    bool binary(binary_t&) override { return true; }
    bool start_object(std::size_t n) override { return open(n); }
    bool key(string_t&) override { return true; }
    bool end_object() override { return close(); }
    bool start_array(std::size_t n) override { return open(n); }
    bool end_array() override { return close(); }
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

    static const char* type_of(const djson& v) { return v.type_name(); }

    // Text the receiver puts into its own records' headers: no line breaks or
    // other control characters, so a peer cannot forge a log line.
    static bool one_line(std::string_view s, std::size_t min, std::size_t max) {
        if (s.size() < min || s.size() > max) return false;
        for (const char c : s)
            if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
        return true;
    }

    // The member `key` of `obj`, which must be of the given kind; nullptr (and a
    // problem) when it is missing or of another type, unless optional.
    const djson* member(const djson& obj, const char* key, djson::value_t kind, const std::string& where,
                        bool optional = false) {
        const auto it = obj.find(key);
        if (it == obj.end()) {
            if (!optional) fail(where, fmt::format("missing \"{}\"", key));
            return nullptr;
        }
        const bool ok = it->type() == kind || (kind == djson::value_t::number_integer && it->is_number_integer()) ||
                        (kind == djson::value_t::number_float && it->is_number());
        if (!ok) {
            fail(where + "." + key, fmt::format("expected {}, got {}", kind_name(kind), type_of(*it)));
            return nullptr;
        }
        return &*it;
    }

    static const char* kind_name(djson::value_t k) {
        switch (k) {
            case djson::value_t::object: return "an object";
            case djson::value_t::array: return "an array";
            case djson::value_t::string: return "a string";
            case djson::value_t::boolean: return "a boolean";
            case djson::value_t::number_integer:
            case djson::value_t::number_unsigned: return "an integer";
            case djson::value_t::number_float: return "a number";
            default: return "a value";
        }
    }

    const std::string* string_member(const djson& obj, const char* key, const std::string& where,
                                     bool optional = false) {
        const djson* v = member(obj, key, djson::value_t::string, where, optional);
        return v ? &v->get_ref<const std::string&>() : nullptr;
    }

    bool integer_member(const djson& obj, const char* key, const std::string& where, std::int64_t lo,
                        std::int64_t hi, std::int64_t& out, bool optional = false) {
        const djson* v = member(obj, key, djson::value_t::number_integer, where, optional);
        if (!v) return optional && problem.empty();
        if (v->is_number_unsigned() && v->get<std::uint64_t>() > static_cast<std::uint64_t>(hi))
            return fail(where + "." + key, fmt::format("{} is out of range", v->get<std::uint64_t>()));
        const std::int64_t i = v->is_number_unsigned() ? static_cast<std::int64_t>(v->get<std::uint64_t>())
                                                       : v->get<std::int64_t>();
        if (i < lo || i > hi) return fail(where + "." + key, fmt::format("{} is out of range", i));
        out = i;
        return true;
    }

    bool misc_entry(const djson& m, const std::string& where, frame* f) {
        if (!m.is_object()) return fail(where, fmt::format("expected an object, got {}", type_of(m)));
        const std::string* key = string_member(m, "key", where);
        const std::string* type = string_member(m, "type", where);
        if (!key || !type) return false;
        const auto v = m.find("value");
        if (v == m.end()) return fail(where, "missing \"value\"");
        misc_value value;
        const std::string vw = where + ".value";
        if (*type == "string") {
            if (!v->is_string()) return fail(vw, fmt::format("expected a string, got {}", type_of(*v)));
            value = misc_value::of_string(v->get_ref<const std::string&>());
        } else if (*type == "int") {
            if (v->is_number_integer() && !v->is_number_unsigned())
                value = misc_value::of_signed(v->get<std::int64_t>());
            else if (v->is_number_unsigned() && v->get<std::uint64_t>() <= static_cast<std::uint64_t>(INT64_MAX))
                value = misc_value::of_signed(static_cast<std::int64_t>(v->get<std::uint64_t>()));
            else
                return fail(vw, fmt::format("expected a 64-bit signed integer, got {}", v->dump()));
        } else if (*type == "uint") {
            if (!v->is_number_unsigned())
                return fail(vw, fmt::format("expected a 64-bit unsigned integer, got {}", v->dump()));
            value = misc_value::of_unsigned(v->get<std::uint64_t>());
        } else if (*type == "float") {
            if (v->is_number()) {
                value = misc_value::of_double(v->get<double>());
            } else if (v->is_string() && (*v == "nan" || *v == "inf" || *v == "-inf")) {
                const std::string& s = v->get_ref<const std::string&>();
                value = misc_value::of_double(s == "nan"   ? std::nan("")
                                              : s == "inf" ? HUGE_VAL
                                                           : -HUGE_VAL);
            } else {
                return fail(vw, fmt::format("expected a number, \"nan\", \"inf\" or \"-inf\", got {}", v->dump()));
            }
        } else if (*type == "bool") {
            if (!v->is_boolean()) return fail(vw, fmt::format("expected a boolean, got {}", type_of(*v)));
            value = misc_value::of_bool(v->get<bool>());
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

    bool parse_pc(const std::string& s, std::uintptr_t& out) {
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

    // One frame, over `inner` (adopted); nullptr and a problem on failure.
    frame* make_frame(const djson& fr, const std::string& where, frame* inner,
                      const std::vector<std::shared_ptr<const origin>>& origins) {
        if (!fr.is_object()) {
            fail(where, fmt::format("expected an object, got {}", type_of(fr)));
            return nullptr;
        }
        const std::string* layer = string_member(fr, "layer", where);
        const djson* user_facing = member(fr, "user_facing", djson::value_t::boolean, where);
        const djson* cause = member(fr, "cause", djson::value_t::boolean, where, true);
        const std::string* message = string_member(fr, "message", where);
        const std::string* detail_text = string_member(fr, "detail", where, true);
        const std::string* id = string_member(fr, "id", where, true);
        std::int64_t origin_at = 0;
        if (!layer || !user_facing || !message || !problem.empty()) return nullptr;
        if (!integer_member(fr, "origin", where, 0, static_cast<std::int64_t>(origins.size()) - 1, origin_at))
            return nullptr;
        if (!one_line(*layer, 1, 256))
            return fail(where + ".layer", "a layer name must be one line of 1 to 256 printable characters"), nullptr;
        if (id && !one_line(*id, 1, 128))
            return fail(where + ".id", "an ID must be one line of 1 to 128 printable characters"), nullptr;
        auto d = std::make_shared<decoded_frame>();
        const bool is_cause = cause && cause->get<bool>();
        const layer_info* info = builtin_layer(*layer, user_facing->get<bool>(), is_cause);
        if (!info) {
            d->layer_name = *layer;
            d->layer = layer_info{d->layer_name, user_facing->get<bool>(), is_cause};
            info = &d->layer;  // in the shared block, which the frame keeps alive
        }
        d->from = origins[static_cast<std::size_t>(origin_at)];
        if (id) d->id = *id;
        std::uint_least32_t line = 0;
        if (const auto at = fr.find("at"); at != fr.end()) {
            const std::string aw = where + ".at";
            if (!at->is_object()) return fail(aw, fmt::format("expected an object, got {}", type_of(*at))), nullptr;
            const std::string* file = string_member(*at, "file", aw);
            const std::string* function = string_member(*at, "function", aw);
            std::int64_t l = 0;
            if (!file || !function || !integer_member(*at, "line", aw, 0, UINT32_MAX, l)) return nullptr;
            d->file = *file;
            d->function = *function;
            line = static_cast<std::uint_least32_t>(l);
        }
        if (const auto st = fr.find("stack"); st != fr.end()) {
            const std::string sw = where + ".stack";
            if (!st->is_object()) return fail(sw, fmt::format("expected an object, got {}", type_of(*st))), nullptr;
            const djson* sym = member(*st, "symbolized", djson::value_t::array, sw);
            const djson* raw = member(*st, "raw", djson::value_t::array, sw);
            const djson* truncated = member(*st, "truncated", djson::value_t::boolean, sw);
            if (!sym || !raw || !truncated) return nullptr;
            for (std::size_t i = 0; i < sym->size(); ++i) {
                const djson& l = (*sym)[i];
                if (!l.is_string() || l.get_ref<const std::string&>().find('\n') != std::string::npos)
                    return fail(fmt::format("{}.symbolized[{}]", sw, i), "expected a string of one line"), nullptr;
                d->symbolized += l.get_ref<const std::string&>();
                d->symbolized += '\n';
            }
            d->raw = std::make_unique<std::uintptr_t[]>(raw->size() ? raw->size() : 1);
            for (std::size_t i = 0; i < raw->size(); ++i) {
                const djson& pc = (*raw)[i];
                if (!pc.is_string() || !parse_pc(pc.get_ref<const std::string&>(), d->raw[i]))
                    return fail(fmt::format("{}.raw[{}]", sw, i), "expected an address such as \"0x7f3a1c\""), nullptr;
            }
            d->n_raw = raw->size();
            d->truncated = truncated->get<bool>();
            d->has_stack = true;
        }
        const decoded_payload payload = std::move(d);
        frame_spec s;
        s.layer = info;
        s.inner = inner;
        s.message = *message;
        if (detail_text) s.detail = *detail_text;
        s.pops = &payload_ops_of<decoded_payload>;
        s.payload = &payload;
        s.extra_flags = decoded;
        frame* f = allocate_frame(s);
        if (!f) {
            fail(where, "out of memory");
            return nullptr;
        }
        // The call site points into the shared payload, which no copy of the frame moves.
        const decoded_frame& df = **static_cast<const decoded_payload*>(f->payload);
        if (!df.file.empty() || line) f->loc = location(df.file.c_str(), line, df.function.c_str());
        if (const auto misc = fr.find("misc"); misc != fr.end()) {
            const std::string mw = where + ".misc";
            if (!misc->is_array()) {
                fail(mw, fmt::format("expected an array, got {}", type_of(*misc)));
            } else {
                for (std::size_t i = 0; i < misc->size() && problem.empty(); ++i)
                    misc_entry((*misc)[i], fmt::format("{}[{}]", mw, i), f);
            }
            if (!problem.empty()) {
                f->inner = nullptr;  // the caller still owns `inner`
                destroy_frame(f);
                return nullptr;
            }
        }
        return f;
    }

    // The whole document; an empty error for an encoded empty error.
    bool decode(const djson& j, error& out) {
        if (!j.is_object()) return fail("$", fmt::format("expected an object, got {}", type_of(j)));
        std::int64_t version = 0;
        if (!integer_member(j, "strata.version", "$", 0, INT32_MAX, version)) return false;
        if (version != json_schema_version)
            return fail("$.strata.version", fmt::format("schema version {} is not one this strata reads ({})", version,
                                                        json_schema_version));
        const djson* os = member(j, "strata.origins", djson::value_t::array, "$");
        const djson* frames = member(j, "strata.frames", djson::value_t::array, "$");
        if (!os || !frames) return false;
        if (frames->size() > json_max_frames)
            return fail("$.strata.frames", fmt::format("{} frames; the most accepted is {}", frames->size(),
                                                       json_max_frames));
        std::vector<std::shared_ptr<const origin>> origins;
        for (std::size_t i = 0; i < os->size(); ++i) {
            const std::string ow = fmt::format("$.strata.origins[{}]", i);
            const djson& o = (*os)[i];
            if (!o.is_object()) return fail(ow, fmt::format("expected an object, got {}", type_of(o)));
            auto org = std::make_shared<origin>();
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
            org->host = *host;
            org->time = *time;
            org->pid = static_cast<long>(pid);
            org->thread = static_cast<long>(thread);
            origins.push_back(std::move(org));
        }
        if (!frames->empty() && origins.empty()) return fail("$.strata.origins", "empty, but there are frames");
        // Innermost first, so that each frame adopts the one below it.
        frame* below = nullptr;
        for (std::size_t i = frames->size(); i-- > 0;) {
            frame* f = make_frame((*frames)[i], fmt::format("$.strata.frames[{}]", i), below, origins);
            if (!f) {
                release(below);
                return false;
            }
            below = f;
        }
        out = access::adopt(below);
        return true;
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
        detail::json_checker check;
        if (!detail::djson::sax_parse(text, &check, nlohmann::detail::input_format_t::json, true) ||
            !check.problem.empty())
            return failed("", check.problem.empty() ? std::string("not valid JSON") : check.problem);
        const detail::djson j = detail::djson::parse(text, nullptr, false);
        if (j.is_discarded()) return failed("", "not valid JSON");
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
