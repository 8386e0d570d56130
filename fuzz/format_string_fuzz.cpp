// fuzz/format_string_fuzz.cpp: libFuzzer target for run-time format strings
// (make_error(fmt::runtime(s), ...)), the formatters and handle().
//
// Input: <format string> [0x00 <control> <int32 LE> <double: 8 raw bytes LE> <bool>
// <string argument: the rest>]. Missing bytes read as zero, so a text file without a
// NUL is a format string with all-zero arguments (and the default control).
//   control bits 0-1: argument order, (int, double, string_view, bool) rotated left
//           bits 2-3: make_error's layer: untagged, low_level, intermediate, untagged
//           bit 4:    0 = the user-facing wrap is outermost, 1 = the other one is
//           bits 5-6: capture policy: origin, off, every_frame, origin
//
// Checks (a violation calls __builtin_trap() after saying which):
// - the message is what fmt makes of the same string and arguments, or, when fmt
//   rejects them, says "invalid format string" and fmt's reason;
// - the chain is three frames with the layers it was made with, sharing frames;
// - {} is the outermost message, {:c} the chain, {:v} shows every frame;
// - handle() with its own sink logs once and tells the user the outermost
//   user-facing message or the bug text, never the inner messages.
//
// Bounds (so that a run measures strata rather than fmt writing gigabytes of
// padding): inputs whose format string has a run of six or more digits (a width,
// precision or argument index of 100000 or more) are skipped, and the int argument
// is cut to +-65536 when it could be a dynamic width or precision.
#include "record_text.hpp"
#include <strata/error.hpp>
#include <strata/format.hpp>
#include <strata/handle.hpp>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>

namespace {


[[noreturn]] void fail(const char* what, int line) {
    std::fprintf(stderr, "format_string_fuzz: invariant violated at line %d: %s\n", line, what);
    std::fflush(stderr);
    __builtin_trap();
}

#define CHECK(cond) ((cond) ? (void)0 : fail(#cond, __LINE__))

constexpr std::string_view bug_text = "BUG TEXT (fuzz)";

struct arguments {
    int i = 0;
    double d = 0;
    std::string_view s;
    bool b = false;
};

bool contains(std::string_view hay, std::string_view needle) { return hay.find(needle) != std::string_view::npos; }

// A run of six or more decimal digits: a width, precision or index of 100000 or more.
bool has_huge_number(std::string_view f) {
    int run = 0;
    for (char c : f) {
        run = (c >= '0' && c <= '9') ? run + 1 : 0;
        if (run >= 6) return true;
    }
    return false;
}

// A dynamic width or precision needs a spec (':') and a second '{'.
bool may_have_dynamic_spec(std::string_view f) {
    int braces = 0;
    for (char c : f) braces += c == '{';
    return braces >= 2 && contains(f, ":");
}

// What fmt makes of the same string and arguments; `ok` false when fmt rejects them
// (`expected` is then fmt's reason).
template <class... A>
std::string fmt_oracle(std::string_view f, bool& ok, const A&... a) {
    try {
        ok = true;
        return fmt::vformat(f, fmt::make_format_args(a...));
    } catch (const std::exception& e) {
        ok = false;
        return e.what();
    }
}

template <class L, class... A>
strata::error make_with(std::string_view f, std::string& expected, bool& ok, const A&... a) {
    expected = fmt_oracle(f, ok, a...);
    return strata::make_error<L>(fmt::runtime(f), a...);
}

template <class L>
strata::error make_root(std::string_view f, const arguments& a, unsigned order, std::string& expected, bool& ok) {
    switch (order & 3) {
        case 0: return make_with<L>(f, expected, ok, a.i, a.d, a.s, a.b);
        case 1: return make_with<L>(f, expected, ok, a.d, a.s, a.b, a.i);
        case 2: return make_with<L>(f, expected, ok, a.s, a.b, a.i, a.d);
        default: return make_with<L>(f, expected, ok, a.b, a.i, a.d, a.s);
    }
}

std::string frame_line(std::size_t index, const strata::error& e) {
    std::string s = "#" + std::to_string(index) + " " + std::string(e.layer().name);
    if (e.is_user_facing()) s += " [user-facing]";
    s += ": ";
    s += e.message();
    s += '\n';
    return s;
}

// `parts` occur in `text` in this order (greedy, so never a false "missing").
template <std::size_t N>
bool in_order(std::string_view text, const std::string (&parts)[N]) {
    std::size_t pos = 0;
    for (const std::string& p : parts) {
        const auto at = text.find(p, pos);
        if (at == std::string_view::npos) return false;
        pos = at + p.size();
    }
    return true;
}

struct sink_state {
    int calls = 0;
    std::string id;
    std::string text;
    std::string user_message;
    bool is_bug = false;
    bool same_error = false;
    const strata::error* handled = nullptr;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    const std::size_t nul = in.find('\0');
    const std::string_view f = in.substr(0, nul);
    const std::string_view rest = nul == std::string_view::npos ? std::string_view() : in.substr(nul + 1);
    if (has_huge_number(f)) return -1;  // not added to the corpus

    auto byte = [&](std::size_t k) -> std::uint64_t {
        return k < rest.size() ? static_cast<unsigned char>(rest[k]) : 0;
    };
    const unsigned control = static_cast<unsigned>(byte(0));
    arguments a;
    std::uint32_t i_bits = 0;
    for (std::size_t k = 0; k < 4; ++k) i_bits |= static_cast<std::uint32_t>(byte(1 + k) << (8 * k));
    a.i = static_cast<int>(i_bits);
    if (may_have_dynamic_spec(f)) a.i %= 65537;
    std::uint64_t d_bits = 0;
    for (std::size_t k = 0; k < 8; ++k) d_bits |= byte(5 + k) << (8 * k);
    a.d = std::bit_cast<double>(d_bits);
    a.b = (byte(13) & 1) != 0;
    a.s = rest.size() > 14 ? rest.substr(14) : std::string_view();

    static constexpr strata::capture_policy policies[] = {strata::capture_policy::origin, strata::capture_policy::off,
                                                          strata::capture_policy::every_frame,
                                                          strata::capture_policy::origin};
    const strata::capture_policy policy = policies[(control >> 5) & 3];
    strata::set_capture_policy(policy);

    // The root: make_error in the chosen layer.
    std::string expected;
    bool ok = false;
    strata::error root;
    std::string_view root_layer;
    switch ((control >> 2) & 3) {
        case 1:
            root = make_root<strata::low_level>(f, a, control, expected, ok);
            root_layer = strata::low_level::name;
            CHECK(root.is<strata::low_level>());
            break;
        case 2:
            root = make_root<strata::intermediate>(f, a, control, expected, ok);
            root_layer = strata::intermediate::name;
            CHECK(root.is<strata::intermediate>());
            break;
        default:
            root = make_root<strata::untagged>(f, a, control, expected, ok);
            root_layer = strata::untagged::name;
            CHECK(root.is<strata::untagged>());
            break;
    }
    CHECK(root);
    CHECK(!root.empty());
    CHECK(root.depth() == 1);
    CHECK(root.inner().empty());
    CHECK(root.layer().name == root_layer);
    CHECK(!root.layer().is_cause);
    CHECK(root.is_user_facing() == (root_layer == strata::intermediate::name));
    if (ok) {
        CHECK(root.message() == expected);
    } else {
        CHECK(root.message().starts_with("invalid format string"));
        CHECK(contains(root.message(), expected));
    }
    // Frame messages are NUL-terminated in their allocation (exception::what()).
    CHECK(root.message().data()[root.message().size()] == '\0');
    CHECK(root.stack().empty() == (policy == strata::capture_policy::off));

    // Two wraps: one user-facing, one not, in the order the control byte says.
    const bool user_facing_outermost = ((control >> 4) & 1) == 0;
    strata::error mid;
    strata::error top;
    if (user_facing_outermost) {
        mid = strata::wrap<strata::low_level>(root, "reading record {}", a.i);
        top = strata::wrap<strata::intermediate>(mid, "could not load the settings");
        CHECK(top.is<strata::intermediate>() && top.is_user_facing());
        CHECK(top.inner().is<strata::low_level>() && !top.inner().is_user_facing());
    } else {
        mid = strata::wrap<strata::intermediate>(root, "the settings in {} are invalid", a.s);
        top = strata::wrap<strata::low_level>(mid, "in worker {}", a.b);
        CHECK(top.is<strata::low_level>() && !top.is_user_facing());
        CHECK(top.inner().is<strata::intermediate>() && top.inner().is_user_facing());
    }
    CHECK(top && mid);
    CHECK(top.depth() == 3 && mid.depth() == 2);
    CHECK(top.inner().same_as(mid));
    CHECK(mid.inner().same_as(root));
    CHECK(top.inner().inner().same_as(root));
    CHECK(top.inner().inner().inner().empty());
    CHECK(top.inner().inner().layer().name == root_layer);
    CHECK(strata::find<strata::intermediate>(top).has_value());
    CHECK(strata::find<strata::low_level>(top).has_value());
    CHECK(!top.message().empty() && !mid.message().empty());
    CHECK(top.stack().empty() == (policy == strata::capture_policy::off));

    // The three formats.
    CHECK(fmt::format("{}", top) == top.message());
    CHECK(fmt::format("{}", root) == root.message());
    const std::string chain =
        std::string(top.message()) + ": " + std::string(mid.message()) + ": " + std::string(root.message());
    CHECK(fmt::format("{:c}", top) == chain);
    CHECK(fmt::format("{:c}", root) == root.message());
    const std::string verbose = fmt::format("{:v}", top);
    {
        const std::string lines[] = {frame_line(0, top), frame_line(1, mid), frame_line(2, root)};
        CHECK(in_order(verbose, lines));
    }
    if (policy == strata::capture_policy::off)
        CHECK(contains(verbose, "(no stack captured)\n"));
    else
        CHECK(contains(verbose, "stack of #2 (origin):\n"));
    // The wrapped_error<L> formatter is the error's.
    CHECK(fmt::format("{:c}", strata::wrap<strata::untagged>(top, "x")) == "x: " + chain);

    // handle() with its own sink.
    sink_state st;
    const strata::log_sink sink([&st](const strata::log_record& r) {
        ++st.calls;
        st.id = r.id;
        st.text = r.text;
        st.user_message = r.rep.user_message;
        st.is_bug = r.rep.is_bug;
        st.same_error = st.handled && r.err.same_as(*st.handled);
    });
    strata::handle_options options;
    options.sink = &sink;
    options.bug_message = bug_text;
    st.handled = &top;
    const strata::report rep = strata::handle(top, options);
    CHECK(st.calls == 1);
    CHECK(st.same_error);
    CHECK(!rep.id.empty() && rep.id == st.id);
    CHECK(rep.user_message == st.user_message && rep.is_bug == st.is_bug);
    CHECK(rep.is_bug == !user_facing_outermost);
    if (user_facing_outermost) {
        CHECK(rep.user_message == top.message());
        for (const strata::error* inner : {&mid, &root})
            if (!contains(top.message(), inner->message())) CHECK(!contains(rep.user_message, inner->message()));
    } else {
        CHECK(rep.user_message == bug_text);
        for (const strata::error* inner : {&mid, &root})
            if (!contains(bug_text, inner->message())) CHECK(!contains(rep.user_message, inner->message()));
    }
    CHECK(fmt::format("{}", rep) == "[" + rep.id + "] " + rep.user_message);
    CHECK(contains(st.text, "  user saw: [" + rep.id + "] " + fuzz::escaped(rep.user_message) + "\n"));
    CHECK(contains(st.text, "  chain: " + fuzz::escaped(chain) + "\n"));
    CHECK(st.text.starts_with("[" + rep.id + "] "));
    CHECK(!st.text.empty() && st.text.back() == '\n');

    // Handled again (or through a copy): the same ID, nothing logged.
    const strata::error copy = top;
    const strata::report again = strata::handle(copy, options);
    CHECK(st.calls == 1);
    CHECK(again.id == rep.id && again.user_message == rep.user_message && again.is_bug == rep.is_bug);

    // Another frame of the chain is another report.
    st.handled = &root;
    const strata::report of_root = strata::handle(root, options);
    CHECK(st.calls == 2 && st.same_error);
    CHECK(of_root.id != rep.id);
    CHECK(of_root.is_bug == !root.is_user_facing());
    CHECK(of_root.user_message == (of_root.is_bug ? bug_text : root.message()));

    // An empty error is a bug.
    const strata::error none;
    st.handled = &none;
    const strata::report of_none = strata::handle(none, options);
    CHECK(st.calls == 3);
    CHECK(of_none.is_bug && of_none.user_message == bug_text);
    CHECK(fmt::format("{}", none) == "(no error)" && fmt::format("{:c}", none) == "(no error)");
    return 0;
}
