// The replaced operator new and delete (every form) behind strata_test::out_of_memory
// (nothrow allocations only, all threads) and strata_test::allocation_faults (every
// allocation of the calling thread, counted, the chosen ones failed).
#include "support.hpp"

#include <cstddef>
#include <cstdlib>
#include <new>

#if STRATA_TEST_REPLACE_NEW
std::atomic<int> strata_test::fail_nothrow_new{0};
std::atomic<long> strata_test::nothrow_allocations{0};

namespace {

using strata_test::allocation_faults;
using strata_test::fail_mode;

#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
constexpr bool can_throw = true;
#else
constexpr bool can_throw = false;
#endif

// Trivially initialized: readable from operator new at any time, on any thread.
constinit thread_local allocation_faults::state faults{};

// Counts an allocation of this thread while armed; true when it is to fail.
bool inject(bool nothrow) noexcept {
    allocation_faults::state& s = faults;
    if (!s.armed) return false;
    const long n = ++s.count;
    const bool chosen = (s.mode == fail_mode::only_nth && n == s.nth) || (s.mode == fail_mode::from_nth && n >= s.nth);
    if (!chosen || (!nothrow && !can_throw)) return false;
    ++s.failed;
    return true;
}

// out_of_memory's count-down of nothrow failures (shared by all threads).
bool nothrow_failure_due() noexcept {
    int left = strata_test::fail_nothrow_new.load();
    while (left != 0) {
        if (left < 0) return true;
        if (strata_test::fail_nothrow_new.compare_exchange_weak(left, left - 1)) return true;
    }
    return false;
}

[[noreturn]] void throw_bad_alloc() {
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
    throw std::bad_alloc();
#else
    std::abort();
#endif
}

void* raw_allocate(std::size_t size, std::size_t align) noexcept {
    if (size == 0) size = 1;
    if (align <= __STDCPP_DEFAULT_NEW_ALIGNMENT__) return std::malloc(size);
    void* p = nullptr;
    if (align < sizeof(void*)) align = sizeof(void*);
    return posix_memalign(&p, align, size) == 0 ? p : nullptr;
}

// What every replaced operator new does: fail when told to, else allocate with
// malloc, calling the new-handler while there is one (as the standard's do).
void* allocate(std::size_t size, std::size_t align, bool nothrow) {
    if (inject(nothrow) || (nothrow && nothrow_failure_due())) {
        if (nothrow) return nullptr;
        throw_bad_alloc();
    }
    for (;;) {
        if (void* p = raw_allocate(size, align)) {
            if (nothrow) strata_test::nothrow_allocations.fetch_add(1);
            return p;
        }
        const std::new_handler handler = std::get_new_handler();
        if (!handler) {
            if (nothrow) return nullptr;
            throw_bad_alloc();
        }
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
        if (nothrow) {
            try {
                handler();
            } catch (...) {
                return nullptr;
            }
        } else {
            handler();
        }
#else
        handler();
#endif
    }
}

void* allocate_nothrow(std::size_t size, std::size_t align) noexcept {
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
    try {
        return allocate(size, align, true);
    } catch (...) {
        return nullptr;
    }
#else
    return allocate(size, align, true);
#endif
}

}  // namespace

strata_test::allocation_faults::allocation_faults(fail_mode mode, long nth) noexcept : saved_(faults) {
    faults = state{true, mode, nth, 0, 0};
}
strata_test::allocation_faults::~allocation_faults() { faults = saved_; }
long strata_test::allocation_faults::allocations() const noexcept { return faults.count; }
long strata_test::allocation_faults::failures() const noexcept { return faults.failed; }

void* operator new(std::size_t size) { return allocate(size, 0, false); }
void* operator new[](std::size_t size) { return allocate(size, 0, false); }
void* operator new(std::size_t size, std::align_val_t al) { return allocate(size, static_cast<std::size_t>(al), false); }
void* operator new[](std::size_t size, std::align_val_t al) {
    return allocate(size, static_cast<std::size_t>(al), false);
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept { return allocate_nothrow(size, 0); }
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept { return allocate_nothrow(size, 0); }
void* operator new(std::size_t size, std::align_val_t al, const std::nothrow_t&) noexcept {
    return allocate_nothrow(size, static_cast<std::size_t>(al));
}
void* operator new[](std::size_t size, std::align_val_t al, const std::nothrow_t&) noexcept {
    return allocate_nothrow(size, static_cast<std::size_t>(al));
}

// Everything above came from malloc or posix_memalign: free() releases it all.
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
#endif
