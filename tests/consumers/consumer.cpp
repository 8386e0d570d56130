// A program outside strata, built against it as a package would be.
#include <strata/strata.hpp>

struct storage_layer {
    static constexpr std::string_view name = "storage";
    static constexpr bool user_facing = true;
};

strata::result<int> read_config() {
    return strata::wrap<storage_layer>(std::make_error_code(std::errc::permission_denied), "can't read the configuration")
        .with("file", "/etc/app.conf");
}

int main() {
    std::string log;
    const strata::log_sink sink = [&](const strata::log_record& r) { log.assign(r.text); };
    auto r = read_config();
    if (r) return 1;
    const strata::report rep = strata::handle(r.error(), {&sink});
    fmt::print("{}\n", rep);
    // The decision and the record must agree: user-facing, and logged under the ID.
    return !rep.is_bug && log.find("[" + rep.id + "]") == 0 ? 0 : 1;
}
