// <strata/grpc.hpp>'s costs (bench/run.sh runs it; report.py prints the ratios):
// - a 5-frame chain (with its origin stack) to a grpc::Status and back, against
//   the same information as to_json + from_json;
// - a unary call on 127.0.0.1 that fails (the server logs it to a null sink,
//   the client rebuilds the error) against one that succeeds.
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

struct loopback {
    probe::service svc{false};
    probe::server srv{&svc};
    std::unique_ptr<strata::test::Probe::Stub> stub = probe::stub_for(srv.address());
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
void BM_unary_fails(benchmark::State& state) { unary(state, "user"); }

}  // namespace

BENCHMARK(BM_roundtrip_grpc_trusted)->Name("across/grpc_trusted");
BENCHMARK(BM_roundtrip_grpc_untrusted)->Name("across/grpc_untrusted");
BENCHMARK(BM_roundtrip_json)->Name("across/json");
BENCHMARK(BM_unary_ok)->Name("unary/ok")->UseRealTime();
BENCHMARK(BM_unary_fails)->Name("unary/fails")->UseRealTime();
