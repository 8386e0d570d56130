// Tests for <strata/handle.hpp>: strata::handle's decision (known edge case or
// bug), the report and its ID, the log record and the sinks, report-once, and
// handle() from several threads.
#include <catch2/catch.hpp>
#include <strata/handle.hpp>

#include "support.hpp"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

namespace {

struct checkout_layer {
    static constexpr std::string_view name = "handle_test.checkout";
    static constexpr bool user_facing = true;
};

struct cache_layer {  // not user-facing
    static constexpr std::string_view name = "handle_test.cache";
};

// What a sink saw, copied out of the log_record (whose views die with the call).
struct seen_record {
    std::string id;
    std::string text;
    std::string host;
    long pid = 0;
    long thread = 0;
    std::chrono::system_clock::time_point time;
    strata::report rep;
    strata::error err;
};

// A thread-safe capturing sink.
struct capture {
    std::mutex mutex;
    std::string all_text;  // every record's text, appended
    std::vector<seen_record> records;
    std::atomic<int> calls{0};

    strata::log_sink sink() {
        return [this](const strata::log_record& r) {
            calls.fetch_add(1);
            std::lock_guard lock(mutex);
            all_text.append(r.text);
            records.push_back(seen_record{std::string(r.id), std::string(r.text), std::string(r.host), r.pid, r.thread,
                                          r.time, r.rep, r.err});
        };
    }
};

// Restores the process-wide sink (stderr) when a test ends, even by a failed REQUIRE,
// so that no later handle() calls a sink whose capture has gone.
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
    ~stderr_capture() { restore(); }

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

std::string prefix_of(const std::string& id) { return id.substr(0, id.find('-')); }

std::string this_host() {
    char name[256] = {};
    REQUIRE(gethostname(name, sizeof name - 1) == 0);
    return name;
}

std::string utc_seconds(std::chrono::system_clock::time_point t) {
    const std::time_t secs = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    return buf;
}

// A low-level failure with details that must never reach a user.
strata::wrapped_error<strata::low_level> secret_failure() {
    return strata::wrap<strata::low_level>(std::make_error_code(std::errc::permission_denied), "stat /secret/path: {}", "denied")
        .with("token", "hunter2-token")
        .with("uid", 4242);
}

}  // namespace

// Named and never inlined, so that its name shows in the record's stack.
[[gnu::noinline]] strata::error handle_test_origin() {
    return strata::make_error<strata::low_level>("handle_test_origin failed");
}

// ---------------------------------------------------------------------------
// The decision

TEST_CASE("a user-facing outermost layer is a known edge case: its message is shown", "[handle]") {
    capture cap;
    const strata::log_sink sink = cap.sink();

    SECTION("intermediate") {
        const strata::error e = strata::wrap<strata::intermediate>(secret_failure(), "could not open your file");
        const strata::report r = strata::handle(e, strata::handle_options{&sink});
        CHECK_FALSE(r.is_bug);
        CHECK(r.user_message == "could not open your file");
        CHECK(r.user_message == e.message());
        CHECK_FALSE(r.id.empty());
    }
    SECTION("an application layer with user_facing = true") {
        const strata::error e = strata::make_error<checkout_layer>("your card was declined ({} attempts)", 2);
        const strata::report r = strata::handle(e, strata::handle_options{&sink});
        CHECK_FALSE(r.is_bug);
        CHECK(r.user_message == "your card was declined (2 attempts)");
    }
    SECTION("a wrapped_error<L> is handled like an error") {
        const strata::wrapped_error<checkout_layer> e = strata::make_error<checkout_layer>("cart is empty");
        const strata::report r = strata::handle(e, strata::handle_options{&sink});
        CHECK_FALSE(r.is_bug);
        CHECK(r.user_message == "cart is empty");
    }
    CHECK(cap.calls == 1);
}

TEST_CASE("anything else is a bug: the user sees the bug message", "[handle]") {
    capture cap;
    const strata::log_sink sink = cap.sink();
    const strata::handle_options options{&sink};

    SECTION("low_level") {
        const strata::report r = strata::handle(secret_failure(), options);
        CHECK(r.is_bug);
        CHECK(r.user_message == strata::default_bug_message);
    }
    SECTION("untagged") {
        const strata::report r = strata::handle(strata::make_error("nobody wrapped me"), options);
        CHECK(r.is_bug);
        CHECK(r.user_message == strata::default_bug_message);
    }
    SECTION("an application layer that is not user-facing") {
        const strata::report r = strata::handle(strata::make_error<cache_layer>("cache miss"), options);
        CHECK(r.is_bug);
        CHECK(r.user_message == strata::default_bug_message);
    }
    SECTION("a user-facing layer wrapped by a low-level one: only the outermost counts") {
        const strata::error shown = strata::make_error<strata::intermediate>("would be shown");
        const strata::report r = strata::handle(strata::wrap<strata::low_level>(shown, "but got wrapped"), options);
        CHECK(r.is_bug);
        CHECK(r.user_message == strata::default_bug_message);
    }
    SECTION("an empty error") {
        const strata::report r = strata::handle(strata::error{}, options);
        CHECK(r.is_bug);
        CHECK(r.user_message == strata::default_bug_message);
        CHECK_FALSE(r.id.empty());
    }
    SECTION("a moved-from error") {
        strata::error e = strata::make_error<strata::intermediate>("moved");
        const strata::error taken = std::move(e);
        const strata::report r = strata::handle(e, options);  // NOLINT(bugprone-use-after-move): empty on purpose
        CHECK(r.is_bug);
        CHECK(r.user_message == strata::default_bug_message);
    }
    // The bug is logged, in full.
    CHECK(cap.calls == 1);
    CHECK(strata::default_bug_message == "There was an unexpected issue; please report this as a bug.");
}

TEST_CASE("handle_options.bug_message replaces the bug text, and only for bugs", "[handle]") {
    capture cap;
    const strata::log_sink sink = cap.sink();
    const strata::handle_options options{&sink, "Something broke. Call us and quote the ID."};

    const strata::report bug = strata::handle(secret_failure(), options);
    CHECK(bug.is_bug);
    CHECK(bug.user_message == "Something broke. Call us and quote the ID.");

    const strata::report known = strata::handle(strata::make_error<strata::intermediate>("try again later"), options);
    CHECK_FALSE(known.is_bug);
    CHECK(known.user_message == "try again later");
}

TEST_CASE("the user message never contains low-level messages or misc values", "[handle]") {
    capture cap;
    const strata::log_sink sink = cap.sink();
    const strata::handle_options options{&sink};
    const strata::error low = secret_failure();
    const std::string ec_text = std::make_error_code(std::errc::permission_denied).message();

    const strata::report bug = strata::handle(low, options);
    const strata::error shown = strata::wrap<strata::intermediate>(low, "could not load your settings").with("session", "s-991");
    const strata::report known = strata::handle(shown, options);

    for (const strata::report* r : {&bug, &known}) {
        INFO(r->user_message);
        CHECK_FALSE(contains(r->user_message, "/secret/path"));
        CHECK_FALSE(contains(r->user_message, "stat "));
        CHECK_FALSE(contains(r->user_message, "hunter2"));
        CHECK_FALSE(contains(r->user_message, "4242"));
        CHECK_FALSE(contains(r->user_message, "s-991"));
        CHECK_FALSE(contains(r->user_message, ec_text));
        const std::string formatted = fmt::format("{}", *r);
        CHECK_FALSE(contains(formatted, "/secret/path"));
        CHECK_FALSE(contains(formatted, "hunter2"));
    }
    CHECK(known.user_message == "could not load your settings");

    // The log record, on the other hand, has all of it.
    CHECK(contains(cap.all_text, "stat /secret/path: denied"));
    CHECK(contains(cap.all_text, "hunter2-token"));
    CHECK(contains(cap.all_text, ec_text));
}

// ---------------------------------------------------------------------------
// The report and the record

TEST_CASE("fmt::format of a report is the ID in brackets, a space and the user message", "[handle]") {
    capture cap;
    const strata::log_sink sink = cap.sink();
    const strata::report known = strata::handle(strata::make_error<strata::intermediate>("disk full"), strata::handle_options{&sink});
    CHECK(fmt::format("{}", known) == "[" + known.id + "] disk full");
    const strata::report bug = strata::handle(strata::make_error("oops"), strata::handle_options{&sink});
    CHECK(fmt::format("{}", bug) == "[" + bug.id + "] " + std::string(strata::default_bug_message));
}

TEST_CASE("the log record carries the ID, where it happened, the chain and the stack", "[handle]") {
    capture cap;
    const strata::log_sink sink = cap.sink();
    const strata::error e = strata::wrap<strata::intermediate>(strata::wrap(handle_test_origin(), "middle"), "outer").with("order", 77);
    const strata::report r = strata::handle(e, strata::handle_options{&sink});

    REQUIRE(cap.calls == 1);
    REQUIRE(cap.records.size() == 1);
    const seen_record& rec = cap.records.front();
    const std::string& text = rec.text;
    INFO(text);

    SECTION("the ID") {
        CHECK(rec.id == r.id);
        CHECK(contains(text, r.id));
        CHECK(rec.rep.id == r.id);
        CHECK(rec.rep.user_message == r.user_message);
        CHECK(rec.rep.is_bug == r.is_bug);
        CHECK(rec.err.same_as(e));
    }
    SECTION("host, process, thread and UTC time") {
        const std::string host = this_host();
        CHECK(rec.host == host);
        CHECK(contains(text, host));
        CHECK(rec.pid == static_cast<long>(getpid()));
        CHECK(contains(text, "pid " + std::to_string(getpid())));
        CHECK(rec.thread == static_cast<long>(gettid()));
        CHECK(contains(text, std::to_string(gettid())));
        CHECK(contains(text, utc_seconds(rec.time)));
    }
    SECTION("the chain, the frames and the stack") {
        CHECK(contains(text, "outer: middle: handle_test_origin failed"));
        CHECK(contains(text, "order = 77"));
        CHECK(contains(text, "intermediate"));
        CHECK(contains(text, "low_level"));
        CHECK(contains(text, "(origin)"));
        // The stack starts in the function that made the error.
        const std::size_t header = text.find("(origin)");
        REQUIRE(header != std::string::npos);
        const std::size_t first_line = text.find('\n', header) + 1;
        const std::string first = text.substr(first_line, text.find('\n', first_line) - first_line);
        CHECK(contains(first, "handle_test_origin"));
    }
    SECTION("the text is whole: multi-line, ending in a newline") {
        REQUIRE_FALSE(text.empty());
        CHECK(text.back() == '\n');
        CHECK(text.find('\n') < text.size() - 1);
    }
}

// ---------------------------------------------------------------------------
// Report once

TEST_CASE("an error handled twice keeps its first ID and is logged once", "[handle][once]") {
    capture cap;
    const strata::log_sink sink = cap.sink();
    const strata::handle_options options{&sink};
    const strata::error e = strata::wrap<strata::intermediate>(secret_failure(), "could not save");

    const strata::report first = strata::handle(e, options);
    const strata::report second = strata::handle(e, options);
    CHECK(second.id == first.id);
    CHECK(second.user_message == first.user_message);
    CHECK(second.is_bug == first.is_bug);
    CHECK(cap.calls == 1);

    SECTION("a copy shares the frame, so the same ID") {
        const strata::error copy = e;  // NOLINT(performance-unnecessary-copy-initialization)
        const strata::report r = strata::handle(copy, options);
        CHECK(r.id == first.id);
        CHECK(cap.calls == 1);
    }
    SECTION("also through another sink: still logged once") {
        capture other;
        const strata::log_sink other_sink = other.sink();
        const strata::report r = strata::handle(e, strata::handle_options{&other_sink});
        CHECK(r.id == first.id);
        CHECK(other.calls == 0);
        CHECK(cap.calls == 1);
    }
    SECTION("a new wrap around a handled error is a new report") {
        const strata::error outer = strata::wrap<strata::intermediate>(e, "the save was retried and failed");
        const strata::report r = strata::handle(outer, options);
        CHECK(r.id != first.id);
        CHECK(cap.calls == 2);
        CHECK(prefix_of(r.id) == prefix_of(first.id));
        // And that one is remembered too.
        CHECK(strata::handle(outer, options).id == r.id);
        CHECK(cap.calls == 2);
    }
}

TEST_CASE("IDs from many handle() calls are distinct and share the process prefix", "[handle][ids]") {
    std::atomic<int> calls{0};
    const strata::log_sink sink = [&calls](const strata::log_record&) { calls.fetch_add(1); };
    const strata::handle_options options{&sink};

    // Without a stack the records are short and the loop is quick.
    const strata::capture_policy saved = strata::get_capture_policy();
    strata::set_capture_policy(strata::capture_policy::off);
    const strata::error root = strata::make_error<strata::low_level>("root");
    strata::set_capture_policy(saved);

    constexpr int n = 10'000;
    std::set<std::string> ids;
    std::set<std::string> prefixes;
    int without_dash = 0;
    for (int i = 0; i < n; ++i) {
        const strata::report r = strata::handle(strata::wrap(root, "attempt {}", i), options);
        if (r.id.find('-') == std::string::npos) ++without_dash;
        ids.insert(r.id);
        prefixes.insert(prefix_of(r.id));
    }
    CHECK(without_dash == 0);
    CHECK(ids.size() == static_cast<std::size_t>(n));
    CHECK(prefixes.size() == 1);
    CHECK_FALSE(prefixes.begin()->empty());
    CHECK(calls == n);

    // Errors without a frame of their own (empty) get fresh IDs too.
    const strata::report a = strata::handle(strata::error{}, options);
    const strata::report b = strata::handle(strata::error{}, options);
    CHECK(a.id != b.id);
    CHECK(ids.count(a.id) == 0);
    CHECK(prefix_of(a.id) == *prefixes.begin());
}

namespace {

// What handle() said in a forked child process.
struct child_view {
    std::string id;         // the report's ID
    long record_pid = 0;    // log_record::pid
    long record_thread = 0;  // log_record::thread
    long pid = 0;           // the child's getpid()
    long tid = 0;           // the child's gettid()
};

// Forks; the child handles one error, reports what it saw through a pipe and exits.
child_view handle_in_child() {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        ::close(fds[0]);
        long rec_pid = 0;
        long rec_thread = 0;
        const strata::log_sink sink = [&](const strata::log_record& r) {
            rec_pid = r.pid;
            rec_thread = r.thread;
        };
        const strata::report r = strata::handle(strata::make_error("in the child"), strata::handle_options{&sink});
        const std::string msg =
            fmt::format("{} {} {} {} {}\n", r.id, rec_pid, rec_thread, static_cast<long>(::getpid()), static_cast<long>(::gettid()));
        const bool ok = ::write(fds[1], msg.data(), msg.size()) == static_cast<ssize_t>(msg.size());
        ::_exit(ok ? 0 : 1);
    }
    ::close(fds[1]);
    std::string text;
    char buf[256];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) text.append(buf, static_cast<std::size_t>(n));
    ::close(fds[0]);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);

    child_view v;
    char id[128] = {};
    REQUIRE(std::sscanf(text.c_str(), "%127s %ld %ld %ld %ld", id, &v.record_pid, &v.record_thread, &v.pid, &v.tid) == 5);
    v.id = id;
    return v;
}

}  // namespace

// IDs are unique across processes: a child made by fork() must not repeat the
// IDs its parent hands out.
TEST_CASE("a forked child process does not repeat its parent's IDs", "[handle][ids][fork]") {
    capture cap;
    const strata::log_sink sink = cap.sink();
    const strata::handle_options options{&sink};
    (void)strata::handle(strata::make_error("parent, before the fork"), options);  // IDs and caches in use

    const child_view child = handle_in_child();
    const strata::report parent = strata::handle(strata::make_error("parent, after the fork"), options);
    INFO("child " << child.id << ", parent " << parent.id);
    CHECK(child.id != parent.id);
}

// The record says which process and thread it came from: in a forked child
// that is the child's, not its parent's.
TEST_CASE("a forked child's records name the child's process and thread", "[handle][fork]") {
    capture cap;
    const strata::log_sink sink = cap.sink();
    (void)strata::handle(strata::make_error("parent, before the fork"), strata::handle_options{&sink});

    const child_view child = handle_in_child();
    CHECK(child.record_pid == child.pid);
    CHECK(child.record_thread == child.tid);
    CHECK(child.pid != static_cast<long>(::getpid()));
}

// ---------------------------------------------------------------------------
// Threads

TEST_CASE("handle from 4 threads on distinct errors: distinct IDs, every record logged", "[handle][threads]") {
    capture cap;
    const strata::log_sink sink = cap.sink();
    const strata::handle_options options{&sink};

    constexpr int n_threads = 4;
    constexpr int per_thread = 250;
    // Made here, at one call site, so that their stacks are symbolized once (below)
    // and the threads spend their time in handle() rather than loading debug info.
    std::vector<std::vector<strata::error>> errors(n_threads);
    for (int t = 0; t < n_threads; ++t)
        for (int i = 0; i < per_thread; ++i)
            errors[t].push_back(strata::make_error<strata::low_level>("thread {} error {}", t, i));
    (void)fmt::format("{:v}", errors[0][0]);

    std::vector<std::vector<std::string>> ids(n_threads);
    strata_test::run_together(n_threads, [&](int t) {
        for (const strata::error& e : errors[t]) ids[t].push_back(strata::handle(e, options).id);
    });

    std::set<std::string> all;
    for (const auto& v : ids) all.insert(v.begin(), v.end());
    CHECK(all.size() == static_cast<std::size_t>(n_threads * per_thread));
    CHECK(cap.calls == n_threads * per_thread);
    std::set<std::string> logged;
    for (const seen_record& r : cap.records) logged.insert(r.id);
    CHECK(logged == all);
}

TEST_CASE("two threads handling the same error at once: logged once, one ID", "[handle][threads][once]") {
    constexpr int rounds = 100;
    int logged_once = 0;
    int same_id = 0;
    for (int round = 0; round < rounds; ++round) {
        capture cap;
        const strata::log_sink sink = cap.sink();
        const strata::handle_options options{&sink};
        const strata::error e = strata::make_error<strata::low_level>("shared error {}", round);
        std::string ids[2];
        strata_test::run_together(2, [&](int t) { ids[t] = strata::handle(e, options).id; });
        const std::string& id_a = ids[0];
        const std::string& id_b = ids[1];
        if (cap.calls == 1) ++logged_once;
        if (!id_a.empty() && id_a == id_b) ++same_id;
        // The one record logged carries that ID.
        if (cap.records.size() == 1 && cap.records.front().id != id_a) FAIL("the record's ID is not the reports' ID");
    }
    CHECK(logged_once == rounds);
    CHECK(same_id == rounds);
}

// ---------------------------------------------------------------------------
// Sinks

TEST_CASE("set_log_sink installs the process-wide sink, and an empty one restores stderr", "[handle][sink]") {
    capture global;
    const global_sink_reset reset;
    strata::set_log_sink(global.sink());

    const strata::report r = strata::handle(strata::make_error<strata::low_level>("to the global sink"));
    CHECK(global.calls == 1);
    CHECK(contains(global.all_text, r.id));
    CHECK(contains(global.all_text, "to the global sink"));

    SECTION("handle_options.sink takes precedence over the global sink") {
        capture local;
        const strata::log_sink sink = local.sink();
        const strata::report r2 = strata::handle(strata::make_error<strata::low_level>("to the local sink"), strata::handle_options{&sink});
        CHECK(local.calls == 1);
        CHECK(contains(local.all_text, r2.id));
        CHECK(global.calls == 1);
        CHECK_FALSE(contains(global.all_text, "to the local sink"));
    }
    SECTION("replacing the global sink") {
        capture second;
        strata::set_log_sink(second.sink());
        const strata::report r2 = strata::handle(strata::make_error<strata::low_level>("to the second sink"));
        CHECK(second.calls == 1);
        CHECK(contains(second.all_text, r2.id));
        CHECK(global.calls == 1);
    }

    strata::set_log_sink({});
    // Back to stderr: the old sink sees nothing more, stderr gets the record.
    stderr_capture err;
    const strata::report after = strata::handle(strata::make_error<strata::low_level>("to stderr after the reset"));
    const std::string written = err.text();
    CHECK_FALSE(after.id.empty());
    CHECK(global.calls == 1);
    CHECK(contains(written, after.id));
    CHECK(contains(written, "to stderr after the reset"));
}

TEST_CASE("a sink that throws does not make handle throw", "[handle][sink]") {
    STATIC_REQUIRE(noexcept(strata::handle(std::declval<const strata::error&>())));
    STATIC_REQUIRE(noexcept(strata::handle(std::declval<const strata::error&>(), std::declval<const strata::handle_options&>())));

    int calls = 0;
    const strata::log_sink throwing = [&calls](const strata::log_record&) {
        ++calls;
        throw std::runtime_error("sink is broken");
    };
    const strata::error e = strata::make_error<strata::intermediate>("shown anyway (record on stderr, on purpose)");
    strata::report r;
    CHECK_NOTHROW(r = strata::handle(e, strata::handle_options{&throwing}));
    CHECK(calls == 1);
    CHECK_FALSE(r.id.empty());
    CHECK_FALSE(r.is_bug);
    CHECK(r.user_message == "shown anyway (record on stderr, on purpose)");
    // Still reported once.
    CHECK(strata::handle(e, strata::handle_options{&throwing}).id == r.id);
    CHECK(calls == 1);

    // The same through the global sink.
    const global_sink_reset reset;
    strata::set_log_sink(throwing);
    strata::report g;
    CHECK_NOTHROW(g = strata::handle(strata::make_error("global sink throws (record on stderr, on purpose)")));
    CHECK(calls == 2);
    CHECK(g.is_bug);
    CHECK_FALSE(g.id.empty());
    strata::set_log_sink({});
}
