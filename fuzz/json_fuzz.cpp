// fuzz/json_fuzz.cpp: libFuzzer target for strata::from_json on any bytes.
//
// Checks (a violation calls __builtin_trap() after saying which):
// - from_json never crashes, leaks or runs away with memory (ASan, libFuzzer's
//   -rss_limit_mb), and a failure is an error in layer bad_json with a message;
// - what it accepts, to_json encodes, and from_json accepts that again;
// - encoding again gives the same text (a decoded error re-encodes unchanged);
// - the decision (user-facing or bug), the layer, the {:c} chain and the depth are
//   the same after the second trip;
// - {:v} and handle() run on it (records go to a sink that drops them).
#include <strata/format.hpp>
#include <strata/handle.hpp>
#include <strata/json.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace {

[[noreturn]] void violated(const char* what, std::string_view input) {
    std::fprintf(stderr, "invariant violated: %s\ninput (%zu bytes): %.*s\n", what, input.size(),
                 static_cast<int>(input.size() > 2000 ? 2000 : input.size()), input.data());
    __builtin_trap();
}

const strata::log_sink& quiet_sink() {
    static const strata::log_sink s = [](const strata::log_record& r) {
        if (r.text.empty()) std::abort();
    };
    return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    strata::result<strata::error> r = strata::from_json(input);
    if (!r) {
        const strata::error& e = r.error();
        if (!e.is<strata::bad_json>()) violated("a failure is not in layer bad_json", input);
        if (e.message().size() < 20) violated("a failure's message says too little", input);
        return 0;
    }
    const strata::error e = *r;
    const std::string once = strata::to_json(e);
    if (once.empty()) violated("to_json of a decoded error gave nothing", input);
    strata::result<strata::error> r2 = strata::from_json(once);
    if (!r2) violated(("to_json's own output was refused: " + fmt::format("{:c}", r2.error())).c_str(), once);
    const strata::error e2 = *r2;
    if (strata::to_json(e2) != once) violated("a decoded error did not re-encode unchanged", once);
    if (e.is_user_facing() != e2.is_user_facing()) violated("the decision changed", once);
    if (e.layer().name != e2.layer().name) violated("the layer changed", once);
    if (e.depth() != e2.depth()) violated("the depth changed", once);
    if (fmt::format("{:c}", e) != fmt::format("{:c}", e2)) violated("the chain text changed", once);
    (void)fmt::format("{:v}", e2);
    strata::handle_options opts;
    opts.sink = &quiet_sink();
    const strata::report rep = strata::handle(e2, opts);
    if (rep.id.empty()) violated("handle() gave no ID", once);
    if (rep.is_bug == e2.is_user_facing()) violated("handle() decided against the layer", once);
    return 0;
}
