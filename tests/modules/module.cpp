// One test module: built as two shared libraries (module_a, module_b) linked to
// the test executable, and as two dlopen plugins, each with -fvisibility=hidden
// and its own STRATA_TEST_MODULE name. The plugins leave out <strata/json.hpp>:
// nlohmann/json's use of the standard library (std::to_string, ranges) gives a
// g++-built module libstdc++'s STB_GNU_UNIQUE symbols, which would keep a plugin
// that is the first to define them from being unloaded (not strata's doing).
#include "module_api.hpp"

#ifndef STRATA_TEST_NO_JSON
#include <strata/json.hpp>
#endif

#define STRATA_TEST_CAT2(a, b) a##b
#define STRATA_TEST_CAT(a, b) STRATA_TEST_CAT2(a, b)
#define STRATA_TEST_STR2(a) #a
#define STRATA_TEST_STR(a) STRATA_TEST_STR2(a)
// A function named after the module, so a stack says which module it came from.
#define STRATA_TEST_ORIGIN STRATA_TEST_CAT(error_made_in_, STRATA_TEST_MODULE)

namespace {

[[gnu::noinline]] std::vector<std::uintptr_t> STRATA_TEST_ORIGIN() {
    const strata::error e = strata::make_error<strata::low_level>("made in {}", STRATA_TEST_STR(STRATA_TEST_MODULE));
    std::vector<std::uintptr_t> pcs(e.stack().begin(), e.stack().end());
    asm volatile("" ::: "memory");  // not a tail call: this function stays on the stack
    return pcs;
}

const module_api api{
    STRATA_TEST_STR(STRATA_TEST_MODULE),
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
    [](std::stop_token t) { return strata::stop_cause(t); },
#ifndef STRATA_TEST_NO_JSON
    [](const std::string& text) -> strata::error {
        strata::result<strata::error> r = strata::from_json(text);
        return r ? *r : r.error();
    },
    [](const strata::error& e) { return strata::origin_of(e) != nullptr; },
#else
    nullptr,
    nullptr,
#endif
    [] { return strata::detail::process_state_shared(); },
    [] { return STRATA_TEST_ORIGIN(); },
    STRATA_TEST_STR(STRATA_TEST_ORIGIN),
};

}  // namespace

STRATA_TEST_EXPORT const module_api* STRATA_TEST_CAT(strata_test_module_, STRATA_TEST_MODULE)() { return &api; }
