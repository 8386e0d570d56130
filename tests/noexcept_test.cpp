// The core of strata built with -fno-exceptions (the noexcept preset): errors,
// layers and causes, misc entries, find, results and STRATA_TRY, handle() and
// formatting, and the concurrency API (task groups on the worker pool, the
// timer behind with_timeout, first_of's replicas), all without a try or a
// throw. Built only when STRATA_NO_EXCEPTIONS
// is on; Catch2 runs with CATCH_CONFIG_DISABLE_EXCEPTIONS (its main is
// test_main.cpp, whose default Catch::throw_exception prints and terminates).
//
// Not tested: result::value() on a failed result, which without exceptions
// prints the message to stderr and aborts (throw_error in exception.hpp).
#include <catch2/catch.hpp>
#include <strata/cancel.hpp>
#include <strata/config.hpp>
#include <strata/error.hpp>
#include <strata/exception.hpp>
#include <strata/format.hpp>
#include <strata/handle.hpp>
#include <strata/layer.hpp>
#include <strata/location.hpp>
#include <strata/misc.hpp>
#include <strata/result.hpp>
#include <strata/stack.hpp>
#include <strata/task_group.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <fmt/ranges.h>  // a std::vector as a formattable misc value

static_assert(STRATA_HAS_EXCEPTIONS == 0, "noexcept_test is built with -fno-exceptions");
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
#error "noexcept_test must be built with -fno-exceptions"
#endif
#ifndef CATCH_CONFIG_DISABLE_EXCEPTIONS
#error "noexcept_test needs Catch2's CATCH_CONFIG_DISABLE_EXCEPTIONS"
#endif

namespace {

struct storage_layer {  // not user-facing
    static constexpr std::string_view name = "noexcept_test.storage";
};

struct checkout_layer {
    static constexpr std::string_view name = "noexcept_test.checkout";
    static constexpr bool user_facing = true;
};

bool contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }
std::string msg(const strata::error& e) { return std::string(e.message()); }

const std::string enoent = std::make_error_code(std::errc::no_such_file_or_directory).message();

// A three-layer chain: checkout (user-facing) over storage over a std::error_code.
const int open_line = __LINE__ + 3;
strata::wrapped_error<storage_layer> open_failure(std::string_view path) {
    const std::error_code ec = std::make_error_code(std::errc::no_such_file_or_directory);
    return strata::wrap<storage_layer>(ec, "open {}", path).with("path", path).with("attempt", 3);
}
strata::error checkout_failure() {
    return strata::wrap<checkout_layer>(open_failure("/srv/cart"), "your cart could not be loaded");
}

// What a per-call sink saw, copied out of the log_record.
struct seen {
    int calls = 0;
    std::string id;
    std::string text;
    bool is_bug = false;
    std::string user_message;
    strata::error err;
};

}  // namespace

// ---------------------------------------------------------------------------
// The build itself

TEST_CASE("this build has no exceptions, and strata knows it", "[noexcept][config]") {
    CHECK(STRATA_HAS_EXCEPTIONS == 0);
}

// ---------------------------------------------------------------------------
// make_error and wrap

TEST_CASE("make_error formats its message and records its layer and call site", "[noexcept][error]") {
    const int line = __LINE__ + 1;
    const auto e = strata::make_error<checkout_layer>("order {} failed after {} tries", 17, 2);
    REQUIRE(e);
    CHECK(msg(e) == "order 17 failed after 2 tries");
    CHECK(e.is<checkout_layer>());
    CHECK_FALSE(e.is<storage_layer>());
    CHECK(e.layer().name == "noexcept_test.checkout");
    CHECK(e.is_user_facing());
    CHECK(e.depth() == 1);
    CHECK_FALSE(e.inner());
    CHECK(e.location().line() == static_cast<std::uint_least32_t>(line));
    CHECK(contains(e.location().file_name(), "noexcept_test.cpp"));

    const auto plain = strata::make_error("no layer");
    CHECK(plain.is<strata::untagged>());
    CHECK_FALSE(plain.is_user_facing());
}

TEST_CASE("make_error captures the origin stack without exceptions", "[noexcept][error][stack]") {
    const strata::capture_policy saved = strata::get_capture_policy();
    strata::set_capture_policy(strata::capture_policy::origin);
    const auto e = strata::make_error("with a stack");
    CHECK_FALSE(e.stack().empty());
    strata::set_capture_policy(strata::capture_policy::off);
    const auto bare = strata::make_error("without");
    CHECK(bare.stack().empty());
    strata::set_capture_policy(saved);
}

TEST_CASE("wrap over a std::error_code makes it the root cause", "[noexcept][error]") {
    const strata::error e = open_failure("/srv/data");
    CHECK(msg(e) == "open /srv/data");
    CHECK(e.is<storage_layer>());
    REQUIRE(e.depth() == 2);
    const strata::error root = e.inner();
    CHECK(msg(root) == enoent);
    CHECK(root.layer().name == "std::error_code");
    CHECK(root.layer().is_cause);
    CHECK(root.cause_detail() == "generic:2");
    const std::error_code* ec = e.inner_as<std::error_code>();
    REQUIRE(ec != nullptr);
    CHECK(*ec == std::errc::no_such_file_or_directory);
}

TEST_CASE("wrap takes an error-code enum, a string, a formattable value and a std::exception object",
          "[noexcept][error]") {
    const auto from_enum = strata::wrap<storage_layer>(std::errc::permission_denied, "chmod");
    REQUIRE(from_enum.inner_as<std::error_code>() != nullptr);
    CHECK(*from_enum.inner_as<std::error_code>() == std::errc::permission_denied);

    const auto from_string = strata::wrap(std::string("disk full"), "write {}", "log");
    CHECK(msg(from_string) == "write log");
    CHECK(msg(from_string.inner()) == "disk full");
    REQUIRE(from_string.inner_as<std::string>() != nullptr);
    CHECK(*from_string.inner_as<std::string>() == "disk full");

    const auto from_value = strata::wrap(404, "fetch");
    REQUIRE(from_value.inner_as<int>() != nullptr);
    CHECK(*from_value.inner_as<int>() == 404);
    CHECK(msg(from_value.inner()) == "404");

    // An exception object is a value like any other: made, never thrown.
    const auto from_exception_object = strata::wrap(std::runtime_error("socket closed"), "send");
    CHECK(msg(from_exception_object.inner()) == "socket closed");
    CHECK(contains(from_exception_object.inner().cause_detail(), "runtime_error"));
}

TEST_CASE("a strata::exception object gives back the chain it carries", "[noexcept][error][exception]") {
    const strata::error carried = strata::make_error<storage_layer>("carried");
    const strata::exception ex(carried);
    CHECK(std::string_view(ex.what()) == "carried");
    const strata::error wrapped = strata::wrap(ex, "outer");
    CHECK(wrapped.inner().same_as(carried));
    CHECK(wrapped.depth() == 2);
}

TEST_CASE("an exception_ptr without exceptions: a root cause that says so", "[noexcept][error][exception]") {
    // No catch block: the current exception is null, which gives an empty error.
    CHECK_FALSE(strata::from_exception());
    CHECK_FALSE(strata::from_exception(std::exception_ptr()));

    const std::exception_ptr p = std::make_exception_ptr(std::runtime_error("never thrown"));
    REQUIRE(p);  // libstdc++ makes one without throwing
    const strata::error e = strata::from_exception(p);
    REQUIRE(e);
    CHECK(msg(e) == "std::exception_ptr (exceptions are disabled)");
    CHECK(e.layer().name == "exception");
    REQUIRE(e.inner_as<std::exception_ptr>() != nullptr);
    CHECK(*e.inner_as<std::exception_ptr>() == p);

    const auto w = strata::wrap<storage_layer>(p, "load");
    CHECK(msg(w.inner()) == "std::exception_ptr (exceptions are disabled)");
}

TEST_CASE("wrap over strata errors: shared from an lvalue, taken from an rvalue", "[noexcept][error]") {
    const strata::error low = strata::make_error<strata::low_level>("root");
    const strata::error mid = strata::wrap<storage_layer>(low, "mid");
    CHECK(mid.inner().same_as(low));
    CHECK(msg(low) == "root");  // untouched

    strata::error moved = strata::make_error("moved");
    const strata::error keep = moved;
    const strata::error top = strata::wrap<checkout_layer>(std::move(moved), "top");
    CHECK_FALSE(moved);  // NOLINT(bugprone-use-after-move): a moved-from error is empty
    CHECK(top.inner().same_as(keep));

    const strata::error chain = checkout_failure();
    CHECK(chain.depth() == 3);
    CHECK(msg(chain) == "your cart could not be loaded");
    CHECK(msg(chain.inner()) == "open /srv/cart");
    CHECK(msg(chain.inner().inner()) == enoent);
}

TEST_CASE("an empty error", "[noexcept][error]") {
    const strata::error e;
    CHECK_FALSE(e);
    CHECK(e.empty());
    CHECK(e.message().empty());
    CHECK(e.layer().name == "(no error)");
    CHECK(e.depth() == 0);
    CHECK(e.misc().empty());
}

// ---------------------------------------------------------------------------
// misc entries

TEST_CASE("misc entries keep their type and their order", "[noexcept][misc]") {
    const auto e = strata::make_error("m")
                       .with("user", "ann")
                       .with("attempt", 3)
                       .with("bytes", std::uint64_t{1} << 40)
                       .with("ratio", 0.5)
                       .with("retry", false)
                       .with("codes", std::vector<int>{1, 2});
    const strata::misc_view m = e.misc();
    REQUIRE(m.size() == 6);

    std::vector<std::string> keys;
    for (const strata::misc_entry& entry : m) keys.emplace_back(entry.key);
    CHECK(keys == std::vector<std::string>{"user", "attempt", "bytes", "ratio", "retry", "codes"});

    CHECK(m.find("user")->type() == strata::misc_value::kind::string);
    CHECK(m.find("user")->as_string() == "ann");
    CHECK(m.find("attempt")->as_signed() == 3);
    CHECK(m.find("bytes")->as_unsigned() == (std::uint64_t{1} << 40));
    CHECK(m.find("ratio")->as_double() == 0.5);
    CHECK(m.find("retry")->type() == strata::misc_value::kind::boolean);
    CHECK_FALSE(m.find("retry")->as_bool());
    CHECK(m.find("codes")->as_string() == "[1, 2]");  // formatted by fmt
    CHECK_FALSE(m.find("missing").has_value());
    CHECK(m.find("user")->as_signed() == 0);  // another kind's accessor: zero
}

TEST_CASE("with() on a shared error copies it first", "[noexcept][misc]") {
    strata::error a = strata::make_error("shared");
    const strata::error b = a;
    a.with("k", 1);
    CHECK(a.misc().size() == 1);
    CHECK(b.misc().empty());
    CHECK_FALSE(a.same_as(b));
    CHECK(msg(a) == msg(b));

    strata::error empty;
    empty.with("k", 1);
    CHECK_FALSE(empty);
}

// ---------------------------------------------------------------------------
// find<L>

TEST_CASE("find<L> gives the outermost frame of layer L, sharing the chain below", "[noexcept][find]") {
    const strata::error chain = checkout_failure();
    const auto storage = strata::find<storage_layer>(chain);
    REQUIRE(storage.has_value());
    CHECK(msg(*storage) == "open /srv/cart");
    CHECK(storage->misc().find("path")->as_string() == "/srv/cart");
    CHECK(storage->misc().find("attempt")->as_signed() == 3);
    CHECK(storage->same_as(chain.inner()));
    static_assert(std::is_same_v<decltype(storage)::value_type, strata::wrapped_error<storage_layer>>);

    const auto top = strata::find<checkout_layer>(chain);
    REQUIRE(top.has_value());
    CHECK(top->same_as(chain));

    CHECK_FALSE(strata::find<strata::low_level>(chain).has_value());
    CHECK_FALSE(strata::find<storage_layer>(strata::error()).has_value());
}

// ---------------------------------------------------------------------------
// result<T> and result<void>

namespace {

strata::result<int> parse_port(std::string_view s) {
    if (s.empty()) return strata::make_error<storage_layer>("empty port");
    int v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return strata::make_error<storage_layer>("bad port \"{}\"", s);
        v = v * 10 + (c - '0');
    }
    return v;
}

strata::result<void> check_port(int port) {
    if (port == 0 || port > 65535) return strata::make_error<storage_layer>("port {} out of range", port);
    return {};
}

// STRATA_TRY_ASSIGN into a declaration, STRATA_TRY on result<void>.
strata::result<std::string> endpoint(std::string_view host, std::string_view port) {
    STRATA_TRY_ASSIGN(const int p, parse_port(port));
    STRATA_TRY(check_port(p));
    return fmt::format("{}:{}", host, p);
}

// STRATA_TRY_ASSIGN into an existing variable, from a named result.
strata::result<int> sum_ports(std::string_view a, std::string_view b) {
    int first = 0;
    strata::result<int> ra = parse_port(a);
    STRATA_TRY_ASSIGN(first, ra);
    STRATA_TRY_ASSIGN(int second, parse_port(b));
    return first + second;
}

// STRATA_TRY in a function that returns a plain error.
strata::error validate(std::string_view port) {
    STRATA_TRY(parse_port(port));
    return {};
}

}  // namespace

TEST_CASE("result<int>: a value or an error", "[noexcept][result]") {
    strata::result<int> ok = 42;
    CHECK(ok.has_value());
    CHECK(static_cast<bool>(ok));
    CHECK(ok.value() == 42);  // value() on a value: no throw needed
    CHECK(*ok == 42);
    CHECK_FALSE(ok.error());

    const strata::error e = strata::make_error<storage_layer>("no");
    strata::result<int> bad = e;
    CHECK_FALSE(bad.has_value());
    CHECK(bad.error().same_as(e));
    CHECK(bad.value_or(7) == 7);
    CHECK(ok.value_or(7) == 42);

    // A moved-from failed result is still failed.
    strata::result<int> taken = std::move(bad);
    CHECK_FALSE(taken);
    CHECK_FALSE(bad.has_value());  // NOLINT(bugprone-use-after-move)
    CHECK(taken.error().same_as(e));
}

TEST_CASE("result: an empty error as a failure is replaced by one that says so", "[noexcept][result]") {
    const strata::result<int> r = strata::error();
    REQUIRE_FALSE(r.has_value());
    CHECK(contains(r.error().message(), "empty strata::error"));
}

TEST_CASE("result<std::string>: value_or, and_then, transform, or_else", "[noexcept][result]") {
    const strata::result<std::string> ok = std::string(100, 'x');
    const strata::result<std::string> bad = strata::make_error("nothing");

    CHECK(ok.value_or("fallback") == std::string(100, 'x'));
    CHECK(bad.value_or("fallback") == "fallback");

    const auto len = ok.transform([](const std::string& s) { return s.size(); });
    static_assert(std::is_same_v<decltype(len), const strata::result<std::size_t>>);
    REQUIRE(len);
    CHECK(*len == 100);
    const auto bad_len = bad.transform([](const std::string& s) { return s.size(); });
    REQUIRE_FALSE(bad_len);
    CHECK(bad_len.error().same_as(bad.error()));

    const auto half = [](std::size_t n) -> strata::result<std::size_t> {
        if (n % 2) return strata::make_error("odd: {}", n);
        return n / 2;
    };
    CHECK(len.and_then(half).value_or(0) == 50);
    const strata::result<std::size_t> odd = 7;
    const auto odd_half = odd.and_then(half);
    REQUIRE_FALSE(odd_half);
    CHECK(msg(odd_half.error()) == "odd: 7");
    CHECK(bad_len.and_then(half).error().same_as(bad.error()));

    int called = 0;
    const auto to_void = ok.transform([&](const std::string&) { ++called; });
    static_assert(std::is_same_v<decltype(to_void), const strata::result<void>>);
    CHECK(to_void);
    CHECK(called == 1);

    const auto recovered = bad.or_else([](const strata::error& e) -> strata::result<std::string> {
        return std::string("recovered from ") + msg(e);
    });
    CHECK(recovered.value_or("") == "recovered from nothing");
    CHECK(ok.or_else([](const strata::error&) -> strata::result<std::string> { return std::string("no"); })
              .value_or("") == std::string(100, 'x'));
}

TEST_CASE("result<void>: success, failure, and_then, transform", "[noexcept][result]") {
    const strata::result<void> ok;
    CHECK(ok.has_value());
    ok.value();  // a no-op on success
    const strata::result<void> bad = strata::make_error<storage_layer>("write failed");
    CHECK_FALSE(bad);
    CHECK(msg(bad.error()) == "write failed");

    CHECK(ok.transform([] { return 5; }).value_or(0) == 5);
    CHECK(bad.transform([] { return 5; }).value_or(0) == 0);
    CHECK(ok.and_then([]() -> strata::result<int> { return 6; }).value_or(0) == 6);
    const auto chained = bad.and_then([]() -> strata::result<int> { return 6; });
    REQUIRE_FALSE(chained);
    CHECK(chained.error().same_as(bad.error()));
    CHECK(bad.or_else([](const strata::error&) -> strata::result<void> { return {}; }).has_value());
}

TEST_CASE("STRATA_TRY and STRATA_TRY_ASSIGN pass failures up and values on", "[noexcept][result][try]") {
    SECTION("success") {
        const auto ep = endpoint("db", "5432");
        REQUIRE(ep);
        CHECK(*ep == "db:5432");
        CHECK(sum_ports("80", "443").value_or(0) == 523);
        CHECK_FALSE(validate("8080"));
    }
    SECTION("a failure of STRATA_TRY_ASSIGN returns its error") {
        const auto ep = endpoint("db", "54x");
        REQUIRE_FALSE(ep);
        CHECK(msg(ep.error()) == "bad port \"54x\"");
        CHECK(ep.error().is<storage_layer>());
    }
    SECTION("a failure of STRATA_TRY on result<void> returns its error") {
        const auto ep = endpoint("db", "99999");
        REQUIRE_FALSE(ep);
        CHECK(msg(ep.error()) == "port 99999 out of range");
    }
    SECTION("a named result's error is shared, not taken") {
        const auto sum = sum_ports("x", "1");
        REQUIRE_FALSE(sum);
        CHECK(msg(sum.error()) == "bad port \"x\"");
        const auto second = sum_ports("1", "");
        REQUIRE_FALSE(second);
        CHECK(msg(second.error()) == "empty port");
    }
    SECTION("in a function returning a plain error") {
        const strata::error e = validate("");
        REQUIRE(e);
        CHECK(msg(e) == "empty port");
    }
}

namespace {
// A boundary's wrap in one expression: result::wrap, wrap_lazy, with, STRATA_TRY_WRAP(_ASSIGN).
strata::result<int> port_of(std::string_view s) {
    return parse_port(s).wrap<storage_layer>("port of \"{}\"", s);
}
strata::result<std::string> endpoint_wrapped(std::string_view host, std::string_view port) {
    STRATA_TRY_WRAP_ASSIGN(const int p, storage_layer, parse_port(port), "endpoint {}", host);
    STRATA_TRY_WRAP(storage_layer, check_port(p).with("port", p), "endpoint {} checked", host);
    return fmt::format("{}:{}", host, p);
}
}  // namespace

TEST_CASE("result::wrap and STRATA_TRY_WRAP wrap a failure in one expression", "[noexcept][result][try]") {
    CHECK(port_of("80").value_or(0) == 80);
    CHECK(fmt::format("{:c}", port_of("").error()) == "port of \"\": empty port");
    int calls = 0;
    const auto lazy = check_port(0).wrap_lazy<storage_layer>([&] { return ++calls; });
    CHECK(calls == 1);
    CHECK(msg(lazy.error()) == "1");
    CHECK(check_port(1).wrap_lazy<storage_layer>([&] { return ++calls; }).has_value());
    CHECK(calls == 1);
    CHECK(endpoint_wrapped("db", "5432").value_or("") == "db:5432");
    CHECK(fmt::format("{:c}", endpoint_wrapped("db", "x").error()) == "endpoint db: bad port \"x\"");
    const auto range = endpoint_wrapped("db", "99999");
    CHECK(fmt::format("{:c}", range.error()) == "endpoint db checked: port 99999 out of range");
    CHECK(range.error().inner().misc().begin() != range.error().inner().misc().end());
}

// ---------------------------------------------------------------------------
// handle() with a per-call sink

TEST_CASE("handle(): a user-facing error is a known edge case, logged once to the call's sink",
          "[noexcept][handle]") {
    seen s;
    const strata::log_sink sink = [&s](const strata::log_record& r) {
        ++s.calls;
        s.id = std::string(r.id);
        s.text = std::string(r.text);
        s.is_bug = r.rep.is_bug;
        s.user_message = r.rep.user_message;
        s.err = r.err;
    };
    strata::handle_options options;
    options.sink = &sink;

    const strata::error e = checkout_failure();
    const strata::report r = strata::handle(e, options);
    CHECK_FALSE(r.is_bug);
    CHECK(r.user_message == "your cart could not be loaded");
    REQUIRE(r.id.size() > 11);
    CHECK(r.id[10] == '-');
    CHECK(fmt::format("{}", r) == "[" + r.id + "] your cart could not be loaded");

    REQUIRE(s.calls == 1);
    CHECK(s.id == r.id);
    CHECK(s.err.same_as(e));
    CHECK_FALSE(s.is_bug);
    CHECK(s.user_message == r.user_message);
    INFO(s.text);
    CHECK(contains(s.text, "[" + r.id + "] "));
    CHECK(contains(s.text, "known edge case"));
    CHECK(contains(s.text, "user saw: [" + r.id + "] your cart could not be loaded"));
    CHECK(contains(s.text, "chain: your cart could not be loaded: open /srv/cart: " + enoent));
    CHECK(contains(s.text, "noexcept_test.storage"));
    CHECK(s.text.back() == '\n');

    // The same error again: the same ID, nothing logged.
    const strata::report again = strata::handle(e, options);
    CHECK(again.id == r.id);
    CHECK(s.calls == 1);
}

TEST_CASE("handle(): a bug shows the bug message, the default or the call's own", "[noexcept][handle]") {
    int calls = 0;
    std::string text;
    const strata::log_sink sink = [&](const strata::log_record& r) {
        ++calls;
        text = std::string(r.text);
    };
    strata::handle_options options;
    options.sink = &sink;

    const strata::report bug = strata::handle(open_failure("/etc/app.conf"), options);
    CHECK(bug.is_bug);
    CHECK(bug.user_message == strata::default_bug_message);
    CHECK(calls == 1);
    CHECK(contains(text, " bug\n"));
    CHECK(contains(text, "\"noexcept_test.storage\" is not user-facing"));

    options.bug_message = "Something broke; call us.";
    const strata::report custom = strata::handle(strata::make_error("internal"), options);
    CHECK(custom.is_bug);
    CHECK(custom.user_message == "Something broke; call us.");
    CHECK(custom.id != bug.id);
    CHECK(calls == 2);

    const strata::report empty = strata::handle(strata::error(), options);
    CHECK(empty.is_bug);
    CHECK(calls == 3);
    CHECK(contains(text, "handle() was given an empty strata::error"));
}

// ---------------------------------------------------------------------------
// Formatting

TEST_CASE("{} is the outermost message, {:c} the chain", "[noexcept][format]") {
    const strata::error chain = checkout_failure();
    CHECK(fmt::format("{}", chain) == "your cart could not be loaded");
    CHECK(fmt::format("{:c}", chain) == "your cart could not be loaded: open /srv/cart: " + enoent);
    CHECK(fmt::format("{:c}", chain.inner()) == "open /srv/cart: " + enoent);

    const auto typed = strata::make_error<storage_layer>("typed {}", 1);
    CHECK(fmt::format("{} / {:c}", typed, typed) == "typed 1 / typed 1");

    CHECK(fmt::format("{}", strata::error()) == "(no error)");
    CHECK(fmt::format("{}", strata::misc_value::of_signed(-4)) == "-4");
}

TEST_CASE("{:v} is the full record", "[noexcept][format]") {
    const strata::capture_policy saved = strata::get_capture_policy();
    strata::set_capture_policy(strata::capture_policy::origin);
    const strata::error chain = checkout_failure();
    strata::set_capture_policy(saved);

    const std::string v = fmt::format("{:v}", chain);
    INFO(v);
    CHECK(contains(v, "noexcept_test.checkout"));
    CHECK(contains(v, "[user-facing]"));
    CHECK(contains(v, "noexcept_test.storage"));
    CHECK(contains(v, "your cart could not be loaded"));
    CHECK(contains(v, "open /srv/cart"));
    CHECK(contains(v, "path = \"/srv/cart\""));
    CHECK(contains(v, "attempt = 3"));
    CHECK(contains(v, "std::error_code"));
    CHECK(contains(v, "generic:2"));
    CHECK(contains(v, fmt::format("noexcept_test.cpp:{}", open_line)));
    // Outermost first.
    CHECK(v.find("your cart could not be loaded") < v.find("open /srv/cart"));
    // The origin stack, symbolized, starts in the function that made the root cause.
    CHECK(contains(v, "stack of #"));
    CHECK(contains(v, "open_failure"));
}

// ---------------------------------------------------------------------------
// Concurrency: the pool's and the timer's threads are started without
// std::thread (whose failure would be a throw, and here an abort).

TEST_CASE("a task group on the worker pool: more tasks than CPUs, one failure stops the rest",
          "[noexcept][task_group]") {
    const unsigned n = 4 * (std::thread::hardware_concurrency() ? std::thread::hardware_concurrency() : 2) + 4;
    std::mutex m;
    std::condition_variable_any cv;
    unsigned started = 0;
    std::atomic<int> canceled{0};
    strata::task_group g;
    for (unsigned i = 0; i < n; ++i)
        g.spawn([&](std::stop_token token) -> strata::result<void> {
            {
                std::unique_lock lock(m);
                ++started;
                cv.notify_all();
                // Every task is running at once (the pool grew past one thread
                // per CPU), until the failure below stops them.
                cv.wait(lock, token, [] { return false; });
            }
            if (token.stop_requested()) ++canceled;
            return {};
        });
    {
        std::unique_lock lock(m);
        cv.wait(lock, [&] { return started == n; });
    }
    g.spawn([&](std::stop_token) -> strata::result<void> {
        return strata::make_error<storage_layer>("disk {} failed", 3);
    });
    const strata::result<void> r = g.wait();
    REQUIRE_FALSE(r.has_value());
    CHECK(msg(r.error()) == "disk 3 failed");
    CHECK(canceled == static_cast<int>(n));
    CHECK(strata::thread_pool_stats().start_failures == 0);
}

TEST_CASE("with_timeout: the timer stops a slow call, and a quick one keeps its value", "[noexcept][cancel]") {
    using namespace std::chrono_literals;
    const strata::result<int> slow = strata::with_timeout(20ms, [](std::stop_token token) -> strata::result<int> {
        std::mutex m;
        std::condition_variable_any cv;
        std::unique_lock lock(m);
        cv.wait(lock, token, [] { return false; });
        return 1;
    });
    REQUIRE_FALSE(slow.has_value());
    CHECK(slow.error().is<strata::timed_out>());

    const strata::result<int> quick =
        strata::with_timeout(10s, [](std::stop_token) -> strata::result<int> { return 42; });
    REQUIRE(quick.has_value());
    CHECK(*quick == 42);
}

TEST_CASE("first_of: the first success wins, the others are stopped", "[noexcept][cancel]") {
    auto slow = [](std::stop_token token) -> strata::result<int> {
        std::mutex m;
        std::condition_variable_any cv;
        std::unique_lock lock(m);
        cv.wait(lock, token, [] { return false; });
        return strata::make_error<strata::canceled>("stopped");
    };
    const strata::result<int> r = strata::first_of(slow, [](std::stop_token) -> strata::result<int> { return 7; }, slow);
    REQUIRE(r.has_value());
    CHECK(*r == 7);
}
