// A program that uses strata first through a plugin (opened with dlopen, then
// closed), and only then itself: the state the plugin made outlives it, and the
// executable finds it (the same ID prefix, the sink the plugin saw set, the key).
#include "module_api.hpp"

#include <dlfcn.h>

#include <cstdio>
#include <string>

int main() {
    void* h = dlopen(STRATA_TEST_PLUGIN1, RTLD_NOW | RTLD_LOCAL);
    if (!h) return std::printf("dlopen: %s\n", dlerror()), 1;
    auto entry = reinterpret_cast<module_entry>(dlsym(h, "strata_test_module_plugin1"));
    if (!entry) return std::printf("dlsym failed\n"), 1;
    const module_api* p = entry();
    const std::string plugin_id = p->handle_id(p->make("made and handled in the plugin, first in the process"));
    const std::string plugin_hash = p->hash("secret");
    p->set_policy(strata::capture_policy::every_frame);
    if (dlclose(h) != 0) return std::printf("dlclose failed\n"), 1;
    if (dlopen(STRATA_TEST_PLUGIN1, RTLD_NOW | RTLD_NOLOAD)) return std::printf("the plugin stayed loaded\n"), 1;

    const std::string exe_id = strata::handle(strata::make_error<strata::low_level>("made in the executable")).id;
    int failures = 0;
    auto check = [&](bool ok, const char* what) {
        std::printf("%s: %s\n", ok ? "ok" : "FAILED", what);
        failures += !ok;
    };
    check(exe_id.substr(0, 10) == plugin_id.substr(0, 10), "the executable's ID has the prefix the plugin drew");
    check(exe_id != plugin_id, "and a new number");
    check(strata::sensitive_token("secret") == plugin_hash, "the key the plugin used is the executable's");
    check(strata::get_capture_policy() == strata::capture_policy::every_frame, "the policy the plugin set holds");
    check(strata::detail::process_state_shared(), "the executable found the state");
    std::printf("%d passed, %d failed\n", 5 - failures, failures);
    return failures ? 1 : 0;
}
