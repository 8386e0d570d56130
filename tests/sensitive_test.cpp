// Tests for <strata/sensitive.hpp>: strata::sensitive(x) as a message argument and
// as a misc value is shown by e.message(strata::reveal), the misc accessors and
// {:v} (local), and everywhere else (e.message(), the {} and {:c} forms, handle()'s
// user message and log record, what(), to_json) only as its keyed hash,
// strata::sensitive_token(text). The hash key is
// process-wide: every test case that depends on it sets a fixed one first.
#include <catch2/catch.hpp>
#include <strata/exception.hpp>
#include <strata/handle.hpp>
#include <strata/json.hpp>
#include <strata/sensitive.hpp>

#include "support.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <unistd.h>

namespace {

struct login_layer {
    static constexpr std::string_view name = "sensitive_test.login";
    static constexpr bool user_facing = true;
};

struct vault_layer {  // not user-facing
    static constexpr std::string_view name = "sensitive_test.vault";
};

bool contains(std::string_view text, std::string_view needle) { return text.find(needle) != std::string_view::npos; }

std::size_t count_of(std::string_view text, std::string_view needle) {
    std::size_t n = 0;
    for (std::size_t at = text.find(needle); at != std::string_view::npos; at = text.find(needle, at + 1)) ++n;
    return n;
}

// A fixed hashing key for the test case that makes one (the key is process-wide).
void fixed_key() { strata::set_sensitive_key("sensitive_test fixed key"); }

// Every form an error takes, computed once (handle() reports a frame only once).
struct exported {
    std::string brief;    // {}
    std::string chain;    // {:c}
    std::string verbose;  // {:v}
    std::string user;     // handle()'s report.user_message
    std::string shown;    // the report as the user sees it, "[id] message"
    std::string record;   // the record text the sink got
    std::string json;     // to_json
    bool is_bug = true;
};

exported export_all(const strata::error& e) {
    exported x;
    x.brief = fmt::format("{}", e);
    x.chain = fmt::format("{:c}", e);
    x.verbose = fmt::format("{:v}", e);
    int calls = 0;
    const strata::log_sink sink([&](const strata::log_record& r) {
        ++calls;
        x.record.assign(r.text);
    });
    const strata::report r = strata::handle(e, strata::handle_options{&sink});
    REQUIRE(calls == 1);  // the error was not handled before
    x.user = r.user_message;
    x.shown = fmt::format("{}", r);
    x.is_bug = r.is_bug;
    x.json = strata::to_json(e);
    REQUIRE_FALSE(x.json.empty());
    return x;
}

// Everything that leaves the process, as one list to check.
std::vector<std::pair<const char*, const std::string*>> outside(const exported& x) {
    return {{"{}", &x.brief},     {"{:c}", &x.chain},   {"user_message", &x.user},
            {"report", &x.shown}, {"record", &x.record}, {"to_json", &x.json}};
}

bool is_token(std::string_view t) {
    if (t.size() != 11 + 12 + 1 || t.substr(0, 11) != "<sensitive:" || t.back() != '>') return false;
    for (char c : t.substr(11, 12))
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

}  // namespace

// ---------------------------------------------------------------------------
// The token

TEST_CASE("sensitive_token is <sensitive: + 12 lowercase hex digits + >", "[sensitive]") {
    fixed_key();
    for (std::string_view v : {"", "a", "hunter2", "4111111111111111", "a much longer value than eight bytes, past one block"}) {
        INFO(v);
        CHECK(is_token(strata::sensitive_token(v)));
    }
}

TEST_CASE("the hash is SipHash-2-4 (the reference vectors)", "[sensitive]") {
    // Aumasson and Bernstein's test key 00 01 .. 0f and messages 00 01 .. (n - 1).
    const std::uint64_t k0 = 0x0706050403020100ULL, k1 = 0x0f0e0d0c0b0a0908ULL;
    std::string m;
    for (int i = 0; i < 15; ++i) m.push_back(static_cast<char>(i));
    CHECK(strata::detail::siphash24(k0, k1, std::string_view()) == 0x726fdb47dd0e0e31ULL);
    CHECK(strata::detail::siphash24(k0, k1, m) == 0xa129ca6149be45e5ULL);
}

TEST_CASE("same value, same token, another value, another token, and the key decides", "[sensitive]") {
    strata::set_sensitive_key("k1");
    const std::string t1 = strata::sensitive_token("correct horse");
    CHECK(strata::sensitive_token("correct horse") == t1);
    CHECK(strata::sensitive_token(std::string("correct ") + "horse") == t1);
    CHECK(strata::sensitive_token("correct horse ") != t1);
    CHECK(strata::sensitive_token("Correct horse") != t1);
    CHECK(strata::sensitive_token("") != t1);

    // In one process, the message of one error and the misc value of another give
    // the same token for the same value.
    const std::string value = "correct horse";
    const strata::error a = strata::make_error<login_layer>("login as {} failed", strata::sensitive(value));
    const strata::error b = strata::make_error<vault_layer>("unrelated").with("user", strata::sensitive(value));
    CHECK(fmt::format("{}", a) == "login as " + t1 + " failed");
    CHECK(contains(strata::to_json(b), t1));

    strata::set_sensitive_key("k2");
    const std::string t2 = strata::sensitive_token("correct horse");
    CHECK(t2 != t1);
    CHECK(is_token(t2));
    // A message argument's hash is taken when the error is made, under the key
    // in force then; a misc value's when it is shown.
    CHECK(fmt::format("{}", a) == "login as " + t1 + " failed");
    CHECK(contains(strata::to_json(b), t2));
    const strata::error a2 = strata::make_error<login_layer>("login as {} failed", strata::sensitive(value));
    CHECK(fmt::format("{}", a2) == "login as " + t2 + " failed");

    strata::set_sensitive_key("k1");
    CHECK(strata::sensitive_token("correct horse") == t1);
    CHECK(fmt::format("{}", a) == "login as " + t1 + " failed");
    CHECK(contains(strata::to_json(b), t1));

    // Keys of any length, and a key that differs in its last byte.
    strata::set_sensitive_key("");
    const std::string t_empty = strata::sensitive_token("correct horse");
    strata::set_sensitive_key(std::string(1000, 'k'));
    const std::string t_long = strata::sensitive_token("correct horse");
    strata::set_sensitive_key("k3");
    const std::string t3 = strata::sensitive_token("correct horse");
    CHECK(t_empty != t_long);
    CHECK(t_empty != t1);
    CHECK(t_long != t1);
    CHECK(t3 != t1);
    CHECK(t3 != t2);
    fixed_key();
}

// Run by the test case below, in a child process: the token of one value under
// the key the environment gives (or a random one).
TEST_CASE("(child process) the token of a probe value", "[.][sensitive_env_child]") {
    std::printf("TOKEN=%s\n", strata::sensitive_token("probe value").c_str());
    std::fflush(stdout);
}

namespace {

// Runs this test program again, for the case above, with STRATA_SENSITIVE_KEY set
// to `key` (unset when null); returns the token it printed.
std::string token_in_child(const char* key) {
    char self[4096] = {};
    const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
    REQUIRE(n > 0);
    const std::string env = key ? std::string("env STRATA_SENSITIVE_KEY='") + key + "' " : "env -u STRATA_SENSITIVE_KEY ";
    const std::string command = env + "'" + std::string(self, static_cast<std::size_t>(n)) + "' '[sensitive_env_child]' 2>&1";
    std::FILE* p = ::popen(command.c_str(), "r");
    REQUIRE(p != nullptr);
    std::string out;
    char buf[512];
    for (std::size_t k; (k = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, k);
    INFO(command << "\n" << out);
    REQUIRE(::pclose(p) == 0);
    const auto at = out.find("TOKEN=");
    REQUIRE(at != std::string::npos);
    return out.substr(at + 6, 24);
}

}  // namespace

TEST_CASE("STRATA_SENSITIVE_KEY: processes given the same key give the same token", "[sensitive]") {
    const std::string a = token_in_child("fleet key one");
    const std::string b = token_in_child("fleet key one");
    const std::string c = token_in_child("fleet key two");
    CHECK(is_token(a));
    CHECK(a == b);
    CHECK(a != c);
    strata::set_sensitive_key("fleet key one");
    CHECK(strata::sensitive_token("probe value") == a);
    // Without it, each process draws its own key.
    const std::string r1 = token_in_child(nullptr);
    const std::string r2 = token_in_child(nullptr);
    CHECK(is_token(r1));
    CHECK(r1 != r2);
    CHECK(r1 != a);
    fixed_key();
}

// ---------------------------------------------------------------------------
// A message argument

TEST_CASE("a sensitive message argument is in message(reveal) and {:v} only, elsewhere its token", "[sensitive]") {
    fixed_key();
    const std::string secret = "hunter2-qzvkxjwpyrmtlnbd";
    const std::string token = strata::sensitive_token(secret);
    const std::string expected_shown = "wrong password " + token + " for alice";

    const strata::error e = strata::make_error<login_layer>("wrong password {} for {}", strata::sensitive(secret), "alice");
    CHECK(e.message(strata::reveal) == "wrong password " + secret + " for alice");
    CHECK(e.message() == expected_shown);

    const exported x = export_all(e);
    CHECK(contains(x.verbose, secret));
    CHECK_FALSE(contains(x.verbose, token));
    for (const auto& [what, text] : outside(x)) {
        INFO(what << ": " << *text);
        CHECK_FALSE(contains(*text, secret));
        CHECK(contains(*text, token));
    }
    CHECK(x.brief == expected_shown);
    CHECK(x.chain == expected_shown);
    CHECK_FALSE(x.is_bug);
    CHECK(x.user == expected_shown);
    CHECK(contains(x.record, "user saw: " + x.shown));
    CHECK(contains(x.record, "chain: " + expected_shown));

    const auto j = nlohmann::json::parse(x.json);
    CHECK(j["exception.message"] == expected_shown);
    CHECK(j["strata.chain"] == expected_shown);
    CHECK(j["strata.frames"][0]["message"] == expected_shown);
}

TEST_CASE("sensitive() takes lvalues, rvalues, string views, C strings and literals", "[sensitive]") {
    fixed_key();
    std::string lvalue = "lvalue-secret-mmqpzxw";
    const std::string const_lvalue = "const-lvalue-secret-rrtwq";
    const std::string_view view = "view-secret-kkdlqpw";
    const char* c_string = "c-string-secret-zzpqwk";

    const strata::error e = strata::make_error<login_layer>(
        "{} {} {} {} {} {}", strata::sensitive(lvalue), strata::sensitive(const_lvalue), strata::sensitive(view),
        strata::sensitive(c_string), strata::sensitive(std::string("rvalue-secret-wqpzmx")),
        strata::sensitive("literal-secret-xxqwpl"));
    const std::vector<std::string> secrets{lvalue, const_lvalue, std::string(view), c_string, "rvalue-secret-wqpzmx",
                                           "literal-secret-xxqwpl"};
    std::string expected_message, expected_shown;
    for (const std::string& s : secrets) {
        if (!expected_message.empty()) {
            expected_message += ' ';
            expected_shown += ' ';
        }
        expected_message += s;
        expected_shown += strata::sensitive_token(s);
    }
    CHECK(e.message(strata::reveal) == expected_message);
    CHECK(e.message() == expected_shown);
    const exported x = export_all(e);
    CHECK(x.brief == expected_shown);
    CHECK(x.user == expected_shown);
    for (const std::string& s : secrets) {
        INFO(s);
        CHECK(contains(x.verbose, s));
        for (const auto& [what, text] : outside(x)) {
            INFO(what);
            CHECK_FALSE(contains(*text, s));
            CHECK(contains(*text, strata::sensitive_token(s)));
        }
    }
}

TEST_CASE("sensitive integers and other values: the hash is of the text {} prints", "[sensitive]") {
    fixed_key();
    const strata::error e = strata::make_error<login_layer>("pin {} account {} balance {} flag {}", strata::sensitive(918273645),
                                                            strata::sensitive(-7364518290LL),
                                                            strata::sensitive(2.5), strata::sensitive(true));
    CHECK(e.message(strata::reveal) == "pin 918273645 account -7364518290 balance 2.5 flag true");
    const std::string expected = "pin " + strata::sensitive_token("918273645") + " account " +
                                 strata::sensitive_token("-7364518290") + " balance " + strata::sensitive_token("2.5") +
                                 " flag " + strata::sensitive_token("true");
    CHECK(e.message() == expected);
    const exported x = export_all(e);
    CHECK(x.brief == expected);
    CHECK(x.chain == expected);
    CHECK(x.user == expected);
    for (const auto& [what, text] : outside(x)) {
        INFO(what << ": " << *text);
        CHECK_FALSE(contains(*text, "918273645"));
        CHECK_FALSE(contains(*text, "7364518290"));
    }
    CHECK(contains(x.verbose, "pin 918273645 account -7364518290 balance 2.5 flag true"));
}

TEST_CASE("the same sensitive argument twice ({0} {0}) is hidden both times", "[sensitive]") {
    fixed_key();
    const std::string secret = "twice-secret-pqowieur";
    const strata::error e = strata::make_error<login_layer>("{0} and again {0}", strata::sensitive(secret));
    CHECK(e.message(strata::reveal) == secret + " and again " + secret);
    const std::string token = strata::sensitive_token(secret);
    CHECK(e.message() == token + " and again " + token);
    const exported x = export_all(e);
    CHECK(x.brief == token + " and again " + token);
    for (const auto& [what, text] : outside(x)) {
        INFO(what);
        CHECK_FALSE(contains(*text, secret));
    }
}

// ---------------------------------------------------------------------------
// Misc values

TEST_CASE("a sensitive misc value is in misc() and {:v} only, elsewhere its token", "[sensitive]") {
    fixed_key();
    const std::string card = "4111111111111111";
    strata::error e = strata::make_error<login_layer>("payment declined")
                          .with("card", strata::sensitive(std::string(card)))
                          .with("cvv", strata::sensitive(9182736455LL))
                          .with("limit", strata::sensitive(std::numeric_limits<std::uint64_t>::max()))
                          .with("debt", strata::sensitive(-5647382910LL))
                          .with("ratio", strata::sensitive(0.123456789))
                          .with("vip", strata::sensitive(false))
                          .with("holder", strata::sensitive("holder-name-qqwpzmx"))
                          .with("attempt", 3)
                          .with("merchant", "acme-shop");

    const auto v = e.misc().find("card");
    REQUIRE(v);
    CHECK(v->is_sensitive());
    CHECK(v->type() == strata::misc_value::kind::string);
    CHECK(v->as_string() == card);
    CHECK(e.misc().find("cvv")->is_sensitive());
    CHECK(e.misc().find("cvv")->as_signed() == 9182736455LL);
    CHECK(e.misc().find("limit")->as_unsigned() == std::numeric_limits<std::uint64_t>::max());
    CHECK(e.misc().find("debt")->as_signed() == -5647382910LL);
    CHECK(e.misc().find("ratio")->as_double() == 0.123456789);
    CHECK(e.misc().find("vip")->type() == strata::misc_value::kind::boolean);
    CHECK(e.misc().find("vip")->is_sensitive());
    CHECK(e.misc().find("holder")->as_string() == "holder-name-qqwpzmx");
    CHECK_FALSE(e.misc().find("attempt")->is_sensitive());
    CHECK_FALSE(e.misc().find("merchant")->is_sensitive());

    // (text, {:v} shows it as) for each sensitive value.
    const std::vector<std::pair<std::string, std::string>> secrets{
        {card, "card = \"4111111111111111\""},
        {"9182736455", "cvv = 9182736455"},
        {"18446744073709551615", "limit = 18446744073709551615"},
        {"-5647382910", "debt = -5647382910"},
        {"0.123456789", "ratio = 0.123456789"},
        {"false", "vip = false"},
        {"holder-name-qqwpzmx", "holder = \"holder-name-qqwpzmx\""},
    };
    const exported x = export_all(e);
    for (const auto& [text, line] : secrets) {
        INFO(text);
        CHECK(contains(x.verbose, line));
        // (Not "false": it may be anywhere in the JSON.)
        if (text != "false") {
            for (const auto& [what, out] : outside(x)) {
                INFO(what);
                CHECK_FALSE(contains(*out, text));
            }
        }
    }
    CHECK(contains(x.verbose, "attempt = 3"));
    CHECK(contains(x.verbose, "merchant = \"acme-shop\""));

    // The record: the token in place of each value; the others as they are.
    CHECK(contains(x.record, "card = " + strata::sensitive_token(card)));
    CHECK(contains(x.record, "cvv = " + strata::sensitive_token("9182736455")));
    CHECK(contains(x.record, "limit = " + strata::sensitive_token("18446744073709551615")));
    CHECK(contains(x.record, "debt = " + strata::sensitive_token("-5647382910")));
    CHECK(contains(x.record, "ratio = " + strata::sensitive_token("0.123456789")));
    CHECK(contains(x.record, "vip = " + strata::sensitive_token("false")));
    CHECK(contains(x.record, "holder = " + strata::sensitive_token("holder-name-qqwpzmx")));
    CHECK(contains(x.record, "attempt = 3"));
    CHECK(contains(x.record, "merchant = \"acme-shop\""));
    CHECK_FALSE(contains(x.record, "vip = false"));

    // The JSON: a string holding the token, whatever the value's type.
    const auto j = nlohmann::json::parse(x.json);
    const auto& misc = j["strata.frames"][0]["misc"];
    REQUIRE(misc.size() == 9);
    auto entry = [&](std::string_view key) {
        for (const auto& m : misc)
            if (m["key"] == key) return m;
        FAIL("no misc entry " << key);
        return nlohmann::json();
    };
    CHECK(entry("card") == nlohmann::json{{"key", "card"}, {"type", "string"}, {"value", strata::sensitive_token(card)}});
    CHECK(entry("cvv")["value"] == strata::sensitive_token("9182736455"));
    CHECK(entry("limit")["value"] == strata::sensitive_token("18446744073709551615"));
    CHECK(entry("debt")["value"] == strata::sensitive_token("-5647382910"));
    CHECK(entry("ratio")["value"] == strata::sensitive_token("0.123456789"));
    CHECK(entry("vip") == nlohmann::json{{"key", "vip"}, {"type", "string"}, {"value", strata::sensitive_token("false")}});
    CHECK(entry("holder")["value"] == strata::sensitive_token("holder-name-qqwpzmx"));
    CHECK(entry("attempt") == nlohmann::json{{"key", "attempt"}, {"type", "int"}, {"value", 3}});
    CHECK(entry("merchant") == nlohmann::json{{"key", "merchant"}, {"type", "string"}, {"value", "acme-shop"}});
}

TEST_CASE("a sensitive misc value stays sensitive when a shared frame is copied by with()", "[sensitive]") {
    fixed_key();
    const strata::error original = strata::make_error<vault_layer>("unseal").with("root_key", strata::sensitive(std::string("rk-pqwmzlxkeiru")));
    strata::error copy = original;
    copy.with("attempt", 2);  // shared: with() copies the frame first
    REQUIRE_FALSE(copy.same_as(original));
    REQUIRE(copy.misc().find("root_key"));
    CHECK(copy.misc().find("root_key")->is_sensitive());
    const std::string json = strata::to_json(copy);
    CHECK_FALSE(contains(json, "rk-pqwmzlxkeiru"));
    CHECK(contains(json, strata::sensitive_token("rk-pqwmzlxkeiru")));
    CHECK(contains(fmt::format("{:v}", copy), "rk-pqwmzlxkeiru"));
}

TEST_CASE("a message argument stays redacted in a frame copied by with()", "[sensitive]") {
    fixed_key();
    const std::string secret = "copied-frame-secret-qpwo";
    const strata::error original = strata::make_error<login_layer>("token {} expired", strata::sensitive(secret));
    strata::error copy = original;
    copy.with("attempt", 2);
    REQUIRE_FALSE(copy.same_as(original));
    CHECK(copy.message(strata::reveal) == "token " + secret + " expired");
    CHECK(copy.message() == "token " + strata::sensitive_token(secret) + " expired");
    CHECK(fmt::format("{}", copy) == "token " + strata::sensitive_token(secret) + " expired");
    CHECK_FALSE(contains(strata::to_json(copy), secret));
}

// ---------------------------------------------------------------------------
// Outside strata, and format specifications

TEST_CASE("a sensitive value formatted outside strata prints only its token", "[sensitive]") {
    fixed_key();
    const std::string secret = "outside-secret-zmxnqpwo";
    CHECK(fmt::format("{}", strata::sensitive(secret)) == strata::sensitive_token(secret));
    CHECK(fmt::format("user {} here", strata::sensitive(secret)) == "user " + strata::sensitive_token(secret) + " here");
    CHECK(fmt::format("{}", strata::sensitive(42)) == strata::sensitive_token("42"));
    // With a format specification: still only a token, of the value as {} prints
    // it (the specification does not change it).
    const std::string padded = fmt::format("{:>30}", strata::sensitive(secret));
    CHECK(padded == strata::sensitive_token(secret));
    CHECK_FALSE(contains(padded, secret));
    CHECK(is_token(fmt::format("{:08x}", strata::sensitive(3054))));
    CHECK(is_token(fmt::format(fmt::runtime("{:>8}"), strata::sensitive(42))));
    // A misc value made from fmt's text of a sensitive value holds the token.
    const strata::error e = strata::make_error<vault_layer>("x").with("who", fmt::format("{}", strata::sensitive(secret)));
    CHECK(e.misc().find("who")->as_string() == strata::sensitive_token(secret));
    CHECK_FALSE(contains(fmt::format("{:v}", e), secret));
}

TEST_CASE("format specifications pass through to the value inside a strata message", "[sensitive]") {
    fixed_key();
    const strata::error e = strata::make_error<login_layer>("id [{:>8}] hex [{:#x}] name [{:<6}] pi [{:.3f}]",
                                                            strata::sensitive(42), strata::sensitive(255),
                                                            strata::sensitive(std::string("bob")), strata::sensitive(3.14159));
    CHECK(e.message(strata::reveal) == "id [      42] hex [0xff] name [bob   ] pi [3.142]");
    const std::string brief = fmt::format("{}", e);
    CHECK(e.message() == brief);
    INFO(brief);
    CHECK(count_of(brief, "<sensitive:") == 4);
    CHECK_FALSE(contains(brief, "      42"));
    CHECK_FALSE(contains(brief, "0xff"));
    CHECK_FALSE(contains(brief, "bob"));
    CHECK_FALSE(contains(brief, "3.142"));
    // Each part shown is exactly one token, of the value as {} prints it: the
    // same token as a misc value of that value.
    CHECK(brief == "id [" + strata::sensitive_token("42") + "] hex [" + strata::sensitive_token("255") + "] name [" +
                       strata::sensitive_token("bob") + "] pi [" + strata::sensitive_token("3.14159") + "]");
    CHECK(contains(fmt::format("{:v}", e), "id [      42] hex [0xff] name [bob   ] pi [3.142]"));
    // Dynamic width, from another argument.
    const strata::error d = strata::make_error<login_layer>("[{:>{}}]", strata::sensitive(7), 5);
    CHECK(d.message(strata::reveal) == "[    7]");
    CHECK(is_token(fmt::format("{}", d).substr(1, 24)));
}

// ---------------------------------------------------------------------------
// Chains

TEST_CASE("wrap over a frame with a sensitive argument: {:c} and the record redact the inner one too", "[sensitive]") {
    fixed_key();
    const std::string path_secret = "/home/qpwoeiruty/keys.db";
    const std::string user_secret = "inner-user-zxmcnvbqpw";
    const strata::error inner = strata::wrap<strata::low_level>(std::make_error_code(std::errc::permission_denied),
                                                                "open {} for {}", strata::sensitive(path_secret),
                                                                strata::sensitive(user_secret))
                                    .with("owner", strata::sensitive(std::string(user_secret)));
    const strata::error middle = strata::wrap<vault_layer>(inner, "unseal the vault");
    const strata::error outer = strata::wrap<login_layer>(middle, "could not sign you in, {}", strata::sensitive(std::string("outer-name-plmokn")));

    const std::string expected_chain = "could not sign you in, " + strata::sensitive_token("outer-name-plmokn") +
                                       ": unseal the vault: open " + strata::sensitive_token(path_secret) + " for " +
                                       strata::sensitive_token(user_secret) + ": Permission denied";
    const exported x = export_all(outer);
    CHECK(x.chain == expected_chain);
    CHECK(contains(x.record, "chain: " + expected_chain));
    for (std::string_view s : {std::string_view(path_secret), std::string_view(user_secret), std::string_view("outer-name-plmokn")}) {
        INFO(s);
        CHECK(contains(x.verbose, s));
        for (const auto& [what, text] : outside(x)) {
            INFO(what);
            CHECK_FALSE(contains(*text, s));
        }
    }
    CHECK(contains(x.verbose, "open " + path_secret + " for " + user_secret));
    CHECK(contains(x.verbose, "owner = \"" + user_secret + "\""));
    CHECK(contains(x.record, "owner = " + strata::sensitive_token(user_secret)));
    // The frame below keeps its own redaction when shown on its own.
    CHECK(fmt::format("{}", inner) == "open " + strata::sensitive_token(path_secret) + " for " + strata::sensitive_token(user_secret));
    // The JSON's frames: each message redacted.
    const auto j = nlohmann::json::parse(x.json);
    REQUIRE(j["strata.frames"].size() == 4);
    CHECK(j["strata.frames"][2]["message"] ==
          "open " + strata::sensitive_token(path_secret) + " for " + strata::sensitive_token(user_secret));
    CHECK(j["strata.chain"] == expected_chain);
}

TEST_CASE("an error formatted into another message with {} or {:c} carries only tokens", "[sensitive]") {
    fixed_key();
    const std::string secret = "nested-arg-secret-qpzm";
    const strata::error inner = strata::make_error<vault_layer>("seal {}", strata::sensitive(secret));
    const strata::error outer = strata::make_error<login_layer>("failed: {} / {:c}", inner, inner);
    CHECK_FALSE(contains(outer.message(), secret));
    const exported x = export_all(outer);
    CHECK_FALSE(contains(x.verbose, secret));
    for (const auto& [what, text] : outside(x)) {
        INFO(what);
        CHECK_FALSE(contains(*text, secret));
    }
}

// {:v} of an error, used as an argument of another strata message, hashes the
// inner sensitive values: the new message could not mark them. ({} and {:c} are
// safe, above; so is a misc value made from an error, which is formatted with {}.)
TEST_CASE("an error formatted with {:v} into another strata message does not leak", "[sensitive]") {
    fixed_key();
    const std::string secret = "verbose-arg-secret-wpqz";
    const strata::error inner = strata::make_error<vault_layer>("seal {}", strata::sensitive(secret));
    const strata::error outer = strata::make_error<login_layer>("failed: {:v}", inner);
    const exported x = export_all(outer);
    CHECK_FALSE(contains(x.verbose, secret));  // the outer message holds only the hash
    CHECK(contains(fmt::format("{:v}", outer), strata::sensitive_token(secret)));
    CHECK(contains(fmt::format("{:v}", inner), secret));  // the inner error still shows it
    for (const auto& [what, text] : outside(x)) {
        INFO(what);
        CHECK_FALSE(contains(*text, secret));
    }
}

// what() is what generic handlers log (catch (const std::exception& e) {
// log(e.what()); }) and what std::terminate prints for an uncaught
// result::value(): it hashes sensitive values.
TEST_CASE("strata::exception::what() does not show a sensitive value", "[sensitive]") {
    fixed_key();
    const std::string secret = "what-secret-qpwzmxnc";
    try {
        strata::throw_error(strata::make_error<login_layer>("wrong password {}", strata::sensitive(secret)));
    } catch (const std::exception& ex) {
        CHECK_FALSE(contains(ex.what(), secret));
        CHECK(contains(ex.what(), strata::sensitive_token(secret)));
    }
}

// ---------------------------------------------------------------------------
// Limits and failures

TEST_CASE("more than 16 sensitive arguments: those past 16 are written as tokens at once", "[sensitive]") {
    fixed_key();
    std::vector<std::string> v;
    for (int i = 0; i < 20; ++i) v.push_back(fmt::format("many-secret-{:02}-qpwzx", i));
    using strata::sensitive;
    const strata::error e = strata::make_error<login_layer>(
        "{} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {}", sensitive(v[0]), sensitive(v[1]), sensitive(v[2]),
        sensitive(v[3]), sensitive(v[4]), sensitive(v[5]), sensitive(v[6]), sensitive(v[7]), sensitive(v[8]),
        sensitive(v[9]), sensitive(v[10]), sensitive(v[11]), sensitive(v[12]), sensitive(v[13]), sensitive(v[14]),
        sensitive(v[15]), sensitive(v[16]), sensitive(v[17]), sensitive(v[18]), sensitive(v[19]));

    std::string all_tokens;
    for (int i = 0; i < 20; ++i) all_tokens += (i ? " " : "") + strata::sensitive_token(v[static_cast<std::size_t>(i)]);
    const exported x = export_all(e);
    CHECK(x.brief == all_tokens);
    CHECK(x.chain == all_tokens);
    CHECK(x.user == all_tokens);
    for (std::size_t i = 0; i < v.size(); ++i) {
        INFO("argument " << i);
        for (const auto& [what, text] : outside(x)) {
            INFO(what);
            CHECK_FALSE(contains(*text, v[i]));
            CHECK(contains(*text, strata::sensitive_token(v[i])));
        }
        CHECK_FALSE(contains(e.message(), v[i]));
        CHECK(contains(e.message(), strata::sensitive_token(v[i])));
        if (i < 16) {
            CHECK(contains(e.message(strata::reveal), v[i]));
            CHECK(contains(x.verbose, v[i]));
        } else {
            // Never raw, even locally.
            CHECK_FALSE(contains(e.message(strata::reveal), v[i]));
            CHECK_FALSE(contains(x.verbose, v[i]));
            CHECK(contains(e.message(strata::reveal), strata::sensitive_token(v[i])));
        }
    }
}

namespace {
// A value whose formatter throws, naming the value in what() (as a careless
// formatter might).
struct card_number {
    std::string digits;
};
}  // namespace

template <>
struct fmt::formatter<card_number> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const card_number& c, Ctx& ctx) const -> decltype(ctx.out()) {
        throw std::runtime_error("cannot print card " + c.digits);
    }
};

// The message says the formatter threw (error_test), but a sensitive value's
// formatter may name the value in what(): that what() is withheld.
TEST_CASE("a sensitive argument whose formatter throws does not leak through what()", "[sensitive]") {
    fixed_key();
    const std::string secret = "4111-qpwz-mxnc-7731";
    const strata::error e = strata::make_error<login_layer>("charging {}", strata::sensitive(card_number{secret}));
    CHECK(contains(e.message(), "an argument's formatter threw strata::sensitive_format_error"));
    CHECK(contains(e.message(), "withheld"));
    CHECK_FALSE(contains(e.message(strata::reveal), secret));
    const exported x = export_all(e);
    CHECK_FALSE(contains(x.verbose, secret));
    for (const auto& [what, text] : outside(x)) {
        INFO(what);
        CHECK_FALSE(contains(*text, secret));
    }
    // Formatted outside strata, it throws that exception too.
    CHECK_THROWS_AS(fmt::format("{}", strata::sensitive(card_number{secret})), strata::sensitive_format_error);
    // As a misc value, its text says what happened and stays a sensitive value.
    strata::error m = strata::make_error("m");
    m.with("card", strata::sensitive(card_number{secret}));
    CHECK(m.misc().find("card")->is_sensitive());
    CHECK_FALSE(contains(fmt::format("{}", *m.misc().find("card")), secret));
    CHECK_FALSE(contains(strata::to_json(m), secret));
}

TEST_CASE("a run-time format string that is invalid does not leak a sensitive argument", "[sensitive]") {
    fixed_key();
    const std::string secret = "runtime-secret-mznxbcqp";
    SECTION("a spec that does not fit a later argument") {
        const strata::error e = strata::make_error<login_layer>(fmt::runtime("{} then {:d}"), strata::sensitive(secret), "not a number");
        const exported x = export_all(e);
        CHECK(contains(e.message(), "invalid format string"));
        CHECK_FALSE(contains(e.message(), secret));
        CHECK_FALSE(contains(x.verbose, secret));
        for (const auto& [what, text] : outside(x)) {
            INFO(what);
            CHECK_FALSE(contains(*text, secret));
        }
    }
    SECTION("a missing argument after the sensitive one") {
        const strata::error e = strata::make_error<login_layer>(fmt::runtime("{} {} {}"), strata::sensitive(secret));
        CHECK(contains(e.message(), "invalid format string"));
        CHECK_FALSE(contains(e.message(), secret));
        const exported x = export_all(e);
        CHECK_FALSE(contains(x.verbose, secret));
        for (const auto& [what, text] : outside(x)) {
            INFO(what);
            CHECK_FALSE(contains(*text, secret));
        }
    }
    SECTION("a spec the sensitive value's own type rejects") {
        const strata::error e = strata::make_error<login_layer>(fmt::runtime("{:d}"), strata::sensitive(secret));
        CHECK(contains(e.message(), "invalid format string"));
        CHECK_FALSE(contains(e.message(), secret));
        const exported x = export_all(e);
        for (const auto& [what, text] : outside(x)) {
            INFO(what);
            CHECK_FALSE(contains(*text, secret));
        }
    }
    SECTION("an unterminated replacement field") {
        const strata::error e = strata::make_error<login_layer>(fmt::runtime("{} {"), strata::sensitive(secret));
        CHECK_FALSE(contains(e.message(), secret));
        CHECK_FALSE(contains(fmt::format("{:v}", e), secret));
    }
}

TEST_CASE("an empty sensitive value is still a token outside, and nothing in message(reveal)", "[sensitive]") {
    fixed_key();
    const strata::error e = strata::make_error<login_layer>("[{}]", strata::sensitive(std::string()));
    CHECK(e.message(strata::reveal) == "[]");
    CHECK(e.message() == "[" + strata::sensitive_token("") + "]");
    CHECK(fmt::format("{}", e) == "[" + strata::sensitive_token("") + "]");
}

// message() is what code logs, and what a migration from what() or
// Status::message() uses: a migrated `LOG << e.message()` writes no secret.
// Hashed when the error is made, under the key in force then: it agrees with {}
// and handle() whatever the key does later, and reading it allocates nothing.
TEST_CASE("message() hashes sensitive arguments as {} and what() do, and message(reveal) does not", "[sensitive]") {
    fixed_key();
    const std::string secret = "logged-secret-zqxpwmvn";
    const strata::wrapped_error<login_layer> e =
        strata::make_error<login_layer>("card {} declined for {}", strata::sensitive(secret), "bob");
    const std::string shown = "card " + strata::sensitive_token(secret) + " declined for bob";
    CHECK(e.message() == shown);
    CHECK_FALSE(contains(e.message(), secret));
    CHECK(e.message() == fmt::format("{}", e));
    CHECK(e.message().data()[e.message().size()] == '\0');  // a C string, as what() needs
    CHECK(e.message(strata::reveal) == "card " + secret + " declined for bob");
    CHECK(strata::exception(e).what() == shown);
    // The key changes later: message() stays what {} and handle() show.
    strata::set_sensitive_key("another key, set later");
    CHECK(e.message() == shown);
    CHECK(e.message() == fmt::format("{}", e));
    fixed_key();
    // Through a chain: each frame's message() is hashed.
    const strata::error outer = strata::wrap<vault_layer>(e, "checkout of {}", strata::sensitive(std::string("cart-77")));
    CHECK(outer.message() == "checkout of " + strata::sensitive_token("cart-77"));
    CHECK(outer.inner().message() == shown);
    // A message without sensitive values is the same either way.
    const strata::error plain = strata::make_error("no secrets {}", 1);
    CHECK(plain.message() == "no secrets 1");
    CHECK(plain.message(strata::reveal).data() == plain.message().data());
    CHECK(strata::error{}.message().empty());
    CHECK(strata::error{}.message(strata::reveal).empty());
}

// ---------------------------------------------------------------------------
// The property

namespace {

struct secret_chain {
    strata::error e;
    std::vector<std::string> secrets;  // the text of every sensitive value in the chain
};

secret_chain make_secret_chain(std::mt19937& rng) {
    auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<std::uint32_t>(n)); };
    auto letters = [&] {
        std::string s(16, 'a');
        for (char& c : s) c = static_cast<char>('a' + pick(26));
        return s;
    };
    auto big_number = [&] {
        // 16 to 18 digits: never inside a 12-digit token or an address.
        return static_cast<std::int64_t>(1'000'000'000'000'000LL + static_cast<std::int64_t>(rng()) * 1'000'003LL +
                                         pick(1'000'000));
    };
    secret_chain c;
    auto note = [&](std::string s) {
        c.secrets.push_back(s);
        return s;
    };
    auto add_misc = [&](strata::error& e) {
        for (int m = pick(3); m > 0; --m) {
            switch (pick(4)) {
                case 0: e.with("plain", "plain value"); break;
                case 1: e.with("secret", strata::sensitive(note(letters()))); break;
                case 2: {
                    const std::int64_t n = big_number();
                    note(std::to_string(n));
                    e.with("number", strata::sensitive(n));
                    break;
                }
                default: e.with("other", strata::sensitive(std::string_view(note(letters())))); break;
            }
        }
    };
    switch (pick(4)) {
        case 0:
            c.e = strata::make_error<strata::low_level>("read {} at {}", strata::sensitive(note(letters())), 7);
            break;
        case 1:
            c.e = strata::wrap<strata::low_level>(std::make_error_code(std::errc::io_error), "open {}",
                                                  strata::sensitive(note("/srv/" + letters())));
            break;
        case 2:
            c.e = strata::wrap(std::string("plain root cause"), "token {} and {}", strata::sensitive(note(letters())),
                               strata::sensitive(note(letters())));
            break;
        default: {
            const std::int64_t n = big_number();
            note(std::to_string(n));
            c.e = strata::make_error<vault_layer>("account {:>20}", strata::sensitive(n));
            break;
        }
    }
    add_misc(c.e);
    for (int level = 1 + pick(5); level > 0; --level) {
        const bool with_secret = pick(2) == 0;
        switch (pick(5)) {
            case 0:
                c.e = with_secret ? strata::wrap<login_layer>(c.e, "sign-in failed for {}", strata::sensitive(note(letters())))
                                  : strata::wrap<login_layer>(c.e, "sign-in failed");
                break;
            case 1:
                c.e = with_secret ? strata::wrap<vault_layer>(c.e, "vault {} sealed", strata::sensitive(note(letters())))
                                  : strata::wrap<vault_layer>(c.e, "vault sealed");
                break;
            case 2:
                c.e = with_secret ? strata::wrap<strata::intermediate>(c.e, "{}: try again", strata::sensitive(note(letters())))
                                  : strata::wrap<strata::intermediate>(c.e, "try again");
                break;
            case 3: c.e = strata::wrap<strata::low_level>(c.e, "retry {} of 3", level); break;
            default:
                c.e = with_secret ? strata::wrap(c.e, "{}{}", strata::sensitive(note(letters())), strata::sensitive(note(letters())))
                                  : strata::wrap(c.e, "untagged");
                break;
        }
        add_misc(c.e);
    }
    return c;
}

}  // namespace

TEST_CASE("over generated chains, no sensitive value leaves the process, and {:v} shows each", "[sensitive][property]") {
    fixed_key();
    std::mt19937 rng(20261127);
    int with_user_facing_top = 0, secrets_checked = 0;
    for (int n = 0; n < 400; ++n) {
        const secret_chain c = make_secret_chain(rng);
        INFO("chain " << n << ": " << fmt::format("{:v}", c.e));
        if (c.e.is_user_facing()) ++with_user_facing_top;
        const exported x = export_all(c.e);
        for (const std::string& s : c.secrets) {
            INFO("secret " << s);
            ++secrets_checked;
            REQUIRE(contains(x.verbose, s));
            for (const auto& [what, text] : outside(x)) {
                INFO(what);
                REQUIRE_FALSE(contains(*text, s));
            }
            // Its token is there instead, in the record and in the JSON.
            REQUIRE((contains(x.record, strata::sensitive_token(s)) ||
                     contains(x.record, strata::sensitive_token(fmt::format("{:>20}", s)))));
            REQUIRE((contains(x.json, strata::sensitive_token(s)) ||
                     contains(x.json, strata::sensitive_token(fmt::format("{:>20}", s)))));
        }
    }
    CHECK(with_user_facing_top > 50);
    CHECK(secrets_checked > 1000);
}

TEST_CASE("a sensitive misc value read back and added again, or formatted, stays hashed", "[sensitive]") {
    fixed_key();
    const std::string card = "4111-2222-3333-4444";
    const strata::error e = strata::make_error<vault_layer>("charge failed").with("card", strata::sensitive(card));
    const strata::misc_value v = *e.misc().find("card");
    REQUIRE(v.is_sensitive());
    // Passed on to another frame: still sensitive.
    const strata::error w = strata::wrap<login_layer>(e, "payment failed").with("card", v);
    REQUIRE(w.misc().find("card")->is_sensitive());
    CHECK_FALSE(contains(strata::to_json(w), card));
    // Formatted on its own, or into another message: only its token.
    CHECK(fmt::format("{}", v) == strata::sensitive_token(card));
    const strata::error m = strata::wrap<login_layer>(e, "payment failed for {}", v);
    CHECK_FALSE(contains(strata::to_json(m), card));
    CHECK(m.message() == "payment failed for " + strata::sensitive_token(card));
}

TEST_CASE("a sensitive float hashes alike in a message and in misc", "[sensitive]") {
    fixed_key();
    const strata::error e = strata::make_error<vault_layer>("rate {}", strata::sensitive(0.1f)).with("rate", strata::sensitive(0.1f));
    const std::string token = strata::sensitive_token("0.1");
    CHECK(fmt::format("{}", e) == "rate " + token);
    CHECK(contains(strata::to_json(e), "\"value\":\"" + token + "\""));
    // A double keeps its kind.
    const strata::error d = strata::make_error<vault_layer>("x").with("ratio", strata::sensitive(0.25));
    CHECK(d.misc().find("ratio")->type() == strata::misc_value::kind::floating_point);
    CHECK(contains(strata::to_json(d), strata::sensitive_token("0.25")));
}

TEST_CASE("a sensitive value inside a secondary error is hashed wherever it leaves the process", "[sensitive][secondary]") {
    fixed_key();
    const std::string secret = "s3cret-in-a-secondary";
    const strata::error s = strata::make_error<vault_layer>("unlock with {} failed", strata::sensitive(secret))
                                .with("key", strata::sensitive(secret));
    const strata::error e = strata::make_error<login_layer>("login failed").with_secondary("stopped because", s);
    const exported x = export_all(e);
    CHECK(contains(x.verbose, secret));  // local {:v} only
    for (const auto& [what, text] : outside(x)) {
        INFO(what << ": " << *text);
        CHECK_FALSE(contains(*text, secret));
    }
    // The record and the JSON carry the secondary, with the hash in place of the value.
    CHECK(count_of(x.record, strata::sensitive_token(secret)) == 2);
    CHECK(count_of(x.json, strata::sensitive_token(secret)) >= 2);
}
