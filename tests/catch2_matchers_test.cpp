// Tests for <strata/catch2.hpp>: each matcher matches and fails to match, says
// what it expects, combines with && || !, and a failed match prints the error's
// chain. Built twice: as it is, and with STRATA_CHECKED=1, where matching must
// count as looking at the error (the default handler aborts on an error
// destroyed unlooked-at, and the last test counts).
#include <catch2/catch.hpp>

#include <strata/cancel.hpp>
#include <strata/catch2.hpp>
#include <strata/error.hpp>
#include <strata/format.hpp>
#include <strata/handle.hpp>
#include <strata/result.hpp>
#include <strata/sensitive.hpp>

#include <fmt/format.h>

#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

using namespace strata::testing;

namespace {

struct storage_layer {
    static constexpr std::string_view name = "catch2_test.storage";
};

struct api_layer {
    static constexpr std::string_view name = "catch2_test.api";
    static constexpr bool user_facing = true;
};

struct unused_layer {
    static constexpr std::string_view name = "catch2_test.unused";
};

// api "cannot save profile" over storage "write /data/p.json" over ENOSPC.
strata::wrapped_error<api_layer> save_failure() {
    strata::error low = strata::wrap<storage_layer>(std::make_error_code(std::errc::no_space_on_device),
                                                    "write {}", "/data/p.json")
                            .with("path", "/data/p.json")
                            .with("attempt", 3);
    return strata::wrap<api_layer>(std::move(low), "cannot save profile").with("user", "ada").with("quota_mb", 512u);
}

strata::result<int> parse(bool fail) {
    if (fail) return strata::wrap<api_layer>(strata::make_error<storage_layer>("bad digit"), "cannot parse the port");
    return 8080;
}

strata::result<void> run(bool fail) {
    if (fail) return strata::make_error<storage_layer>("disk gone");
    return {};
}

// What Catch prints for a failed (or passed) REQUIRE_THAT(arg, matcher).
template <class Arg, class Matcher>
std::string expansion(const Arg& arg, const Matcher& m, bool& matched) {
    const auto expr = Catch::makeMatchExpr(arg, m, Catch::StringRef("matcher"));
    matched = expr.getResult();
    std::ostringstream os;
    expr.streamReconstructedExpression(os);
    return os.str();
}

}  // namespace

TEST_CASE("IsLayer matches the outermost layer only", "[catch2]") {
    const strata::wrapped_error<api_layer> w = save_failure();
    const strata::error e = w;

    REQUIRE_THAT(e, IsLayer<api_layer>());
    REQUIRE_THAT(w, IsLayer<api_layer>());  // a wrapped_error, as it is
    REQUIRE_THAT(e, !IsLayer<storage_layer>());
    REQUIRE_THAT(w, !IsLayer<storage_layer>());
    CHECK(IsLayer<api_layer>().match(w));
    CHECK_FALSE(IsLayer<storage_layer>().match(e));  // a frame below, not the outermost
    CHECK_FALSE(IsLayer<unused_layer>().match(e));
    CHECK_FALSE(IsLayer<strata::untagged>().match(strata::error()));  // empty: no layer

    CHECK(IsLayer<api_layer>().describe() == "has outermost layer \"catch2_test.api\"");
    CHECK(IsLayer<api_layer>().toString() == IsLayer<api_layer>().describe());
}

TEST_CASE("HasLayer matches a frame of the layer anywhere in the chain", "[catch2]") {
    const strata::wrapped_error<api_layer> w = save_failure();
    const strata::error e = w;

    REQUIRE_THAT(e, HasLayer<api_layer>());
    REQUIRE_THAT(e, HasLayer<storage_layer>());
    REQUIRE_THAT(w, HasLayer<storage_layer>());
    REQUIRE_THAT(e, !HasLayer<unused_layer>());
    CHECK_FALSE(HasLayer<unused_layer>().match(e));
    CHECK_FALSE(HasLayer<storage_layer>().match(strata::error()));
    CHECK_FALSE(HasLayer<storage_layer>().match(strata::make_error<api_layer>("only api")));

    CHECK(HasLayer<storage_layer>().describe() == "has a frame of layer \"catch2_test.storage\" in its chain");
}

TEST_CASE("MessageContains looks at the outermost message only", "[catch2]") {
    const strata::wrapped_error<api_layer> w = save_failure();
    const strata::error e = w;

    REQUIRE_THAT(e, MessageContains("save profile"));
    REQUIRE_THAT(w, MessageContains("cannot save profile"));
    REQUIRE_THAT(e, MessageContains(""));
    CHECK_FALSE(MessageContains("write /data").match(e));  // an inner frame's message
    CHECK_FALSE(MessageContains("Save").match(e));         // case matters
    CHECK_FALSE(MessageContains("").match(strata::error()));  // an empty error has no message

    CHECK(MessageContains("disk").describe() == "has a message containing \"disk\"");
}

TEST_CASE("ChainContains looks at every frame's message", "[catch2]") {
    const strata::wrapped_error<api_layer> w = save_failure();
    const strata::error e = w;
    const std::string enospc = std::make_error_code(std::errc::no_space_on_device).message();

    REQUIRE_THAT(e, ChainContains("cannot save profile: write /data/p.json"));
    REQUIRE_THAT(w, ChainContains(enospc));
    REQUIRE_THAT(e, ChainContains("write /data/p.json: " + enospc));
    CHECK_FALSE(ChainContains("read /data").match(e));
    CHECK_FALSE(ChainContains("no error").match(strata::error()));  // not "(no error)": there is no chain

    CHECK(ChainContains("ENOSPC").describe() == "has a chain containing \"ENOSPC\"");
}

TEST_CASE("ChainContains finds a frame a deep chain's {:c} would elide", "[catch2]") {
    strata::error e = strata::make_error<storage_layer>("root cause");
    for (int i = 1; i <= STRATA_FORMAT_MAX_FRAMES + 10; ++i) e = strata::wrap(std::move(e), "level {}", i);

    REQUIRE_THAT(e, ChainContains("level 40: level 39"));
    REQUIRE_THAT(e, ChainContains("level 1: root cause"));
    REQUIRE_THAT(e, MessageContains(fmt::format("level {}", STRATA_FORMAT_MAX_FRAMES + 10)));
    CHECK_FALSE(ChainContains("level 0").match(e));
}

TEST_CASE("IsBug and IsUserFacing give handle()'s decision", "[catch2]") {
    const strata::error user = save_failure();                                       // api over storage
    const strata::error bug = strata::make_error<storage_layer>("raw failure");      // not user-facing
    const strata::error buried = strata::wrap(user, "untagged over a user-facing"); // untagged on top
    const strata::error untagged = strata::make_error("no layer");
    const strata::error empty;

    REQUIRE_THAT(user, IsUserFacing());
    REQUIRE_THAT(user, !IsBug());
    REQUIRE_THAT(save_failure(), IsUserFacing());  // a wrapped_error
    REQUIRE_THAT(bug, IsBug());
    REQUIRE_THAT(bug, !IsUserFacing());
    REQUIRE_THAT(buried, IsBug());
    REQUIRE_THAT(untagged, IsBug());
    REQUIRE_THAT(empty, IsBug());
    CHECK_FALSE(IsUserFacing().match(empty));
    CHECK_FALSE(IsBug().match(user));
    CHECK_FALSE(IsUserFacing().match(bug));

    // The same decision handle() makes.
    const strata::log_sink quiet([](const strata::log_record&) {});
    for (const strata::error* x : {&user, &bug, &buried, &untagged, &empty}) {
        const strata::report r = strata::handle(*x, strata::handle_options{&quiet});
        CHECK(IsBug().match(*x) == r.is_bug);
        CHECK(IsUserFacing().match(*x) == !r.is_bug);
    }

    CHECK(IsBug().describe() == "is a bug (empty, or its outermost layer is not user-facing)");
    CHECK(IsUserFacing().describe() == "is user-facing (its outermost layer is user-facing)");
}

TEST_CASE("HasMisc matches the outermost frame's entries by key, and by string or integer value", "[catch2]") {
    SECTION("by key") {
        const strata::wrapped_error<api_layer> w = save_failure();  // user = "ada", quota_mb = 512u
        const strata::error e = w;
        REQUIRE_THAT(e, HasMisc("user"));
        REQUIRE_THAT(w, HasMisc("quota_mb"));
        REQUIRE_THAT(e, !HasMisc("path"));  // the inner frame's entry
        CHECK_FALSE(HasMisc("nothing").match(e));
        CHECK_FALSE(HasMisc("user").match(strata::error()));
        CHECK(HasMisc("user").describe() == "has misc entry \"user\"");
    }
    SECTION("strings") {
        const strata::error e = save_failure();
        REQUIRE_THAT(e, HasMisc("user", "ada"));
        REQUIRE_THAT(e, HasMisc("user", std::string("ada")));
        REQUIRE_THAT(e, HasMisc("user", std::string_view("ada")));
        CHECK_FALSE(HasMisc("user", "bob").match(e));
        CHECK_FALSE(HasMisc("user", "ad").match(e));
        CHECK_FALSE(HasMisc("quota_mb", "512").match(e));  // an integer is not its text
        CHECK(HasMisc("user", "ada").describe() == "has misc entry \"user\" = \"ada\"");
    }
    SECTION("integers, signed or unsigned") {
        const strata::error e = save_failure();
        REQUIRE_THAT(e, HasMisc("quota_mb", 512));     // stored unsigned, expected signed
        REQUIRE_THAT(e, HasMisc("quota_mb", 512u));
        REQUIRE_THAT(e, HasMisc("quota_mb", std::uint64_t{512}));
        CHECK_FALSE(HasMisc("quota_mb", 511).match(e));
        CHECK_FALSE(HasMisc("user", 0).match(e));  // a string is not an integer

        const strata::error s = strata::make_error("signed").with("delta", -3).with("big", std::uint64_t{1} << 63);
        REQUIRE_THAT(s, HasMisc("delta", -3));
        REQUIRE_THAT(s, HasMisc("delta", std::int64_t{-3}));
        CHECK_FALSE(HasMisc("delta", 3u).match(s));
        CHECK_FALSE(HasMisc("delta", static_cast<std::uint64_t>(-3)).match(s));  // no wrap-around
        REQUIRE_THAT(s, HasMisc("big", std::uint64_t{1} << 63));
        CHECK_FALSE(HasMisc("big", std::numeric_limits<std::int64_t>::min()).match(s));

        CHECK(HasMisc("delta", -3).describe() == "has misc entry \"delta\" = -3");
        CHECK(HasMisc("quota_mb", 512u).describe() == "has misc entry \"quota_mb\" = 512");
    }
    SECTION("bool and char, as error::with stores them") {
        const strata::error b = strata::make_error("flags").with("retry", true).with("grade", 'A');
        REQUIRE_THAT(b, HasMisc("retry", true));
        REQUIRE_THAT(b, !HasMisc("retry", false));
        CHECK_FALSE(HasMisc("retry", 1).match(b));  // a bool is not an integer
        REQUIRE_THAT(b, HasMisc("grade", 'A'));
        REQUIRE_THAT(b, HasMisc("grade", "A"));
        CHECK_FALSE(HasMisc("grade", 'B').match(b));
        CHECK(HasMisc("retry", true).describe() == "has misc entry \"retry\" = true");
    }
    SECTION("a repeated key: any of its entries") {
        const strata::error r = strata::make_error("twice").with("step", 1).with("step", 2);
        REQUIRE_THAT(r, HasMisc("step", 1));
        REQUIRE_THAT(r, HasMisc("step", 2));
        CHECK_FALSE(HasMisc("step", 3).match(r));
    }
}

TEST_CASE("HasLayer and ChainContains never search secondary errors, HasSecondary does", "[catch2][secondary]") {
    // A canceled error whose secondary ("stopped because") is the storage failure.
    const strata::error e = strata::make_error<strata::canceled>("canceled").with_secondary("stopped because", save_failure());
    CHECK_THAT(e, IsLayer<strata::canceled>());
    CHECK_THAT(e, !HasLayer<storage_layer>() && !HasLayer<api_layer>());
    CHECK_THAT(e, !ChainContains("cannot save profile") && !ChainContains("No space left"));
    CHECK_THAT(e, !HasMisc("path"));
    CHECK_THAT(e, HasSecondary());
    CHECK_THAT(e, HasSecondary("stopped because"));
    CHECK_THAT(e, !HasSecondary("replica 2 failed"));
    CHECK_THAT(e, HasSecondary(HasLayer<storage_layer>() && ChainContains("No space left")));
    CHECK_THAT(e, HasSecondary("stopped because", IsLayer<api_layer>()));
    CHECK_THAT(e, !HasSecondary("stopped because", IsLayer<storage_layer>()));
    // On an inner frame too.
    const strata::error outer = strata::wrap<api_layer>(e, "outer");
    CHECK_THAT(outer, HasSecondary("stopped because"));
    CHECK_THAT(save_failure(), !HasSecondary());

    CHECK(HasSecondary().describe() == "has a secondary error");
    CHECK(HasSecondary("stopped because").describe() == "has a secondary error labeled \"stopped because\"");
    CHECK(HasSecondary("x", IsLayer<api_layer>()).describe() ==
          "has a secondary error labeled \"x\" that has outermost layer \"catch2_test.api\"");
}

TEST_CASE("error matchers combine with && || ! as Catch2's do", "[catch2]") {
    const strata::wrapped_error<api_layer> w = save_failure();
    const strata::error e = w;

    REQUIRE_THAT(e, IsLayer<api_layer>() && HasLayer<storage_layer>() && HasMisc("user", "ada"));
    REQUIRE_THAT(w, IsLayer<storage_layer>() || MessageContains("save"));
    REQUIRE_THAT(e, !(IsBug() || HasLayer<unused_layer>()));
    REQUIRE_THAT(e, IsUserFacing() && !ChainContains("read"));
    CHECK_FALSE((IsLayer<api_layer>() && HasLayer<unused_layer>()).match(e));
    CHECK_FALSE((IsLayer<storage_layer>() || IsBug()).match(e));
    CHECK_FALSE((!IsUserFacing()).match(e));

    CHECK((IsLayer<api_layer>() && IsBug()).describe() ==
          "( has outermost layer \"catch2_test.api\" and is a bug (empty, or its outermost layer is not user-facing) )");
    CHECK((MessageContains("a") || MessageContains("b")).describe() ==
          "( has a message containing \"a\" or has a message containing \"b\" )");
    CHECK((!HasMisc("k")).describe() == "not has misc entry \"k\"");
}

TEST_CASE("Fails, FailsWith and Succeeds match results of any type", "[catch2]") {
    const strata::result<int> failed = parse(true);
    const strata::result<int> port = parse(false);
    const strata::result<void> ran = run(false);
    const strata::result<void> lost = run(true);
    const strata::result<std::string> text = std::string("hello");

    REQUIRE_THAT(failed, Fails());
    REQUIRE_THAT(lost, Fails());
    REQUIRE_THAT(port, Succeeds());
    REQUIRE_THAT(ran, Succeeds());
    REQUIRE_THAT(text, Succeeds());
    REQUIRE_THAT(parse(true), Fails());  // a temporary
    CHECK_FALSE(Fails().match(port));
    CHECK_FALSE(Fails().match(text));
    CHECK_FALSE(Succeeds().match(failed));
    CHECK_FALSE(Succeeds().match(lost));

    REQUIRE_THAT(failed, FailsWith(IsLayer<api_layer>()));
    REQUIRE_THAT(failed, FailsWith(IsLayer<api_layer>() && ChainContains("bad digit") && IsUserFacing()));
    REQUIRE_THAT(lost, FailsWith(IsBug() && MessageContains("disk")));
    REQUIRE_THAT(parse(true), FailsWith(HasLayer<storage_layer>()));
    CHECK_FALSE(FailsWith(IsLayer<storage_layer>()).match(failed));  // failed, but not so
    CHECK_FALSE(FailsWith(IsLayer<api_layer>()).match(port));        // did not fail at all
    CHECK_FALSE(FailsWith(!IsLayer<api_layer>()).match(port));       // (even with a negation)
    CHECK_FALSE(FailsWith(IsBug()).match(ran));

    CHECK(Fails().describe() == "is a failure");
    CHECK(Succeeds().describe() == "is a success");
    CHECK(FailsWith(IsLayer<api_layer>()).describe() ==
          "is a failure whose error has outermost layer \"catch2_test.api\"");
    CHECK(FailsWith(IsBug() || MessageContains("x")).describe() ==
          "is a failure whose error ( is a bug (empty, or its outermost layer is not user-facing) or has a message "
          "containing \"x\" )");
}

TEST_CASE("result matchers combine with && || !", "[catch2]") {
    const strata::result<int> failed = parse(true);
    const strata::result<int> port = parse(false);

    REQUIRE_THAT(failed, !Succeeds());
    REQUIRE_THAT(port, !Fails());
    REQUIRE_THAT(failed, Fails() && FailsWith(HasLayer<storage_layer>()));
    REQUIRE_THAT(port, FailsWith(IsBug()) || Succeeds());
    REQUIRE_THAT(failed, !(Succeeds() || FailsWith(IsBug())));
    CHECK_FALSE((Fails() && Succeeds()).match(failed));
    CHECK_FALSE((FailsWith(IsBug()) || Succeeds()).match(failed));
    CHECK_FALSE((!Fails()).match(failed));

    CHECK((Fails() && Succeeds()).describe() == "( is a failure and is a success )");
    CHECK((Fails() || Succeeds()).describe() == "( is a failure or is a success )");
    CHECK((!Fails()).describe() == "not is a failure");
    CHECK((!Fails()).toString() == "not is a failure");
}

TEST_CASE("Catch prints an error as its chain, and a result as success or failure with the chain", "[catch2]") {
    const strata::wrapped_error<api_layer> w = save_failure();
    const strata::error e = w;
    const std::string chain = fmt::format("{:c}", e);
    REQUIRE_THAT(chain, Catch::Contains("cannot save profile: write /data/p.json: "));

    CHECK(Catch::Detail::stringify(e) == chain);
    CHECK(Catch::Detail::stringify(w) == chain);
    CHECK(Catch::Detail::stringify(strata::error()) == "(no error)");

    CHECK(Catch::Detail::stringify(parse(false)) == "success");
    CHECK(Catch::Detail::stringify(run(false)) == "success");
    CHECK(Catch::Detail::stringify(parse(true)) == "failure: cannot parse the port: bad digit");
    CHECK(Catch::Detail::stringify(run(true)) == "failure: disk gone");
}

TEST_CASE("a failed match shows the chain, what was expected and what was found", "[catch2]") {
    const strata::wrapped_error<api_layer> w = save_failure();
    const std::string chain = fmt::format("{:c}", w);
    bool matched = true;

    std::string text = expansion(w, IsLayer<storage_layer>(), matched);
    CHECK_FALSE(matched);
    CHECK(text == chain + " has outermost layer \"catch2_test.storage\" (found outermost layer \"catch2_test.api\")");

    text = expansion(strata::error(w), HasLayer<api_layer>() && HasMisc("user", "bob"), matched);
    CHECK_FALSE(matched);
    CHECK(text == chain +
                      " ( has a frame of layer \"catch2_test.api\" in its chain (found layers \"catch2_test.api\", "
                      "\"catch2_test.storage\", cause std::error_code) and has misc entry \"user\" = \"bob\" (found "
                      "\"user\" = \"ada\") )");

    text = expansion(parse(true), FailsWith(IsBug()), matched);
    CHECK_FALSE(matched);
    CHECK(text == "failure: cannot parse the port: bad digit is a failure whose error is a bug (empty, or its outermost "
                  "layer is not user-facing) (found outermost layer \"catch2_test.api\", user-facing)");

    text = expansion(parse(false), Fails(), matched);
    CHECK_FALSE(matched);
    CHECK(text == "success is a failure (found a success: 8080)");

    text = expansion(w, IsUserFacing(), matched);  // and a match that passes prints the same way
    CHECK(matched);
    CHECK(text == chain + " is user-facing (its outermost layer is user-facing) (found outermost layer "
                          "\"catch2_test.api\", user-facing)");

    // Catch2's own matchers stop at the first part that decides: a part never
    // matched says what it expects only.
    text = expansion(w, IsLayer<storage_layer>() && HasMisc("user"), matched);
    CHECK_FALSE(matched);
    CHECK(text == chain + " ( has outermost layer \"catch2_test.storage\" (found outermost layer "
                          "\"catch2_test.api\") and has misc entry \"user\" )");
}

TEST_CASE("HasMisc says which value it found for the key, or which keys there are", "[catch2][found]") {
    const strata::error line1 = strata::make_error<api_layer>("bad config").with("line", 1).with("file", "a.toml");
    bool matched = true;
    const std::string chain = fmt::format("{:c}", line1);

    // The example of issue 12: HasMisc("line", 2) failing on line = 1 says so.
    const auto m = HasMisc("line", 2);
    CHECK_FALSE(m.match(line1));
    CHECK(m.describe() == "has misc entry \"line\" = 2 (found \"line\" = 1)");
    CHECK(expansion(line1, HasMisc("line", 2), matched) ==
          chain + " has misc entry \"line\" = 2 (found \"line\" = 1)");
    CHECK_FALSE(matched);

    // Of another type: a string is quoted, an integer is not.
    const auto as_text = HasMisc("line", "1");
    CHECK_FALSE(as_text.match(line1));
    CHECK(as_text.describe() == "has misc entry \"line\" = \"1\" (found \"line\" = 1)");

    // Absent: which entries there are.
    const auto absent = HasMisc("column");
    CHECK_FALSE(absent.match(line1));
    CHECK(absent.describe() ==
          "has misc entry \"column\" (found no entry \"column\"; the entries: \"line\" = 1, \"file\" = \"a.toml\")");
    const auto none = HasMisc("column", 3);
    CHECK_FALSE(none.match(strata::make_error("no entries")));
    CHECK(none.describe() == "has misc entry \"column\" = 3 (found no entry \"column\"; no misc entries)");

    // On a frame below: HasMisc looks at the outermost frame only, and says so.
    const auto below = HasMisc("path", "/data/p.json");
    CHECK_FALSE(below.match(save_failure()));
    CHECK(below.describe() == "has misc entry \"path\" = \"/data/p.json\" (found no entry \"path\"; the entries: "
                              "\"user\" = \"ada\", \"quota_mb\" = 512; frame #1 below has \"path\" = \"/data/p.json\")");

    // A repeated key: every entry with it.
    const auto twice = HasMisc("step", 3);
    CHECK_FALSE(twice.match(strata::make_error("twice").with("step", 1).with("step", 2)));
    CHECK(twice.describe() == "has misc entry \"step\" = 3 (found \"step\" = 1, \"step\" = 2)");

    // bool, and a sensitive value as it was given (the matcher compares that).
    const auto flag = HasMisc("retry", false);
    CHECK_FALSE(flag.match(strata::make_error("f").with("retry", true).with("token", strata::sensitive("s3cret"))));
    CHECK(flag.describe() == "has misc entry \"retry\" = false (found \"retry\" = true)");
    const auto token = HasMisc("token", "other");
    CHECK_FALSE(token.match(strata::make_error("f").with("token", strata::sensitive("s3cret"))));
    CHECK(token.describe() == "has misc entry \"token\" = \"other\" (found \"token\" = \"s3cret\")");

    // An empty error, and a negation that fails because the entry is there.
    const auto empty = HasMisc("line");
    CHECK_FALSE(empty.match(strata::error()));
    CHECK(empty.describe() == "has misc entry \"line\" (found an empty error)");
    CHECK(expansion(line1, !HasMisc("line"), matched) == chain + " not has misc entry \"line\" (found \"line\" = 1)");
    CHECK_FALSE(matched);
}

TEST_CASE("every error matcher says what it found", "[catch2][found]") {
    const strata::error e = save_failure();
    const strata::error empty;

    const auto is_layer = IsLayer<storage_layer>();
    CHECK_FALSE(is_layer.match(e));
    CHECK(is_layer.describe() == "has outermost layer \"catch2_test.storage\" (found outermost layer \"catch2_test.api\")");
    CHECK_FALSE(is_layer.match(empty));
    CHECK(is_layer.describe() == "has outermost layer \"catch2_test.storage\" (found an empty error)");
    CHECK_FALSE(is_layer.match(strata::wrap<storage_layer>(std::string("why"), "x").inner()));
    CHECK(is_layer.describe() == "has outermost layer \"catch2_test.storage\" (found outermost layer cause value)");

    const auto has_layer = HasLayer<unused_layer>();
    CHECK_FALSE(has_layer.match(e));
    CHECK(has_layer.describe() == "has a frame of layer \"catch2_test.unused\" in its chain (found layers "
                                  "\"catch2_test.api\", \"catch2_test.storage\", cause std::error_code)");
    strata::error deep = strata::make_error<storage_layer>("root");
    for (int i = 0; i < 20; ++i) deep = strata::wrap(std::move(deep), "level {}", i);
    CHECK_FALSE(has_layer.match(deep));
    CHECK(has_layer.describe() == "has a frame of layer \"catch2_test.unused\" in its chain (found layers \"untagged\", "
                                  "\"untagged\", \"untagged\", \"untagged\", \"untagged\", \"untagged\", \"untagged\", "
                                  "\"untagged\", \"untagged\", \"untagged\", \"untagged\", \"untagged\", \"untagged\", "
                                  "\"untagged\", \"untagged\", \"untagged\", and 5 more)");

    const auto message = MessageContains("disk");
    CHECK_FALSE(message.match(e));
    CHECK(message.describe() == "has a message containing \"disk\" (found message \"cannot save profile\")");
    CHECK_FALSE(message.match(empty));
    CHECK(message.describe() == "has a message containing \"disk\" (found an empty error)");

    const auto chain = ChainContains("read /data");
    CHECK_FALSE(chain.match(e));
    CHECK(chain.describe() == "has a chain containing \"read /data\" (found chain \"cannot save profile: write "
                              "/data/p.json: " + std::make_error_code(std::errc::no_space_on_device).message() + "\")");

    const auto bug = IsBug();
    CHECK_FALSE(bug.match(e));
    CHECK(bug.describe() == "is a bug (empty, or its outermost layer is not user-facing) (found outermost layer "
                            "\"catch2_test.api\", user-facing)");
    const auto user = IsUserFacing();
    CHECK_FALSE(user.match(strata::make_error<storage_layer>("raw")));
    CHECK(user.describe() == "is user-facing (its outermost layer is user-facing) (found outermost layer "
                             "\"catch2_test.storage\", not user-facing)");
    CHECK_FALSE(user.match(empty));
    CHECK(user.describe() == "is user-facing (its outermost layer is user-facing) (found an empty error)");

    // A matcher matched again says what it found the second time.
    const auto again = MessageContains("x");
    CHECK_FALSE(again.match(strata::make_error("first")));
    CHECK(again.toString() == "has a message containing \"x\" (found message \"first\")");
    CHECK_FALSE(again.match(strata::make_error("second")));
    CHECK(again.toString() == "has a message containing \"x\" (found message \"second\")");
}

TEST_CASE("HasSecondary says which secondary errors it found", "[catch2][found][secondary]") {
    const strata::error e = strata::make_error<strata::canceled>("canceled").with_secondary("stopped because", save_failure());
    const std::string enospc = std::make_error_code(std::errc::no_space_on_device).message();

    const auto labeled = HasSecondary("replica 2 failed");
    CHECK_FALSE(labeled.match(e));
    CHECK(labeled.describe() == "has a secondary error labeled \"replica 2 failed\" (found secondary errors \"stopped "
                                "because\": cannot save profile: write /data/p.json: " + enospc + ")");

    // The inner matcher's expectation, not what it found in the last secondary.
    const auto with = HasSecondary("stopped because", IsLayer<storage_layer>());
    CHECK_FALSE(with.match(e));
    CHECK(with.describe() == "has a secondary error labeled \"stopped because\" that has outermost layer "
                             "\"catch2_test.storage\" (found secondary errors \"stopped because\": cannot save profile: "
                             "write /data/p.json: " + enospc + ")");

    const auto any = HasSecondary();
    CHECK_FALSE(any.match(save_failure()));
    CHECK(any.describe() == "has a secondary error (found no secondary errors)");
}

TEST_CASE("result matchers say what they found", "[catch2][found]") {
    const strata::result<int> failed = parse(true);
    const strata::result<int> port = parse(false);
    const strata::result<void> ran = run(false);
    const strata::result<std::string> text = std::string("hello");

    const auto fails = Fails();
    CHECK_FALSE(fails.match(port));
    CHECK(fails.describe() == "is a failure (found a success: 8080)");
    CHECK_FALSE(fails.match(ran));
    CHECK(fails.describe() == "is a failure (found a success)");
    CHECK_FALSE(fails.match(text));
    CHECK(fails.describe() == "is a failure (found a success: \"hello\")");

    const auto succeeds = Succeeds();
    CHECK_FALSE(succeeds.match(failed));
    CHECK(succeeds.describe() ==
          "is a success (found a failure in layer \"catch2_test.api\": cannot parse the port: bad digit)");
    CHECK(succeeds.toString() == succeeds.describe());

    const auto fails_with = FailsWith(IsLayer<storage_layer>());
    CHECK_FALSE(fails_with.match(port));
    CHECK(fails_with.describe() ==
          "is a failure whose error has outermost layer \"catch2_test.storage\" (found a success: 8080)");
    CHECK_FALSE(fails_with.match(failed));  // failed, and what the error matcher found is said
    CHECK(fails_with.describe() == "is a failure whose error has outermost layer \"catch2_test.storage\" (found "
                                   "outermost layer \"catch2_test.api\")");

    bool matched = true;
    CHECK(expansion(failed, !Fails(), matched) ==
          "failure: cannot parse the port: bad digit not is a failure (found a failure in layer \"catch2_test.api\": "
          "cannot parse the port: bad digit)");
    CHECK_FALSE(matched);
    CHECK(expansion(failed, Succeeds() || FailsWith(HasMisc("port")), matched) ==
          "failure: cannot parse the port: bad digit ( is a success (found a failure in layer \"catch2_test.api\": "
          "cannot parse the port: bad digit) or is a failure whose error has misc entry \"port\" (found no entry "
          "\"port\"; no misc entries) )");
    CHECK_FALSE(matched);
}

#if STRATA_CHECKED
namespace {
int unchecked_reports = 0;
void count_unchecked(const strata::unchecked_error&) noexcept { ++unchecked_reports; }
}  // namespace

TEST_CASE("matching an error or a result counts as looking at it (STRATA_CHECKED)", "[catch2][checked]") {
    const strata::unchecked_error_handler previous = strata::set_unchecked_error_handler(&count_unchecked);
    unchecked_reports = 0;
    // Each error is looked at by one matcher only, whether or not it matches.
    { CHECK(IsLayer<api_layer>().match(save_failure())); }
    { CHECK_FALSE(IsLayer<storage_layer>().match(strata::make_error<api_layer>("a"))); }
    { CHECK_FALSE(HasLayer<unused_layer>().match(strata::make_error<api_layer>("b"))); }
    { CHECK(MessageContains("c").match(strata::make_error("c"))); }
    { CHECK_FALSE(ChainContains("x").match(strata::make_error("d"))); }
    { CHECK(IsBug().match(strata::make_error("e"))); }
    { CHECK_FALSE(IsUserFacing().match(strata::make_error("f"))); }
    { CHECK_FALSE(HasMisc("k").match(strata::make_error("g"))); }
    { CHECK((!HasMisc("k") && IsBug()).match(strata::make_error("h"))); }
    {
        const strata::result<int> r = parse(true);
        CHECK(Fails().match(r));
    }
    {
        const strata::result<int> r = parse(true);
        CHECK_FALSE(Succeeds().match(r));
    }
    {
        const strata::result<void> r = run(true);
        CHECK(FailsWith(IsBug()).match(r));
    }
    INFO("the last report counted was an error the matchers looked at");
    CHECK(unchecked_reports == 0);

    { const strata::error nobody = strata::make_error("nobody looked"); }  // the control
    CHECK(unchecked_reports == 1);
    strata::set_unchecked_error_handler(previous);
}
#endif
