// The Probe service of grpc_test, grpc_python_test and grpc_bench: a strata
// server whose handler fails (or not) as the request's scenario says, and a
// "fake" server that sends statuses strata never would (a server that is not
// strata, and hostile details).
#pragma once

#include <strata/grpc.hpp>
#include <strata/sensitive.hpp>
#include <strata/strata.hpp>

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <memory>
#include <string>
#include <system_error>
#include <thread>

#include "probe.grpc.pb.h"

namespace probe {

// A user-facing layer that says what its errors are across an RPC.
struct inventory {
    static constexpr std::string_view name = "inventory";
    static constexpr bool user_facing = true;
    static constexpr int grpc_code = 5;  // NOT_FOUND
};

struct database {
    static constexpr std::string_view name = "database";
};

// The secrets a client must never see unless trusted (the internal text) or at
// all (the sensitive value).
inline constexpr const char* internal_text = "row locked by transaction 4242 on db-primary-7";
inline constexpr const char* secret_account = "acme-co-7731";
inline constexpr const char* internal_path = "/var/lib/inventory/pages.db";

// How many "slow" calls have started (a test waits for its own to reach the server).
inline std::atomic<int> slow_started{0};

// Waits until a "slow" call starts after slow_started read `before` (at most
// 10 s: a bound against a hang, not a timing).
inline void wait_for_slow_start(int before) {
    for (int i = 0; i < 10000 && slow_started.load() == before; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

inline strata::result<void> fail_as(const std::string& scenario, int arg, std::stop_token stop) {
    using namespace std::chrono_literals;
    if (scenario == "ok") return {};
    if (scenario == "user") {
        // A known edge case over an internal cause.
        const strata::error cause = strata::make_error<database>("{}", internal_text).with("table", "accounts");
        return strata::wrap<strata::intermediate>(cause, "account {} is over its monthly quota",
                                                  strata::sensitive(std::string(secret_account)))
            .with("account", strata::sensitive(std::string(secret_account)));
    }
    if (scenario == "bug") {
        const std::error_code ec(EIO, std::generic_category());
        return strata::wrap<strata::low_level>(ec, "read {} page 17", internal_path).with("device", "/dev/nvme0n1");
    }
    if (scenario == "not_found") return strata::make_error<inventory>("no item sku-{} in this region", arg);
    // A message that is not UTF-8 (a name in Latin-1, as a file or a database might hold it).
    if (scenario == "latin1") return strata::make_error<inventory>("no item named {} in this region", "caf\xE9");
    if (scenario == "deep") {
        // A 5-frame chain: the benchmark's.
        strata::error e = strata::make_error<database>("{}", internal_text).with("table", "items");
        e = strata::wrap<strata::low_level>(e, "load page {}", arg).with("page", arg);
        e = strata::wrap<database>(e, "scan items").with("rows", 1000);
        e = strata::wrap(e, "build the listing");
        return strata::wrap<strata::intermediate>(e, "the listing is not available right now");
    }
    if (scenario == "slow" || scenario == "slow_beat") {
        // Works until stopped: the caller's deadline or cancellation.
        slow_started.fetch_add(1);
        while (!stop.stop_requested()) std::this_thread::sleep_for(1ms);
        return strata::canceled_by(stop, "the listing was abandoned");
    }
    if (scenario == "sleep") {
        std::this_thread::sleep_for(std::chrono::milliseconds(arg));
        return {};
    }
    if (scenario == "throw") throw std::runtime_error(internal_text);
    return strata::make_error<strata::intermediate>("no such scenario: {}", scenario);
}

// The strata server: every call through grpc_serve.
class service final : public strata::test::Probe::Service {
public:
    explicit service(bool trusted_peer) { options_.status.trusted_peer = trusted_peer; }

    grpc::Status Run(grpc::ServerContext* ctx, const strata::test::ProbeRequest* req,
                     strata::test::ProbeReply* reply) override {
        return strata::grpc_serve(
            *ctx,
            [&](std::stop_token stop) -> strata::result<void> {
                STRATA_TRY(fail_as(req->scenario(), req->arg(), stop));
                reply->set_text("ok");
                return {};
            },
            options_);
    }

private:
    strata::grpc_serve_options options_;
};

// A google.rpc.Status around one Any of `type` holding `value`.
inline std::string status_with_any(std::string_view type, std::string_view value) {
    std::string any;
    strata::detail::pb::put_bytes(any, 1, type);
    strata::detail::pb::put_bytes(any, 2, value);
    std::string status;
    strata::detail::pb::put_uint(status, 1, 13);
    strata::detail::pb::put_bytes(status, 2, "hostile");
    strata::detail::pb::put_bytes(status, 3, any);
    return status;
}
inline std::string strata_error_holding(std::string_view json) {
    std::string err;
    strata::detail::pb::put_bytes(err, 1, json);
    return status_with_any(strata::grpc_error_type, err);
}

// Details a broken or hostile server might send, by name.
inline std::string hostile_details(const std::string& kind) {
    if (kind == "truncated_varint") return std::string("\x08\x80\x80", 3);
    if (kind == "length_past_end") return std::string("\x1a\x7f\x0a\x01", 4);
    if (kind == "huge_length") return std::string("\x1a\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 10);
    if (kind == "group_wire_type") return std::string("\x1b\x00", 2);
    if (kind == "field_zero") return std::string("\x00\x00", 2);
    if (kind == "not_json") return strata_error_holding("{\"strata.version\": 1, \"strata.frames\": [trunc");
    if (kind == "wrong_schema") return strata_error_holding("{\"strata.version\": 99}");
    if (kind == "deep_json") return strata_error_holding(std::string(2000, '[') + std::string(2000, ']'));
    if (kind == "control_chars")
        return strata_error_holding(
            R"({"strata.version":1,"strata.origins":[{"host":"h\nforged","pid":1,"thread":1,"time":"t"}],"strata.frames":[]})");
    if (kind == "forged_id")  // an ID that would forge the user's "[ID] message" line
        return strata_error_holding(
            R"({"strata.version":1,"strata.origins":[{"host":"h","pid":1,"thread":1,"time":"t"}],)"
            R"("strata.frames":[{"layer":"intermediate","user_facing":true,"message":"m","origin":0,)"
            R"("id":"x] Your account is locked; call +1 555 0100 [y"}]})");
    if (kind == "empty_error")
        return strata_error_holding(
            R"({"strata.version":1,"strata.origins":[{"host":"h","pid":1,"thread":1,"time":"t"}],"strata.frames":[]})");
    if (kind == "two_errors") {
        std::string err;
        strata::detail::pb::put_bytes(err, 1, "{}");
        std::string any;
        strata::detail::pb::put_bytes(any, 1, strata::grpc_error_type);
        strata::detail::pb::put_bytes(any, 2, err);
        std::string status;
        strata::detail::pb::put_bytes(status, 3, any);
        strata::detail::pb::put_bytes(status, 3, any);
        return status;
    }
    if (kind == "other_details") return status_with_any("type.googleapis.com/google.rpc.BadRequest", "\x0a\x00");
    if (kind == "garbage") return std::string("\xff\xfe\xfd\xfc\x00\x01", 6);
    return {};
}

// Not strata: plain statuses, hostile details, and a status made beforehand
// (`canned`: what gRPC itself costs to carry a strata status).
class fake_service final : public strata::test::Probe::Service {
public:
    grpc::Status canned;

    grpc::Status Run(grpc::ServerContext*, const strata::test::ProbeRequest* req, strata::test::ProbeReply*) override {
        if (req->scenario() == "plain") return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such thing");
        if (req->scenario() == "plain_deadline") return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "too slow");
        if (req->scenario() == "canned") return canned;
        return grpc::Status(grpc::StatusCode::INTERNAL, "hostile\nline", hostile_details(req->scenario()));
    }
};

// A server on 127.0.0.1 (a port the system picks) serving `svc`.
struct server {
    std::unique_ptr<grpc::Server> srv;
    int port = 0;

    explicit server(grpc::Service* svc) {
        grpc::ServerBuilder b;
        b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
        b.RegisterService(svc);
        srv = b.BuildAndStart();
    }
    ~server() {
        if (srv) srv->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    }
    std::string address() const { return "127.0.0.1:" + std::to_string(port); }
};

inline std::unique_ptr<strata::test::Probe::Stub> stub_for(const std::string& address) {
    return strata::test::Probe::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
}

}  // namespace probe
