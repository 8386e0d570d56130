// The replaced nothrow operator new behind strata_test::out_of_memory.
#include "support.hpp"

#include <cstddef>
#include <new>

#if STRATA_TEST_REPLACE_NEW
std::atomic<int> strata_test::fail_nothrow_new{0};
std::atomic<long> strata_test::nothrow_allocations{0};

void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
    int left = strata_test::fail_nothrow_new.load();
    while (left != 0) {
        if (left < 0) return nullptr;
        if (strata_test::fail_nothrow_new.compare_exchange_weak(left, left - 1)) return nullptr;
    }
    strata_test::nothrow_allocations.fetch_add(1);
    try {
        return ::operator new(size);  // so that the plain operator delete frees it
    } catch (...) {
        return nullptr;
    }
}
#endif
