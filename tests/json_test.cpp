// Tests for <strata/json.hpp> and <strata/origin.hpp>: to_json / from_json round
// trips (layers, causes, misc of every kind, stacks, IDs, the empty error), layers
// the receiver does not know, what a decoded error says about where it came from,
// the fields of the document, bad input of every kind (never a crash, always a
// failed result in layer strata::bad_json that names the problem and where), a very
// deep chain, and decoding from several threads.
#include <catch2/catch.hpp>
#include <strata/cancel.hpp>
#include <strata/handle.hpp>
#include <strata/json.hpp>
#include <strata/origin.hpp>

#include "support.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <limits>
#include <random>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <unistd.h>

namespace {

using json = nlohmann::json;            // objects compare regardless of key order
using ojson = nlohmann::ordered_json;  // keeps the encoder's order, to edit a document and dump it again

// Layers only this test defines.
struct billing_layer {
    static constexpr std::string_view name = "json_test.billing";
    static constexpr bool user_facing = true;
};
struct storage_layer {  // not user-facing
    static constexpr std::string_view name = "json_test.storage";
};
struct never_used_layer {
    static constexpr std::string_view name = "json_test.never_used";
    static constexpr bool user_facing = true;
};

bool contains(std::string_view text, std::string_view needle) { return text.find(needle) != std::string_view::npos; }

std::string this_host() {
    char name[256] = {};
    REQUIRE(gethostname(name, sizeof name - 1) == 0);
    return name;
}

// A sink that keeps the last record.
struct last_record {
    std::string text;
    long thread = 0;
    int calls = 0;
    strata::log_sink sink() {
        return [this](const strata::log_record& r) {
            ++calls;
            text.assign(r.text);
            thread = r.thread;
        };
    }
};

strata::error decode_ok(std::string_view text) {
    strata::result<strata::error> r = strata::from_json(text);
    if (!r) FAIL("from_json failed: " << fmt::format("{:v}", r.error()));
    return *r;
}

// The failure from_json gives for `text`, after the checks every failure passes.
strata::error decode_bad(std::string_view text) {
    strata::result<strata::error> r = strata::from_json(text);
    REQUIRE_FALSE(r.has_value());
    const strata::error e = r.error();
    INFO("failure: " << e.message());
    REQUIRE(e.is<strata::bad_json>());
    REQUIRE_FALSE(e.is_user_facing());
    REQUIRE(e.message().rfind("strata::from_json: ", 0) == 0);
    REQUIRE(e.message().size() > std::string_view("strata::from_json: ").size());
    const auto bytes = e.misc().find("input_bytes");
    REQUIRE(bytes);
    REQUIRE(bytes->as_unsigned() == text.size());
    return e;
}

// A misc value's text as fmt prints it (as the hash of a sensitive one is taken).
std::string plain_text(const strata::misc_value& v) {
    switch (v.type()) {
        case strata::misc_value::kind::string: return std::string(v.as_string());
        case strata::misc_value::kind::signed_integer: return std::to_string(v.as_signed());
        case strata::misc_value::kind::unsigned_integer: return std::to_string(v.as_unsigned());
        case strata::misc_value::kind::floating_point: return fmt::format("{}", v.as_double());
        case strata::misc_value::kind::boolean: return v.as_bool() ? "true" : "false";
    }
    return "?";
}

// The misc entries of a frame as they travel: (key, kind, text); a sensitive
// value as the string of its token.
std::vector<std::tuple<std::string, strata::misc_value::kind, std::string>> misc_as_sent(const strata::error& e) {
    std::vector<std::tuple<std::string, strata::misc_value::kind, std::string>> out;
    for (const strata::misc_entry& m : e.misc()) {
        if (m.value.is_sensitive())
            out.emplace_back(std::string(m.key), strata::misc_value::kind::string, strata::sensitive_token(plain_text(m.value)));
        else
            out.emplace_back(std::string(m.key), m.value.type(), plain_text(m.value));
    }
    return out;
}

// Frame by frame: layer, flags, message (as sent: sensitive parts hashed), cause
// detail, call site and misc.
void check_same_frames(const strata::error& sent, const strata::error& got) {
    REQUIRE(got.depth() == sent.depth());
    strata::error a = sent, b = got;
    for (std::size_t i = 0; a; ++i, a = a.inner(), b = b.inner()) {
        INFO("frame " << i << ": " << a.message());
        REQUIRE(b);
        CHECK(b.layer().name == a.layer().name);
        CHECK(b.layer().user_facing == a.layer().user_facing);
        CHECK(b.layer().is_cause == a.layer().is_cause);
        CHECK(b.is_user_facing() == a.is_user_facing());
        CHECK(b.message() == fmt::format("{}", a));
        CHECK(b.cause_detail() == a.cause_detail());
        CHECK(std::string_view(b.location().file_name()) == a.location().file_name());
        CHECK(b.location().line() == a.location().line());
        CHECK(std::string_view(b.location().function_name()) == a.location().function_name());
        CHECK(misc_as_sent(b) == misc_as_sent(a));
        for (const strata::misc_entry& m : b.misc()) CHECK_FALSE(m.value.is_sensitive());
    }
    CHECK_FALSE(b);
}

template <class L>
void check_layer(const strata::error& sent, const strata::error& got) {
    INFO("layer " << L::name);
    CHECK(got.is<L>() == sent.is<L>());
    const auto fs = strata::find<L>(sent);
    const auto fg = strata::find<L>(got);
    REQUIRE(fg.has_value() == fs.has_value());
    if (fs) {
        CHECK(fg->depth() == fs->depth());
        CHECK(fg->message() == fmt::format("{}", *fs));
    }
}

template <class... L>
void check_layers(const strata::error& sent, const strata::error& got) {
    (check_layer<L>(sent, got), ...);
}

// Everything a round trip keeps. Handles both errors at the end (the caller's
// error must not be used after, but for its text).
void check_round_trip(const strata::error& e) {
    const std::string text = strata::to_json(e);
    REQUIRE_FALSE(text.empty());
    INFO("JSON: " << text);
    const strata::error d = decode_ok(text);
    CHECK(static_cast<bool>(d) == static_cast<bool>(e));
    CHECK(strata::to_json(d) == text);  // byte for byte
    CHECK(fmt::format("{:c}", d) == fmt::format("{:c}", e));
    CHECK(fmt::format("{}", d) == fmt::format("{}", e));
    CHECK(d.is_user_facing() == e.is_user_facing());
    check_same_frames(e, d);
    check_layers<strata::low_level, strata::intermediate, strata::untagged, strata::canceled, strata::timed_out,
                 strata::bad_json, billing_layer, storage_layer, never_used_layer>(e, d);
    // handle()'s decision and what the user is told.
    const strata::log_sink quiet([](const strata::log_record&) {});
    const strata::report rd = strata::handle(d, strata::handle_options{&quiet});
    const strata::report re = strata::handle(e, strata::handle_options{&quiet});
    CHECK(rd.is_bug == re.is_bug);
    CHECK(rd.is_bug == !e.is_user_facing());
    CHECK(rd.user_message == re.user_message);
    CHECK(json::parse(text)["strata.is_bug"] == rd.is_bug);
    if (json::parse(text).contains("strata.id")) CHECK(rd.id == re.id);  // the sender's ID
}

[[gnu::noinline]] strata::error every_frame_chain() {
    strata_test::policy_guard guard;
    strata::set_capture_policy(strata::capture_policy::every_frame);
    strata::error e = strata::wrap<strata::low_level>(std::make_error_code(std::errc::connection_refused), "connect {}", "db:5432");
    e = strata::wrap<storage_layer>(std::move(e), "load user {}", 42);
    e = strata::wrap<billing_layer>(std::move(e), "could not load your invoices");
    return e;
}

}  // namespace

// ---------------------------------------------------------------------------
// Round trips

TEST_CASE("round trip: layers, causes, misc, stacks, IDs and the empty error survive", "[json]") {
    strata_test::policy_guard guard;
    strata::set_capture_policy(strata::capture_policy::origin);
    strata::set_sensitive_key("json_test key");
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const double inf = std::numeric_limits<double>::infinity();

    std::vector<std::pair<std::string, strata::error>> cases;
    cases.emplace_back("user-facing application layer over low_level over std::error_code",
                       strata::wrap<billing_layer>(
                           strata::wrap<strata::low_level>(std::make_error_code(std::errc::no_such_file_or_directory),
                                                           "open {}", "/etc/app.conf")
                               .with("attempt", 2),
                           "could not load your settings"));
    cases.emplace_back("non-user-facing application layer over an exception_ptr",
                       strata::wrap<storage_layer>(std::make_exception_ptr(std::runtime_error("disk on fire")),
                                                   "flush {} pages", 12));
    cases.emplace_back("intermediate over a std::exception object",
                       strata::wrap<strata::intermediate>(std::logic_error("bad state"), "try again later"));
    cases.emplace_back("string cause", strata::wrap<storage_layer>(std::string("connection reset by peer"), "replicate"));
    cases.emplace_back("value cause", strata::wrap<strata::low_level>(404, "status"));
    cases.emplace_back("untagged over canceled", strata::wrap(strata::make_error<strata::canceled>("stopped by {}", "user"), "job {}", 7));
    cases.emplace_back("timed_out", strata::make_error<strata::timed_out>("no result within {} ms", 100).with("timeout_ms", 100));
    cases.emplace_back(
        "misc of every kind",
        strata::make_error<billing_layer>("charge failed")
            .with("string", "text")
            .with("empty", "")
            .with("char", 'x')
            .with("int", -42)
            .with("zero", 0)
            .with("int_min", std::numeric_limits<std::int64_t>::min())
            .with("int_max", std::numeric_limits<std::int64_t>::max())
            .with("uint_max", std::numeric_limits<std::uint64_t>::max())
            .with("uint_zero", 0u)
            .with("uint_small", std::uint16_t{7})
            .with("double", 2.5)
            .with("double_integral", 3.0)
            .with("double_tiny", 5e-324)
            .with("double_big", -1.7976931348623157e308)
            .with("negative_zero", -0.0)
            .with("third", 1.0 / 3.0)
            .with("nan", nan)
            .with("inf", inf)
            .with("minus_inf", -inf)
            .with("true", true)
            .with("false", false)
            .with("same key", 1)
            .with("same key", 2));
    cases.emplace_back("escapes in messages, keys and values",
                       strata::make_error<storage_layer>("tab\there \"quoted\" back\\slash \x01 bell\x07 del\x7f é ü 日本")
                           .with("k\"e\\y\n", "va\nl\tue \"x\" \x1f")
                           .with("unicode", "Grüße, 世界"));
    cases.emplace_back("nested stacks (every_frame)", every_frame_chain());
    cases.emplace_back("sensitive values (sent as their tokens)",
                       strata::wrap<billing_layer>(strata::make_error<storage_layer>("key {}", strata::sensitive(std::string("k-ppqqrrss")))
                                                       .with("cvv", strata::sensitive(123))
                                                       .with("card", strata::sensitive("4111111111111111")),
                                                   "card {} declined", strata::sensitive(std::string("4111111111111111"))));
    {
        strata::error handled = strata::make_error<billing_layer>("declined by the bank");
        const strata::log_sink quiet([](const strata::log_record&) {});
        const strata::report r = strata::handle(handled, strata::handle_options{&quiet});
        REQUIRE_FALSE(r.id.empty());
        cases.emplace_back("a handled error (its ID travels)", handled);
    }
    cases.emplace_back("the empty error", strata::error());
    {
        strata::error deep = strata::make_error<storage_layer>("root");
        for (int i = 0; i < 3 * STRATA_FORMAT_MAX_FRAMES; ++i)
            deep = strata::wrap<strata::low_level>(std::move(deep), "level {}", i);
        cases.emplace_back("a chain longer than STRATA_FORMAT_MAX_FRAMES ({:c} elided the same way)", deep);
    }
    try {
        throw std::out_of_range("index 7 of 3");
    } catch (...) {
        cases.emplace_back("from_exception", strata::from_exception());
    }
    {
        const strata::error remote = decode_ok(strata::to_json(strata::make_error<storage_layer>("remote failure").with("shard", 3)));
        cases.emplace_back("a local frame over decoded ones (two origins)", strata::wrap<billing_layer>(remote, "could not sync"));
        cases.emplace_back("a decoded error, again", remote);
    }
    cases.emplace_back("untagged make_error without arguments", strata::make_error("just a message"));

    for (const auto& [name, e] : cases) {
        INFO(name);
        check_round_trip(e);
    }
}

TEST_CASE("round trip: the decoded frames keep the sender's stacks, printed as it symbolized them", "[json]") {
    const strata::error e = every_frame_chain();
    const std::string text = strata::to_json(e);
    const strata::error d = decode_ok(text);
    const json j = json::parse(text);
    REQUIRE(j["strata.frames"].size() == 4);
    for (std::size_t i = 0; i < 4; ++i) {
        INFO("frame " << i);
        REQUIRE(j["strata.frames"][i].contains("stack"));
        CHECK_FALSE(j["strata.frames"][i]["stack"]["raw"].empty());
    }
    CHECK(d.stack().size() == 0);  // the sender's addresses mean nothing here
    const std::string v = fmt::format("{:v}", d);
    INFO(v);
    CHECK(contains(v, "(origin, as " + this_host() + " pid " + std::to_string(::getpid()) + " symbolized it)"));
    // Each symbolized line of the origin's stack is printed.
    for (const auto& line : j["strata.frames"][3]["stack"]["symbolized"]) CHECK(contains(v, line.get<std::string>()));
    CHECK(contains(v, "every_frame_chain"));
}

TEST_CASE("round trip: with() on a decoded error copies the frame, and its call site stays valid", "[json]") {
    const strata::error original = strata::make_error<billing_layer>("declined").with("attempt", 1);
    const std::string file = original.location().file_name();
    const std::string function = original.location().function_name();
    strata::error copy;
    {
        const strata::error d = decode_ok(strata::to_json(original));
        copy = d;
        copy.with("received", true);  // shared: copied first
        REQUIRE_FALSE(copy.same_as(d));
    }
    // The decoded error is gone; the copy's call site points into the shared payload.
    CHECK(copy.location().file_name() == file);
    CHECK(copy.location().function_name() == function);
    CHECK(copy.location().line() == original.location().line());
    CHECK(copy.misc().size() == 2);
    REQUIRE(strata::origin_of(copy) != nullptr);
    CHECK(strata::origin_of(copy)->pid == ::getpid());
    CHECK(contains(strata::to_json(copy), "\"received\""));
}

// ---------------------------------------------------------------------------
// Layers the receiver does not know

TEST_CASE("a layer the receiver does not know passes through by name, user-facing as sent", "[json]") {
    const bool user_facing = GENERATE(true, false);
    INFO("user_facing " << user_facing);
    const std::string frame0 = fmt::format(
        R"({{"layer":"billing.gateway","user_facing":{},"message":"card declined by issuer","at":{{"file":"gateway/charge.go","line":88,"function":"charge"}},"misc":[{{"key":"attempt","type":"int","value":3}},{{"key":"issuer","type":"string","value":"ACME"}}],"id":"abcdefghjk-17","origin":0}})",
        user_facing);
    const std::string frame1 =
        R"({"layer":"std::error_code","user_facing":false,"cause":true,"message":"Connection refused","detail":"generic:111","stack":{"symbolized":["charge at gateway/charge.go:80","main at gateway/main.go:12"],"raw":["0x4a5f10","0x401000"],"truncated":false},"origin":0})";
    const std::string text =
        R"({"strata.version":1,"strata.origins":[{"host":"billing-7","pid":4242,"thread":4243,"time":"2026-11-27T13:56:05.471Z"}],"strata.frames":[)" +
        frame0 + "," + frame1 + "]}";

    const strata::error d = decode_ok(text);
    CHECK(d.layer().name == "billing.gateway");
    CHECK(d.layer().user_facing == user_facing);
    CHECK(d.is_user_facing() == user_facing);
    CHECK(d.message() == "card declined by issuer");
    CHECK_FALSE(d.is<billing_layer>());
    CHECK_FALSE(d.is<strata::low_level>());
    CHECK(std::string_view(d.location().file_name()) == "gateway/charge.go");
    CHECK(d.location().line() == 88);
    CHECK(std::string_view(d.location().function_name()) == "charge");
    CHECK(d.misc().find("attempt")->as_signed() == 3);
    CHECK(d.inner().layer().name == "std::error_code");
    CHECK(d.inner().layer().is_cause);
    CHECK(d.inner().cause_detail() == "generic:111");
    CHECK(fmt::format("{:c}", d) == "card declined by issuer: Connection refused");

    last_record rec;
    const strata::log_sink sink = rec.sink();
    const strata::report r = strata::handle(d, strata::handle_options{&sink});
    CHECK(r.is_bug == !user_facing);
    CHECK(r.user_message == (user_facing ? std::string("card declined by issuer") : std::string(strata::default_bug_message)));
    CHECK(r.id == "abcdefghjk-17");  // the sender's
    CHECK(contains(rec.text, "from: host billing-7, pid 4242, thread 4243 (sent 2026-11-27T13:56:05.471Z"));
    CHECK(contains(rec.text, "charge at gateway/charge.go:80"));

    // Encoded again, the frames are what was received.
    const json again = json::parse(strata::to_json(d));
    CHECK(again["strata.frames"][0] == json::parse(frame0));
    CHECK(again["strata.frames"][1] == json::parse(frame1));
    CHECK(again["strata.origins"] == json::parse(text)["strata.origins"]);
    CHECK(again["exception.type"] == "billing.gateway");
    CHECK(again["strata.is_bug"] == !user_facing);
    CHECK(again["strata.id"] == "abcdefghjk-17");
    CHECK(again["exception.stacktrace"] == "0# charge at gateway/charge.go:80\n1# main at gateway/main.go:12\n");
}

TEST_CASE("one unknown name sent user-facing and not: each decoded error keeps its own flag", "[json]") {
    auto doc = [](bool uf) {
        return fmt::format(
            R"({{"strata.version":1,"strata.origins":[{{"host":"h","pid":1,"thread":1,"time":"t"}}],"strata.frames":[{{"layer":"json_test.both_ways","user_facing":{},"message":"m","origin":0}}]}})",
            uf);
    };
    const strata::error shown = decode_ok(doc(true));
    const strata::error hidden = decode_ok(doc(false));
    const strata::error shown_again = decode_ok(doc(true));
    CHECK(shown.is_user_facing());
    CHECK_FALSE(hidden.is_user_facing());
    CHECK(shown_again.is_user_facing());
    // Each decoded frame carries its own record of an unknown layer (nothing a
    // peer sends grows a table): same name, each with the flag it was sent with.
    CHECK(shown.layer().name == "json_test.both_ways");
    CHECK(hidden.layer().name == "json_test.both_ways");
    CHECK(shown.layer().user_facing != hidden.layer().user_facing);
    // A name strata defines maps to strata's own record.
    const strata::error low = decode_ok(
        R"({"strata.version":1,"strata.origins":[{"host":"h","pid":1,"thread":1,"time":"t"}],"strata.frames":[{"layer":"low_level","user_facing":false,"message":"m","origin":0}]})");
    CHECK(&low.layer() == &strata::layer_info_of<strata::low_level>);
    CHECK(low.is<strata::low_level>());
}

// ---------------------------------------------------------------------------
// Where it came from, and the sender's ID

TEST_CASE("handle() of a decoded handled error keeps the sender's ID and names the sender", "[json]") {
    last_record sender_rec;
    const strata::log_sink sender_sink = sender_rec.sink();
    const strata::error sent = strata::make_error<billing_layer>("your card was declined");
    const strata::report sender_report = strata::handle(sent, strata::handle_options{&sender_sink});
    const std::string text = strata::to_json(sent);
    const json j = json::parse(text);

    const strata::error got = decode_ok(text);
    const strata::origin* o = strata::origin_of(got);
    REQUIRE(o != nullptr);
    CHECK(o->host == j["strata.origins"][0]["host"]);
    CHECK(o->host == this_host());
    CHECK(o->pid == j["strata.origins"][0]["pid"]);
    CHECK(o->pid == ::getpid());
    CHECK(o->thread == j["strata.origins"][0]["thread"]);
    CHECK(o->thread == sender_rec.thread);  // encoded on this thread
    CHECK(o->time == j["strata.origins"][0]["time"]);
    CHECK(strata::origin_of(sent) == nullptr);
    CHECK(strata::origin_of(strata::error()) == nullptr);

    last_record rec;
    const strata::log_sink sink = rec.sink();
    const strata::report r = strata::handle(got, strata::handle_options{&sink});
    CHECK(r.id == sender_report.id);
    CHECK(r.user_message == sender_report.user_message);
    CHECK(rec.calls == 1);
    CHECK(rec.text.rfind("[" + sender_report.id + "] ", 0) == 0);
    CHECK(contains(rec.text, "from: host " + o->host + ", pid " + std::to_string(o->pid)));
    CHECK(contains(rec.text, "(sent " + o->time + ", decoded from JSON)"));
    // Handled again here: same ID, no second record.
    CHECK(strata::handle(got, strata::handle_options{&sink}).id == sender_report.id);
    CHECK(rec.calls == 1);
}

TEST_CASE("origin_of a chain from another host: host, pid, thread and time as sent", "[json]") {
    const strata::error got = decode_ok(
        R"({"strata.version":1,"strata.origins":[{"host":"worker-3.example","pid":31337,"thread":31338,"time":"2026-01-02T03:04:05.678Z"}],"strata.frames":[{"layer":"json_test.storage","user_facing":false,"message":"disk full","origin":0}]})");
    const strata::origin* o = strata::origin_of(got);
    REQUIRE(o);
    CHECK(o->host == "worker-3.example");
    CHECK(o->pid == 31337);
    CHECK(o->thread == 31338);
    CHECK(o->time == "2026-01-02T03:04:05.678Z");
    CHECK(got.is<storage_layer>());
    // Wrapped here, it still says where the decoded part came from.
    const strata::error wrapped = strata::wrap<billing_layer>(got, "could not save");
    REQUIRE(strata::origin_of(wrapped) == o);
    last_record rec;
    const strata::log_sink sink = rec.sink();
    const strata::report r = strata::handle(wrapped, strata::handle_options{&sink});
    CHECK_FALSE(r.is_bug);
    CHECK(contains(rec.text, "from: host worker-3.example, pid 31337"));
    CHECK(contains(rec.text, "where: host " + this_host()));
    // Two origins in the document: this process's, then the worker's.
    const json j = json::parse(strata::to_json(wrapped));
    REQUIRE(j["strata.origins"].size() == 2);
    CHECK(j["strata.origins"][0]["host"] == this_host());
    CHECK(j["strata.origins"][1]["host"] == "worker-3.example");
    CHECK(j["strata.frames"][0]["origin"] == 0);
    CHECK(j["strata.frames"][1]["origin"] == 1);
}

// ---------------------------------------------------------------------------
// The document's fields

TEST_CASE("the document: OpenTelemetry exception.* fields and strata's own", "[json]") {
    strata_test::policy_guard guard;
    strata::set_capture_policy(strata::capture_policy::origin);
    last_record rec;
    const strata::log_sink sink = rec.sink();
    const strata::error e =
        strata::wrap<billing_layer>(strata::wrap<storage_layer>(std::make_error_code(std::errc::no_space_on_device),
                                                                "write {}", "/var/spool/doc.pdf")
                                        .with("bytes", 7340032),
                                    "could not save your document")
            .with("doc", "report.pdf")
            .with("ratio", 0.5)
            .with("big", std::numeric_limits<std::uint64_t>::max())
            .with("ok", false);
    const strata::report r = strata::handle(e, strata::handle_options{&sink});
    const std::string text = strata::to_json(e);
    INFO(text);
    const json j = json::parse(text);

    CHECK(j["exception.type"] == "json_test.billing");
    CHECK(j["exception.message"] == "could not save your document");
    CHECK(j["strata.version"] == strata::json_schema_version);
    CHECK(j["strata.version"] == 1);
    CHECK(j["strata.is_bug"] == false);
    CHECK(j["strata.chain"] == "could not save your document: write /var/spool/doc.pdf: No space left on device");
    CHECK(j["strata.chain"] == fmt::format("{:c}", e));
    CHECK(j["strata.id"] == r.id);

    REQUIRE(j["strata.origins"].size() == 1);
    const json& o = j["strata.origins"][0];
    CHECK(o["host"] == this_host());
    CHECK(o["pid"] == ::getpid());
    CHECK(o["thread"] == rec.thread);
    REQUIRE(o["time"].is_string());
    CHECK(std::regex_match(o["time"].get<std::string>(), std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")));

    const json& frames = j["strata.frames"];
    REQUIRE(frames.size() == 3);
    // #0: the outermost, handled.
    CHECK(frames[0]["layer"] == "json_test.billing");
    CHECK(frames[0]["user_facing"] == true);
    CHECK_FALSE(frames[0].contains("cause"));
    CHECK(frames[0]["message"] == "could not save your document");
    CHECK(frames[0]["at"] == json{{"file", e.location().file_name()},
                                  {"line", e.location().line()},
                                  {"function", e.location().function_name()}});
    CHECK(std::string(e.location().file_name()) == __FILE__);
    CHECK(frames[0]["misc"] == json::parse(R"([{"key":"doc","type":"string","value":"report.pdf"},
                                              {"key":"ratio","type":"float","value":0.5},
                                              {"key":"big","type":"uint","value":18446744073709551615},
                                              {"key":"ok","type":"bool","value":false}])"));
    CHECK_FALSE(frames[0].contains("stack"));  // origin policy: only the root cause's
    CHECK(frames[0]["id"] == r.id);
    CHECK(frames[0]["origin"] == 0);
    // #1
    CHECK(frames[1]["layer"] == "json_test.storage");
    CHECK(frames[1]["user_facing"] == false);
    CHECK(frames[1]["message"] == "write /var/spool/doc.pdf");
    CHECK(frames[1]["at"]["line"] == e.inner().location().line());
    CHECK(frames[1]["misc"] == json::parse(R"([{"key":"bytes","type":"int","value":7340032}])"));
    CHECK_FALSE(frames[1].contains("id"));
    CHECK_FALSE(frames[1].contains("stack"));
    // #2: the cause, with the origin stack.
    const json& c = frames[2];
    CHECK(c["layer"] == "std::error_code");
    CHECK(c["user_facing"] == false);
    CHECK(c["cause"] == true);
    CHECK(c["message"] == "No space left on device");
    CHECK(c["detail"] == "generic:28");
    CHECK_FALSE(c.contains("at"));
    CHECK_FALSE(c.contains("misc"));
    REQUIRE(c.contains("stack"));
    const json& st = c["stack"];
    CHECK(st["truncated"] == false);
    const strata::stack_view pcs = e.stack();
    REQUIRE(pcs.size() > 0);
    REQUIRE(st["raw"].size() == pcs.size());
    for (std::size_t i = 0; i < pcs.size(); ++i) {
        CHECK(st["raw"][i] == fmt::format("{:#x}", pcs[i]));
        CHECK(std::regex_match(st["raw"][i].get<std::string>(), std::regex("0x[0-9a-f]+")));
    }
    REQUIRE(st["symbolized"].is_array());
    REQUIRE_FALSE(st["symbolized"].empty());
    std::string expected_trace;
    for (std::size_t i = 0; i < st["symbolized"].size(); ++i) {
        REQUIRE(st["symbolized"][i].is_string());
        CHECK_FALSE(contains(st["symbolized"][i].get<std::string>(), "\n"));
        expected_trace += std::to_string(i) + "# " + st["symbolized"][i].get<std::string>() + "\n";
    }
    // The test case is the first frame shown (strata's own are skipped).
    CHECK(contains(st["symbolized"][0].get<std::string>(), e.location().function_name()));
    CHECK(j["exception.stacktrace"] == expected_trace);
    CHECK(frames[2]["origin"] == 0);

    // The order of the top-level fields: OpenTelemetry's first.
    const ojson ordered = ojson::parse(text);
    std::vector<std::string> keys;
    for (const auto& item : ordered.items()) keys.push_back(item.key());
    CHECK(keys == std::vector<std::string>{"exception.type", "exception.message", "exception.stacktrace", "strata.version",
                                           "strata.is_bug", "strata.chain", "strata.id", "strata.origins", "strata.frames"});
}

TEST_CASE("the document without any stack: no exception.stacktrace, no stack fields", "[json]") {
    strata_test::policy_guard guard;
    strata::set_capture_policy(strata::capture_policy::off);
    const strata::error e = strata::wrap<storage_layer>(std::make_error_code(std::errc::io_error), "read");
    const json j = json::parse(strata::to_json(e));
    CHECK_FALSE(j.contains("exception.stacktrace"));
    CHECK_FALSE(j.contains("strata.id"));
    for (const auto& f : j["strata.frames"]) CHECK_FALSE(f.contains("stack"));
    CHECK(j["strata.is_bug"] == true);
}

TEST_CASE("the document of an empty error", "[json]") {
    const json j = json::parse(strata::to_json(strata::error()));
    CHECK(j["exception.type"] == "(no error)");
    CHECK(j["exception.message"] == "");
    CHECK(j["strata.is_bug"] == true);
    CHECK(j["strata.chain"] == "(no error)");
    CHECK(j["strata.frames"] == json::array());
    CHECK(j["strata.origins"] == json::array());
    const strata::error d = decode_ok(j.dump());
    CHECK_FALSE(d);
    CHECK(strata::origin_of(d) == nullptr);
}

// ---------------------------------------------------------------------------
// Bad input

namespace {

// A real document with every field: handled, misc of each type, a stack with a
// few lines (as encoded here), a cause, a detail.
std::string full_document() {
    strata_test::policy_guard guard;
    strata::set_capture_policy(strata::capture_policy::origin);
    const strata::error e =
        strata::wrap<billing_layer>(strata::wrap<storage_layer>(std::make_error_code(std::errc::io_error), "read {}", "x")
                                        .with("s", "text")
                                        .with("i", -3)
                                        .with("u", std::numeric_limits<std::uint64_t>::max())
                                        .with("d", 0.25)
                                        .with("b", true),
                                    "could not read");
    const strata::log_sink quiet([](const strata::log_record&) {});
    (void)strata::handle(e, strata::handle_options{&quiet});
    ojson j = ojson::parse(strata::to_json(e));
    // A short stack, so that the document stays small enough to try every prefix.
    ojson& st = j["strata.frames"][2]["stack"];
    REQUIRE(st.is_object());
    st["symbolized"] = ojson::array({"f at a.cpp:1", "main at a.cpp:9"});
    st["raw"] = ojson::array({"0x401000", "0x401abc"});
    return j.dump();
}

// Each value of the document and where it is: ("$.strata.frames[0].layer", pointer).
void paths_of(const ojson& v, const std::string& path, const std::string& pointer,
              std::vector<std::pair<std::string, std::string>>& out) {
    auto escape = [](const std::string& key) {
        std::string s;
        for (char c : key) {
            if (c == '~')
                s += "~0";
            else if (c == '/')
                s += "~1";
            else
                s += c;
        }
        return s;
    };
    if (v.is_object()) {
        for (const auto& item : v.items()) {
            const std::string p = path + "." + item.key(), q = pointer + "/" + escape(item.key());
            out.emplace_back(p, q);
            paths_of(item.value(), p, q, out);
        }
    } else if (v.is_array()) {
        for (std::size_t i = 0; i < v.size(); ++i) {
            const std::string p = path + "[" + std::to_string(i) + "]", q = pointer + "/" + std::to_string(i);
            out.emplace_back(p, q);
            paths_of(v[i], p, q, out);
        }
    }
}

// A value of another JSON type than v.
ojson other_type(const ojson& v) {
    if (v.is_string()) return 42;
    if (v.is_number()) return "42";
    if (v.is_boolean()) return "true";
    if (v.is_object()) return ojson::array();
    if (v.is_array()) return ojson::object();
    return "null";
}

// Top-level fields that describe the chain for other tools (OpenTelemetry, log
// search); from_json rebuilds the error from strata.frames and strata.origins.
bool informational(const std::string& path) {
    for (const char* f : {"$.exception.type", "$.exception.message", "$.exception.stacktrace", "$.strata.is_bug",
                          "$.strata.chain", "$.strata.id"})
        if (path == f) return true;
    return false;
}

}  // namespace

TEST_CASE("bad input: the empty string and other non-documents", "[json][bad]") {
    {
        // The failure's call site is the caller's.
        const strata::result<strata::error> r = strata::from_json(""); const auto line = __LINE__;
        REQUIRE_FALSE(r);
        CHECK(std::string_view(r.error().location().file_name()) == __FILE__);
        CHECK(r.error().location().line() == static_cast<std::uint_least32_t>(line));
    }
    CHECK(contains(decode_bad("").message(), "not valid JSON"));
    CHECK(contains(decode_bad("   ").message(), "not valid JSON"));
    CHECK(contains(decode_bad("{").message(), "not valid JSON"));
    CHECK(contains(decode_bad("{}").message(), "$: missing \"strata.version\""));
    CHECK(contains(decode_bad("{} {}").message(), "not valid JSON"));
    CHECK(contains(decode_bad("[]").message(), "$: expected an object, got array"));
    CHECK(contains(decode_bad("42").message(), "$: expected an object, got number"));
    CHECK(contains(decode_bad("\"text\"").message(), "$: expected an object, got string"));
    CHECK(contains(decode_bad("null").message(), "$: expected an object, got null"));
    CHECK(contains(decode_bad("{\"strata.version\":1}").message(), "$: missing \"strata.origins\""));
    CHECK(contains(decode_bad("{\"a\":1e400}").message(), "not valid JSON"));
    CHECK(contains(decode_bad(std::string_view("{\"a\":\"\xff\"}")).message(), "not valid JSON"));
    CHECK(contains(decode_bad(std::string_view("{\0}", 3)).message(), "not valid JSON"));
    CHECK(contains(decode_bad("{\"a\":1} trailing").message(), "not valid JSON"));
    CHECK(contains(decode_bad("/* comment */ {}").message(), "not valid JSON"));
}

TEST_CASE("bad input: every prefix of a real document", "[json][bad]") {
    const std::string text = full_document();
    REQUIRE(decode_ok(text));
    for (std::size_t n = 0; n < text.size(); ++n) {
        INFO("prefix of " << n << " bytes");
        const strata::error e = decode_bad(std::string_view(text).substr(0, n));
        REQUIRE(contains(e.message(), "not valid JSON"));
    }
}

TEST_CASE("bad input: each field of a real document replaced by another type names the field's path", "[json][bad]") {
    const std::string text = full_document();
    const ojson doc = ojson::parse(text);
    std::vector<std::pair<std::string, std::string>> paths;
    paths_of(doc, "$", "", paths);
    REQUIRE(paths.size() > 50);
    int checked = 0;
    for (const auto& [path, pointer] : paths) {
        if (informational(path)) continue;  // see the test case below
        const ojson::json_pointer ptr(pointer);
        for (int variant = 0; variant < 2; ++variant) {
            ojson bad = doc;
            bad[ptr] = variant == 0 ? ojson(nullptr) : other_type(doc[ptr]);
            const std::string input = bad.dump();
            INFO(path << " := " << bad[ptr].dump());
            const strata::error e = decode_bad(input);
            INFO("message: " << e.message());
            CHECK(contains(e.message(), path + ": "));
            ++checked;
        }
    }
    CHECK(checked > 100);
}

TEST_CASE("the informational top-level fields are ignored, whatever their type (docs/json-schema.md)", "[json][bad]") {
    const std::string text = full_document();
    const ojson doc = ojson::parse(text);
    const std::string expected = strata::to_json(decode_ok(text));
    for (const char* key : {"exception.type", "exception.message", "exception.stacktrace", "strata.is_bug", "strata.chain",
                            "strata.id"}) {
        REQUIRE(doc.contains(key));
        for (int variant = 0; variant < 3; ++variant) {
            ojson other = doc;
            if (variant == 0)
                other[key] = other_type(doc[key]);
            else if (variant == 1)
                other[key] = nullptr;
            else
                other.erase(key);
            INFO(key << " variant " << variant);
            // Decoded from strata.frames and strata.origins alone: the same error.
            CHECK(strata::to_json(decode_ok(other.dump())) == expected);
        }
    }
}

TEST_CASE("bad input: schema versions this strata does not read", "[json][bad]") {
    ojson doc = ojson::parse(full_document());
    for (const ojson& v : {ojson(2), ojson(0), ojson(1000000), ojson(-1), ojson(1.0), ojson(1.5), ojson("1"),
                           ojson(std::numeric_limits<std::uint64_t>::max())}) {
        doc["strata.version"] = v;
        INFO("version " << v.dump());
        const strata::error e = decode_bad(doc.dump());
        CHECK(contains(e.message(), "$.strata.version: "));
    }
    doc["strata.version"] = 2;
    CHECK(contains(decode_bad(doc.dump()).message(), "schema version 2 is not one this strata reads (1)"));
    doc.erase("strata.version");
    CHECK(contains(decode_bad(doc.dump()).message(), "missing \"strata.version\""));
}

TEST_CASE("bad input: deep nesting is refused before it costs anything", "[json][bad]") {
    const std::size_t n = 100000;
    CHECK(contains(decode_bad(std::string(n, '[')).message(), "nested deeper than"));
    CHECK(contains(decode_bad(std::string(n, '[') + std::string(n, ']')).message(), "nested deeper than"));
    std::string objects;
    for (std::size_t i = 0; i < n; ++i) objects += "{\"a\":";
    CHECK(contains(decode_bad(objects).message(), "nested deeper than"));
    // Inside a document: a misc value nested too deep.
    ojson doc = ojson::parse(full_document());
    doc["strata.frames"][0]["misc"] = ojson::parse(R"([{"key":"k","type":"string","value":{"a":{"b":{"c":{"d":1}}}}}])");
    CHECK(contains(decode_bad(doc.dump()).message(), "nested deeper than"));
}

TEST_CASE("bad input: huge arrays", "[json][bad]") {
    SECTION("a top-level array of two million numbers") {
        std::string text = "[";
        for (int i = 0; i < 2'000'000; ++i) text += "0,";
        text += "0]";
        CHECK(contains(decode_bad(text).message(), "more than 2000000 values"));
    }
    SECTION("more frames than json_max_frames") {
        std::string text = R"({"strata.version":1,"strata.origins":[{"host":"h","pid":1,"thread":1,"time":"t"}],"strata.frames":[)";
        for (std::size_t i = 0; i < strata::json_max_frames; ++i) text += "0,";
        text += "0]}";
        CHECK(contains(decode_bad(text).message(), "$.strata.frames: "));
    }
    SECTION("frames that are numbers") {
        std::string text = R"({"strata.version":1,"strata.origins":[{"host":"h","pid":1,"thread":1,"time":"t"}],"strata.frames":[)";
        for (int i = 0; i < 100000; ++i) text += "0,";
        text += "0]}";
        CHECK(contains(decode_bad(text).message(), "expected an object, got number"));
    }
    SECTION("a stack of a million addresses, one of them bad") {
        ojson doc = ojson::parse(full_document());
        ojson raw = ojson::array();
        for (int i = 0; i < 1'000'000; ++i) raw.push_back("0x1000");
        raw.push_back("0xnope");
        doc["strata.frames"][2]["stack"]["raw"] = std::move(raw);
        CHECK(contains(decode_bad(doc.dump()).message(), "$.strata.frames[2].stack.raw[1000000]: "));
    }
    SECTION("input larger than json_max_input") {
        const std::string text(strata::json_max_input + 1, ' ');
        CHECK(contains(decode_bad(text).message(), "the most accepted is"));
    }
}

TEST_CASE("bad input: a misc type, an origin index, an address, a layer name that do not fit", "[json][bad]") {
    const ojson doc = ojson::parse(full_document());
    auto failure = [&](auto&& edit) {
        ojson bad = doc;
        edit(bad);
        return std::string(decode_bad(bad.dump()).message());
    };
    // A misc type that isn't known.
    std::string m = failure([](ojson& d) { d["strata.frames"][1]["misc"][0]["type"] = "complex"; });
    CHECK(contains(m, "$.strata.frames[1].misc[0].type: "));
    CHECK(contains(m, "\"complex\""));
    // A misc value that does not fit its type.
    CHECK(contains(failure([](ojson& d) { d["strata.frames"][1]["misc"][1]["value"] = 1.5; }), "$.strata.frames[1].misc[1].value: "));
    CHECK(contains(failure([](ojson& d) { d["strata.frames"][1]["misc"][1]["value"] = std::numeric_limits<std::uint64_t>::max(); }),
                   "$.strata.frames[1].misc[1].value: "));
    CHECK(contains(failure([](ojson& d) { d["strata.frames"][1]["misc"][2]["value"] = -1; }), "$.strata.frames[1].misc[2].value: "));
    CHECK(contains(failure([](ojson& d) { d["strata.frames"][1]["misc"][3]["value"] = "NaN"; }), "$.strata.frames[1].misc[3].value: "));
    CHECK(contains(failure([](ojson& d) { d["strata.frames"][1]["misc"][0].erase("value"); }), "$.strata.frames[1].misc[0]: missing \"value\""));
    CHECK(contains(failure([](ojson& d) { d["strata.frames"][1]["misc"][0].erase("key"); }), "$.strata.frames[1].misc[0]: missing \"key\""));
    // An origin index out of range.
    m = failure([](ojson& d) { d["strata.frames"][0]["origin"] = 1; });
    CHECK(contains(m, "$.strata.frames[0].origin: "));
    CHECK(contains(m, "1 is out of range"));
    CHECK(contains(failure([](ojson& d) { d["strata.frames"][2]["origin"] = -1; }), "$.strata.frames[2].origin: "));
    CHECK(contains(failure([](ojson& d) { d["strata.frames"][2]["origin"] = std::numeric_limits<std::uint64_t>::max(); }),
                   "$.strata.frames[2].origin: "));
    CHECK(contains(failure([](ojson& d) { d["strata.frames"][0].erase("origin"); }), "$.strata.frames[0]: missing \"origin\""));
    CHECK(contains(failure([](ojson& d) { d["strata.origins"] = ojson::array(); }), "$.strata.origins: "));
    // A raw address that isn't hex.
    for (const char* pc : {"0xZZ", "1234", "0x", "", "0x12345678901234567", "-0x1", "0x 1", "0x1g"}) {
        INFO("raw address \"" << pc << "\"");
        CHECK(contains(failure([&](ojson& d) { d["strata.frames"][2]["stack"]["raw"][1] = pc; }), "$.strata.frames[2].stack.raw[1]: "));
    }
    // A symbolized line of more than one line.
    CHECK(contains(failure([](ojson& d) { d["strata.frames"][2]["stack"]["symbolized"][0] = "a\nb"; }),
                   "$.strata.frames[2].stack.symbolized[0]: "));
    // Layer names: empty, too long.
    CHECK(contains(failure([](ojson& d) { d["strata.frames"][0]["layer"] = ""; }), "$.strata.frames[0].layer: "));
    CHECK(contains(failure([](ojson& d) { d["strata.frames"][0]["layer"] = std::string(257, 'x'); }), "$.strata.frames[0].layer: "));
    // A call site line beyond 32 bits, and negative.
    CHECK(contains(failure([](ojson& d) { d["strata.frames"][0]["at"]["line"] = 4294967296ULL; }), "$.strata.frames[0].at.line: "));
    CHECK(contains(failure([](ojson& d) { d["strata.frames"][0]["at"]["line"] = -1; }), "$.strata.frames[0].at.line: "));
    CHECK(contains(failure([](ojson& d) { d["strata.origins"][0]["pid"] = -5; }), "$.strata.origins[0].pid: "));
    // Required fields missing.
    for (const char* key : {"layer", "user_facing", "message"}) {
        INFO(key);
        CHECK(contains(failure([&](ojson& d) { d["strata.frames"][1].erase(key); }),
                       std::string("$.strata.frames[1]: missing \"") + key + "\""));
    }
}

TEST_CASE("bad input: random bytes and mutated documents never crash", "[json][bad]") {
    std::mt19937 rng(424242);
    auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
    const std::string doc = full_document();
    const std::string alphabet = "{}[]\":,0123456789.-+eE truefalsnl\\/u\"strata.versionframesorigins";
    int accepted = 0, rejected = 0;
    // Anything accepted is encoded again and decoded again to the same document.
    auto try_input = [&](const std::string& input) {
        const strata::result<strata::error> r = strata::from_json(input);
        if (!r) {
            ++rejected;
            REQUIRE(r.error().is<strata::bad_json>());
            REQUIRE(r.error().message().rfind("strata::from_json: ", 0) == 0);
            REQUIRE(r.error().misc().find("input_bytes")->as_unsigned() == input.size());
            return;
        }
        ++accepted;
        const std::string again = strata::to_json(*r);
        REQUIRE_FALSE(again.empty());
        const strata::error d = decode_ok(again);
        REQUIRE(strata::to_json(d) == again);
        (void)fmt::format("{:v}", *r);
    };
    for (int i = 0; i < 3000; ++i) {
        std::string input(pick(300), '\0');
        for (char& c : input) c = static_cast<char>(rng());
        INFO("random bytes " << i);
        try_input(input);
    }
    for (int i = 0; i < 3000; ++i) {
        std::string input(pick(200), ' ');
        for (char& c : input) c = alphabet[pick(alphabet.size())];
        INFO("random JSON-ish text " << i << ": " << input);
        try_input(input);
    }
    for (int i = 0; i < 3000; ++i) {
        std::string input = doc;
        for (std::size_t k = 1 + pick(4); k > 0; --k) {
            const std::size_t at = pick(input.size());
            switch (pick(4)) {
                case 0: input[at] = static_cast<char>(rng()); break;
                case 1: input[at] = alphabet[pick(alphabet.size())]; break;
                case 2: input.erase(at, 1 + pick(8)); break;
                default: input.insert(at, 1, alphabet[pick(alphabet.size())]); break;
            }
        }
        INFO("mutated document " << i << ": " << input);
        try_input(input);
    }
    CHECK(rejected > 6000);
    CHECK(accepted > 10);  // some mutations keep a valid document (a changed message, say)
}

// ---------------------------------------------------------------------------
// Size and threads

TEST_CASE("a 100 000-deep chain round-trips and is destroyed without recursion", "[json][deep]") {
    strata_test::policy_guard guard;
    strata::set_capture_policy(strata::capture_policy::origin);
    const std::size_t n = 100000;
    std::string text, chain;
    {
        strata::error e = strata::make_error<storage_layer>("root").with("k", 1);
        for (std::size_t i = 1; i < n; ++i) e = strata::wrap<billing_layer>(std::move(e), "level {}", i);
        REQUIRE(e.depth() == n);
        text = strata::to_json(e);
        chain = fmt::format("{:c}", e);
    }
    REQUIRE_FALSE(text.empty());
    REQUIRE(text.size() < strata::json_max_input);
    {
        const strata::error d = decode_ok(text);
        CHECK(d.depth() == n);
        CHECK(fmt::format("{:c}", d) == chain);
        CHECK(d.is<billing_layer>());
        CHECK(strata::find<storage_layer>(d)->message() == "root");
        CHECK(strata::to_json(d) == text);
    }  // destroyed here: 100 000 frames, one after another
    SUCCEED("destroyed");
}

TEST_CASE("the same text decoded on 4 threads at once gives the same error on each", "[json][threads]") {
    // Names no other test uses.
    const int n_docs = 50;
    std::vector<std::string> docs;
    for (int i = 0; i < n_docs; ++i)
        docs.push_back(fmt::format(
            R"({{"strata.version":1,"strata.origins":[{{"host":"h{0}","pid":{0},"thread":1,"time":"t"}}],"strata.frames":[{{"layer":"json_test.race.{0}","user_facing":{1},"message":"m{0}","misc":[{{"key":"i","type":"int","value":{0}}}],"origin":0}},{{"layer":"json_test.race.{0}.inner","user_facing":false,"message":"inner","origin":0}}]}})",
            i, i % 2 == 0));
    const int n_threads = 4, rounds = 5;
    std::vector<std::vector<std::string>> encoded(n_threads);
    std::vector<std::vector<std::string>> layers(n_threads);
    std::vector<int> failures(n_threads, 0);
    strata_test::run_together(n_threads, [&](int t) {
        for (int round = 0; round < rounds; ++round) {
            for (const std::string& doc : docs) {
                const strata::result<strata::error> r = strata::from_json(doc);
                if (!r) {
                    ++failures[static_cast<std::size_t>(t)];
                    continue;
                }
                encoded[static_cast<std::size_t>(t)].push_back(strata::to_json(*r) + fmt::format("{:c}", *r));
                layers[static_cast<std::size_t>(t)].push_back(std::string(r->layer().name) +
                                                              (r->layer().user_facing ? " [user-facing]" : ""));
            }
        }
    });
    for (int t = 0; t < n_threads; ++t) {
        INFO("thread " << t);
        CHECK(failures[static_cast<std::size_t>(t)] == 0);
        REQUIRE(encoded[static_cast<std::size_t>(t)].size() == static_cast<std::size_t>(n_docs * rounds));
        CHECK(encoded[static_cast<std::size_t>(t)] == encoded[0]);
        CHECK(layers[static_cast<std::size_t>(t)] == layers[0]);
    }
    for (std::size_t i = 0; i < static_cast<std::size_t>(n_docs); ++i) {
        const json got = json::parse(encoded[0][i].substr(0, encoded[0][i].rfind('}') + 1));
        CHECK(got["strata.frames"][0]["layer"] == fmt::format("json_test.race.{}", i));
        CHECK(got["strata.frames"][0]["user_facing"] == (i % 2 == 0));
    }
}

// An object with a million keys (about 12 MB): from_json once parsed into
// nlohmann::ordered_json, whose objects look each key up in a list as they are
// built, and such an input took hours. No timing is asserted: the test asks that
// it is answered.
TEST_CASE("an object with very many keys is answered (parsing is not quadratic)", "[json][bad]") {
    std::string text = "{";
    for (int i = 0; i < 1'000'000; ++i) text += fmt::format("{}\"k{}\":0", i ? "," : "", i);
    text += "}";
    REQUIRE(text.size() < strata::json_max_input);
    CHECK(contains(decode_bad(text).message(), "missing \"strata.version\""));
}

TEST_CASE("a peer cannot forge log lines: decoded text is escaped onto one line in the record", "[json][bad]") {
    const std::string forged = "[abcdefghij-9] 2026-11-27T14:00:00.000Z known edge case";
    const std::string text = R"({"strata.version":1,"strata.origins":[{"host":"h","pid":1,"thread":1,"time":"t"}],)"
                             R"("strata.frames":[{"layer":"quota","user_facing":true,)"
                             R"("message":"quota exceeded\n[abcdefghij-9] 2026-11-27T14:00:00.000Z known edge case\n  user saw: all fine",)"
                             R"("detail":"d\r\nx","at":{"file":"f\n  where: host forged","line":3,"function":"g\u0007"},)"
                             R"("misc":[{"key":"k\n  where: host forged","type":"string","value":"v\nw"}],)"
                             R"("stack":{"symbolized":["main at a.cpp:1\r  why: forged"],"raw":[],"truncated":false},"origin":0}]})";
    const strata::error e = decode_ok(text);
    last_record rec;
    const strata::log_sink s = rec.sink();
    strata::handle_options o;
    o.sink = &s;
    const strata::report r = strata::handle(e, o);
    INFO(rec.text);
    REQUIRE(rec.calls == 1);
    // Every line of the record is one of the record's own: none starts as a
    // forged header or field.
    std::istringstream lines(rec.text);
    int headers = 0;
    for (std::string line; std::getline(lines, line);) {
        if (line.rfind("[", 0) == 0) ++headers;
        CHECK(line.find("where: host forged") != 2);
        CHECK(line.rfind("  user saw: all fine", 0) != 0);
        CHECK(line.rfind("  why: forged", 0) != 0);
    }
    CHECK(headers == 1);
    CHECK(contains(rec.text, "quota exceeded\\n[abcdefghij-9]"));
    CHECK(contains(rec.text, "k\\n  where: host forged = \"v\\nw\""));
    CHECK(contains(rec.text, "g\\x07 (f\\n  where: host forged:3)"));
    CHECK(contains(rec.text, "main at a.cpp:1\\r  why: forged"));
    (void)forged;
    // The message itself is as the peer sent it: what the user is shown.
    CHECK(e.message() == "quota exceeded\n[abcdefghij-9] 2026-11-27T14:00:00.000Z known edge case\n  user saw: all fine");
    CHECK(r.user_message == e.message());
}

TEST_CASE("re-encoding many origins is not quadratic", "[json]") {
    // One origin a frame, as a peer may send: encoding again keeps every origin.
    const int n = 20000;
    std::string text = R"({"strata.version":1,"strata.origins":[)";
    for (int i = 0; i < n; ++i) text += fmt::format(R"({}{{"host":"h{}","pid":{},"thread":1,"time":"t"}})", i ? "," : "", i, i + 1);
    text += R"(],"strata.frames":[)";
    for (int i = 0; i < n; ++i)
        text += fmt::format(R"({}{{"layer":"l","user_facing":false,"message":"m{}","origin":{}}})", i ? "," : "", i, i);
    text += "]}";
    const strata::error e = decode_ok(text);
    const json again = json::parse(strata::to_json(e));
    CHECK(again["strata.origins"].size() == static_cast<std::size_t>(n));
    CHECK(again["strata.frames"][n - 1]["origin"] == n - 1);
    CHECK(again["strata.origins"][n - 1]["host"] == fmt::format("h{}", n - 1));
}
