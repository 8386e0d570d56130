// Runs the examples: job_runner in the book's three cases (what the user is told,
// the bug decision, the log record filed under the user's ID), and concurrent_jobs.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

struct run_output {
    int exit_code;
    std::string out;  // what the user sees
    std::string log;  // the record
};

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string temp_dir() {
    char tmpl[] = "/tmp/strata-examples-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    return tmpl;
}

run_output run_job_runner(const std::string& dir, const std::string& binary) {
    const std::string out = dir + "/stdout", log = dir + "/stderr";
    const std::string cmd = std::string("'") + STRATA_JOB_RUNNER + "' " + (binary.empty() ? "" : "'" + binary + "'") +
                            " >'" + out + "' 2>'" + log + "'";
    const int status = std::system(cmd.c_str());
    REQUIRE(WIFEXITED(status));
    return {WEXITSTATUS(status), slurp(out), slurp(log)};
}

void write_file(const std::string& path, const std::string& text, mode_t mode) {
    std::ofstream(path) << text;
    REQUIRE(::chmod(path.c_str(), mode) == 0);
}

// "[ID] message\n" -> ID, or "" when the line is not of that shape.
std::string id_of(const std::string& user_line) {
    static const std::regex re(R"(^\[([0-9a-z]{10}-[0-9]+)\] .*\n$)");
    std::smatch m;
    return std::regex_match(user_line, m, re) ? m[1].str() : std::string();
}

const std::string bug_text = "There was an unexpected issue; please report this as a bug.";

// A bug: the user sees only the bug text under an ID; the record filed under that
// ID says it is a bug and its origin stack starts in `origin_function`.
void check_bug(const run_output& r, const std::string& origin_function) {
    CHECK(r.exit_code == 1);
    const std::string id = id_of(r.out);
    REQUIRE_FALSE(id.empty());
    CHECK(r.out == "[" + id + "] " + bug_text + "\n");
    CHECK(r.log.rfind("[" + id + "] ", 0) == 0);
    CHECK(r.log.find(" bug\n") != std::string::npos);
    const auto stack_at = r.log.find("(origin):");
    REQUIRE(stack_at != std::string::npos);
    CHECK(r.log.find("0# " + origin_function, stack_at) != std::string::npos);
}

}  // namespace

TEST_CASE("missing binary: the user sees the intermediate message under an ID that finds the record") {
    const std::string dir = temp_dir();
    const run_output r = run_job_runner(dir, dir + "/no-such-binary");
    CHECK(r.exit_code == 1);
    const std::string id = id_of(r.out);
    REQUIRE_FALSE(id.empty());
    CHECK(r.out == "[" + id + "] can't run job \"1\": requisite binaries are not available\n");
    // Known edge case, logged under the same ID.
    CHECK(r.log.rfind("[" + id + "] ", 0) == 0);
    CHECK(r.log.find("known edge case") != std::string::npos);
    // The low-level details are in the log, never in what the user sees.
    CHECK(r.log.find("stat " + dir + "/no-such-binary") != std::string::npos);
    CHECK(r.log.find("No such file or directory") != std::string::npos);
    CHECK(r.out.find("stat") == std::string::npos);
    CHECK(r.out.find("No such file") == std::string::npos);
    CHECK(r.out.find(dir) == std::string::npos);
    // The origin (the first function that failed) is in the logged stack.
    const auto stack_at = r.log.find("(origin):");
    REQUIRE(stack_at != std::string::npos);
    CHECK(r.log.find("0# is_globally_exec", stack_at) != std::string::npos);
}

TEST_CASE("the default binary is /bad/job/bin, as in the book") {
    const std::string dir = temp_dir();
    const run_output r = run_job_runner(dir, "");
    const std::string id = id_of(r.out);
    REQUIRE_FALSE(id.empty());
    CHECK(r.out == "[" + id + "] can't run job \"1\": requisite binaries are not available\n");
    CHECK(r.log.find("stat /bad/job/bin") != std::string::npos);
}

TEST_CASE("binary not executable: a bug, the user sees the bug text and the ID of the record") {
    const std::string dir = temp_dir();
    write_file(dir + "/job", "#!/bin/sh\nexit 0\n", 0644);
    const run_output r = run_job_runner(dir, dir + "/job");
    check_bug(r, "run_job");
    CHECK(r.log.find("can't run job \"1\": requisite binaries are not executable") != std::string::npos);
    CHECK(r.out.find("not executable") == std::string::npos);
}

TEST_CASE("job exits non-zero: a bug, with the exit status in the record only") {
    const std::string dir = temp_dir();
    write_file(dir + "/job", "#!/bin/sh\nexit 3\n", 0755);
    const run_output r = run_job_runner(dir, dir + "/job");
    check_bug(r, "run_binary");
    CHECK(r.log.find("exit status 3") != std::string::npos);
    CHECK(r.log.find("--id1") != std::string::npos);
    CHECK(r.out.find("exit status") == std::string::npos);
}

TEST_CASE("a job that succeeds reports nothing") {
    const std::string dir = temp_dir();
    write_file(dir + "/job", "#!/bin/sh\nexit 0\n", 0755);
    const run_output r = run_job_runner(dir, dir + "/job");
    CHECK(r.exit_code == 0);
    CHECK(r.out == "job \"1\" done\n");
    CHECK(r.log.empty());
}

// --- examples/concurrent_jobs -------------------------------------------------------

namespace {

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

// The record filed under `id` in the log: from its "[id] " line to the next record.
std::string record_of(const std::string& log, const std::string& id) {
    const auto at = log.find("[" + id + "] ");
    if (at == std::string::npos || (at != 0 && log[at - 1] != '\n')) return {};
    static const std::regex next_record(R"(\n\[[0-9a-z]{10}-[0-9]+\] )");
    std::smatch m;
    const std::string rest = log.substr(at + 1);
    return std::regex_search(rest, m, next_record) ? log.substr(at, static_cast<std::size_t>(m.position(0)) + 2)
                                                   : log.substr(at);
}

}  // namespace

TEST_CASE("concurrent_jobs: each job's outcome under its own ID, the causes in the log, never a low-level detail") {
    const std::string dir = temp_dir();
    const std::string cmd = std::string("'") + STRATA_CONCURRENT_JOBS + "' >'" + dir + "/stdout' 2>'" + dir + "/stderr'";
    const int status = std::system(cmd.c_str());
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 1);
    const std::string out = slurp(dir + "/stdout"), log = slurp(dir + "/stderr");
    const std::vector<std::string> lines = lines_of(out);
    REQUIRE(lines.size() == 7);

    // The replicated request: the fast mirror wins; the failed and the slow one are not seen.
    CHECK(lines[0] == "fetch-config: config v42 from mirror 2");

    std::vector<std::string> ids;
    auto user_line = [&](std::size_t i, const std::string& pattern) {
        INFO(lines[i]);
        std::smatch m;
        const std::regex re("^\\[([0-9a-z]{10}-[0-9]+)\\] " + pattern + "$");
        REQUIRE(std::regex_match(lines[i], m, re));
        ids.push_back(m[1].str());
        return record_of(log, m[1].str());
    };
    // Every replica failed: one error holds them all, under a message for the user.
    const std::string replicas = user_line(1, R"(sync-mirrors: no mirror answered)");
    CHECK(replicas.find("known edge case") != std::string::npos);
    CHECK(replicas.find("replica_failures = 3") != std::string::npos);
    CHECK(replicas.find("replica = ") != std::string::npos);
    CHECK(replicas.find("Connection refused") != std::string::npos);
    // Slow: it beat, but the deadline passed. Known edge case: its message is shown.
    const std::string slow = user_line(2, R"(resize-images: no result within 100 ms; it stopped [0-9]+ ms late)");
    CHECK(slow.find("known edge case") != std::string::npos);
    CHECK(slow.find("stop_reason = \"deadline\"") != std::string::npos);
    CHECK(slow.find("last_beat_ms = ") != std::string::npos);
    // Stalled: it stopped beating. Told apart from slow, with when it last beat.
    const std::string stalled = user_line(
        3, R"(index-docs: stalled: no heartbeat for [0-9]+ ms \(one is required every 200 ms\); it (last beat [0-9]+ ms after it started|never beat))");
    CHECK(stalled.find("stop_reason = \"heartbeat\"") != std::string::npos);
    CHECK(stalled.find("beats = ") != std::string::npos);
    // A raw disk error nobody wrapped for the user: a bug; the detail only in the log.
    const std::string bug = user_line(4, R"(There was an unexpected issue; please report this as a bug\.)");
    CHECK(bug.find(" bug\n") != std::string::npos);
    CHECK(bug.find("No space left on device") != std::string::npos);
    CHECK(bug.find("canceled_tasks = 1") != std::string::npos);  // the step it stopped
    CHECK(bug.find("failed_task = 2") != std::string::npos);  // the upload step
    CHECK(bug.find("failed_task_name = \"upload\"") != std::string::npos);
    // Canceled by the run's deadline: the parent's cause is in the record.
    const std::string canceled = user_line(5, R"(warm-cache was canceled after [0-9]+ entries)");
    CHECK(canceled.find("known edge case") != std::string::npos);
    CHECK(canceled.find("parent canceled") != std::string::npos);
    CHECK(canceled.find("nightly run: deadline of 1500 ms passed") != std::string::npos);
    // The run itself came back after its deadline (it waited for warm-cache to stop).
    const std::string run = user_line(6, R"(nightly run: no result within 1500 ms; it came [0-9]+ ms late)");
    CHECK(run.find("known edge case") != std::string::npos);

    // One record per ID, and every ID different.
    REQUIRE(ids.size() == 6);
    std::sort(ids.begin(), ids.end());
    CHECK(std::unique(ids.begin(), ids.end()) == ids.end());
    for (const std::string& id : ids) CHECK_FALSE(record_of(log, id).empty());
    // The user never sees a low-level detail.
    for (const char* detail : {"No space", "archive.tar", "mirror3", "mirror4", "refused", "low_level", "stop_reason", "replica"})
        CHECK(out.find(detail) == std::string::npos);
}
