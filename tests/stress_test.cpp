// A bounded stress test (a fixed count of operations, no time limit): errors
// shared, wrapped, given misc entries, formatted (the symbol cache) and handled
// (the ID generator) by several threads at once, with chains handed between the
// threads. Run under TSan in CI; here it checks that nothing is lost or mixed up.
#include <catch2/catch.hpp>

#include "support.hpp"

#include <strata/handle.hpp>

#include <algorithm>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace {

constexpr int threads = 4;
constexpr int rounds = 1000;

[[gnu::noinline]] strata::error origin(int t, int i) {
    return strata::make_error<strata::low_level>("origin {} {}", t, i).with("thread", t);
}

}  // namespace

TEST_CASE("errors shared, wrapped, formatted and handled by many threads at once", "[stress][threads]") {
    const strata::error shared = strata::make_error<strata::low_level>("shared root").with("k", 1);
    std::mutex m;
    strata::error mailbox;  // a chain handed from one thread to the next
    std::vector<std::vector<std::string>> ids(threads);
    std::vector<int> handed(threads, 0);
    std::vector<int> problems(threads, 0);
    const strata::log_sink quiet([](const strata::log_record&) {});
    strata_test::run_together(threads, [&](int t) {
        for (int i = 0; i < rounds; ++i) {
            // Wrap the shared chain (every thread at once), and add misc to a copy.
            strata::error mine = strata::wrap<strata::intermediate>(shared, "thread {} round {}", t, i);
            strata::error copy = shared;
            copy.with("round", i);  // copy-on-write: never changes `shared`
            if (copy.misc().find("round")->as_signed() != i) ++problems[t];
            // Hand a chain to another thread, and take one.
            strata::error taken;
            {
                std::lock_guard lock(m);
                taken = std::exchange(mailbox, strata::wrap(origin(t, i), "handed by {}", t));
            }
            if (taken) {
                ++handed[t];
                mine = strata::wrap<strata::intermediate>(taken, "taken by {}", t);
            }
            // Format with symbols (the cache), and handle (the IDs).
            const std::string verbose = fmt::format("{:v}", mine);
            if (verbose.find("intermediate") == std::string::npos) ++problems[t];
            const strata::report r = strata::handle(mine, strata::handle_options{&quiet});
            if (r.is_bug || r.id.empty()) ++problems[t];
            ids[t].push_back(r.id);
        }
    });
    for (int t = 0; t < threads; ++t) CHECK(problems[t] == 0);
    // Every report has its own ID.
    std::set<std::string> all;
    for (const auto& v : ids) all.insert(v.begin(), v.end());
    CHECK(all.size() == static_cast<std::size_t>(threads * rounds));
    // Chains really went between threads, and the shared one is untouched.
    int total_handed = 0;
    for (int h : handed) total_handed += h;
    CHECK(total_handed == threads * rounds - 1);
    CHECK(shared.message() == "shared root");
    CHECK(shared.misc().find("round") == std::nullopt);
    CHECK(shared.misc().find("k")->as_signed() == 1);
}

TEST_CASE("a misc map of 10 000 entries is kept, found, copied, formatted and handled", "[stress][misc]") {
    constexpr int entries = 10000;
    strata::error e = strata::make_error<strata::intermediate>("wide");
    for (int i = 0; i < entries; ++i) e.with("key" + std::to_string(i), i);
    CHECK(e.misc().find("key0")->as_signed() == 0);
    CHECK(e.misc().find("key9999")->as_signed() == 9999);
    int n = 0;
    for (const auto& entry : e.misc()) {
        (void)entry;
        ++n;
    }
    CHECK(n == entries);
    // A copy-on-write copy carries them all, and the original is unchanged.
    const strata::error original = e;
    e.with("one more", true);
    CHECK(original.misc().find("one more") == std::nullopt);
    CHECK(e.misc().find("key5000")->as_signed() == 5000);
    const std::string verbose = fmt::format("{:v}", e);
    CHECK(verbose.find("key9999 = 9999") != std::string::npos);
    std::string record;
    const strata::log_sink keep([&](const strata::log_record& r) { record.assign(r.text); });
    const strata::report r = strata::handle(e, strata::handle_options{&keep});
    CHECK_FALSE(r.is_bug);
    CHECK(record.find("key9999 = 9999") != std::string::npos);
}
