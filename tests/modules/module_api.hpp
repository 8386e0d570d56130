// What each test module (two shared libraries, two dlopen plugins, all built with
// -fvisibility=hidden) offers the test executable: strata's process-wide state,
// exercised from inside that module. One table of functions per module, found
// through one exported symbol, strata_test_module().
#pragma once

#include <strata/strata.hpp>

#include <fmt/format.h>

#include <cstdint>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

// A user's own cause type: inner_as<user_payload>() must find it in any module.
struct user_payload {
    int value;
};
template <>
struct fmt::formatter<user_payload> : fmt::formatter<int> {
    auto format(const user_payload& p, fmt::format_context& ctx) const { return fmt::formatter<int>::format(p.value, ctx); }
};

// A layer that only the test modules and the executable define.
struct module_layer {
    static constexpr std::string_view name = "module_layer";
    static constexpr bool user_facing = true;
};

struct module_api {
    const char* name;
    // handle(e).id, from inside the module.
    std::string (*handle_id)(const strata::error&);
    // make_error<low_level>(message), made in the module.
    strata::error (*make)(std::string_view message);
    // An error whose cause is user_payload{value}.
    strata::error (*make_with_payload)(int value);
    // inner_as<user_payload>()->value, or -1.
    int (*payload_of)(const strata::error&);
    // sensitive_token(value).
    std::string (*hash)(std::string_view value);
    strata::capture_policy (*policy)();
    void (*set_policy)(strata::capture_policy);
    strata::unchecked_error_handler (*set_unchecked)(strata::unchecked_error_handler);
    // strata::beat() from the module.
    bool (*beat)();
    // strata::stop_cause(token) from the module.
    strata::error (*stop_cause)(std::stop_token);
    // from_json(text) in the module (its value, or the failure).
    strata::error (*decode)(const std::string& json);
    // origin_of(e) != nullptr, asked in the module.
    bool (*has_origin)(const strata::error&);
    // Whether the module found the process-wide state.
    bool (*shared)();
    // The program counters of an error made in the module's own named function.
    std::vector<std::uintptr_t> (*stack_here)();
    // The name of that function, as the symbolizer should give it.
    const char* stack_function;
};

#define STRATA_TEST_EXPORT extern "C" __attribute__((visibility("default")))
using module_entry = const module_api* (*)();
