// What each test module (two shared libraries, two dlopen plugins, all built with
// -fvisibility=hidden) offers the test executable: strata's process-wide state,
// exercised from inside that module. One table of functions per module, found
// through one exported symbol, strata_test_module().
#pragma once

#include <strata/strata.hpp>
#ifndef STRATA_TEST_NO_JSON
#include <strata/json.hpp>
#endif

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
    strata::error (*stop_cause)(const std::stop_token&);
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

// The table of the module that compiles this (every module has its own copy of
// this inline function and of strata: hidden visibility).
inline module_api this_module_api(const char* name, std::vector<std::uintptr_t> (*stack_here)(),
                                  const char* stack_function) {
    return module_api{
        name,
        [](const strata::error& e) { return strata::handle(e).id; },
        [](std::string_view m) -> strata::error { return strata::make_error<strata::low_level>("{}", m); },
        [](int v) -> strata::error { return strata::wrap<module_layer>(user_payload{v}, "payload {}", v); },
        [](const strata::error& e) {
            const user_payload* p = e.inner_as<user_payload>();
            return p ? p->value : -1;
        },
        [](std::string_view v) { return strata::sensitive_token(v); },
        [] { return strata::get_capture_policy(); },
        [](strata::capture_policy p) { strata::set_capture_policy(p); },
        [](strata::unchecked_error_handler h) { return strata::set_unchecked_error_handler(h); },
        [] { return strata::beat(); },
        [](const std::stop_token& t) { return strata::stop_cause(t); },
#ifdef STRATA_TEST_NO_JSON
        nullptr,
        nullptr,
#else
        [](const std::string& text) -> strata::error {
            strata::result<strata::error> r = strata::from_json(text);
            return r ? *r : r.error();
        },
        [](const strata::error& e) { return strata::origin_of(e) != nullptr; },
#endif
        [] { return strata::detail::process_state_shared(); },
        stack_here,
        stack_function,
    };
}
