// STRATA_SENSITIVE_KEY: read when strata is first used in the process, used as the
// key, and removed from the environment then, so that child processes do not
// inherit the secret. Its own program: strata must not have started before main.
#include <strata/sensitive.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>

int main() {
    if (::setenv("STRATA_SENSITIVE_KEY", "a fleet's shared secret", 1) != 0) return 2;
    const std::string from_env = strata::sensitive_token("4111 1111 1111 1111");  // strata starts here
    int failures = 0;
    auto check = [&](bool ok, const char* what) {
        std::printf("%s: %s\n", ok ? "ok" : "FAILED", what);
        failures += !ok;
    };
    check(std::getenv("STRATA_SENSITIVE_KEY") == nullptr, "STRATA_SENSITIVE_KEY is gone from the environment");
    strata::set_sensitive_key("a fleet's shared secret");
    check(strata::sensitive_token("4111 1111 1111 1111") == from_env, "the key from the environment was the one used");
    strata::set_sensitive_key("another secret");
    check(strata::sensitive_token("4111 1111 1111 1111") != from_env, "and a different key hashes differently");
    std::printf("%d passed, %d failed\n", 3 - failures, failures);
    return failures ? 1 : 0;
}
