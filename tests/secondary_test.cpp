// Secondary errors (issue 11, section 4: causes stay in their lane). A frame may
// carry errors that explain it without being its cause: why work stopped
// (canceled_by's "stopped because"), a group's later failures, first_of's other
// replicas. They are printed ({:v}, handle()'s record), encoded and decoded
// (to_json/from_json), reachable with e.secondaries(), and never visited by
// inner(), inner_as<T>(), find<L>(), is<L>(), {:c} or the Catch2 matchers' chain
// search.
#include <catch2/catch.hpp>
#include <strata/catch2.hpp>
#include <strata/handle.hpp>
#include <strata/json.hpp>
#include <strata/strata.hpp>

#include "support.hpp"

#include <atomic>
#include <cstddef>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

using namespace strata::testing;
using strata_test::msg;
using strata_test::stopped_because;
using strata_test::wait_for_stop;

namespace {

// A layer of the application's, as the scenario has it.
struct fs_layer {
    static constexpr std::string_view name = "secondary_test.fs";
};
struct app_layer {
    static constexpr std::string_view name = "secondary_test.app";
    static constexpr bool user_facing = true;
};

bool contains(std::string_view text, std::string_view needle) { return text.find(needle) != std::string_view::npos; }

// The record handle() writes for e (e must not have been handled before).
std::string record_of(const strata::error& e) {
    std::string text;
    const strata::log_sink sink([&](const strata::log_record& r) { text.assign(r.text); });
    (void)strata::handle(e, strata::handle_options{&sink});
    return text;
}

}  // namespace

// ---------------------------------------------------------------------------
// The scenario, verbatim

TEST_CASE("task A fails with EACCES, task B returns canceled_by(token): B's error does not contain A's failure as "
          "its cause",
          "[secondary][task_group]") {
    strata::error b;
    std::atomic<bool> b_done{false};
    std::atomic<bool> b_started{false};  // A fails once B runs (a task spawned after the failure never would)
    strata::task_group g;
    g.spawn("A", [&](std::stop_token) -> strata::result<void> {
        strata_test::wait_until([&] { return b_started.load(); });
        return strata::wrap<fs_layer>(std::make_error_code(std::errc::permission_denied), "open {}", "/srv/data");
    });
    g.spawn("B", [&](std::stop_token token) -> strata::result<void> {
        b_started = true;
        wait_for_stop(token);
        b = strata::canceled_by(token);
        b_done = true;
        return b;
    });
    const strata::result<void> r = g.wait();
    REQUIRE(b_done);
    REQUIRE(b);

    // B is a cancellation, nothing else.
    CHECK(b.is<strata::canceled>());
    CHECK(b.inner().empty());
    CHECK(b.inner_as<std::error_code>() == nullptr);
    CHECK_FALSE(strata::find<fs_layer>(b).has_value());
    CHECK_FALSE(b.is<fs_layer>());
    CHECK(b.depth() == 1);
    CHECK(fmt::format("{:c}", b) == "canceled");
    CHECK_THAT(b, !HasLayer<fs_layer>());
    CHECK_THAT(b, !ChainContains("Permission denied"));
    CHECK_THAT(b, !ChainContains("/srv/data"));

    // The migration guide's pattern labels B "canceled", not "permission denied".
    auto label = [](const strata::error& e) -> std::string {
        if (const std::error_code* ec = e.inner_as<std::error_code>(); ec && *ec == std::errc::permission_denied)
            return "permission denied";
        if (strata::find<strata::canceled>(e)) return "canceled";
        return "other";
    };
    CHECK(label(b) == "canceled");

    // Why B stopped is there, explicitly: its secondary error "stopped because".
    const strata::secondary_view sv = b.secondaries();
    REQUIRE(sv.size() == 1);
    CHECK(sv.label(0) == "stopped because");
    const strata::error why = sv[0];
    CHECK(why.is<strata::canceled>());
    CHECK(msg(why) == "task 1 (A) of the group failed");
    REQUIRE(why.inner_as<std::error_code>() != nullptr);  // the stop's own cause is A's EACCES
    CHECK(*why.inner_as<std::error_code>() == std::errc::permission_denied);
    CHECK_THAT(b, HasSecondary("stopped because", ChainContains("Permission denied")));
    CHECK_THAT(b, HasSecondary(HasLayer<fs_layer>()));

    // The group counts B as canceled, not as a real failure; A's is the failure.
    REQUIRE_FALSE(r.has_value());
    const strata::error& e = r.error();
    CHECK(e.is<fs_layer>());
    CHECK(strata_test::misc_int(e, "failed_task") == 1);
    CHECK(strata_test::misc_int(e, "canceled_tasks") == 1);
    CHECK_FALSE(e.misc().find("later_failures").has_value());
    CHECK(e.secondaries().empty());
    CHECK(g.later_failures().empty());
    CHECK(label(e) == "permission denied");
}

TEST_CASE("canceled_by(token) outside the scenario: stop_cause(token) still works, and is the secondary",
          "[secondary][cancel]") {
    strata::error cause;
    strata::error returned;
    const strata::result<int> r = strata::with_timeout(std::chrono::milliseconds(10),
                                                       [&](std::stop_token token) -> strata::result<int> {
                                                           wait_for_stop(token);
                                                           cause = strata::stop_cause(token);
                                                           returned = strata::canceled_by(token);
                                                           return returned;
                                                       });
    REQUIRE_FALSE(r.has_value());
    REQUIRE(cause);
    CHECK(cause.is<strata::timed_out>());
    CHECK(stopped_because(returned).same_as(cause));
    CHECK_FALSE(strata::find<strata::timed_out>(returned).has_value());
    // with_timeout's own error states the deadline once: fn's cancellation below it
    // does not repeat it as a secondary.
    CHECK(r.error().is<strata::timed_out>());
    CHECK(r.error().inner().is<strata::canceled>());
    CHECK(r.error().inner().secondaries().empty());
    CHECK(returned.secondaries().size() == 1);  // fn's own copy is unchanged
}

// ---------------------------------------------------------------------------
// The accessors

TEST_CASE("with_secondary adds a labeled secondary error that no cause-walking call sees", "[secondary][error]") {
    const strata::error cleanup = strata::wrap<fs_layer>(std::make_error_code(std::errc::no_space_on_device),
                                                         "cleanup of {}", "/tmp/x");
    strata::error e = strata::make_error<app_layer>("sync failed");
    const strata::error before = e;
    e.with_secondary("cleanup also failed", cleanup);

    CHECK(e.is<app_layer>());
    CHECK(e.depth() == 1);
    CHECK(e.inner().empty());
    CHECK(e.inner_as<std::error_code>() == nullptr);
    CHECK_FALSE(strata::find<fs_layer>(e).has_value());
    CHECK(fmt::format("{:c}", e) == "sync failed");
    CHECK(fmt::format("{}", e) == "sync failed");
    CHECK_THAT(e, !HasLayer<fs_layer>() && !ChainContains("cleanup"));
    CHECK_THAT(e, HasSecondary("cleanup also failed", IsLayer<fs_layer>()));
    CHECK_THAT(e, !HasSecondary("later failure 1 of 1"));

    REQUIRE(e.secondaries().size() == 1);
    CHECK(e.secondaries()[0].same_as(cleanup));
    CHECK(e.secondaries().label(0) == "cleanup also failed");
    CHECK(e.secondaries()[1].empty());
    CHECK(e.secondaries().label(1).empty());
    std::size_t n = 0;
    for (const strata::error& s : e.secondaries()) {
        CHECK(s.same_as(cleanup));
        ++n;
    }
    CHECK(n == 1);

    // The frame was shared with `before`: it was copied, and `before` is unchanged.
    CHECK_FALSE(e.same_as(before));
    CHECK(before.secondaries().empty());

    // The default label; order kept; the wrapped_error type kept.
    strata::wrapped_error<app_layer> w =
        strata::make_error<app_layer>("w").with_secondary(cleanup).with_secondary("second", before);
    REQUIRE(w.secondaries().size() == 2);
    CHECK(w.secondaries().label(0) == strata::error::default_secondary_label);
    CHECK(w.secondaries().label(1) == "second");
    CHECK(w.secondaries()[1].same_as(before));
}

TEST_CASE("with_secondary: an empty error on either side adds nothing, and an error is never its own secondary",
          "[secondary][error]") {
    strata::error empty;
    empty.with_secondary("x", strata::make_error("y"));
    CHECK(empty.empty());
    CHECK(empty.secondaries().empty());

    strata::error e = strata::make_error("e");
    e.with_secondary("nothing", strata::error());
    CHECK(e.secondaries().empty());

    // Itself: the frame is copied first, so the secondary is the old frame.
    const strata::error old = e;
    e.with_secondary("itself", e);
    REQUIRE(e.secondaries().size() == 1);
    CHECK(e.secondaries()[0].same_as(old));
    CHECK_FALSE(e.same_as(old));
    CHECK(old.secondaries().empty());

    // Misc entries added later to a frame with secondaries keep them.
    e.with("k", 1);
    CHECK(e.secondaries().size() == 1);
    strata::error copy = e;
    copy.with("k2", 2);
    CHECK(copy.secondaries().size() == 1);
    CHECK(copy.secondaries()[0].same_as(old));
}

TEST_CASE("a secondary error lives as long as the frame that holds it", "[secondary][error]") {
    strata::error s = strata::make_error<fs_layer>("kept");
    strata::error holder = strata::make_error("holder").with_secondary("kept", std::move(s));
    CHECK(s.empty());  // NOLINT: moved from
    {
        const strata::error got = holder.secondaries()[0];
        CHECK(msg(got) == "kept");
        holder = strata::error();
        CHECK(msg(got) == "kept");  // still held by `got`
    }
}

// ---------------------------------------------------------------------------
// Printing

TEST_CASE("{:v} and handle()'s record print secondary errors under their labels, {:c} does not",
          "[secondary][format][handle]") {
    const strata::error other = strata::wrap<fs_layer>(std::make_error_code(std::errc::permission_denied), "open {}",
                                                       "/srv/b");
    strata::error e = strata::wrap<app_layer>(strata::make_error<fs_layer>("disk full"), "job {} failed", 7)
                          .with("job", 7)
                          .with_secondary("later failure 1 of 1", other);
    const std::string v = fmt::format("{:v}", e);
    INFO(v);
    CHECK(contains(v, "#0 secondary_test.app [user-facing]: job 7 failed\n"));
    CHECK(contains(v, "   later failure 1 of 1:\n"));
    CHECK(contains(v, "     #0 secondary_test.fs: open /srv/b\n"));
    CHECK(contains(v, "     #1 cause std::error_code (generic:13): Permission denied\n"));
    // Under its frame, before the next frame of the chain.
    CHECK(v.find("later failure 1 of 1:") < v.find("#1 secondary_test.fs: disk full"));
    CHECK(fmt::format("{:c}", e) == "job 7 failed: disk full");

    const std::string record = record_of(e);
    INFO(record);
    CHECK(contains(record, "later failure 1 of 1:"));
    CHECK(contains(record, "#0 secondary_test.fs: open /srv/b"));
    CHECK(contains(record, "Permission denied"));
}

TEST_CASE("{:v} of a canceled task says why it stopped", "[secondary][format][task_group]") {
    strata::error b;
    std::atomic<bool> b_started{false};
    strata::task_group g;
    g.spawn([&](std::stop_token) -> strata::result<void> {
        strata_test::wait_until([&] { return b_started.load(); });
        return strata::make_error<fs_layer>("A broke");
    });
    g.spawn([&](std::stop_token token) -> strata::result<void> {
        b_started = true;
        wait_for_stop(token);
        b = strata::canceled_by(token);
        return b;
    });
    (void)g.wait();
    const std::string v = fmt::format("{:v}", b);
    INFO(v);
    CHECK(contains(v, "#0 canceled [user-facing]: canceled\n"));
    CHECK(contains(v, "   stopped because:\n"));
    CHECK(contains(v, "     #0 canceled [user-facing]: task 1 of the group failed\n"));
    CHECK(contains(v, "     #1 secondary_test.fs: A broke\n"));
    CHECK_FALSE(contains(v, "\n#1 "));  // B's own chain has one frame
}

TEST_CASE("{:v} bounds nested and numerous secondary errors", "[secondary][format]") {
    // Nested deeper than STRATA_FORMAT_MAX_SECONDARY_DEPTH: the rest is counted.
    strata::error nested = strata::make_error("level 10");
    for (int i = 9; i >= 0; --i)
        nested = strata::make_error("level {}", i).with_secondary("deeper", std::move(nested));
    const std::string v = fmt::format("{:v}", nested);
    CHECK(contains(v, "level 4"));
    CHECK_FALSE(contains(v, "level 5"));
    CHECK(contains(v, "(1 more secondary error not shown)"));

    // More than STRATA_FORMAT_MAX_SECONDARIES in one record.
    strata::error many = strata::make_error("many");
    for (int i = 0; i < STRATA_FORMAT_MAX_SECONDARIES + 6; ++i) many.with_secondary(strata::make_error("s{}", i));
    const std::string m = fmt::format("{:v}", many);
    CHECK(contains(m, "(6 more secondary errors not shown)"));
}

// ---------------------------------------------------------------------------
// JSON

TEST_CASE("to_json/from_json keep secondary errors, and re-encoding is byte-identical", "[secondary][json]") {
    const strata::error a = strata::wrap<fs_layer>(std::make_error_code(std::errc::permission_denied), "open {}",
                                                   "/srv/a");
    strata::error nested = strata::make_error<fs_layer>("cleanup").with_secondary("nested", strata::make_error("deep"));
    strata::error e = strata::wrap<app_layer>(a, "job failed")
                          .with_secondary("later failure 1 of 2", nested)
                          .with_secondary("later failure 2 of 2", a);
    // A secondary on an inner frame too.
    e = strata::wrap<app_layer>(std::move(e), "outer").with_secondary("replica 2 failed", strata::make_error("r2"));

    const std::string text = strata::to_json(e);
    REQUIRE_FALSE(text.empty());
    const nlohmann::json j = nlohmann::json::parse(text);
    CHECK(j["strata.version"] == 1);  // optional fields: schema 1 still
    REQUIRE(j["strata.secondaries"].size() == 4);
    CHECK(j["strata.frames"][0]["secondaries"][0]["label"] == "replica 2 failed");
    CHECK(j["strata.frames"][1]["secondaries"][1]["label"] == "later failure 2 of 2");
    CHECK(j["strata.chain"] == "outer: job failed: open /srv/a: Permission denied");

    const strata::result<strata::error> r = strata::from_json(text);
    REQUIRE(r.has_value());
    const strata::error& d = *r;
    CHECK(strata::to_json(d) == text);
    CHECK(fmt::format("{:c}", d) == fmt::format("{:c}", e));
    REQUIRE(d.secondaries().size() == 1);
    CHECK(d.secondaries().label(0) == "replica 2 failed");
    CHECK(msg(d.secondaries()[0]) == "r2");
    const strata::error mid = d.inner();
    REQUIRE(mid.secondaries().size() == 2);
    CHECK(mid.secondaries().label(0) == "later failure 1 of 2");
    CHECK(mid.secondaries()[0].is<fs_layer>());
    CHECK(msg(mid.secondaries()[0].secondaries()[0]) == "deep");
    CHECK(mid.secondaries()[1].depth() == 2);
    CHECK(fmt::format("{:c}", mid.secondaries()[1]) == "open /srv/a: Permission denied");
    // Decoded, they still are not causes.
    CHECK(d.depth() == 4);
    CHECK_FALSE(strata::find<strata::untagged>(d).has_value());
    // And {:v} of the decoded error prints them as the original's does (frames, not stacks).
    CHECK(contains(fmt::format("{:v}", d), "   later failure 1 of 2:\n     #0 secondary_test.fs: cleanup\n"));
}

TEST_CASE("from_json: a document without secondaries decodes as before, and bad references fail clearly",
          "[secondary][json]") {
    const std::string plain = strata::to_json(strata::make_error<app_layer>("plain"));
    CHECK(plain.find("secondaries") == std::string::npos);
    REQUIRE(strata::from_json(plain).has_value());

    const std::string text = strata::to_json(
        strata::make_error<app_layer>("top").with_secondary("one", strata::make_error("s").with_secondary("two", strata::make_error("t"))));
    nlohmann::json j = nlohmann::json::parse(text);
    REQUIRE(j["strata.secondaries"].size() == 2);
    auto fails = [](const nlohmann::json& doc, std::string_view where) {
        const strata::result<strata::error> r = strata::from_json(doc.dump());
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().is<strata::bad_json>());
        INFO(r.error().message());
        CHECK(contains(r.error().message(), where));
    };
    {
        nlohmann::json bad = j;  // a chain that refers to itself
        bad["strata.secondaries"][1]["frames"][0]["secondaries"] = {{{"label", "loop"}, {"error", 1}}};
        fails(bad, "$.strata.secondaries[1].frames[0].secondaries[0]");
    }
    {
        nlohmann::json bad = j;  // to an earlier chain (a cycle could follow)
        bad["strata.secondaries"][1]["frames"][0]["secondaries"] = {{{"label", "back"}, {"error", 0}}};
        fails(bad, "$.strata.secondaries[1].frames[0].secondaries[0]");
    }
    {
        nlohmann::json bad = j;  // out of range
        bad["strata.frames"][0]["secondaries"][0]["error"] = 2;
        fails(bad, "$.strata.frames[0].secondaries[0].error");
    }
    {
        nlohmann::json bad = j;  // a label that is not one line
        bad["strata.frames"][0]["secondaries"][0]["label"] = "two\nlines";
        fails(bad, "$.strata.frames[0].secondaries[0].label");
    }
    {
        nlohmann::json bad = j;
        bad["strata.secondaries"] = "not an array";
        fails(bad, "$.strata.secondaries");
    }
    {
        nlohmann::json bad = j;
        bad["strata.secondaries"][0]["frames"] = nlohmann::json::array();
        fails(bad, "$.strata.secondaries[0].frames");
    }
}

TEST_CASE("sensitive values inside secondary errors stay hashed in the record and in JSON", "[secondary][sensitive]") {
    strata::set_sensitive_key("secondary_test key");
    const std::string secret = "hunter2-secondary";
    const strata::error s =
        strata::make_error<fs_layer>("login as {} failed", strata::sensitive(secret)).with("password", strata::sensitive(secret));
    const strata::error e = strata::make_error<app_layer>("sync failed").with_secondary("replica 2 failed", s);
    const std::string token = strata::sensitive_token(secret);

    CHECK(contains(fmt::format("{:v}", e), secret));  // local {:v} shows it
    const std::string record = record_of(e);
    CHECK_FALSE(contains(record, secret));
    CHECK(contains(record, token));
    const std::string json = strata::to_json(e);
    CHECK_FALSE(contains(json, secret));
    CHECK(contains(json, token));
    // Decoded and encoded again: still the hash, never the value.
    const strata::result<strata::error> r = strata::from_json(json);
    REQUIRE(r.has_value());
    CHECK(strata::to_json(*r) == json);
    CHECK_FALSE(contains(fmt::format("{:v}", *r), secret));
}

// ---------------------------------------------------------------------------
// Depth: destroying stays iterative

TEST_CASE("a 100 000-deep chain with secondaries at many levels, each with a deep chain of its own, is destroyed "
          "without recursion",
          "[secondary][deep]") {
    constexpr int depth = 100'000;
    strata::error deep_secondary = strata::make_error("secondary root");
    for (int i = 0; i < 20'000; ++i) deep_secondary = strata::wrap(std::move(deep_secondary), "s{}", i);
    strata::error e = strata::make_error("root");
    for (int i = 0; i < depth; ++i) {
        e = strata::wrap(std::move(e), "frame {}", i);
        if (i % 1000 == 0) e.with_secondary("shared deep", deep_secondary);  // shared by 100 frames
        if (i % 5000 == 0) {
            // One of its own, as deep, used nowhere else.
            strata::error own = strata::make_error("own root");
            for (int k = 0; k < 20'000; ++k) own = strata::wrap(std::move(own), "o{}", k);
            e.with_secondary("own deep", std::move(own));
        }
    }
    CHECK(e.depth() == depth + 1);
    deep_secondary = strata::error();  // the frames hold the only references now
    e = strata::error();
    CHECK(e.empty());
}

TEST_CASE("secondaries nested 100 000 deep (each the secondary of the next) are destroyed without recursion",
          "[secondary][deep]") {
    strata::error e = strata::make_error("innermost");
    for (int i = 0; i < 100'000; ++i) e = strata::make_error("level {}", i).with_secondary("below", std::move(e));
    CHECK(e.depth() == 1);
    // Printing and encoding stay bounded too.
    CHECK(contains(fmt::format("{:v}", e), "more secondary error"));
    const std::string json = strata::to_json(e);
    REQUIRE_FALSE(json.empty());
    CHECK(nlohmann::json::parse(json)["strata.secondaries"].size() == strata::json_max_secondaries);
    const strata::result<strata::error> r = strata::from_json(json);
    REQUIRE(r.has_value());
    CHECK(strata::to_json(*r) == json);
    e = strata::error();
}

// ---------------------------------------------------------------------------
// Groups and replicas

TEST_CASE("a group's later failures are its failure's secondary errors, all counted, 8 attached",
          "[secondary][task_group]") {
    strata::task_group g;
    std::atomic<int> arrived{0};
    for (int i = 0; i < 11; ++i)
        g.spawn([&, i](std::stop_token) -> strata::result<void> {
            ++arrived;
            while (arrived.load() < 11) std::this_thread::yield();
            return strata::make_error<fs_layer>("task failure {}", i);
        });
    const strata::result<void> r = g.wait();
    REQUIRE_FALSE(r.has_value());
    const strata::error& e = r.error();
    CHECK(strata_test::misc_int(e, "later_failures") == 10);
    const strata::secondary_view later = e.secondaries();
    REQUIRE(later.size() == 8);
    for (std::size_t k = 0; k < later.size(); ++k) {
        CHECK(later.label(k) == "later failure " + std::to_string(k + 1) + " of 10");
        CHECK(later[k].is<fs_layer>());
    }
    CHECK(e.depth() == 1);  // none of them is its cause
    CHECK_THAT(e, HasSecondary("later failure 8 of 10") && !HasSecondary("later failure 9 of 10"));
}

TEST_CASE("first_of's other replicas' failures are secondary errors, never causes", "[secondary][first_of]") {
    const strata::result<int> r = strata::first_of(
        [](std::stop_token) -> strata::result<int> {
            return strata::wrap<fs_layer>(std::make_error_code(std::errc::permission_denied), "replica one");
        },
        [](std::stop_token) -> strata::result<int> {
            return strata::wrap<fs_layer>(std::make_error_code(std::errc::timed_out), "replica two");
        });
    REQUIRE_FALSE(r.has_value());
    const strata::error& e = r.error();
    const long long returned = strata_test::misc_int(e, "replica");
    const std::string other_label = returned == 1 ? "replica 2 failed" : "replica 1 failed";
    REQUIRE(e.secondaries().size() == 1);
    CHECK(e.secondaries().label(0) == other_label);
    // inner_as finds the returned replica's cause only.
    REQUIRE(e.inner_as<std::error_code>() != nullptr);
    CHECK(*e.inner_as<std::error_code>() ==
          (returned == 1 ? std::errc::permission_denied : std::errc::timed_out));
    CHECK_THAT(e, !ChainContains(returned == 1 ? "replica two" : "replica one"));
    CHECK_THAT(e, HasSecondary(other_label, ChainContains(returned == 1 ? "replica two" : "replica one")));
    CHECK(contains(fmt::format("{:v}", e), other_label + ":\n"));
}
