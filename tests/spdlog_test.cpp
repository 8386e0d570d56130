// Tests for <strata/spdlog.hpp>: strata::spdlog_sink writes each record through an
// spdlog logger as one message, at the level for a bug or a known edge case,
// through handle_options::sink and through set_log_sink; and the spdlog_sink
// example, run as a user would.
#include <catch2/catch.hpp>

#include "support.hpp"
#include <strata/spdlog.hpp>
#include <strata/strata.hpp>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#ifdef STRATA_SPDLOG_TEST_JSON_LINES
#include <strata/json.hpp>

#include <nlohmann/json.hpp>
#endif

namespace {

// A logger that keeps its last messages, as spdlog stores them (level, payload,
// time, source location).
struct ring_logger {
    std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> ring = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(64);
    std::shared_ptr<spdlog::logger> logger = std::make_shared<spdlog::logger>("spdlog_test", ring);

    ring_logger() { logger->set_level(spdlog::level::trace); }
    std::vector<spdlog::details::log_msg_buffer> messages() { return ring->last_raw(); }
};

std::string payload(const spdlog::details::log_msg_buffer& m) { return std::string(m.payload.data(), m.payload.size()); }

// A sink that remembers the texts handed to it, then passes the record on.
struct recording {
    std::mutex mutex;
    std::vector<std::string> texts;

    strata::log_sink around(strata::log_sink inner) {
        return [this, inner = std::move(inner)](const strata::log_record& r) {
            {
                std::lock_guard lock(mutex);
                texts.emplace_back(r.text);
            }
            inner(r);
        };
    }
};

// Restores the process-wide sink (stderr) when a test ends.
struct global_sink_reset {
    global_sink_reset() = default;
    global_sink_reset(const global_sink_reset&) = delete;
    global_sink_reset& operator=(const global_sink_reset&) = delete;
    ~global_sink_reset() { strata::set_log_sink({}); }
};

// Captures what is written to file descriptor 2 (stderr) while it lives.
class stderr_capture {
public:
    stderr_capture() {
        std::fflush(stderr);
        file_ = std::tmpfile();
        REQUIRE(file_ != nullptr);
        saved_ = ::dup(2);
        REQUIRE(saved_ >= 0);
        REQUIRE(::dup2(::fileno(file_), 2) == 2);
    }
    stderr_capture(const stderr_capture&) = delete;
    stderr_capture& operator=(const stderr_capture&) = delete;
    ~stderr_capture() {
        restore();
        std::fclose(file_);
    }

    // Stops capturing and returns what was written.
    std::string text() {
        restore();
        std::string out;
        std::rewind(file_);
        char buf[4096];
        for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, file_)) > 0;) out.append(buf, n);
        return out;
    }

private:
    void restore() {
        if (saved_ < 0) return;
        std::fflush(stderr);
        ::dup2(saved_, 2);
        ::close(saved_);
        saved_ = -1;
    }
    std::FILE* file_ = nullptr;
    int saved_ = -1;
};

bool contains(std::string_view text, std::string_view needle) { return text.find(needle) != std::string_view::npos; }

struct checkout_layer {
    static constexpr std::string_view name = "spdlog_test.checkout";
    static constexpr bool user_facing = true;
};

strata::error known_edge_case() {
    return strata::wrap<checkout_layer>(
        strata::wrap<strata::low_level>(std::make_error_code(std::errc::connection_refused), "connect to payments:443"),
        "the payment service is unavailable; try again in a minute");
}

}  // namespace

TEST_CASE("a bug is logged at error, a known edge case at warning, each as its whole record", "[spdlog]") {
    ring_logger log;
    recording seen;
    const strata::log_sink sink = seen.around(strata::spdlog_sink(log.logger));

    const strata::error bug = strata::make_error("invariant broken").with("order", 17);
    const strata::report b = strata::handle(bug, {.sink = &sink});
    const strata::report k = strata::handle(known_edge_case(), {.sink = &sink});
    REQUIRE(b.is_bug);
    REQUIRE_FALSE(k.is_bug);

    const auto messages = log.messages();
    REQUIRE(messages.size() == 2);
    REQUIRE(seen.texts.size() == 2);
    CHECK(messages[0].level == spdlog::level::err);
    CHECK(messages[1].level == spdlog::level::warn);
    for (std::size_t i = 0; i < 2; ++i) {
        const std::string text = payload(messages[i]);
        // One message: the record's text as it is, without its final newline.
        CHECK(seen.texts[i].back() == '\n');
        CHECK(text + "\n" == seen.texts[i]);
        CHECK(contains(text, "\n  chain: "));
        CHECK(text.back() != '\n');
    }
    // The ID the user was told starts the logged message.
    CHECK(payload(messages[0]).rfind("[" + b.id + "] ", 0) == 0);
    CHECK(payload(messages[1]).rfind("[" + k.id + "] ", 0) == 0);
    CHECK(contains(payload(messages[0]), "order = 17"));
    CHECK(contains(payload(messages[1]), "connect to payments:443"));
}

TEST_CASE("custom levels are honored", "[spdlog]") {
    ring_logger log;
    const strata::log_sink sink =
        strata::spdlog_sink(log.logger, {.bug_level = spdlog::level::critical, .edge_case_level = spdlog::level::info});
    (void)strata::handle(strata::make_error<strata::low_level>("a bug"), {.sink = &sink});
    (void)strata::handle(known_edge_case(), {.sink = &sink});
    const auto messages = log.messages();
    REQUIRE(messages.size() == 2);
    CHECK(messages[0].level == spdlog::level::critical);
    CHECK(messages[1].level == spdlog::level::info);

    SECTION("and the logger's own level still filters") {
        log.logger->set_level(spdlog::level::warn);
        (void)strata::handle(known_edge_case(), {.sink = &sink});  // info: dropped
        (void)strata::handle(strata::make_error("another bug"), {.sink = &sink});
        const auto after = log.messages();
        REQUIRE(after.size() == 3);
        CHECK(after[2].level == spdlog::level::critical);
    }
}

TEST_CASE("report once: handling the same error again logs nothing", "[spdlog]") {
    ring_logger log;
    const strata::log_sink sink = strata::spdlog_sink(log.logger);
    const strata::error e = known_edge_case();
    const strata::report first = strata::handle(e, {.sink = &sink});
    const strata::report again = strata::handle(e, {.sink = &sink});
    CHECK(again.id == first.id);
    CHECK(log.messages().size() == 1);
}

TEST_CASE("the record is the message, never a format string", "[spdlog]") {
    ring_logger log;
    const strata::log_sink sink = strata::spdlog_sink(log.logger);
    const std::string tricky = "braces {} {:x} {0} {{ and %v %n";
    const strata::report r = strata::handle(strata::make_error<checkout_layer>("{}", tricky), {.sink = &sink});
    CHECK(r.user_message == tricky);
    const auto messages = log.messages();
    REQUIRE(messages.size() == 1);
    CHECK(contains(payload(messages[0]), "user saw: [" + r.id + "] " + tricky + "\n"));
}

TEST_CASE("the message carries the record's time and the outermost call site", "[spdlog]") {
    ring_logger log;
    std::chrono::system_clock::time_point record_time;
    const strata::log_sink inner = strata::spdlog_sink(log.logger);
    const strata::log_sink sink = [&](const strata::log_record& r) {
        record_time = r.time;
        inner(r);
    };
    const strata::error e = known_edge_case();
    (void)strata::handle(e, {.sink = &sink});
    const auto messages = log.messages();
    REQUIRE(messages.size() == 1);
    CHECK(messages[0].time == record_time);
    CHECK(messages[0].source.line == static_cast<int>(e.location().line()));
    CHECK(std::string_view(messages[0].source.filename) == e.location().file_name());
}

TEST_CASE("through set_log_sink, and with the logger's pattern around the record", "[spdlog]") {
    const global_sink_reset reset;
    std::ostringstream out;
    auto logger = std::make_shared<spdlog::logger>("app", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
    logger->set_pattern("<%l> %v");
    strata::set_log_sink(strata::spdlog_sink(logger));
    const strata::report r = strata::handle(strata::make_error("through the global sink"));
    strata::set_log_sink({});
    const std::string text = out.str();
    CHECK(text.rfind("<error> [" + r.id + "] ", 0) == 0);
    CHECK(contains(text, "\n  user saw: [" + r.id + "] "));
    // One line ending: the record's own newline was dropped for the pattern's.
    CHECK(text.size() >= 2);
    CHECK(text.back() == '\n');
    CHECK(text[text.size() - 2] != '\n');
}

TEST_CASE("records from many threads do not interleave", "[spdlog]") {
    std::ostringstream out;
    auto logger = std::make_shared<spdlog::logger>("app", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
    logger->set_pattern("%v");
    recording seen;
    const strata::log_sink sink = seen.around(strata::spdlog_sink(logger));
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&sink, &logger, t] {
            for (int i = 0; i < 25; ++i) {
                logger->info("thread {} says {}", t, i);  // the application's other messages
                (void)strata::handle(strata::make_error("thread {} error {}", t, i).with("i", i), {.sink = &sink});
            }
        });
    }
    for (auto& th : threads) th.join();
    const std::string text = out.str();
    REQUIRE(seen.texts.size() == 200);
    for (const std::string& record : seen.texts) CHECK(contains(text, record));
}

TEST_CASE("a logger that throws does not make handle throw", "[spdlog]") {
    struct throwing_sink final : spdlog::sinks::base_sink<std::mutex> {
        void sink_it_(const spdlog::details::log_msg&) override { throw std::runtime_error("disk on fire"); }
        void flush_() override {}
    };
    auto logger = std::make_shared<spdlog::logger>("broken", std::make_shared<throwing_sink>());
    const strata::log_sink sink = strata::spdlog_sink(logger);

    SECTION("spdlog's own error handler reports the failure") {
        stderr_capture err;
        strata::report r;
        CHECK_NOTHROW(r = strata::handle(strata::make_error("lost to a broken logger"), {.sink = &sink}));
        CHECK_FALSE(r.id.empty());
        CHECK(r.is_bug);
    }
    SECTION("an error handler that throws: the record goes to stderr") {
        logger->set_error_handler([](const std::string& what) { throw std::runtime_error(what); });
        stderr_capture err;
        strata::report r;
        CHECK_NOTHROW(r = strata::handle(strata::make_error("kept on stderr"), {.sink = &sink}));
        const std::string written = err.text();
        CHECK(contains(written, "[" + r.id + "] "));
        CHECK(contains(written, "kept on stderr"));
    }
}

TEST_CASE("a null logger gives the default sink", "[spdlog]") {
    CHECK_FALSE(strata::spdlog_sink(nullptr));
    CHECK(strata::spdlog_sink(std::make_shared<spdlog::logger>("x")));
}

#ifdef STRATA_SPDLOG_TEST_JSON_LINES
// --- the one-line form (json_line_form) --------------------------------------------

TEST_CASE("with json_line_form each record is one message of one line, the record's JSON", "[spdlog][json_lines]") {
    ring_logger log;
    std::vector<std::string> lines;
    const strata::log_sink inner = strata::spdlog_sink(log.logger, {.form = strata::json_line_form});
    CHECK(inner.form().render == strata::json_line_form.render);
    // A sink around it that passes the form on gets the line too.
    const strata::log_sink sink(
        [&](const strata::log_record& r) {
            lines.emplace_back(r.line);
            inner(r);
        },
        inner.form());
    const std::string secret = "hunter2-for-real";
    const strata::report b =
        strata::handle(strata::make_error("invariant broken\nsecond line").with("token", strata::sensitive(secret)),
                       {.sink = &sink});
    const strata::report k = strata::handle(known_edge_case(), {.sink = &sink});
    const auto messages = log.messages();
    REQUIRE(messages.size() == 2);
    REQUIRE(lines.size() == 2);
    CHECK(messages[0].level == spdlog::level::err);
    CHECK(messages[1].level == spdlog::level::warn);
    const strata::report* reports[] = {&b, &k};
    for (std::size_t i = 0; i < 2; ++i) {
        const std::string text = payload(messages[i]);
        CHECK(text + "\n" == lines[i]);
        CHECK_FALSE(contains(text, "\n"));
        CHECK_FALSE(contains(text, secret));
        const nlohmann::json j = nlohmann::json::parse(text);
        CHECK(j["strata.id"] == reports[i]->id);
        CHECK(j["strata.decision"] == (reports[i]->is_bug ? "bug" : "known edge case"));
        CHECK(j["strata.user_message"] == reports[i]->user_message);
        // spdlog's time for the message is the record's.
        CHECK(messages[i].time.time_since_epoch().count() > 0);
        const strata::result<strata::error> back = strata::from_json(text);
        REQUIRE(back.has_value());
        CHECK(back->is_user_facing() == !reports[i]->is_bug);
    }
    CHECK(nlohmann::json::parse(payload(messages[0]))["exception.message"] == "invariant broken\nsecond line");
    CHECK(fmt::format("{:c}", *strata::from_json(payload(messages[1]))) == fmt::format("{:c}", known_edge_case()));
}

TEST_CASE("with json_line_form, wrapped by a sink that does not pass the form on, it still logs the line", "[spdlog][json_lines]") {
    ring_logger log;
    recording seen;  // a plain lambda around it: no form asked
    const strata::log_sink sink = seen.around(strata::spdlog_sink(log.logger, {.form = strata::json_line_form}));
    const strata::report r = strata::handle(known_edge_case(), {.sink = &sink});
    const auto messages = log.messages();
    REQUIRE(messages.size() == 1);
    const std::string text = payload(messages[0]);
    CHECK_FALSE(contains(text, "\n"));
    CHECK(nlohmann::json::parse(text)["strata.id"] == r.id);
}

TEST_CASE("with json_line_form from many threads: one line per record, grep finds each ID once, in the order of their times", "[spdlog][json_lines]") {
    std::ostringstream out;
    auto logger = std::make_shared<spdlog::logger>("app", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%f [%l] %v");
    const strata::log_sink sink = strata::spdlog_sink(logger, {.form = strata::json_line_form});
    std::mutex ids_mutex;
    std::vector<std::string> ids;
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 25; ++i) {
                logger->info("thread {} says {}", t, i);  // the application's other messages
                const strata::report r = strata::handle(
                    strata::make_error("thread {} error {}\nwith a second line", t, i).with("i", i), {.sink = &sink});
                std::lock_guard lock(ids_mutex);
                ids.push_back(r.id);
            }
        });
    }
    for (auto& th : threads) th.join();
    std::vector<std::string> lines;
    std::istringstream in(out.str());
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    CHECK(lines.size() == 400);  // 200 messages and 200 records, one line each
    REQUIRE(ids.size() == 200);
    std::size_t records = 0;
    std::string last_time;
    std::size_t out_of_order = 0;
    for (const std::string& line : lines) {
        if (!contains(line, "{\"strata.time\":")) continue;
        ++records;
        // The logger's stamp is the record's time (to the microsecond here, the
        // record's own field to the millisecond).
        const std::string stamp = line.substr(0, line.find(' '));
        const nlohmann::json j = nlohmann::json::parse(line.substr(line.find('{')));
        CHECK(stamp.substr(0, 23) == j["strata.time"].get<std::string>().substr(0, 23));
        if (stamp < last_time) ++out_of_order;
        last_time = stamp;
    }
    CHECK(records == 200);
    CHECK(out_of_order == 0);
    for (const std::string& id : ids) {
        std::size_t found = 0;
        for (const std::string& line : lines)
            if (contains(line, "\"strata.id\":\"" + id + "\"")) ++found;  // the whole ID: "…-1" is in "…-10"
        CHECK(found == 1);
    }
}
#endif

#ifdef STRATA_SPDLOG_SINK_EXAMPLE
// --- examples/spdlog_sink ---------------------------------------------------------

TEST_CASE("the spdlog_sink example: the user's IDs find their records in the log file and on the console", "[spdlog][example]") {
    char tmpl[] = "/tmp/strata-spdlog-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    const std::string dir = tmpl;
    const std::string cmd = std::string("'") + STRATA_SPDLOG_SINK_EXAMPLE + "' '" + dir + "/app.log' >'" + dir +
                            "/stdout' 2>'" + dir + "/stderr'";
    const int status = std::system(cmd.c_str());
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 1);

    const std::string out = strata_test::slurp(dir + "/stdout");
    const std::string file = strata_test::slurp(dir + "/app.log");
    const std::string console = strata_test::slurp(dir + "/stderr");
    static const std::regex line_re(R"(^\[([0-9a-z]{10}-[0-9]+)\] (.*)$)");
    std::istringstream lines(out);
    std::vector<std::string> ids, messages;
    for (std::string line; std::getline(lines, line);) {
        std::smatch m;
        REQUIRE(std::regex_match(line, m, line_re));
        ids.push_back(m[1]);
        messages.push_back(m[2]);
    }
    REQUIRE(ids.size() == 2);
    CHECK(messages[0] == "can't read the settings: /etc/strata-example/settings.conf is missing");
    CHECK(messages[1] == "There was an unexpected issue; please report this as a bug.");
    for (const std::string& log : {file, console}) {
        CHECK(contains(log, "[app] [info] starting"));
        CHECK(contains(log, "[app] [warning] [main.cpp:"));
        CHECK(contains(log, "] [" + ids[0] + "] "));
        CHECK(contains(log, "[app] [error] [main.cpp:"));
        CHECK(contains(log, "] [" + ids[1] + "] "));
        CHECK(contains(log, "  chain: no greeting for language \"tlh\"\n"));
        CHECK(contains(log, "open /etc/strata-example/settings.conf"));
        CHECK(contains(log, "[app] [info] done"));
    }
    std::filesystem::remove_all(dir);
}
#endif
