// Tests of STRATA_CHECKED (this file is built with STRATA_CHECKED=1, with its
// own main, so that every file of the executable agrees on the frame's layout):
// an error destroyed without anyone looking at it is reported, as LLVM's checked
// errors are; one that was tested, wrapped, found in, formatted or handled is not.
#include <catch2/catch.hpp>

#include <strata/cancel.hpp>
#include <strata/handle.hpp>
#include <strata/json.hpp>
#include <strata/task_group.hpp>
#include <strata/result.hpp>

#include <chrono>
#include <mutex>
#include <stop_token>
#include <string>
#include <system_error>
#include <thread>

static_assert(STRATA_CHECKED == 1, "this file tests STRATA_CHECKED");

namespace {

// A report may come from any thread (a task's): guarded.
std::mutex reports_m;
int reports = 0;
std::string last_message;
std::string last_layer;
unsigned last_line = 0;

void record(const strata::unchecked_error& e) noexcept {
    std::lock_guard lock(reports_m);
    ++reports;
    last_message.assign(e.message);
    last_layer.assign(e.layer);
    last_line = e.where.line();
}

// Installs record() while it lives, and starts the count from zero.
struct recording {
    recording() : previous(strata::set_unchecked_error_handler(&record)) {
        reports = 0;
        last_message.clear();
    }
    ~recording() { strata::set_unchecked_error_handler(previous); }
    strata::unchecked_error_handler previous;
};

strata::result<int> parse(bool fail) {
    if (fail) return strata::make_error<strata::low_level>("bad input");
    return 1;
}

strata::result<int> middle(bool fail) {
    STRATA_TRY_ASSIGN(const int v, parse(fail));
    return v + 1;
}

strata::result<int> top(bool fail) {
    STRATA_TRY_ASSIGN(const int v, middle(fail));
    return v + 1;
}

}  // namespace

TEST_CASE("an error made and dropped unchecked is reported once, with what it was and where", "[checked]") {
    recording r;
    unsigned line = 0;
    {
        line = __LINE__ + 1;
        strata::error e = strata::make_error<strata::low_level>("nobody looked at me");
    }
    CHECK(reports == 1);
    CHECK(last_message == "nobody looked at me");
    CHECK(last_layer == "low_level");
    CHECK(last_line == line);
}

TEST_CASE("testing an error, in any of the ways there are, checks it", "[checked]") {
    recording r;
    {
        const strata::error a = strata::make_error("a");
        CHECK(a);  // operator bool
    }
    {
        const strata::error b = strata::make_error("b");
        CHECK_FALSE(b.empty());
    }
    {
        const strata::error c = strata::make_error<strata::intermediate>("c");
        CHECK(c.is<strata::intermediate>());
    }
    {
        const strata::error d = strata::make_error("d");
        CHECK(d.message() == "d");
    }
    {
        const strata::error e = strata::make_error<strata::intermediate>("e");
        CHECK(strata::find<strata::intermediate>(e).has_value());
    }
    {
        const strata::error f = strata::make_error("f");
        CHECK(fmt::format("{}", f) == "f");
    }
    {
        const strata::error g = strata::make_error("g");
        const strata::log_sink quiet([](const strata::log_record&) {});
        const strata::report rep = strata::handle(g, strata::handle_options{&quiet});
        CHECK(rep.is_bug);
    }
    INFO("reported: " << last_message);
    CHECK(reports == 0);
}

TEST_CASE("wrapping an error checks it, and the wrapper dropped unchecked is the one reported", "[checked]") {
    recording r;
    {
        strata::error inner = strata::make_error<strata::low_level>("inner");
        strata::error outer = strata::wrap<strata::intermediate>(inner, "outer");
    }
    CHECK(reports == 1);
    CHECK(last_message == "outer");
}

TEST_CASE("a failed result checked with has_value() at the top, through STRATA_TRY, is not reported", "[checked]") {
    recording r;
    {
        const strata::result<int> res = top(true);
        CHECK_FALSE(res.has_value());
    }
    CHECK(reports == 0);
}

TEST_CASE("a failed result dropped without being checked is reported", "[checked]") {
    recording r;
    { const strata::result<int> res = top(true); }
    CHECK(reports == 1);
    CHECK(last_message == "bad input");
}

TEST_CASE("a successful result is never reported", "[checked]") {
    recording r;
    { const strata::result<int> res = top(false); }
    CHECK(reports == 0);
}

TEST_CASE("checking one copy checks the error, and with() on a checked error keeps it checked", "[checked]") {
    recording r;
    {
        strata::error a = strata::make_error("shared");
        const strata::error b = a;
        CHECK(b);
        strata::error c = a;
        c.with("key", 1);  // a copy of the frame, checked like the original
    }
    CHECK(reports == 0);
}

TEST_CASE("moving an error hands on the duty to check it", "[checked]") {
    recording r;
    {
        strata::error a = strata::make_error("moved");
        strata::error b = std::move(a);
        CHECK(b);
    }
    CHECK(reports == 0);
}

TEST_CASE("the errors strata drops on purpose are not reported: losers, causes, counted failures", "[checked]") {
    using namespace std::chrono_literals;
    recording r;
    {
        // A race won: the failed replica's error is dropped by design.
        const strata::result<int> won = strata::first_of(
            [](std::stop_token) -> strata::result<int> { return strata::make_error("replica failed"); },
            [](std::stop_token) -> strata::result<int> { return 2; });
        CHECK(won.has_value());
        // All failed: the others are kept as text on the one returned.
        const strata::result<int> lost = strata::first_of(
            [](std::stop_token) -> strata::result<int> { return strata::make_error("one"); },
            [](std::stop_token) -> strata::result<int> { return strata::make_error("two"); });
        CHECK_FALSE(lost.has_value());
        // A deadline: the cause on the token, and fn's own cancellation below the
        // timed_out error.
        const strata::result<int> late = strata::with_timeout(1ms, [](std::stop_token token) -> strata::result<int> {
            while (!token.stop_requested()) std::this_thread::yield();
            return strata::canceled_by(token);
        });
        CHECK_FALSE(late.has_value());
        // A group: a failure, a task it stopped, and more failures than it keeps.
        strata::task_group g;
        for (int i = 0; i < 12; ++i)
            g.spawn([](std::stop_token) -> strata::result<void> { return strata::make_error("task failed"); });
        g.spawn([](std::stop_token token) -> strata::result<void> {
            while (!token.stop_requested()) std::this_thread::yield();
            return strata::canceled_by(token);
        });
        const strata::result<void> w = g.wait();
        CHECK_FALSE(w.has_value());
    }
    CHECK(reports == 0);
}

TEST_CASE("reading an error's parts checks it too: inner_as, layer, misc, inner, cause_detail", "[checked]") {
    recording r;
    {
        const strata::error a = strata::wrap(std::make_error_code(std::errc::no_such_file_or_directory), "open");
        CHECK(a.inner_as<std::error_code>() != nullptr);
    }
    {
        const strata::error b = strata::make_error<strata::intermediate>("b");
        CHECK(b.layer().user_facing);
    }
    {
        const strata::error c = strata::make_error("c").with("k", 1);
        CHECK(c.misc().find("k").has_value());
    }
    {
        const strata::error d = strata::wrap(strata::make_error("root"), "d");
        CHECK(d.inner().message() == "root");
    }
    CHECK(reports == 0);
}

TEST_CASE("a failure handed up through STRATA_TRY from a named result is the caller's to check", "[checked]") {
    recording r;
    auto pass_on = []() -> strata::result<int> {
        strata::result<int> named = parse(true);
        STRATA_TRY(named);  // tests it, and hands it up
        return 0;
    };
    { const strata::result<int> dropped = pass_on(); }
    CHECK(reports == 1);
    CHECK(last_message == "bad input");
}

TEST_CASE("a group destroyed without wait() drops its failures knowingly: no report", "[checked]") {
    recording r;
    {
        strata::task_group g;
        for (int i = 0; i < 10; ++i)
            g.spawn([](std::stop_token) -> strata::result<void> { return strata::make_error("task failed"); });
    }
    CHECK(reports == 0);
}

TEST_CASE("from_json of bad input drops the frames it had made knowingly (nothing reported)", "[checked][json]") {
    recording r;
    const char* docs[] = {
        // the first frame is bad, the second (decoded first) good
        R"({"strata.version":1,"strata.origins":[{"host":"h","pid":1,"thread":1,"time":"t"}],"strata.frames":[{"layer":"x","user_facing":7,"message":"m","origin":0},{"layer":"y","user_facing":false,"message":"m","origin":0}]})",
        // a bad misc value in an otherwise good frame
        R"({"strata.version":1,"strata.origins":[{"host":"h","pid":1,"thread":1,"time":"t"}],"strata.frames":[{"layer":"x","user_facing":false,"message":"m","misc":[{"key":"k","type":"int","value":"no"}],"origin":0}]})",
    };
    for (const char* doc : docs) {
        const strata::result<strata::error> d = strata::from_json(doc);
        REQUIRE_FALSE(d.has_value());
        CHECK(d.error().is<strata::bad_json>());
    }
    CHECK(reports == 0);
}
