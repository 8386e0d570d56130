// fuzz/misc_fuzz.cpp: libFuzzer target for an error's misc entries (with(),
// misc(), find()), their copy-on-write, and how {:v} and handle() print them.
//
// Input: a sequence of operations, each <op> followed by its operands; a short
// input ends early (missing bytes read as zero). Lengths are one byte.
//   op % 15:
//    0 <klen><key><vlen><bytes>      with(key, std::string_view)
//    1 <klen><key><vlen><bytes>      with(key, std::string)
//    2 <klen><key><vlen><bytes>      with(key, const char*): up to the first NUL;
//                                    vlen 255 passes a null pointer ("(null)")
//    3 <klen><key><8 bytes LE>       with(key, std::int64_t)
//    4 <klen><key><8 bytes LE>       with(key, std::uint64_t)
//    5 <klen><key><type><8 bytes LE> with(key, a small integer type, or char: a string)
//    6 <klen><key><8 bytes LE>       with(key, double) from raw bits (NaN, inf, -0)
//    7 <klen><key><4 bytes LE>       with(key, float) from raw bits
//    8 <klen><key><byte>             with(key, bool)
//    9 <klen><key><8 bytes LE>       with(key, point): a type fmt formats, kept as text
//   10                               snapshot: keep a copy of the error (at most 4)
//   11 <layer>                       wrap (intermediate, low_level, untagged); at most 8
//   12 <klen><key>                   with() on an empty error: stays empty
//   13 <klen><key><vlen><bytes>      with() on a copy of the inner frame: a new frame,
//                                    the chain's own is unchanged
//   14 <klen><key><8 bytes LE>       std::move(e).with(key, std::int64_t)
// At most 512 operations.
//
// Checks (a violation calls __builtin_trap() after saying which): every frame's
// misc entries read back, in order, exactly as written (strings byte for byte,
// doubles bit for bit); find(key) gives the first entry with that key; accessors of
// another kind give zero; snapshots never see later writes; {:v} and the record
// handle() logs show each entry as `key = value`.
#include "record_text.hpp"
#include <strata/error.hpp>
#include <strata/format.hpp>
#include <strata/handle.hpp>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {


[[noreturn]] void fail(const char* what, int line) {
    std::fprintf(stderr, "misc_fuzz: invariant violated at line %d: %s\n", line, what);
    std::fflush(stderr);
    __builtin_trap();
}

#define CHECK(cond) ((cond) ? (void)0 : fail(#cond, __LINE__))

struct point {
    std::int32_t x;
    std::int32_t y;
};

}  // namespace

template <>
struct fmt::formatter<point> {
    constexpr auto parse(format_parse_context& ctx) -> decltype(ctx.begin()) { return ctx.begin(); }
    template <class FormatContext>
    auto format(const point& p, FormatContext& ctx) const -> decltype(ctx.out()) {
        return fmt::format_to(ctx.out(), "({}, {})", p.x, p.y);
    }
};

namespace {

using kind = strata::misc_value::kind;

// What was written: the model the error is checked against.
struct entry {
    std::string key;
    kind k = kind::string;
    std::string s;
    std::int64_t i = 0;
    std::uint64_t u = 0;
    std::uint64_t d_bits = 0;
    bool b = false;
};

entry base(std::string_view key, kind k) {
    entry e;
    e.key = key;
    e.k = k;
    return e;
}
entry of_string(std::string_view key, std::string_view s) {
    entry e = base(key, kind::string);
    e.s = s;
    return e;
}
entry of_signed(std::string_view key, std::int64_t i) {
    entry e = base(key, kind::signed_integer);
    e.i = i;
    return e;
}
entry of_unsigned(std::string_view key, std::uint64_t u) {
    entry e = base(key, kind::unsigned_integer);
    e.u = u;
    return e;
}
entry of_double(std::string_view key, double d) {
    entry e = base(key, kind::floating_point);
    e.d_bits = std::bit_cast<std::uint64_t>(d);
    return e;
}
entry of_bool(std::string_view key, bool b) {
    entry e = base(key, kind::boolean);
    e.b = b;
    return e;
}

using frame_model = std::vector<entry>;
using chain_model = std::vector<frame_model>;  // outermost frame first

bool same(const strata::misc_value& v, const entry& x) {
    if (v.type() != x.k) return false;
    // Each accessor gives its kind's value, or zero for another kind.
    const bool str = x.k == kind::string, sig = x.k == kind::signed_integer, uns = x.k == kind::unsigned_integer,
               dbl = x.k == kind::floating_point, bln = x.k == kind::boolean;
    return v.as_string() == (str ? std::string_view(x.s) : std::string_view()) &&
           (str || v.as_string().data() == nullptr) && v.as_signed() == (sig ? x.i : 0) &&
           v.as_unsigned() == (uns ? x.u : 0) && std::bit_cast<std::uint64_t>(v.as_double()) == (dbl ? x.d_bits : 0) &&
           v.as_bool() == (bln && x.b);
}

void check_frame(const strata::error& e, const frame_model& m) {
    const strata::misc_view misc = e.misc();
    CHECK(misc.size() == m.size());
    CHECK(misc.empty() == m.empty());
    std::size_t n = 0;
    for (const strata::misc_entry& got : misc) {
        CHECK(n < m.size());
        CHECK(got.key == m[n].key);
        CHECK(same(got.value, m[n]));
        ++n;
    }
    CHECK(n == m.size());
    for (std::size_t k = 0; k < m.size(); ++k) {
        std::size_t first = 0;
        while (m[first].key != m[k].key) ++first;
        const std::optional<strata::misc_value> found = misc.find(m[k].key);
        CHECK(found.has_value());
        CHECK(same(*found, m[first]));
    }
    // A key that was never written (keys are at most 255 bytes).
    CHECK(!misc.find(std::string(256, 'k')).has_value());
}

void check_chain(const strata::error& e, const chain_model& c) {
    CHECK(e.depth() == c.size());
    strata::error f = e;
    for (const frame_model& m : c) {
        CHECK(f);
        check_frame(f, m);
        f = f.inner();
    }
    CHECK(f.empty());
}

// put_quoted's escapes, written again: \" \\ \n \r \t, \xNN for other controls.
std::string quoted(std::string_view s) {
    std::string out = "\"";
    for (const char c : s) out += c == '"' ? "\\\"" : c == '\\' ? "\\\\" : fuzz::escaped(std::string_view(&c, 1));
    return out + "\"";
}

std::string shown(const entry& x) {
    switch (x.k) {
        case kind::string: return quoted(x.s);
        case kind::signed_integer: return std::to_string(x.i);
        case kind::unsigned_integer: return std::to_string(x.u);
        case kind::floating_point: return fmt::format("{}", std::bit_cast<double>(x.d_bits));
        case kind::boolean: return x.b ? "true" : "false";
    }
    return {};
}

// Every frame header and misc line of `c`, in order, somewhere in `text` after
// `indent` (greedy, so never a false "missing").
// In handle()'s record (`escape`), messages and keys are escaped onto one line.
bool printed(std::string_view text, const strata::error& e, const chain_model& c, std::string_view indent,
             bool escape = false) {
    std::size_t pos = 0;
    auto next = [&](const std::string& s) {
        const auto at = text.find(s, pos);
        if (at == std::string_view::npos) return false;
        pos = at + s.size();
        return true;
    };
    strata::error f = e;
    for (std::size_t k = 0; k < c.size(); ++k, f = f.inner()) {
        std::string header = std::string(indent) + "#" + std::to_string(k) + " " + std::string(f.layer().name);
        if (f.is_user_facing()) header += " [user-facing]";
        header += ": ";
        header += escape ? fuzz::escaped(f.message()) : std::string(f.message());
        header += '\n';
        if (!next(header)) return false;
        for (const entry& x : c[k])
            if (!next(std::string(indent) + "   " + (escape ? fuzz::escaped(x.key) : x.key) + " = " + shown(x) + "\n"))
                return false;
    }
    return true;
}

class reader {
public:
    reader(const std::uint8_t* p, std::size_t n) : p_(p), n_(n) {}
    bool done() const { return n_ == 0; }
    std::uint8_t byte() {
        if (n_ == 0) return 0;
        --n_;
        return *p_++;
    }
    std::string_view bytes(std::size_t k) {
        if (k > n_) k = n_;
        const std::string_view s(reinterpret_cast<const char*>(p_), k);
        p_ += k;
        n_ -= k;
        return s;
    }
    std::uint64_t le(int width) {
        std::uint64_t v = 0;
        for (int k = 0; k < width; ++k) v |= static_cast<std::uint64_t>(byte()) << (8 * k);
        return v;
    }

private:
    const std::uint8_t* p_;
    std::size_t n_;
};

struct snapshot {
    strata::error e;
    chain_model c;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    // Stacks are format_string_fuzz's business; here they only cost time.
    strata::set_capture_policy(strata::capture_policy::off);

    reader r(data, size);
    strata::error e = strata::make_error<strata::low_level>("misc under test");
    chain_model c{frame_model{}};
    std::vector<snapshot> snaps;

    for (int ops = 0; !r.done() && ops < 512; ++ops) {
        const int op = r.byte() % 15;
        if (op == 10) {
            if (snaps.size() < 4) snaps.push_back({e, c});
            continue;
        }
        if (op == 11) {
            if (c.size() >= 8) continue;
            const std::uint8_t layer = r.byte() % 3;
            if (layer == 0)
                e = strata::wrap<strata::intermediate>(std::move(e), "layer {} (intermediate)", c.size());
            else if (layer == 1)
                e = strata::wrap<strata::low_level>(std::move(e), "layer {} (low_level)", c.size());
            else
                e = strata::wrap<strata::untagged>(std::move(e), "layer {} (untagged)", c.size());
            c.insert(c.begin(), frame_model{});
            continue;
        }
        const std::string key(r.bytes(r.byte()));
        switch (op) {
            case 0: {
                const std::string_view v = r.bytes(r.byte());
                e.with(key, v);
                c[0].push_back(of_string(key, v));
                break;
            }
            case 1: {
                const std::string v(r.bytes(r.byte()));
                e.with(key, v);
                c[0].push_back(of_string(key, v));
                break;
            }
            case 2: {
                const std::uint8_t len = r.byte();
                const std::string v(r.bytes(len));
                const char* p = len == 255 ? nullptr : v.c_str();
                e.with(key, p);
                c[0].push_back(of_string(key, p ? std::string_view(p, std::strlen(p)) : std::string_view("(null)")));
                break;
            }
            case 3: {
                const auto v = static_cast<std::int64_t>(r.le(8));
                e.with(key, v);
                c[0].push_back(of_signed(key, v));
                break;
            }
            case 4: {
                const std::uint64_t v = r.le(8);
                e.with(key, v);
                c[0].push_back(of_unsigned(key, v));
                break;
            }
            case 5: {
                const std::uint8_t type = r.byte() % 8;
                const std::uint64_t bits = r.le(8);
                switch (type) {
                    case 0: {
                        const auto v = static_cast<signed char>(bits);
                        e.with(key, v);
                        c[0].push_back(of_signed(key, v));
                        break;
                    }
                    case 1: {
                        const auto v = static_cast<unsigned char>(bits);
                        e.with(key, v);
                        c[0].push_back(of_unsigned(key, v));
                        break;
                    }
                    case 2: {
                        const auto v = static_cast<short>(bits);
                        e.with(key, v);
                        c[0].push_back(of_signed(key, v));
                        break;
                    }
                    case 3: {
                        const auto v = static_cast<unsigned short>(bits);
                        e.with(key, v);
                        c[0].push_back(of_unsigned(key, v));
                        break;
                    }
                    case 4: {
                        const auto v = static_cast<int>(bits);
                        e.with(key, v);
                        c[0].push_back(of_signed(key, v));
                        break;
                    }
                    case 5: {
                        const auto v = static_cast<unsigned>(bits);
                        e.with(key, v);
                        c[0].push_back(of_unsigned(key, v));
                        break;
                    }
                    case 6: {
                        const auto v = static_cast<long long>(bits);
                        e.with(key, v);
                        c[0].push_back(of_signed(key, v));
                        break;
                    }
                    default: {
                        const auto v = static_cast<char>(bits);
                        e.with(key, v);
                        c[0].push_back(of_string(key, std::string_view(&v, 1)));
                        break;
                    }
                }
                break;
            }
            case 6: {
                const auto v = std::bit_cast<double>(r.le(8));
                e.with(key, v);
                c[0].push_back(of_double(key, v));
                break;
            }
            case 7: {
                const auto v = std::bit_cast<float>(static_cast<std::uint32_t>(r.le(4)));
                e.with(key, v);
                c[0].push_back(of_double(key, static_cast<double>(v)));
                break;
            }
            case 8: {
                const bool v = (r.byte() & 1) != 0;
                e.with(key, v);
                c[0].push_back(of_bool(key, v));
                break;
            }
            case 9: {
                const point v{static_cast<std::int32_t>(r.le(4)), static_cast<std::int32_t>(r.le(4))};
                e.with(key, v);
                c[0].push_back(of_string(key, fmt::format("({}, {})", v.x, v.y)));
                break;
            }
            case 12: {
                strata::error none;
                none.with(key, 1).with(key, "x");
                CHECK(none.empty() && none.misc().empty() && none.depth() == 0);
                break;
            }
            case 13: {
                const std::string v(r.bytes(r.byte()));
                if (c.size() < 2) break;
                strata::error in = e.inner();
                in.with(key, v);
                frame_model m = c[1];
                m.push_back(of_string(key, v));
                check_frame(in, m);
                CHECK(in.message() == e.inner().message() && in.depth() == e.inner().depth());
                CHECK(!in.same_as(e.inner()));
                check_frame(e.inner(), c[1]);
                break;
            }
            default: {
                const auto v = static_cast<std::int64_t>(r.le(8));
                strata::error moved = std::move(e).with(key, v);
                CHECK(e.empty());  // a moved-from error is empty
                e = std::move(moved);
                c[0].push_back(of_signed(key, v));
                break;
            }
        }
    }

    check_chain(e, c);
    for (const snapshot& s : snaps) check_chain(s.e, s.c);

    const std::string verbose = fmt::format("{:v}", e);
    CHECK(printed(verbose, e, c, ""));

    std::string logged;
    int calls = 0;
    const strata::log_sink sink([&](const strata::log_record& rec) {
        ++calls;
        logged = rec.text;
    });
    strata::handle_options options;
    options.sink = &sink;
    const strata::report rep = strata::handle(e, options);
    CHECK(calls == 1);
    CHECK(rep.is_bug == !e.is_user_facing());
    CHECK(printed(logged, e, c, "  ", true));
    // Reporting changes no entry.
    check_chain(e, c);
    return 0;
}
