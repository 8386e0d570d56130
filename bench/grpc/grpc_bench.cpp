// <strata/grpc.hpp>'s costs (bench/run.sh runs it; report.py prints the ratios):
// - a 5-frame chain (with its origin stack) to a grpc::Status and back, against
//   the same information as to_json + from_json;
// - a unary call on 127.0.0.1 that fails (the server logs it to a null sink,
//   the client rebuilds the error) against one that succeeds, and against a
//   call that fails with a plain status and no strata on either side.
#include "probe_service.hpp"

#include <benchmark/benchmark.h>

namespace {

strata::error five_frames() {
    std::stop_source never;
    strata::result<void> r = probe::fail_as("deep", 17, never.get_token());
    strata::error e = r.error();
    (void)strata::handle(e, {.sink = nullptr});
    return e;
}

// Records go nowhere: the cost measured is strata's, not a terminal's.
void null_sink() {
    static const bool set = [] {
        strata::set_log_sink([](const strata::log_record&) {});
        return true;
    }();
    (void)set;
}

void grpc_roundtrip(benchmark::State& state, bool trusted) {
    null_sink();
    const strata::error e = five_frames();
    for (auto _ : state) {
        const grpc::Status s = strata::to_grpc_status(e, {.trusted_peer = trusted, .max_details = 1 << 20});
        strata::error back = strata::from_grpc_status(s);
        benchmark::DoNotOptimize(back);
    }
}
void BM_roundtrip_grpc_trusted(benchmark::State& state) { grpc_roundtrip(state, true); }
void BM_roundtrip_grpc_untrusted(benchmark::State& state) { grpc_roundtrip(state, false); }

void BM_roundtrip_json(benchmark::State& state) {
    null_sink();
    const strata::error e = five_frames();
    for (auto _ : state) {
        const std::string text = strata::to_json(e);
        strata::result<strata::error> back = strata::from_json(text);
        benchmark::DoNotOptimize(back);
    }
}

// The server's part of a failing call: the error made (with its stack),
// handled (its record rendered, to a null sink) and turned into a status.
void BM_server_side(benchmark::State& state) {
    null_sink();
    std::stop_source never;
    for (auto _ : state) {
        strata::result<void> r = probe::fail_as("user", 0, never.get_token());
        grpc::Status s = strata::to_grpc_status(r.error());
        benchmark::DoNotOptimize(s);
    }
}
// The client's part: the status turned back into an error.
void BM_client_side(benchmark::State& state) {
    null_sink();
    std::stop_source never;
    const grpc::Status s = strata::to_grpc_status(probe::fail_as("user", 0, never.get_token()).error());
    for (auto _ : state) {
        strata::error e = strata::from_grpc_status(s);
        benchmark::DoNotOptimize(e);
    }
}

struct loopback {
    probe::service svc{false};
    probe::server srv{&svc};
    std::unique_ptr<strata::test::Probe::Stub> stub = probe::stub_for(srv.address());
    // gRPC's own failing call, without strata on either side: the floor.
    probe::fake_service fake;
    probe::server fake_srv{&fake};
    std::unique_ptr<strata::test::Probe::Stub> fake_stub = probe::stub_for(fake_srv.address());
};
loopback& the_loopback() {
    static loopback* l = new loopback;  // never torn down: gRPC's threads outlive main's statics
    return *l;
}

void unary(benchmark::State& state, const char* scenario) {
    null_sink();
    loopback& l = the_loopback();
    strata::test::ProbeRequest req;
    req.set_scenario(scenario);
    for (auto _ : state) {
        strata::test::ProbeReply reply;
        grpc::ClientContext ctx;
        strata::result<void> r =
            strata::grpc_call(ctx, [&](grpc::ClientContext& c) { return l.stub->Run(&c, req, &reply); });
        benchmark::DoNotOptimize(r);
    }
}
void BM_unary_ok(benchmark::State& state) { unary(state, "ok"); }
// The same failing call with no stack captured (capture_policy::off): what the
// server's stack costs (its capture, and its symbolized lines in the record).
void BM_unary_fails_no_stack(benchmark::State& state) {
    strata::set_capture_policy(strata::capture_policy::off);
    unary(state, "user");
    strata::set_capture_policy(strata::capture_policy::origin);
}
void BM_unary_fails(benchmark::State& state) { unary(state, "user"); }
void fails_without_strata(benchmark::State& state, const char* scenario) {
    loopback& l = the_loopback();
    if (l.fake.canned.ok()) {
        std::stop_source never;
        l.fake.canned = strata::to_grpc_status(probe::fail_as("user", 0, never.get_token()).error());
    }
    strata::test::ProbeRequest req;
    req.set_scenario(scenario);
    for (auto _ : state) {
        strata::test::ProbeReply reply;
        grpc::ClientContext ctx;
        grpc::Status s = l.fake_stub->Run(&ctx, req, &reply);
        benchmark::DoNotOptimize(s);
    }
}
void BM_unary_fails_plain(benchmark::State& state) { fails_without_strata(state, "plain"); }
void BM_unary_fails_canned(benchmark::State& state) { fails_without_strata(state, "canned"); }

}  // namespace

BENCHMARK(BM_roundtrip_grpc_trusted)->Name("across/grpc_trusted");
BENCHMARK(BM_roundtrip_grpc_untrusted)->Name("across/grpc_untrusted");
BENCHMARK(BM_roundtrip_json)->Name("across/json");
BENCHMARK(BM_server_side)->Name("failing/server_side");
BENCHMARK(BM_client_side)->Name("failing/client_side");
BENCHMARK(BM_unary_ok)->Name("unary/ok")->UseRealTime();
BENCHMARK(BM_unary_fails)->Name("unary/fails")->UseRealTime();
BENCHMARK(BM_unary_fails_no_stack)->Name("unary/fails_no_stack")->UseRealTime();
BENCHMARK(BM_unary_fails_plain)->Name("unary/fails_plain_grpc")->UseRealTime();
BENCHMARK(BM_unary_fails_canned)->Name("unary/fails_canned_status")->UseRealTime();
