// <strata/grpc.hpp> over a real gRPC connection on 127.0.0.1: a strata server
// (tests/grpc/probe_service.hpp) and a client in the same process, so that the
// test sees the server's records and the client's in one sink.
#include <catch2/catch.hpp>

#include "probe_service.hpp"

#include <strata/task_group.hpp>

#include <fmt/format.h>

#include <condition_variable>
#include <mutex>
#include <regex>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;

// Every record of the process (server and client), by its text.
struct records {
    std::mutex m;
    std::condition_variable cv;
    std::vector<std::string> texts;

    static records& get() {
        static records* r = [] {
            auto* rs = new records;
            strata::set_log_sink([rs](const strata::log_record& rec) {
                std::lock_guard lock(rs->m);
                rs->texts.emplace_back(rec.text);
                rs->cv.notify_all();
            });
            return rs;
        }();
        return *r;
    }
    void clear() {
        std::lock_guard lock(m);
        texts.clear();
    }
    // The records filed under `id` ("[id] " at their start), waiting (at most
    // 10 s, a bound against a hang, not a timing) for `n` of them.
    std::vector<std::string> under(const std::string& id, std::size_t n) {
        std::unique_lock lock(m);
        std::vector<std::string> found;
        cv.wait_for(lock, 10s, [&] {
            found.clear();
            for (const std::string& t : texts)
                if (t.rfind("[" + id + "] ", 0) == 0) found.push_back(t);
            return found.size() >= n;
        });
        return found;
    }
    // The first record holding `text`, waiting for it as above.
    std::string with(const std::string& text) {
        std::unique_lock lock(m);
        std::string found;
        cv.wait_for(lock, 10s, [&] {
            for (const std::string& t : texts)
                if (t.find(text) != std::string::npos) {
                    found = t;
                    return true;
                }
            return false;
        });
        return found;
    }
};

struct fixture {
    probe::service untrusted{false};
    probe::service trusted{true};
    probe::fake_service fake;
    probe::server untrusted_server{&untrusted};
    probe::server trusted_server{&trusted};
    probe::server fake_server{&fake};

    // Each test reads only its own records (the previous test's servers are
    // shut down, so theirs are all written).
    fixture() { records::get().clear(); }

    // `scenario` on the strata server through grpc_call, in whatever strata
    // work runs on this thread; the reply's text in `text`.
    strata::result<void> strata_call(grpc::ClientContext& ctx, const std::string& scenario,
                                     std::string* text = nullptr) const {
        auto stub = probe::stub_for(untrusted_server.address());
        strata::test::ProbeRequest req;
        req.set_scenario(scenario);
        strata::test::ProbeReply reply;
        strata::result<void> r = strata::grpc_call(
            ctx, [&](grpc::ClientContext& c) { return stub->Run(&c, req, &reply); }, {.operation = "probe.Run"});
        if (text) *text = reply.text();
        return r;
    }

    static grpc::Status call(const std::string& address, const std::string& scenario, int arg = 0,
                             grpc::ClientContext* ctx = nullptr) {
        auto stub = probe::stub_for(address);
        strata::test::ProbeRequest req;
        req.set_scenario(scenario);
        req.set_arg(arg);
        strata::test::ProbeReply reply;
        grpc::ClientContext own;
        return stub->Run(ctx ? ctx : &own, req, &reply);
    }
};

// The ID in "[ID] message".
std::string id_in(const std::string& message) {
    if (message.size() < 3 || message[0] != '[') return {};
    return message.substr(1, message.find(']') - 1);
}

// Everything a client receives: the message and the details.
std::string received(const grpc::Status& s) { return s.error_message() + "\n" + s.error_details(); }

}  // namespace

TEST_CASE("a known edge case crosses with its code, its user message, its ID and nothing internal", "[grpc]") {
    fixture fx;
    const grpc::Status s = fixture::call(fx.untrusted_server.address(), "user");
    REQUIRE(!s.ok());
    CHECK(s.error_code() == grpc::StatusCode::UNKNOWN);  // intermediate declares no code
    const std::string id = id_in(s.error_message());
    REQUIRE(!id.empty());
    CHECK_THAT(s.error_message(), Catch::Matches(R"(\[.+\] account <sensitive:[0-9a-f]+> is over its monthly quota)"));
    // Not the internal cause, not the secret, not the host, not a call site.
    const std::string all = received(s);
    CHECK(all.find(probe::internal_text) == std::string::npos);
    CHECK(all.find(probe::secret_account) == std::string::npos);
    CHECK(all.find("database") == std::string::npos);
    CHECK(all.find("accounts") == std::string::npos);
    // (As a JSON value: a short host name, "vm", can be part of a random ID.)
    CHECK(all.find(fmt::format("\"{}\"", strata::detail::host_name())) == std::string::npos);
    CHECK(all.find("probe_service.hpp") == std::string::npos);

    const strata::error e = strata::from_grpc_status(s);
    CHECK(e.is<strata::intermediate>());
    const strata::origin* from = strata::origin_of(e);
    REQUIRE(from);
    CHECK(from->host == "(withheld)");
    CHECK(from->pid == 0);
    CHECK(strata::find<strata::withheld>(e));
    const strata::report rep = strata::handle(e);
    CHECK_FALSE(rep.is_bug);
    CHECK(rep.id == id);  // the client's user line has the server's ID
    CHECK(fmt::format("{}", rep) == s.error_message());
    // Two records under it: the server's (with the internal cause) and the client's.
    const std::vector<std::string> recs = records::get().under(id, 2);
    REQUIRE(recs.size() == 2);
    const bool server_first = recs[0].find(probe::internal_text) != std::string::npos;
    const std::string& server_rec = server_first ? recs[0] : recs[1];
    const std::string& client_rec = server_first ? recs[1] : recs[0];
    CHECK(server_rec.find(probe::internal_text) != std::string::npos);
    CHECK(client_rec.find(probe::internal_text) == std::string::npos);
    CHECK(client_rec.find("known edge case") != std::string::npos);
    CHECK(client_rec.find("withheld") != std::string::npos);
    CHECK(server_rec.find(probe::secret_account) == std::string::npos);
    CHECK(client_rec.find(probe::secret_account) == std::string::npos);
}

TEST_CASE("a bug crosses as INTERNAL with the bug text and its ID, its text staying on the server", "[grpc]") {
    fixture fx;
    const grpc::Status s = fixture::call(fx.untrusted_server.address(), "bug");
    CHECK(s.error_code() == grpc::StatusCode::INTERNAL);
    const std::string id = id_in(s.error_message());
    CHECK(s.error_message() == fmt::format("[{}] {}", id, strata::default_bug_message));
    const std::string all = received(s);
    CHECK(all.find(probe::internal_path) == std::string::npos);
    CHECK(all.find("nvme") == std::string::npos);
    CHECK(all.find("low_level") == std::string::npos);
    CHECK(all.find(std::error_code(EIO, std::generic_category()).message()) == std::string::npos);

    const strata::error e = strata::from_grpc_status(s);
    CHECK(e.is<strata::withheld>());
    const strata::report rep = strata::handle(e);
    CHECK(rep.is_bug);
    CHECK(rep.id == id);
    const std::vector<std::string> recs = records::get().under(id, 2);
    REQUIRE(recs.size() == 2);
    CHECK((recs[0].find(probe::internal_path) != std::string::npos) !=
          (recs[1].find(probe::internal_path) != std::string::npos));
}

TEST_CASE("a trusted peer gets the whole error: layers, misc, call sites, stacks and origin", "[grpc]") {
    fixture fx;
    const grpc::Status s = fixture::call(fx.trusted_server.address(), "bug");
    CHECK(s.error_code() == grpc::StatusCode::INTERNAL);
    const strata::error e = strata::from_grpc_status(s);
    CHECK(e.is<strata::low_level>());
    CHECK(fmt::format("{:c}", e).find(probe::internal_path) != std::string::npos);
    CHECK(e.misc().find("device"));
    const strata::origin* from = strata::origin_of(e);
    REQUIRE(from);
    CHECK(from->host == strata::detail::host_name());
    CHECK(from->pid == static_cast<long>(::getpid()));
    CHECK(std::string(e.location().file_name()).find("probe_service.hpp") != std::string::npos);
    // The secret stays a hash even for a trusted peer.
    const grpc::Status user = fixture::call(fx.trusted_server.address(), "user");
    CHECK(received(user).find(probe::secret_account) == std::string::npos);
    CHECK(received(user).find(probe::internal_text) != std::string::npos);
    const strata::error ue = strata::from_grpc_status(user);
    CHECK(strata::find<probe::database>(ue));
    CHECK(strata::handle(ue).id == id_in(user.error_message()));
}

TEST_CASE("a layer's own code crosses, and is<L>() finds the layer by name", "[grpc]") {
    fixture fx;
    for (const auto* address : {&fx.untrusted_server, &fx.trusted_server}) {
        const grpc::Status s = fixture::call(address->address(), "not_found", 4411);
        CHECK(s.error_code() == grpc::StatusCode::NOT_FOUND);
        CHECK_THAT(s.error_message(), Catch::EndsWith("] no item sku-4411 in this region"));
        const strata::error e = strata::from_grpc_status(s);
        CHECK(e.is<probe::inventory>());
        // Sent on again, the decoded layer keeps its code.
        CHECK(strata::to_grpc_status(e, {.log = false}).error_code() == grpc::StatusCode::NOT_FOUND);
    }
}

TEST_CASE("a message that is not UTF-8 crosses as UTF-8, in the status and in google.rpc.Status", "[grpc]") {
    fixture fx;
    for (const auto* address : {&fx.untrusted_server, &fx.trusted_server}) {
        const grpc::Status s = fixture::call(address->address(), "latin1");
        CHECK(s.error_code() == grpc::StatusCode::NOT_FOUND);
        // U+FFFD for the Latin-1 byte.
        CHECK_THAT(s.error_message(), Catch::EndsWith("] no item named caf\xEF\xBF\xBD in this region"));
        // The details repeat the message as it was sent (a protobuf string: UTF-8).
        CHECK(s.error_details().find(s.error_message()) != std::string::npos);
        const strata::error e = strata::from_grpc_status(s);
        CHECK(e.is<probe::inventory>());
        CHECK(strata::handle(e).user_message == "no item named caf\xEF\xBF\xBD in this region");
    }
}

TEST_CASE("the server's work stops at the caller's deadline, with that cause, and the client sees a timeout", "[grpc]") {
    fixture fx;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 200ms);
    const grpc::Status s = fixture::call(fx.untrusted_server.address(), "slow", 0, &ctx);
    CHECK(s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED);
    const strata::error e = strata::from_grpc_status(s, {.operation = "probe.Run"});
    CHECK(e.is<strata::timed_out>());
    CHECK_THAT(fmt::format("{:c}", e), Catch::StartsWith("probe.Run: no reply within the call's deadline"));
    // The server's record: its work was canceled because the caller's deadline passed.
    const std::string rec = records::get().with("the listing was abandoned");
    REQUIRE(!rec.empty());
    // N is the time left when the call arrived: at most 200.
    static const std::regex cause(R"(caller's deadline of (1?[0-9]{1,2}|200) ms passed)");
    CHECK(std::regex_search(rec, cause));
    CHECK(rec.find("stop_reason = \"caller_deadline\"") != std::string::npos);
}

TEST_CASE("a call inside with_timeout gets its deadline: the server stops at it, the client returns at it",
          "[grpc]") {
    fixture fx;
    grpc::ClientContext ctx;
    const strata::result<void> r = strata::with_timeout(
        300ms, {.operation = "listing"}, [&](std::stop_token) { return fx.strata_call(ctx, "slow"); });
    REQUIRE(!r);
    CHECK(r.error().is<strata::timed_out>());
    // The context got the scope's deadline (it had none).
    CHECK(ctx.deadline() < std::chrono::system_clock::now() + 1h);
    const std::string rec = records::get().with("the listing was abandoned");
    REQUIRE(!rec.empty());
    CHECK(rec.find("caller's deadline of") != std::string::npos);
}

TEST_CASE("a call in a group's task is canceled when the group stops, and the server's work stops with \"caller canceled\"",
          "[grpc]") {
    fixture fx;
    grpc::ClientContext ctx;
    strata::result<void> call_result;
    strata::task_group g;
    g.spawn([&](std::stop_token) -> strata::result<void> {
        call_result = fx.strata_call(ctx, "slow");
        return call_result;
    });
    const int started = probe::slow_started.load();
    g.spawn([started](std::stop_token) -> strata::result<void> {
        probe::wait_for_slow_start(started);  // once the call is at work on the server
        return strata::make_error<strata::intermediate>("the cart was emptied");
    });
    const strata::result<void> r = g.wait();
    REQUIRE(!r);
    CHECK_THAT(fmt::format("{:c}", r.error()), Catch::Contains("the cart was emptied"));
    // The call's own result: canceled here, because the group failed.
    REQUIRE(!call_result);
    CHECK(call_result.error().is<strata::canceled>());
    CHECK_THAT(fmt::format("{:c}", call_result.error()), Catch::StartsWith("probe.Run was canceled (CANCELLED)"));
    bool because_group = false;
    for (auto it = call_result.error().secondaries().begin(); it != call_result.error().secondaries().end(); ++it)
        because_group = because_group || fmt::format("{:c}", *it).find("the cart was emptied") != std::string::npos;
    CHECK(because_group);
    // The server's record: its work stopped because the caller canceled.
    const std::string rec = records::get().with("caller canceled");
    REQUIRE(!rec.empty());
    CHECK(rec.find("the listing was abandoned") != std::string::npos);
    CHECK(rec.find("stop_reason = \"caller_canceled\"") != std::string::npos);
}

TEST_CASE("a caller that cancels long before its deadline is \"caller canceled\", not the deadline", "[grpc]") {
    // The server reads a cancellation in the last tenth of the caller's timeout
    // as the deadline (both look the same on the wire); this one comes at the
    // start of a 60 s timeout.
    fixture fx;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 60s);
    const int started = probe::slow_started.load();
    std::thread canceler([&] {
        probe::wait_for_slow_start(started);  // once the call is at work on the server
        ctx.TryCancel();
    });
    const grpc::Status s = fixture::call(fx.untrusted_server.address(), "slow", 0, &ctx);
    canceler.join();
    CHECK(s.error_code() == grpc::StatusCode::CANCELLED);
    const std::string rec = records::get().with("the listing was abandoned");
    REQUIRE(!rec.empty());
    CHECK(rec.find("caller canceled") != std::string::npos);
    CHECK(rec.find("stop_reason = \"caller_canceled\"") != std::string::npos);
    CHECK(rec.find("caller's deadline") == std::string::npos);
}

TEST_CASE("a call made after its work stopped is not made", "[grpc]") {
    fixture fx;
    auto stub = probe::stub_for(fx.untrusted_server.address());
    strata::test::ProbeRequest req;
    req.set_scenario("ok");
    strata::test::ProbeReply reply;
    int calls = 0;
    strata::task_group g;
    g.spawn([](std::stop_token) -> strata::result<void> { return strata::make_error("first"); });
    g.spawn([&](std::stop_token stop) -> strata::result<void> {
        while (!stop.stop_requested()) std::this_thread::sleep_for(1ms);
        grpc::ClientContext ctx;
        return strata::grpc_call(ctx, [&](grpc::ClientContext& c) {
            ++calls;
            return stub->Run(&c, req, &reply);
        });
    });
    CHECK(!g.wait());
    CHECK(calls == 0);
}

TEST_CASE("a call that succeeds gives success, inside strata work and outside", "[grpc]") {
    fixture fx;
    grpc::ClientContext outside;
    std::string text;
    CHECK(fx.strata_call(outside, "ok", &text));
    CHECK(text == "ok");
    const strata::result<void> r = strata::with_timeout(10s, [&](std::stop_token) {
        grpc::ClientContext ctx;
        return fx.strata_call(ctx, "ok");
    });
    CHECK(r);
    CHECK(strata::from_grpc_status(grpc::Status::OK).empty());
}

TEST_CASE("an exception in the handler is a bug, logged on the server, its text withheld", "[grpc]") {
    fixture fx;
    const grpc::Status s = fixture::call(fx.untrusted_server.address(), "throw");
    CHECK(s.error_code() == grpc::StatusCode::INTERNAL);
    CHECK(received(s).find(probe::internal_text) == std::string::npos);
    const std::string id = id_in(s.error_message());
    const std::vector<std::string> recs = records::get().under(id, 1);
    REQUIRE(recs.size() == 1);
    CHECK(recs[0].find(probe::internal_text) != std::string::npos);
}

TEST_CASE("a server that is not strata: the error names the code and the message", "[grpc]") {
    fixture fx;
    const grpc::Status s = fixture::call(fx.fake_server.address(), "plain");
    const strata::error e = strata::from_grpc_status(s, {.operation = "probe.Run"});
    CHECK(e.is<strata::grpc_status>());
    CHECK(fmt::format("{:c}", e) == "probe.Run failed with gRPC status NOT_FOUND (5): no such thing");
    CHECK(strata::handle(e).is_bug);
    const strata::error d = strata::from_grpc_status(fixture::call(fx.fake_server.address(), "plain_deadline"));
    CHECK(d.is<strata::timed_out>());
    // timed_out is user-facing: the peer's own words stay out of its message.
    CHECK(fmt::format("{:c}", d) == "the call: no reply within the call's deadline");
    CHECK(d.misc().find("grpc_message")->as_string() == "too slow");
    // Details that are someone else's (google.rpc.BadRequest): a plain status too.
    const strata::error o = strata::from_grpc_status(fixture::call(fx.fake_server.address(), "other_details"));
    CHECK(o.is<strata::grpc_status>());
    // No server at all: gRPC's own status.
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 2s);
    const strata::error none = strata::from_grpc_status(fixture::call("127.0.0.1:1", "ok", 0, &ctx));
    CHECK((none.is<strata::grpc_status>() || none.is<strata::timed_out>()));
}

TEST_CASE("hostile details give a clear error with the status's code and message, never a crash", "[grpc]") {
    fixture fx;
    for (const char* kind : {"truncated_varint", "length_past_end", "huge_length", "group_wire_type", "field_zero",
                             "not_json", "wrong_schema", "deep_json", "control_chars", "empty_error", "forged_id",
                             "two_errors", "garbage"}) {
        CAPTURE(kind);
        const grpc::Status s = fixture::call(fx.fake_server.address(), kind);
        REQUIRE(s.error_code() == grpc::StatusCode::INTERNAL);
        const strata::error e = strata::from_grpc_status(s, {.operation = "probe.Run"});
        CHECK(e.is<strata::bad_grpc_details>());
        const std::string text = fmt::format("{:c}", e);
        CHECK_THAT(text, Catch::StartsWith("probe.Run: the status details are not a strata error: "));
        CHECK(e.misc().find("grpc_code"));
        CHECK(e.misc().find("grpc_message"));
        const strata::report rep = strata::handle(e);
        CHECK(rep.is_bug);
        // No line of the record is forged by the peer's text.
        const std::vector<std::string> recs = records::get().under(rep.id, 1);
        REQUIRE(recs.size() == 1);
        CHECK(recs[0].find("\nforged") == std::string::npos);
        CHECK(recs[0].find("\nline") == std::string::npos);
    }
}

TEST_CASE("to_grpc_status: codes from layers, and what a status carries without a log", "[grpc]") {
    const strata::error none;
    CHECK(strata::to_grpc_status(none, {.log = false}).error_code() == grpc::StatusCode::INTERNAL);
    const strata::error c = strata::make_error<strata::canceled>("stopped");
    CHECK(strata::to_grpc_status(c, {.log = false}).error_code() == grpc::StatusCode::CANCELLED);
    const strata::error t = strata::make_error<strata::timed_out>("too slow");
    CHECK(strata::to_grpc_status(t, {.log = false}).error_code() == grpc::StatusCode::DEADLINE_EXCEEDED);
    // A user-facing frame over one that declares a code: that code.
    const strata::error over = strata::wrap<strata::intermediate>(t, "the report is late");
    CHECK(strata::to_grpc_status(over, {.log = false}).error_code() == grpc::StatusCode::DEADLINE_EXCEEDED);
    // A bug over one that declares a code: INTERNAL.
    const strata::error bug = strata::wrap<strata::low_level>(t, "internal");
    CHECK(strata::to_grpc_status(bug, {.log = false}).error_code() == grpc::StatusCode::INTERNAL);
    // A cancellation whose cause is a deadline (as a server's work stopped by
    // its caller's deadline returns it).
    strata::error stopped = strata::make_error<strata::canceled>("gave up");
    stopped.with_secondary("stopped because", strata::make_error<strata::timed_out>("deadline of 20 ms passed"));
    CHECK(strata::to_grpc_status(stopped, {.log = false}).error_code() == grpc::StatusCode::DEADLINE_EXCEEDED);
    strata::error asked = strata::make_error<strata::canceled>("gave up");
    asked.with_secondary("stopped because", strata::make_error<strata::canceled>("caller canceled"));
    CHECK(strata::to_grpc_status(asked, {.log = false}).error_code() == grpc::StatusCode::CANCELLED);
    // Without log: no ID, and the message is the user's.
    const grpc::Status s = strata::to_grpc_status(strata::make_error<strata::intermediate>("try later"), {.log = false});
    CHECK(s.error_message() == "try later");
}

TEST_CASE("details past the size limit leave out the stacks, then all but what the user may see", "[grpc]") {
    strata::error e = strata::make_error<strata::intermediate>("a big one");
    for (int i = 0; i < 40; ++i) e = strata::wrap<strata::intermediate>(e, "level {} {}", i, std::string(100, 'x'));
    const grpc::Status full = strata::to_grpc_status(e, {.trusted_peer = true, .log = false, .max_details = 1 << 20});
    const grpc::Status cut = strata::to_grpc_status(e, {.trusted_peer = true, .log = false, .max_details = 7 * 1024});
    CHECK(full.error_details().size() > 7 * 1024);
    CHECK(cut.error_details().size() <= 7 * 1024);
    const strata::error back = strata::from_grpc_status(cut);
    CHECK(back.is<strata::intermediate>());
    CHECK(strata::find<strata::withheld>(back));
}

TEST_CASE("a 100 000-deep chain crosses without a crash", "[grpc]") {
    strata::error e = strata::make_error<strata::intermediate>("root");
    for (int i = 0; i < 100000; ++i) e = strata::wrap<strata::intermediate>(e, "level {}", i);
    const grpc::Status s = strata::to_grpc_status(e, {.trusted_peer = true, .log = false});
    CHECK(s.error_details().size() <= 7 * 1024);
    const strata::error back = strata::from_grpc_status(s);
    CHECK(back.is<strata::intermediate>());
}

TEST_CASE("a service that wraps another's error sends on that error's ID, to trusted and untrusted peers", "[grpc]") {
    records::get().clear();
    const grpc::Status first = strata::to_grpc_status(strata::make_error<strata::intermediate>("no stock"),
                                                      {.trusted_peer = true});
    const std::string id = id_in(first.error_message());
    REQUIRE(!id.empty());
    const strata::error wrapped = strata::wrap<probe::inventory>(strata::from_grpc_status(first), "the order waits");
    for (bool trusted : {true, false}) {
        CAPTURE(trusted);
        const grpc::Status second = strata::to_grpc_status(wrapped, {.trusted_peer = trusted});
        CHECK(id_in(second.error_message()) == id);
        const strata::error back = strata::from_grpc_status(second);
        CHECK(back.is<probe::inventory>());
        CHECK(strata::handle(back).id == id);
    }
    // One record per process side: the first service's, the wrapping one's, and each client's.
    CHECK(records::get().under(id, 4).size() == 4);
}

TEST_CASE("details as large as max_details allows cross a real connection whole", "[grpc]") {
    fixture fx;
    for (std::size_t size : {1000u, 3000u, 5000u, 7000u, 20000u}) {
        CAPTURE(size);
        // A chain whose encoded details come out just over `size` (then are cut
        // to max_details), under a message of a kilobyte, which counts too.
        strata::error e = strata::make_error<strata::intermediate>("{}", std::string(1000, 'r'));
        while (strata::to_grpc_status(e, {.trusted_peer = true, .log = false, .max_details = 1 << 20})
                   .error_details()
                   .size() < size)
            e = strata::wrap<strata::intermediate>(e, "{}", std::string(100, 'w'));
        fx.fake.canned = strata::to_grpc_status(e, {.trusted_peer = true});
        const grpc::Status s = fixture::call(fx.fake_server.address(), "canned");
        CHECK(s.error_code() == fx.fake.canned.error_code());
        CHECK(s.error_message() == fx.fake.canned.error_message());
        CHECK(s.error_details() == fx.fake.canned.error_details());
        const strata::error back = strata::from_grpc_status(s);
        CHECK(back.is<strata::intermediate>());
        CHECK(strata::handle(back).id == id_in(s.error_message()));
    }
}
