// One test module: built as two shared libraries (module_a, module_b) linked to
// the test executable, and as two dlopen plugins, each with -fvisibility=hidden
// and its own STRATA_TEST_MODULE name. The plugins leave out <strata/json.hpp>:
// nlohmann/json's use of the standard library (std::to_string, ranges) gives a
// g++-built module libstdc++'s STB_GNU_UNIQUE symbols, which would keep a plugin
// that is the first to define them from being unloaded (not strata's doing).
#include "module_api.hpp"

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

const module_api api = this_module_api(STRATA_TEST_STR(STRATA_TEST_MODULE), &STRATA_TEST_ORIGIN,
                                       STRATA_TEST_STR(STRATA_TEST_ORIGIN));

}  // namespace

STRATA_TEST_EXPORT const module_api* STRATA_TEST_CAT(strata_test_module_, STRATA_TEST_MODULE)() { return &api; }
