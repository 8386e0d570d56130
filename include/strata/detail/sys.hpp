// strata/detail/sys.hpp: the operating system and ABI functions strata calls,
// declared under strata's own names. Private.
//
// Including <unistd.h>, <sys/random.h>, <sys/mman.h>, <dlfcn.h>, <link.h>,
// <dlfcn.h> (dlmopen in the base namespace is dlopen; the name dlopen is left
// free for the user, as tests/CMakeLists.txt checks). The file is a const void*:
// a declaration of the same type as <dlfcn.h>'s, included after this one, would
// conflict with it.
void* dlmopen(long lmid, const void* file, int mode) noexcept __asm__("dlmopen");
inline constexpr long lm_id_base = 0;
inline constexpr int rtld_now = 2, rtld_noload = 4, rtld_nodelete = 0x1000;

// <unwind.h> or <cxxabi.h> would put their names (getrandom, mmap, dlopen,
// _Unwind_Backtrace, abi, ...) into every user's global namespace. Each function
// here is declared in strata::detail::sys and bound to the C symbol by an asm
// label, with opaque pointer types where the C type is a struct: the call is the
// same, and no global name is declared. The standard library's own headers
// (<mutex>, <thread>, <chrono>) still bring in what they bring in.
#pragma once

#include <cstddef>
#include <cstdint>
#include <typeinfo>

#if !defined(__linux__) || !(defined(__GNUC__) || defined(__clang__))
#error "strata supports Linux with g++ or clang++"
#endif

namespace strata::detail::sys {

// <unistd.h>, <sys/random.h>
int getpid() noexcept __asm__("getpid");
int gettid() noexcept __asm__("gettid");
int gethostname(char* name, std::size_t len) noexcept __asm__("gethostname");
long getrandom(void* buf, std::size_t len, unsigned flags) noexcept __asm__("getrandom");
long syscall(long number, ...) noexcept __asm__("syscall");
#if defined(__x86_64__)
inline constexpr long sys_read = 0, sys_write = 1, sys_futex = 202;
#elif defined(__aarch64__)
inline constexpr long sys_read = 63, sys_write = 64, sys_futex = 98;
#else
inline constexpr long sys_read = -1, sys_write = -1, sys_futex = -1;
#endif
// <linux/futex.h>, <time.h>
inline constexpr int futex_wait_private = 128, futex_wake_private = 129;
struct timespec {
    long tv_sec;
    long tv_nsec;
};

// ThreadSanitizer's annotations (null unless its run-time is in the process).
void tsan_acquire(void* addr) noexcept __asm__("__tsan_acquire") __attribute__((weak));
void tsan_release(void* addr) noexcept __asm__("__tsan_release") __attribute__((weak));
int close(int fd) noexcept __asm__("close");
int open(const char* path, int flags, ...) noexcept __asm__("open");
inline constexpr int o_rdonly = 0;
int pipe2(int fds[2], int flags) noexcept __asm__("pipe2");
int unsetenv(const char* name) noexcept __asm__("unsetenv");

// <sys/mman.h> (Linux x86-64 and aarch64 values)
void* mmap(void* addr, std::size_t len, int prot, int flags, int fd, long off) noexcept __asm__("mmap");
int munmap(void* addr, std::size_t len) noexcept __asm__("munmap");
int mprotect(void* addr, std::size_t len, int prot) noexcept __asm__("mprotect");
inline constexpr int prot_read = 1, prot_write = 2;
inline constexpr int map_private = 0x02, map_anonymous = 0x20, map_fixed_noreplace = 0x100000;
inline void* const map_failed = reinterpret_cast<void*>(-1);
inline constexpr int o_cloexec = 02000000;

// <pthread.h>
using pthread_key = unsigned int;
int pthread_atfork(void (*prepare)(), void (*parent)(), void (*child)()) noexcept __asm__("pthread_atfork");
int pthread_key_create(pthread_key* key, void (*destructor)(void*)) noexcept __asm__("pthread_key_create");
void* pthread_getspecific(pthread_key key) noexcept __asm__("pthread_getspecific");
int pthread_setspecific(pthread_key key, const void* value) noexcept __asm__("pthread_setspecific");
unsigned long pthread_self() noexcept __asm__("pthread_self");
// pthread_attr_t is 56 bytes on 64-bit Linux (64 leaves room); passed by address.
struct alignas(8) pthread_attr {
    unsigned char bytes[64];
};
// pthread_t is unsigned long on Linux; the attributes are passed as null only.
int pthread_create(unsigned long* thread, const void* attr, void* (*start)(void*), void* arg) noexcept
    __asm__("pthread_create");
int pthread_detach(unsigned long thread) noexcept __asm__("pthread_detach");
int pthread_getattr_np(unsigned long thread, pthread_attr* attr) noexcept __asm__("pthread_getattr_np");
int pthread_attr_getstack(const pthread_attr* attr, void** addr, std::size_t* size) noexcept
    __asm__("pthread_attr_getstack");
int pthread_attr_destroy(pthread_attr* attr) noexcept __asm__("pthread_attr_destroy");

// <link.h>: the fields of struct dl_phdr_info that strata reads, in their places.
struct elf_phdr {  // Elf64_Phdr
    std::uint32_t type;
    std::uint32_t flags;
    std::uint64_t offset;
    std::uint64_t vaddr;
    std::uint64_t paddr;
    std::uint64_t filesz;
    std::uint64_t memsz;
    std::uint64_t align;
};
inline constexpr std::uint32_t pt_load = 1;
struct dl_phdr_info {
    std::uintptr_t addr;
    const char* name;
    const elf_phdr* phdr;
    std::uint16_t phnum;
    unsigned long long adds;  // objects loaded so far (present when size covers it)
    unsigned long long subs;  // objects unloaded so far
};
using dl_phdr_callback = int (*)(dl_phdr_info* info, std::size_t size, void* data);
int dl_iterate_phdr(dl_phdr_callback callback, void* data) noexcept __asm__("dl_iterate_phdr");

// <dlfcn.h> (dlmopen in the base namespace is dlopen; the name dlopen is left
// free for the user, as tests/CMakeLists.txt checks). The file is a const void*:
// a declaration of the same type as <dlfcn.h>'s, included after this one, would
// conflict with it.
void* dlmopen(long lmid, const void* file, int mode) noexcept __asm__("dlmopen");
inline constexpr long lm_id_base = 0;
inline constexpr int rtld_now = 2, rtld_noload = 4, rtld_nodelete = 0x1000;

// <unwind.h> (an _Unwind_Context is opaque; the reason codes are ints)
inline constexpr int urc_no_reason = 0, urc_end_of_stack = 5;
using unwind_trace_fn = int (*)(void* context, void* arg);
int unwind_backtrace(unwind_trace_fn fn, void* arg) noexcept __asm__("_Unwind_Backtrace");
std::uintptr_t unwind_get_ip_info(void* context, int* ip_before_insn) noexcept __asm__("_Unwind_GetIPInfo");

// <cxxabi.h>
char* cxa_demangle(const char* mangled, char* out, std::size_t* length, int* status) noexcept
    __asm__("__cxa_demangle");
std::type_info* cxa_current_exception_type() noexcept __asm__("__cxa_current_exception_type");

}  // namespace strata::detail::sys
