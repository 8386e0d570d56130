// Runs examples/fleet_grpc: the user's client calls a front service, which calls
// a storage service, all over gRPC in three processes. For each failed cart the
// user gets the front's message and one ID, and that ID finds storage's record
// (the cause), the front's (with storage's chain) and the client's; nothing
// internal reaches the user's process.
#include <catch2/catch.hpp>

#include "support.hpp"

#include <cstdlib>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <sys/wait.h>

namespace {

// Every record filed under `id`, in the order they were written.
std::vector<std::string> records_of(const std::string& log, const std::string& id) {
    std::vector<std::string> found;
    const std::string head = "[" + id + "] ";
    for (std::size_t at = log.find(head); at != std::string::npos; at = log.find(head, at + 1)) {
        if (at != 0 && log[at - 1] != '\n') continue;
        const auto next = log.find("\n[", at);
        found.push_back(log.substr(at, next == std::string::npos ? std::string::npos : next + 1 - at));
    }
    return found;
}

// The record of `recs` written by the process whose own text holds `marker`.
std::string with(const std::vector<std::string>& recs, const std::string& marker) {
    for (const std::string& r : recs)
        if (r.find(marker) != std::string::npos) return r;
    return {};
}

}  // namespace

TEST_CASE("fleet_grpc: a storage failure reaches the user as the front's message, under one ID in every record") {
    char tmpl[] = "/tmp/strata-fleet-grpc-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    const std::string dir = tmpl, out = dir + "/stdout", err = dir + "/stderr";
    const int status =
        std::system(("'" + std::string(STRATA_FLEET_GRPC) + "' >'" + out + "' 2>'" + err + "'").c_str());
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    const std::string stdout_text = strata_test::slurp(out), log = strata_test::slurp(err);
    INFO("stdout:\n" << stdout_text << "\nstderr:\n" << log);

    std::map<int, std::pair<std::string, std::string>> carts;  // cart -> (id, message)
    std::istringstream lines(stdout_text);
    std::string first;
    std::getline(lines, first);
    CHECK(first == "cart 1: 2 items");
    for (std::string line; std::getline(lines, line);) {
        std::smatch m;
        REQUIRE(std::regex_match(line, m, std::regex(R"(^cart (\d): \[([0-9a-z]{10}-[0-9]+)\] (.*)$)")));
        carts[std::stoi(m[1])] = {m[2], m[3]};
    }
    REQUIRE(carts.size() == 3);
    for (int c : {2, 3, 4}) CHECK(carts[c].second == "cart " + std::to_string(c) + " can't be shown right now");

    // Cart 2: storage's disk failed (a bug there). One ID, three records.
    const std::vector<std::string> two = records_of(log, carts[2].first);
    REQUIRE(two.size() == 3);
    const std::string storage = with(two, " bug\n");
    const std::string front = with(two, "  #1 disk: read cart page 17");
    const std::string user = with(two, "#1 withheld: the server kept the details to itself");
    REQUIRE_FALSE(storage.empty());
    REQUIRE_FALSE(front.empty());
    REQUIRE_FALSE(user.empty());
    CHECK(storage.find("device = \"/dev/nvme0n1\"") != std::string::npos);
    CHECK(front.find("device = \"/dev/nvme0n1\"") != std::string::npos);  // the front is trusted
    CHECK(front.find("  from: host ") != std::string::npos);
    CHECK(user.find("nvme") == std::string::npos);
    CHECK(user.find("Input/output") == std::string::npos);
    CHECK(user.find("disk") == std::string::npos);

    // Cart 3: a known edge case in storage, NOT_FOUND across; the user's
    // record has storage's user-facing message under the front's.
    const std::vector<std::string> three = records_of(log, carts[3].first);
    REQUIRE(three.size() == 3);
    CHECK_FALSE(with(three, "chain: item sku-9 was discontinued\n").empty());  // storage's own
    CHECK_FALSE(with(three, "cart = 3").empty());
    const std::string user3 = with(three, "from: host (withheld)");
    REQUIRE_FALSE(user3.empty());
    CHECK(user3.find("chain: cart 3 can't be shown right now: item sku-9 was discontinued") != std::string::npos);
    CHECK(user3.find("cart = 3") == std::string::npos);

    // Cart 4: storage is slow; the front's 1 s deadline passes, the call is
    // canceled, and storage's work stops, saying why.
    const std::vector<std::string> four = records_of(log, carts[4].first);
    REQUIRE(four.size() == 2);  // the front's and the user's: storage never answered
    // The front's with_timeout says it, or (when gRPC's end of the call, at the
    // same deadline, came first) the call does.
    CHECK((!with(four, "load the cart: no result within 1000 ms").empty() ||
           !with(four, "storage.LoadCart: no reply within the call's deadline").empty()));
    const auto abandoned = log.find("loading cart 4 was abandoned");
    REQUIRE(abandoned != std::string::npos);
    const std::string storage4 = log.substr(abandoned, log.find("\n[", abandoned) - abandoned);
    static const std::regex cause(R"(caller's deadline of (9[0-9][0-9]|10[0-9][0-9]) ms passed)");
    CHECK(std::regex_search(storage4, cause));
    CHECK(storage4.find("stop_reason = \"caller_deadline\"") != std::string::npos);
}
