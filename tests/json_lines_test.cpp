// Tests for the one-line form of handle()'s records (<strata/json.hpp>:
// json_line_form, to_json_line, json_lines_sink): one JSON object on one line,
// its fields, escaping, sensitive values, one line per ID, reading it back with
// from_json; and for the order records reach a sink in: stamped when delivered,
// in the order of their times, from many threads at once.
#include <catch2/catch.hpp>
#include <strata/handle.hpp>
#include <strata/json.hpp>
#include <strata/origin.hpp>
#include <strata/strata.hpp>

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include <unistd.h>

namespace {

using json = nlohmann::json;

struct billing_layer {
    static constexpr std::string_view name = "json_lines_test.billing";
    static constexpr bool user_facing = true;
};

bool contains(std::string_view text, std::string_view needle) { return text.find(needle) != std::string_view::npos; }

std::size_t count(std::string_view text, std::string_view needle) {
    std::size_t n = 0;
    for (std::size_t at = text.find(needle); at != std::string_view::npos; at = text.find(needle, at + 1)) ++n;
    return n;
}

std::string this_host() {
    char name[256] = {};
    REQUIRE(gethostname(name, sizeof name - 1) == 0);
    return name;
}

// A time as records write it: UTC, ISO 8601 with milliseconds.
std::string utc(std::chrono::system_clock::time_point t) {
    const auto since = std::chrono::floor<std::chrono::milliseconds>(t.time_since_epoch());
    const auto secs_of = std::chrono::floor<std::chrono::seconds>(since);
    const std::time_t secs = secs_of.count();
    const auto ms = (since - secs_of).count();
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char text[64];
    std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
    return text;
}

// What a sink was handed, kept.
struct kept_record {
    std::string id, text, line, again;  // again: to_json_line(r) inside the call
    std::chrono::system_clock::time_point time;
    std::string host;
    long pid = 0, thread = 0;
    bool is_bug = false;
};

// A sink that asked for the one-line form and keeps what it got.
struct keeper {
    std::mutex mutex;
    std::vector<kept_record> records;
    strata::log_sink sink() {
        return strata::json_lines_sink([this](const strata::log_record& r) {
            std::lock_guard lock(mutex);
            records.push_back({std::string(r.id), std::string(r.text), std::string(r.line), strata::to_json_line(r), r.time,
                               std::string(r.host), r.pid, r.thread, r.rep.is_bug});
        });
    }
};

// The record of handling `e` through a keeper.
kept_record handled(const strata::error& e) {
    keeper k;
    const strata::log_sink sink = k.sink();
    (void)strata::handle(e, {.sink = &sink});
    REQUIRE(k.records.size() == 1);
    return k.records[0];
}

// One line: a newline at the end and nowhere else, and no other control byte.
void check_one_line(std::string_view line) {
    REQUIRE_FALSE(line.empty());
    CHECK(line.back() == '\n');
    CHECK(count(line, "\n") == 1);
    std::size_t controls = 0;
    for (const char c : line.substr(0, line.size() - 1))
        if (static_cast<unsigned char>(c) < 0x20) ++controls;
    CHECK(controls == 0);
}

strata::error decode_ok(std::string_view text) {
    strata::result<strata::error> r = strata::from_json(text);
    if (!r) FAIL("from_json failed: " << fmt::format("{:v}", r.error()));
    return *r;
}

strata::error billing_error() {
    return strata::wrap<billing_layer>(
               strata::wrap<strata::low_level>(std::make_error_code(std::errc::connection_refused), "connect to ledger:5432")
                   .with("attempt", 3)
                   .with("ratio", 0.25)
                   .with("retry", true),
               "invoice {} could not be saved", 42)
        .with("invoice", 42);
}

// A stack deeper at each level, so that symbolizing takes a different time for
// each thread's records.
[[gnu::noinline]] strata::error deep_error(int depth, int t, int i) {
    if (depth == 0) return strata::make_error<strata::low_level>("thread {} error {}", t, i).with("i", i);
    strata::error e = deep_error(depth - 1, t, i);
    asm volatile("" ::: "memory");  // no tail call
    return e;
}

}  // namespace

TEST_CASE("the one-line form: one JSON object with the record's fields, then to_json's", "[json_lines]") {
    const strata::error e = billing_error();
    const kept_record r = handled(e);
    check_one_line(r.line);
    const json j = json::parse(r.line);
    REQUIRE(j.is_object());
    // The record's fields come first, in this order.
    const std::vector<std::string> first = {"strata.time", "strata.id",   "strata.decision", "strata.user_message",
                                            "strata.host", "strata.pid",  "strata.thread",   "exception.type"};
    std::size_t at = 0;
    for (const std::string& k : first) {
        INFO(k);
        const std::size_t here = r.line.find("\"" + k + "\":");
        REQUIRE(here != std::string::npos);
        CHECK(here >= at);
        at = here;
    }
    CHECK(r.line.rfind("{\"strata.time\":\"", 0) == 0);
    CHECK(j["strata.time"] == utc(r.time));
    CHECK(j["strata.id"] == r.id);
    CHECK(j["strata.decision"] == "known edge case");
    CHECK(j["strata.user_message"] == "invoice 42 could not be saved");
    CHECK(j["strata.host"] == this_host());
    CHECK(j["strata.pid"] == static_cast<long>(getpid()));
    CHECK(j["strata.thread"] == r.thread);
    CHECK(r.host == this_host());
    // to_json's fields, as to_json writes them for the handled error.
    const json whole = json::parse(strata::to_json(e));
    for (const auto& [k, v] : whole.items()) {
        INFO(k);
        REQUIRE(j.contains(k));
        if (k != "strata.origins") CHECK(j[k] == v);
    }
    CHECK(j["strata.is_bug"] == false);
    CHECK(j["exception.type"] == "json_lines_test.billing");
    CHECK(j["strata.chain"] == fmt::format("{:c}", e));
    // This process's origin is where and when the record was written.
    REQUIRE(j["strata.origins"].size() == 1);
    CHECK(j["strata.origins"][0]["time"] == utc(r.time));
    CHECK(j["strata.origins"][0]["thread"] == r.thread);
    CHECK(j["strata.origins"][0]["host"] == this_host());
    // The record's ID once: at the top (the outermost frame's own "id" is a frame field).
    CHECK(count(r.line, "\"strata.id\":") == 1);
    // The same time in the text's header.
    CHECK(r.text.rfind("[" + r.id + "] " + utc(r.time) + " known edge case\n", 0) == 0);
}

TEST_CASE("a bug's line: the decision and the bug text", "[json_lines]") {
    const kept_record r = handled(strata::make_error("invariant broken").with("order", 17));
    const json j = json::parse(r.line);
    CHECK(j["strata.decision"] == "bug");
    CHECK(j["strata.is_bug"] == true);
    CHECK(j["strata.user_message"] == std::string(strata::default_bug_message));
    CHECK(r.is_bug);

    SECTION("and an empty error's") {
        const kept_record empty = handled(strata::error());
        const json je = json::parse(empty.line);
        CHECK(je["strata.decision"] == "bug");
        CHECK(je["strata.id"] == empty.id);
        CHECK(je["exception.type"] == "(no error)");
        CHECK(je["strata.frames"].empty());
        const strata::error back = decode_ok(empty.line);
        CHECK_FALSE(back);
    }
}

TEST_CASE("to_json_line in a sink that did not ask gives the same line", "[json_lines]") {
    keeper k;
    const strata::log_sink asked = k.sink();
    const strata::error e = billing_error();
    (void)strata::handle(e, {.sink = &asked});
    REQUIRE(k.records.size() == 1);
    // Rendered before the stamp and stamped, or rendered at once from the record:
    // the same text, times included.
    CHECK(k.records[0].again == k.records[0].line);

    std::string plain_line, plain_text;
    const strata::log_sink plain = [&](const strata::log_record& r) {
        CHECK(r.line.empty());
        plain_line = strata::to_json_line(r);
        plain_text = r.text;
    };
    const strata::report rep = strata::handle(billing_error(), {.sink = &plain});
    check_one_line(plain_line);
    CHECK(json::parse(plain_line)["strata.id"] == rep.id);
}

TEST_CASE("line breaks, control characters and bad UTF-8 are escaped", "[json_lines]") {
    const std::string message = "line one\nline two\r\n\ttabbed \x01\x1b[31m red \"quoted\" back\\slash \xff end";
    const std::string key = "key\nwith newline";
    const std::string value = "value\nwith\nnewlines\x07";
    const strata::error e = strata::make_error<billing_layer>("{}", message).with(key, value).with("plain", 1);
    const kept_record r = handled(e);
    check_one_line(r.line);
    const json j = json::parse(r.line);
    const std::string shown = "line one\nline two\r\n\ttabbed \x01\x1b[31m red \"quoted\" back\\slash \xEF\xBF\xBD end";
    CHECK(j["exception.message"] == shown);
    CHECK(j["strata.user_message"] == shown);
    REQUIRE(j["strata.frames"][0]["misc"].size() == 2);
    CHECK(j["strata.frames"][0]["misc"][0]["key"] == key);
    CHECK(j["strata.frames"][0]["misc"][0]["value"] == value);
    CHECK(contains(r.line, "line one\\nline two\\r\\n\\ttabbed \\u0001\\u001b[31m"));
}

TEST_CASE("sensitive values appear only as their hashes", "[json_lines]") {
    const std::string secret = "acme-co-7731-secret";
    const strata::error e =
        strata::make_error<billing_layer>("account {} is over its quota", strata::sensitive(secret))
            .with("account", strata::sensitive(secret))
            .with("quota", 1000);
    const kept_record r = handled(e);
    CHECK_FALSE(contains(r.line, secret));
    CHECK_FALSE(contains(r.text, secret));
    const std::string token = strata::sensitive_token(secret);
    const json j = json::parse(r.line);
    CHECK(j["strata.user_message"] == "account " + token + " is over its quota");
    CHECK(j["strata.chain"] == fmt::format("{:c}", e));
    CHECK(j["strata.frames"][0]["misc"][0]["value"] == token);
}

TEST_CASE("from_json reads the line back as the record's error", "[json_lines]") {
    const strata::error e = billing_error();
    const kept_record r = handled(e);
    const strata::error back = decode_ok(r.line);
    CHECK(fmt::format("{:c}", back) == fmt::format("{:c}", e));
    CHECK(back.is<billing_layer>());
    CHECK(back.depth() == e.depth());
    CHECK(back.inner().is<strata::low_level>());
    CHECK(back.misc().find("invoice")->as_signed() == 42);
    CHECK(back.inner().misc().find("attempt")->as_signed() == 3);
    CHECK(back.inner().misc().find("retry")->as_bool());
    // Without the trailing newline too.
    CHECK(fmt::format("{:c}", decode_ok(std::string_view(r.line).substr(0, r.line.size() - 1))) == fmt::format("{:c}", e));
    // It came from here, at the record's time; handling it again gives the same ID.
    const strata::origin* o = strata::origin_of(back);
    REQUIRE(o != nullptr);
    CHECK(o->time == utc(r.time));
    CHECK(o->thread == r.thread);
    const strata::log_sink discard = [](const strata::log_record&) {};
    CHECK(strata::handle(back, {.sink = &discard}).id == r.id);
    // Encoded again: to_json of what was read is to_json's part of the line.
    const json j = json::parse(r.line);
    const json again = json::parse(strata::to_json(back));
    for (const auto& [k, v] : again.items()) {
        INFO(k);
        CHECK(j[k] == v);
    }

    SECTION("an error decoded from another process keeps that process's origin and ID") {
        const kept_record relayed = handled(strata::wrap<strata::low_level>(back, "relayed"));
        const json jr = json::parse(relayed.line);
        REQUIRE(jr["strata.origins"].size() == 2);
        CHECK(jr["strata.origins"][0]["time"] == utc(relayed.time));
        CHECK(jr["strata.frames"][1]["id"] == r.id);
        CHECK(fmt::format("{:c}", decode_ok(relayed.line)) == "relayed: " + fmt::format("{:c}", e));
    }
}

TEST_CASE("json_lines_sink(FILE*): one line per record, and grep finds each ID on one line", "[json_lines]") {
    std::FILE* f = std::tmpfile();
    REQUIRE(f != nullptr);
    const strata::log_sink sink = strata::json_lines_sink(f);
    CHECK(sink.form().render == strata::json_line_form.render);
    std::vector<std::string> ids;
    for (int i = 0; i < 5; ++i) {
        strata::error e = i % 2 ? billing_error() : strata::make_error("bug {}\nwith a second line", i);
        ids.push_back(strata::handle(e, {.sink = &sink}).id);
    }
    SECTION("wrapped by a sink that does not pass the form on, it renders the line itself") {
        const strata::log_sink outer = [&sink](const strata::log_record& r) {
            CHECK(r.line.empty());
            sink(r);
        };
        ids.push_back(strata::handle(billing_error(), {.sink = &outer}).id);
    }
    std::rewind(f);
    std::string all;
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) all.append(buf, n);
    std::fclose(f);
    std::vector<std::string> lines;
    for (std::size_t at = 0; at < all.size();) {
        const std::size_t end = all.find('\n', at);
        REQUIRE(end != std::string::npos);
        lines.push_back(all.substr(at, end - at));
        at = end + 1;
    }
    CHECK(lines.size() == ids.size());
    for (const std::string& id : ids) {
        std::size_t found = 0;
        for (const std::string& line : lines)
            if (contains(line, "\"strata.id\":\"" + id + "\"")) ++found;  // the whole ID: "…-1" is in "…-10"
        CHECK(found == 1);
    }
    for (std::size_t i = 0; i < lines.size(); ++i) CHECK(json::parse(lines[i])["strata.id"] == ids[i]);
}

TEST_CASE("json_lines_sink through set_log_sink", "[json_lines]") {
    std::FILE* f = std::tmpfile();
    REQUIRE(f != nullptr);
    strata::set_log_sink(strata::json_lines_sink(f));
    const strata::report r = strata::handle(strata::make_error("through the global sink"));
    strata::set_log_sink({});
    std::rewind(f);
    char buf[8192] = {};
    const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    const std::string line(buf, n);
    check_one_line(line);
    CHECK(json::parse(line)["strata.id"] == r.id);
    CHECK_FALSE(strata::json_lines_sink(static_cast<std::FILE*>(nullptr)));
}

TEST_CASE("a sink that handles an error itself does not wait for itself", "[json_lines][order]") {
    std::vector<std::string> ids;
    strata::log_sink inner = [&ids](const strata::log_record& r) { ids.emplace_back(r.id); };
    const strata::log_sink outer = [&](const strata::log_record& r) {
        if (r.rep.user_message != "from inside the sink")
            (void)strata::handle(strata::make_error<billing_layer>("from inside the sink"), {.sink = &inner});
        ids.emplace_back(r.id);
    };
    const strata::report r = strata::handle(strata::make_error("outer"), {.sink = &outer});
    REQUIRE(ids.size() == 2);
    CHECK(ids[1] == r.id);
}

TEST_CASE("a record's time is written as gmtime writes it", "[json_lines][time]") {
    using namespace std::chrono;
    auto text = [](system_clock::time_point t) {
        fmt::memory_buffer b;
        strata::detail::put_utc(b, t);
        return std::string(b.data(), b.size());
    };
    std::vector<long long> ms = {0, 999, 1000, 86'399'999, 86'400'000, -1, -1000, -86'400'001,
                                 951'782'400'000 - 1, 951'782'400'000, 951'868'800'000,  // 2000-02-29, 2000-03-01
                                 4'107'542'400'000 - 1, 4'107'542'400'000,               // 2100-03-01
                                 1'798'761'599'999, 9'214'646'399'999};                // 2026-12-31, 2261-12-31
    std::uint64_t x = 0x9e3779b97f4a7c15ULL;
    // 1903 to 2261: system_clock counts nanoseconds in 64 bits (about 1678 to 2262).
    for (int i = 0; i < 20000; ++i) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        ms.push_back(static_cast<long long>(x % 11'300'000'000'000ULL) - 2'100'000'000'000LL);
    }
    std::vector<std::string> wrong;
    for (const long long m : ms) {
        const system_clock::time_point t{milliseconds(m)};
        if (text(t) != utc(t)) wrong.push_back(std::to_string(m) + ": " + text(t) + " for " + utc(t));
    }
    CHECK(wrong == std::vector<std::string>{});
}

TEST_CASE("records reach the sink in the order of their times, from many threads at once", "[json_lines][order]") {
    struct checker {
        std::mutex mutex;
        std::chrono::system_clock::time_point last{};
        std::string last_text;
        std::size_t records = 0;
        std::size_t out_of_order = 0;
        std::size_t mismatched = 0;
    } seen;
    auto check = [&seen](const strata::log_record& r) {
        std::lock_guard lock(seen.mutex);
        if (r.time < seen.last) ++seen.out_of_order;
        seen.last = r.time;
        // The time in the texts is the record's.
        const std::string t = utc(r.time);
        if (r.text.substr(r.id.size() + 3, t.size()) != t) ++seen.mismatched;
        if (!r.line.empty() && r.line.substr(16, t.size()) != t) ++seen.mismatched;
        if (t < seen.last_text) ++seen.out_of_order;
        seen.last_text = t;
        ++seen.records;
    };
    const bool json_form = GENERATE(false, true);
    const strata::log_sink sink = json_form ? strata::json_lines_sink(check) : strata::log_sink(check);
    constexpr int threads = 8;
    constexpr int per_thread = 40;
    std::atomic<int> ready{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            ready.fetch_add(1);
            while (ready.load() < threads) std::this_thread::yield();
            for (int i = 0; i < per_thread; ++i)
                (void)strata::handle(deep_error((t * 7 + i) % 13, t, i), {.sink = &sink});
        });
    }
    for (auto& th : pool) th.join();
    INFO("one-line form: " << json_form);
    CHECK(seen.records == static_cast<std::size_t>(threads * per_thread));
    CHECK(seen.out_of_order == 0);
    CHECK(seen.mismatched == 0);
}
