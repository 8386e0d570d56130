// Property tests: over many generated chains (random layers, messages, causes,
// misc entries, paths), the user never sees anything but the outermost
// user-facing message or the bug text, and the log record has everything.
// Deterministic: every chain comes from a seeded generator, and a failure names
// its seed.
#include <catch2/catch.hpp>

#include <strata/cancel.hpp>
#include <strata/handle.hpp>

#include <cstdint>
#include <exception>
#include <random>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

namespace {

struct app_visible {
    static constexpr std::string_view name = "app_visible";
    static constexpr bool user_facing = true;
};
struct app_internal {
    static constexpr std::string_view name = "app_internal";
    static constexpr bool user_facing = false;
};

// Everything a generated chain put in, that the user must not see (all but the
// outermost message when that is shown).
struct generated {
    strata::error e;
    std::vector<std::string> secrets;  // inner messages, misc values, paths, cause texts
    std::string outer_message;
    bool outer_user_facing = false;
};

// A token no other part of the chain contains: "<kind>-<seed>-<n>~" (the end
// mark keeps "msg-2-1~" from being found inside "msg-2-12~").
std::string token(const char* kind, std::uint32_t seed, int n) {
    return std::string(kind) + "-" + std::to_string(seed) + "-" + std::to_string(n) + "~";
}

generated make_chain(std::uint32_t seed) {
    std::mt19937 rng(seed);
    auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<std::uint32_t>(n)); };
    generated g;
    int n = 0;
    // The root: a cause of some kind, or a strata error.
    const std::string root_text = token("root", seed, n++);
    const std::string path = "/srv/secret-" + std::to_string(seed) + "/data.db";
    g.secrets.push_back(root_text);
    g.secrets.push_back(path);
    switch (pick(4)) {
        case 0:
            g.e = strata::wrap<strata::low_level>(std::make_error_code(std::errc::permission_denied), "open {} ({})",
                                                  path, root_text);
            break;
        case 1:
            g.e = strata::wrap(std::make_exception_ptr(std::runtime_error(root_text + " at " + path)), "read {}",
                               token("wrapmsg", seed, n));
            g.secrets.push_back(token("wrapmsg", seed, n++));
            break;
        case 2:
            g.e = strata::wrap<strata::low_level>(root_text + " " + path, "value cause");
            break;
        default:
            g.e = strata::make_error<strata::low_level>("{} {}", root_text, path);
            break;
    }
    // Layers above it, each with its own message and misc entries.
    const int depth = 1 + pick(6);
    for (int level = 0; level < depth; ++level) {
        const std::string message = token("msg", seed, n++);
        const bool last = level == depth - 1;
        switch (pick(6)) {
            case 0: g.e = strata::wrap<strata::low_level>(g.e, "{}", message); break;
            case 1: g.e = strata::wrap<strata::intermediate>(g.e, "{}", message); break;
            case 2: g.e = strata::wrap<app_visible>(g.e, "{}", message); break;
            case 3: g.e = strata::wrap<app_internal>(g.e, "{}", message); break;
            case 4: g.e = strata::wrap<strata::canceled>(g.e, "{}", message); break;
            default: g.e = strata::wrap(g.e, "{}", message); break;
        }
        for (int m = pick(4); m > 0; --m) {
            const std::string value = token("misc", seed, n++);
            g.secrets.push_back(value);
            switch (pick(3)) {
                case 0: g.e.with(token("key", seed, n++), value); break;
                case 1: g.e.with("path", "/home/" + value); break;
                default: g.e.with(token("key", seed, n++), value + " " + path); break;
            }
        }
        if (last) {
            g.outer_message = message;
            g.outer_user_facing = g.e.is_user_facing();
        } else {
            g.secrets.push_back(message);
        }
    }
    if (!g.outer_user_facing) g.secrets.push_back(g.outer_message);
    return g;
}

}  // namespace

TEST_CASE("over generated chains, the user sees only the outermost user-facing message or the bug text",
          "[property][handle]") {
    std::string record;
    const strata::log_sink sink([&](const strata::log_record& r) { record.assign(r.text); });
    int bugs = 0, shown = 0;
    for (std::uint32_t seed = 1; seed <= 2000; ++seed) {
        const generated g = make_chain(seed);
        record.clear();
        const strata::report r = strata::handle(g.e, strata::handle_options{&sink});
        INFO("seed " << seed << ", user saw: " << r.user_message);
        if (g.outer_user_facing) {
            ++shown;
            REQUIRE_FALSE(r.is_bug);
            REQUIRE(r.user_message == g.outer_message);
        } else {
            ++bugs;
            REQUIRE(r.is_bug);
            REQUIRE(r.user_message == strata::default_bug_message);
        }
        const std::string seen = fmt::format("{}", r);
        for (const std::string& secret : g.secrets) {
            INFO("secret " << secret);
            REQUIRE(seen.find(secret) == std::string::npos);
            // The record under the same ID has it.
            REQUIRE(record.find(secret) != std::string::npos);
        }
        // No stack, no path, no layer name, no misc key reaches the user.
        REQUIRE(seen.find('/') == std::string::npos);
        REQUIRE(seen.find("0# ") == std::string::npos);  // a stack line
        REQUIRE(seen.find("make_chain") == std::string::npos);
        REQUIRE(seen.find("key-") == std::string::npos);
        REQUIRE(seen.find("low_level") == std::string::npos);
        REQUIRE(record.rfind("[" + r.id + "] ", 0) == 0);
    }
    // Both sides of the decision were exercised, many times.
    CHECK(bugs > 200);
    CHECK(shown > 200);
}
