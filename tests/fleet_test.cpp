// Runs examples/fleet: workers in other processes fail in different layers, send
// their errors to the parent as JSON over pipes, and the parent handles them. The
// decisions must be the workers' own, each record must name its worker's pid, the
// user's ID must find that record, and no sensitive value may reach either.
#include <catch2/catch.hpp>

#include "support.hpp"

#include <strata/sensitive.hpp>

#include <cstdlib>
#include <map>
#include <regex>
#include <sstream>
#include <string>

#include <sys/wait.h>
#include <unistd.h>

namespace {

struct job_line {
    std::string what;
    long pid = 0;
    std::string verdict;  // "ok", "bug", "known edge case"
    std::string id;
    std::string message;
};

// The record filed under `id`: from its "[id] " line to the next record.
std::string record_of(const std::string& log, const std::string& id) {
    const auto at = log.find("[" + id + "] ");
    if (at == std::string::npos) return {};
    const auto next = log.find("\n[", at);
    return log.substr(at, next == std::string::npos ? std::string::npos : next + 1 - at);
}

}  // namespace

TEST_CASE("fleet: workers' errors come back as JSON and are handled with the workers' decisions") {
    char tmpl[] = "/tmp/strata-fleet-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    const std::string dir = tmpl, out = dir + "/stdout", err = dir + "/stderr";
    const int status = std::system(("'" + std::string(STRATA_FLEET) + "' >'" + out + "' 2>'" + err + "'").c_str());
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 1);  // some jobs failed
    const std::string stdout_text = strata_test::slurp(out), log = strata_test::slurp(err);
    INFO("stdout:\n" << stdout_text << "\nstderr:\n" << log);

    std::map<int, job_line> jobs;
    static const std::regex ok_re(R"(^job (\d+) \(([^,]+), pid (\d+)\): ok$)");
    static const std::regex failed_re(
        R"(^job (\d+) \(([^,]+), pid (\d+)\): (bug|known edge case): \[([0-9a-z]{10}-[0-9]+)\] (.*)$)");
    std::istringstream lines(stdout_text);
    for (std::string line; std::getline(lines, line);) {
        std::smatch m;
        if (std::regex_match(line, m, ok_re)) {
            jobs[std::stoi(m[1])] = {m[2], std::stol(m[3]), "ok", "", ""};
        } else {
            REQUIRE(std::regex_match(line, m, failed_re));
            jobs[std::stoi(m[1])] = {m[2], std::stol(m[3]), m[4], m[5], m[6]};
        }
    }
    REQUIRE(jobs.size() == 6);

    const std::string bug_text = "There was an unexpected issue; please report this as a bug.";
    CHECK(jobs[1].verdict == "bug");  // storage layer, not user-facing
    CHECK(jobs[1].message == bug_text);
    CHECK(jobs[2].verdict == "known edge case");  // intermediate
    CHECK(jobs[2].message.find("is over its monthly quota") != std::string::npos);
    CHECK(jobs[3].verdict == "known edge case");  // "pricing": a layer only the worker knows
    CHECK(jobs[3].message == "no price for item sku-4411 in region eu-west");
    CHECK(jobs[4].verdict == "known edge case");  // timed_out
    CHECK(jobs[4].message.find("catalog lookup: no result within 50 ms") == 0);
    CHECK(jobs[5].verdict == "ok");
    CHECK(jobs[6].verdict == "bug");  // the worker's output was not JSON
    CHECK(jobs[6].message == bug_text);

    char host[256] = {};
    REQUIRE(gethostname(host, sizeof host - 1) == 0);
    for (int j : {1, 2, 3, 4}) {
        INFO("job " << j);
        const std::string rec = record_of(log, jobs[j].id);
        REQUIRE_FALSE(rec.empty());
        // The record names the worker's host and pid, which is not the parent's.
        CHECK(rec.find("  from: host " + std::string(host) + ", pid " + std::to_string(jobs[j].pid) + ",") !=
              std::string::npos);
        CHECK(rec.find("where: host " + std::string(host) + ", pid " + std::to_string(jobs[j].pid) + ",") ==
              std::string::npos);
        CHECK(rec.find(jobs[j].verdict == "bug" ? " bug\n" : " known edge case\n") != std::string::npos);
        CHECK(rec.find("(origin, as " + std::string(host) + " pid " + std::to_string(jobs[j].pid)) != std::string::npos);
    }
    CHECK(record_of(log, jobs[1].id).find("#1 cause std::error_code (generic:5): ") != std::string::npos);
    CHECK(record_of(log, jobs[3].id).find("why: the outermost layer \"pricing\" is user-facing") != std::string::npos);
    CHECK(record_of(log, jobs[4].id).find("stop_reason = \"deadline\"") != std::string::npos);
    // The broken worker's output is kept in the record, not lost.
    const std::string broken = record_of(log, jobs[6].id);
    CHECK(broken.find("bad_json: strata::from_json: not valid JSON") != std::string::npos);
    CHECK(broken.find("worker_output = \"{\\\"strata.version\\\": 1") != std::string::npos);
    // The account is sensitive: only its hash crossed the pipe.
    CHECK(stdout_text.find("acme-co-7731") == std::string::npos);
    CHECK(log.find("acme-co-7731") == std::string::npos);
    CHECK(record_of(log, jobs[2].id).find("account = \"<sensitive:") != std::string::npos);
    // Under the key the parent handed on to its workers (strata itself removes
    // STRATA_SENSITIVE_KEY from the environment once read): the hash correlates.
    REQUIRE(strata::set_sensitive_key("fleet-example-key"));
    CHECK(record_of(log, jobs[2].id).find("account = \"" + strata::sensitive_token("acme-co-7731") + "\"") !=
          std::string::npos);
}
