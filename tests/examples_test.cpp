// Runs examples/job_runner in the book's three cases and checks what the user is
// told, the bug decision, and that the log record is filed under the user's ID.
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

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
