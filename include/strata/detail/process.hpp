// strata/detail/process.hpp: the one room that holds what must be one per process
// (the ID prefix and counter, the log sink, the sensitive key, the capture policy,
// the unchecked-error handler, the cancellation scopes, the symbol cache), and the
// only file that knows about shared libraries, dlopen and fork(). Private.
//
// Why not a global variable: strata is header-only, so every module (executable,
// shared library, plugin) that includes it compiles its own copy of every global.
// Built with -fvisibility=hidden, or opened with dlopen(RTLD_LOCAL), or with clang,
// those copies stay apart; g++'s STB_GNU_UNIQUE joins some of them only with
// default visibility, and at the price of making the module impossible to unload.
// An exported symbol found through the dynamic linker fails the same cases: an
// executable does not export its symbols unless linked with -rdynamic, and an
// RTLD_LOCAL plugin's are invisible to the rest of the process.
//
// How modules meet instead: the first module to need the state maps one
// read-only page (the anchor) at a fixed address chosen for strata's ABI version,
// with MAP_FIXED_NOREPLACE, so that exactly one module in the process succeeds;
// the anchor holds a pointer to the state, which lives on the heap. Every other module finds the anchor at the same
// address. Nothing depends on symbols, visibility, compilers or dlopen flags, the
// state belongs to no module (a plugin that made it can be unloaded), and fork()
// copies it with the rest of memory. Each module caches the pointer, so asking
// costs one load. If no candidate address can be had (another mapping sits on all
// of them, or a sanitizer forbids the range), the module says so once on stderr
// and keeps a state of its own: IDs stay unique, but that module's settings are
// its own.
//
// Functions stored in the state (a log sink, an unchecked-error handler) are code
// of the module that set them: a plugin that sets one must put it back before it
// is unloaded.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <thread>

#include "../config.hpp"
#include "sys.hpp"

namespace strata::detail {

// Bumped whenever the layout of process_state, or of anything it points to that
// another module's code reads (cancel.hpp's scope and task_context, format.hpp's
// symbol_cache and symbol, handle.hpp's log_sink and log_record, key_pair),
// changes: modules built against another layout meet at other addresses and keep
// a state of their own. (2: log_sink's record_form, log_record::line, the
// delivery lock; the libdw session and its lock. 3: the stopped-scope shards,
// the timer service and the worker pool, runtime.hpp's timer_entry and pool_job.
// 4: timer_state::sleeping_until.)
inline constexpr std::uint32_t process_abi = 4;

// A random 64-bit value: getrandom(), or the clock and the pid if it fails.
inline std::uint64_t random_bits() noexcept {
    std::uint64_t bits = 0;
    if (sys::getrandom(&bits, sizeof bits, 0) != static_cast<long>(sizeof bits)) {
        bits = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
               (static_cast<std::uint64_t>(sys::getpid()) << 32) ^ reinterpret_cast<std::uintptr_t>(&bits);
    }
    return bits;
}

// A sensitive-value hashing key (sensitive.hpp); replaced keys stay reachable.
struct key_pair {
    std::uint64_t k0 = 0;
    std::uint64_t k1 = 0;
    const key_pair* older = nullptr;
};

// One shard of the stopped scopes: a hash table of lists linked through the
// scopes, under one lock. (Few shards: fork() holds every shard's lock, and
// ThreadSanitizer hangs a fork made while one thread holds more than 64.)
inline constexpr std::size_t stopped_scope_shards = 16;
inline constexpr std::size_t stopped_scope_buckets = 256;
struct stopped_scope_shard {
    std::mutex m;
    void* heads[stopped_scope_buckets] = {};
};

// An entry of the timer (runtime.hpp): `fire` is called on the timer's thread
// at `when` (a steady_clock count), outside the timer's lock. `slot` is its
// place in the heap (no_slot: not armed); `owner`, the thread that armed it.
struct timer_entry {
    std::int64_t when = 0;
    void (*fire)(timer_entry*) noexcept = nullptr;
    std::size_t slot = static_cast<std::size_t>(-1);
    unsigned long owner = 0;
};
inline constexpr std::size_t no_slot = static_cast<std::size_t>(-1);

// A job of the worker pool (runtime.hpp): `run` is called on a worker thread.
struct pool_job {
    void (*run)(pool_job*) noexcept = nullptr;
    pool_job* next = nullptr;
};

// The process's one timer (runtime.hpp): a binary heap of timer entries (a
// timer_entry**, malloc'd) ordered by time, served by one thread. `firing` is the
// entry whose callback runs now (outside the lock); `fired` is notified when it
// returns. `serving`: a thread serves the heap (false: none yet, or a fork()ed
// child that must start its own).
struct timer_state {
    std::mutex m;
    std::condition_variable wake;
    std::condition_variable fired;
    timer_entry** heap = nullptr;
    std::size_t n = 0;
    std::size_t cap = 0;
    timer_entry* firing = nullptr;
    // When the serving thread, waiting, wakes by itself (max: only when woken).
    // An entry armed for later than that needs no wake-up: the thread looks at
    // the heap again then (with_timeout armed and canceled a deadline a call,
    // and woke the thread each time).
    std::int64_t sleeping_until = INT64_MAX;
    bool serving = false;
    // Starts the serving thread (code of the module that started the first one,
    // which stays loaded): a fork()ed child with entries to serve calls it.
    bool (*start)(timer_state&) noexcept = nullptr;
};

// The worker pool (runtime.hpp): a FIFO of jobs (linked through the jobs)
struct pool_state {
    std::mutex m;
    // Idle workers (runtime.hpp's pool_slot, each on its worker's stack), a
    // stack: a job is handed to one directly.
    void* idle_head = nullptr;
    pool_job* head = nullptr;
    pool_job* tail = nullptr;
    std::size_t queued = 0;
    std::size_t threads = 0;
    std::size_t idle = 0;
    std::uint64_t started = 0;
    std::uint64_t start_failures = 0;
    // After a thread could not be started, none is tried before this time (a
    // steady_clock count), and why it failed.
    std::int64_t retry_at = 0;
    char failure[120] = {};
    // The supervisor (a timer entry, runtime.hpp) is armed while jobs wait and
    // no worker is idle; it adds workers when the busy ones are blocked. The
    // process CPU time and the time it last looked.
    bool supervising = false;
    std::int64_t checked_at = 0;
    std::int64_t cpu_at = 0;
    timer_entry supervisor{};
};

struct process_state {
    // IDs (handle.hpp): a random prefix drawn per process (again in a fork()
    // child), and a counter. An ID once given is stored whole in its frame.
    std::atomic<std::uint64_t> id_prefix{0};
    std::atomic<std::uint64_t> id_next{1};
    std::atomic<int> id_pid{0};

    // The log sink in force (a const log_sink*) and the replaced ones, kept
    // because a handle() in flight may still call them (handle.hpp).
    std::atomic<const void*> log_sink{nullptr};
    std::atomic<void*> retired_sinks{nullptr};
    // Records are stamped and delivered one at a time under this lock, held by
    // sink_owner (a pthread_self()) while it delivers; a sink that handles an
    // error on the same thread delivers that record without it.
    std::mutex sink_mutex;
    std::atomic<unsigned long> sink_owner{0};

    // The sensitive-value key (sensitive.hpp): null until first used. The
    // STRATA_SENSITIVE_KEY secret is copied here and removed from the environment
    // when the state is made, so child processes do not inherit it.
    std::mutex key_mutex;
    std::atomic<const key_pair*> key{nullptr};
    key_pair first_key{};
    char* key_secret = nullptr;  // malloc'd copy of STRATA_SENSITIVE_KEY, or null

    // capture_policy (stack.hpp) as its underlying value.
    std::atomic<unsigned char> capture_policy{STRATA_CAPTURE_POLICY};

    // The STRATA_CHECKED handler (an unchecked_error_handler), null: the default.
    std::atomic<void*> unchecked_handler{nullptr};

    // Stopped cancellation scopes (cancel.hpp), so that a token handed to another
    // thread or module finds its cause: lists in shards chosen by the token's stop
    // state (a scope that never stops is never listed). And the running task of
    // each thread, as a thread-specific value every module reads.
    stopped_scope_shard stopped_scopes[stopped_scope_shards];
    sys::pthread_key task_key = 0;
    bool task_key_ok = false;

    // The symbol cache (format.hpp), made again when the set of loaded objects
    // changes; the ones it replaces stay reachable (symbols handed out stay valid).
    std::atomic<void*> symbol_cache{nullptr};
    // Bumped when a module that includes strata is unloaded (or the process
    // ends): a cheap sign that the cache must look at dl_iterate_phdr again.
    std::atomic<std::uint64_t> modules_unloaded{0};
    // Per thread: 1 + dlpi_subs when the thread first asked Boost.Stacktrace
    // (whose libbacktrace state is per thread and never sees later unloads).
    sys::pthread_key symbolizer_key = 0;
    bool symbolizer_key_ok = false;
    // The libdw session (format.hpp with STRATA_USE_LIBDW: a dwarf_session*),
    // one per process, used under this lock.
    std::mutex symbolizer_mutex;
    void* symbolizer_session = nullptr;

    // The timer service and the worker pool (runtime.hpp).
    timer_state timer;
    pool_state pool;

    // fork() handlers run once per module: the first in the forking thread locks,
    // the last unlocks. A fork on another thread meanwhile waits for the locks.
    std::atomic<unsigned long> fork_owner{0};
    int fork_depth = 0;
    bool fork_locked_sink = false;  // not when the forking thread is a sink's
};

// The anchor page's first bytes. Plain fields in memory the kernel zeroed: the
// maker writes abi, state_size and state, then publishes magic with a release
// store (through std::atomic_ref); a finder reads the rest only after an acquire
// load of magic has seen it.
struct process_anchor {
    std::uint64_t magic;
    std::uint32_t abi;
    std::uint32_t state_size;
    process_state* state;
};

inline constexpr std::uint64_t anchor_magic = 0x31617461727473ffULL;  // "\xffstrata1", little-endian
inline constexpr std::size_t anchor_page = 4096;
inline constexpr int anchor_candidates = 8;

// Candidate anchor addresses: inside every sanitizer's application range (on
// x86-64 ThreadSanitizer allows only 0x7e8000000000 up), far below where the
// kernel places libraries and mappings (it counts down from the stack).
inline std::uintptr_t anchor_address(int k) noexcept {
#if defined(__x86_64__)
    return 0x7e9a00000000ULL + (static_cast<std::uintptr_t>(process_abi) * anchor_candidates + k) * 0x100000000ULL;
#elif defined(__aarch64__)
    return 0x5a00000000ULL + (static_cast<std::uintptr_t>(process_abi) * anchor_candidates + k) * 0x40000000ULL;
#else
    (void)k;
    return 0;
#endif
}

// Each module's own pointer to the state (hidden: one per module, as intended).
STRATA_MODULE_LOCAL inline std::atomic<process_state*> module_state{nullptr};
// A state of this module's own, if no anchor could be had.
STRATA_MODULE_LOCAL inline process_state* module_fallback = nullptr;

inline void renew_ids(process_state& s) noexcept {
    s.id_prefix.store(random_bits() & ((1ULL << 50) - 1), std::memory_order_relaxed);
    s.id_next.store(1, std::memory_order_relaxed);
    s.id_pid.store(sys::getpid(), std::memory_order_release);
}

inline void init_state(process_state& s) noexcept {
    renew_ids(s);
    if (const char* env = std::getenv("STRATA_SENSITIVE_KEY"); env && *env) {
        const std::size_t n = std::strlen(env);
        if (char* copy = static_cast<char*>(std::malloc(n + 1))) {
            std::memcpy(copy, env, n + 1);
            s.key_secret = copy;
        }
        // Not inherited by child processes. (unsetenv is not safe against a
        // getenv on another thread: this runs once, when strata is first used.)
        sys::unsetenv("STRATA_SENSITIVE_KEY");
    }
    s.task_key_ok = sys::pthread_key_create(&s.task_key, nullptr) == 0;
    s.symbolizer_key_ok = sys::pthread_key_create(&s.symbolizer_key, nullptr) == 0;
}

// A new state (never freed), or null. On the C heap rather than in a mapping of
// its own, so that LeakSanitizer, which scans heap blocks reachable from a
// module's globals (each module's module_state points here), sees what the state
// keeps (sinks, keys, symbol caches) as reachable.
inline process_state* make_state() noexcept {
    void* mem = std::calloc(1, sizeof(process_state));
    if (!mem) return nullptr;
    auto* s = ::new (mem) process_state();
    init_state(*s);
    return s;
}


// Copies n bytes at p through the kernel (a pipe): what ThreadSanitizer cannot
// see, it cannot take for a race with the mmap() another thread is making.
inline bool copy_through_kernel(const void* p, void* out, std::size_t n) noexcept {
    int fds[2];
    if (sys::sys_write < 0 || sys::pipe2(fds, sys::o_cloexec) != 0) return false;
    const bool ok = sys::syscall(sys::sys_write, fds[1], p, n) == static_cast<long>(n) &&
                    sys::syscall(sys::sys_read, fds[0], out, n) == static_cast<long>(n);
    sys::close(fds[0]);
    sys::close(fds[1]);
    return ok;
}

// Whether `n` bytes at `p` can be read, without touching them: a write() from
// unreadable memory fails with EFAULT instead of faulting. (The raw system call,
// so that a sanitizer does not take the kernel's read for the program's, racing
// with the mapping another thread is making.)
inline bool readable(const void* p, std::size_t n) noexcept {
    char scratch[16];
    return n <= sizeof scratch && copy_through_kernel(p, scratch, n);
}

#if defined(__SANITIZE_THREAD__)
#define STRATA_UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define STRATA_UNDER_TSAN 1
#endif
#endif

// The anchor's magic as the maker published it (acquire).
inline std::uint64_t anchor_magic_at(process_anchor* a) noexcept {
#ifdef STRATA_UNDER_TSAN
    // ThreadSanitizer takes the maker's mmap() for a write that nothing orders
    // before this read: read through the kernel, then acquire what the maker
    // released before it published.
    std::uint64_t m = 0;
    if (!copy_through_kernel(&a->magic, &m, sizeof m)) return 0;
    std::atomic_thread_fence(std::memory_order_acquire);
    if (m == anchor_magic && sys::tsan_acquire) sys::tsan_acquire(a);
    return m;
#else
    return std::atomic_ref<std::uint64_t>(a->magic).load(std::memory_order_acquire);
#endif
}

// The state whose anchor is at candidate k, or null (nothing readable there, or
// someone else's memory). An anchor still being published is waited for.
inline process_state* found_at(int k) noexcept {
    void* const at = reinterpret_cast<void*>(anchor_address(k));
    // The page's last bytes, which strata never writes: whether the page can be
    // read (protection is per page) without touching what a maker may be writing.
    if (!at || !readable(static_cast<const char*>(at) + anchor_page - 8, 8)) return nullptr;
    auto* a = static_cast<process_anchor*>(at);
    for (int spins = 0; spins < 200000; ++spins) {
        const std::uint64_t m = anchor_magic_at(a);
        if (m == anchor_magic)
            return a->abi == process_abi && a->state_size == sizeof(process_state) ? a->state : nullptr;
        if (m != 0) return nullptr;  // someone else's memory
        std::this_thread::yield();    // another module is publishing it
    }
    return nullptr;
}

// The state at candidate k: made here (this module maps the anchor first), found
// there (another module did, perhaps at this very moment), or null (the address
// is taken by something else).
inline process_state* meet_at(int k) noexcept {
    void* const at = reinterpret_cast<void*>(anchor_address(k));
    if (!at) return nullptr;
    void* mem = sys::mmap(at, anchor_page, sys::prot_read | sys::prot_write,
                          sys::map_private | sys::map_anonymous | sys::map_fixed_noreplace, -1, 0);
    if (mem == at) {
        // This module is first: make the state, publish it, seal the anchor.
        process_state* s = make_state();
        if (!s) {
            sys::munmap(at, anchor_page);
            return nullptr;
        }
        auto* a = static_cast<process_anchor*>(at);  // zeroed by the kernel
        a->abi = process_abi;
        a->state_size = sizeof(process_state);
        a->state = s;
        if (sys::tsan_release) sys::tsan_release(a);  // see anchor_magic_at
        std::atomic_ref<std::uint64_t>(a->magic).store(anchor_magic, std::memory_order_release);
        sys::mprotect(at, anchor_page, sys::prot_read);
        return s;
    }
    if (mem != sys::map_failed) sys::munmap(mem, anchor_page);  // an old kernel took the address as a hint
    return found_at(k);
}

// (Every function here that reads this module's own variables is module-local
// too: with default visibility another module's copy could stand in for it.)
//
// fork(): the first prepare handler (one per module) locks what a child could
// otherwise inherit locked; the last parent/child handler unlocks. The child
// draws a new ID prefix: IDs given before the fork are stored whole in their
// frames and keep their value.
STRATA_MODULE_LOCAL inline void fork_prepare() noexcept {
    process_state& s = *module_state.load(std::memory_order_acquire);
    const unsigned long me = sys::pthread_self();
    if (s.fork_owner.load(std::memory_order_acquire) == me) {
        ++s.fork_depth;
        return;
    }
    // The delivery lock first: a sink may take the others. A sink that forks
    // holds it already (and still does in the child).
    const bool lock_sink = s.sink_owner.load(std::memory_order_relaxed) != me;
    if (lock_sink) s.sink_mutex.lock();
    for (stopped_scope_shard& shard : s.stopped_scopes) shard.m.lock();
    s.timer.m.lock();
    s.pool.m.lock();
    s.key_mutex.lock();
    s.symbolizer_mutex.lock();
    s.fork_owner.store(me, std::memory_order_release);
    s.fork_depth = 1;
    s.fork_locked_sink = lock_sink;
}
STRATA_MODULE_LOCAL inline void fork_unlock(process_state& s) noexcept {
    if (--s.fork_depth != 0) return;
    s.fork_owner.store(0, std::memory_order_release);
    s.symbolizer_mutex.unlock();
    s.key_mutex.unlock();
    s.pool.m.unlock();
    s.timer.m.unlock();
    for (stopped_scope_shard& shard : s.stopped_scopes) shard.m.unlock();
    if (s.fork_locked_sink) s.sink_mutex.unlock();
}
STRATA_MODULE_LOCAL inline void fork_parent() noexcept { fork_unlock(*module_state.load(std::memory_order_acquire)); }
// Each module's thread-local caches that a child must refresh (handle.hpp's
// thread id) register here; one per module.
STRATA_MODULE_LOCAL inline std::atomic<void (*)() noexcept> module_fork_child_hook{nullptr};
// What the child keeps of the timer and the pool: their threads are gone. The
// timer keeps the entries of the forking thread (a with_timeout it is inside of)
// and drops the others' (their threads do not exist here); the pool keeps its
// queue, and starts threads again when asked. Their condition variables may
// count waiters that no longer exist: they are made anew.
inline void timer_pool_after_fork(process_state& s) noexcept {
    timer_state& t = s.timer;
    const unsigned long me = sys::pthread_self();
    std::size_t kept = 0;
    for (std::size_t i = 0; i < t.n; ++i) {
        timer_entry* e = t.heap[i];
        if (e->owner == me && e != &s.pool.supervisor)
            t.heap[kept++] = e;
        else
            e->slot = no_slot;
    }
    // Kept in the order they were (a heap's prefix is not one): sorted, a heap.
    for (std::size_t i = 1; i < kept; ++i)
        for (std::size_t j = i; j > 0 && t.heap[j]->when < t.heap[j - 1]->when; --j) {
            timer_entry* x = t.heap[j];
            t.heap[j] = t.heap[j - 1];
            t.heap[j - 1] = x;
        }
    for (std::size_t i = 0; i < kept; ++i) t.heap[i]->slot = i;
    t.n = kept;
    t.firing = nullptr;
    t.sleeping_until = INT64_MAX;
    t.serving = false;
    ::new (&t.wake) std::condition_variable();
    ::new (&t.fired) std::condition_variable();
    // A with_timeout the forking thread is inside of still has its deadline.
    if (kept && t.start) t.serving = t.start(t);
    pool_state& p = s.pool;
    p.threads = 0;
    p.idle = 0;
    p.idle_head = nullptr;
    p.supervising = false;
    p.started = 0;
    p.start_failures = 0;
    p.retry_at = 0;
}
STRATA_MODULE_LOCAL inline void fork_child() noexcept {
    process_state& s = *module_state.load(std::memory_order_acquire);
    if (s.fork_depth == 1) timer_pool_after_fork(s);
    fork_unlock(s);
    if (s.id_pid.load(std::memory_order_relaxed) != sys::getpid()) renew_ids(s);
    if (auto hook = module_fork_child_hook.load(std::memory_order_acquire)) hook();
}

[[gnu::cold, gnu::noinline]] STRATA_MODULE_LOCAL inline process_state* attach_process() noexcept {
    // First look for an anchor at every candidate (one may sit past a candidate
    // that was taken when it was made and has been freed since), then make one
    // at the first free candidate. Two modules racing both try that candidate
    // first: one maps it, the other finds it there.
    process_state* s = nullptr;
    for (int k = 0; k < anchor_candidates && !s; ++k) s = found_at(k);
    for (int k = 0; k < anchor_candidates && !s; ++k) s = meet_at(k);
    if (!s) {
        s = make_state();
        if (!s) {
            // Not even one page: a static state of this module's own.
            static process_state last_resort;
            static std::once_flag once;
            std::call_once(once, [] { init_state(last_resort); });
            s = &last_resort;
        }
        std::fprintf(stderr,
                     "strata: no address for the process-wide state could be had; this module keeps its own "
                     "(IDs stay unique; log sink, key and policies set in other modules do not reach it)\n");
        module_fallback = s;
    }
    process_state* expected = nullptr;
    if (module_state.compare_exchange_strong(expected, s, std::memory_order_acq_rel)) {
        sys::pthread_atfork(&fork_prepare, &fork_parent, &fork_child);
        return s;
    }
    return expected;  // another thread of this module attached first (to the same state)
}

// Each module that includes strata says when it is unloaded (its destructors run
// at dlclose, and at exit), so that the symbol cache can tell cheaply.
[[gnu::destructor]] STRATA_MODULE_LOCAL inline void module_unloading() noexcept {
    if (process_state* s = module_state.load(std::memory_order_acquire))
        s->modules_unloaded.fetch_add(1, std::memory_order_release);
}

// The process's state. After the first call in a module, one load.
STRATA_MODULE_LOCAL inline process_state& process() noexcept {
    if (process_state* s = module_state.load(std::memory_order_acquire)) [[likely]]
        return *s;
    return *attach_process();
}

// Whether this module found the process-wide state (false: it keeps its own).
STRATA_MODULE_LOCAL inline bool process_state_shared() noexcept {
    process();
    return module_fallback == nullptr;
}

}  // namespace strata::detail
