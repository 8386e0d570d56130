// strata/detail/runtime.hpp: the threads strata runs work on, one set per
// process. Private.
//
// - The timer: one thread serving a binary heap of entries (deadlines of
//   with_timeout, heartbeat checks, the pool's supervisor). Arming and disarming
//   cost O(log n) under the timer's lock; nothing is scanned.
// - The worker pool: the threads that run a task_group's tasks and first_of's
//   replicas. It starts a thread per job until there are as many as CPUs; past
//   that, the supervisor (a timer entry, every millisecond while jobs wait and no
//   worker is idle) adds threads only when the busy ones are blocked (the
//   process used less CPU than it has) so that a blocking task never starves the
//   others, and a thread idle for two seconds ends.
// - How far a thread got: its CPU time and its time waiting for a CPU, from
//   /proc (schedstat), which tells a starved task from a stalled one.
//
// The state lives in the process state (process.hpp), so every module uses the
// same timer and pool. Their threads run the code of the module that started
// them: that module is made impossible to unload (RTLD_NODELETE) first.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <exception>
#include <mutex>
#include <new>
#include <system_error>
#include <thread>

#include "process.hpp"
#include "sys.hpp"

namespace strata::detail {

using steady_clock = std::chrono::steady_clock;

inline std::int64_t steady_count() noexcept { return steady_clock::now().time_since_epoch().count(); }
inline std::int64_t steady_count(std::chrono::nanoseconds d) noexcept {
    return std::chrono::duration_cast<steady_clock::duration>(d).count();
}

// The module (shared library or plugin) holding `code` is never unloaded from
// now on: a thread of the timer or the pool runs its code for the rest of the
// process. Nothing to do for the executable.
inline void pin_module_of(const void* code) noexcept {
    struct search {
        std::uintptr_t at;
        const char* name;
    } s{reinterpret_cast<std::uintptr_t>(code), nullptr};
    sys::dl_iterate_phdr(
        [](sys::dl_phdr_info* info, std::size_t, void* data) -> int {
            auto* s = static_cast<search*>(data);
            for (std::uint16_t i = 0; i < info->phnum; ++i) {
                const sys::elf_phdr& ph = info->phdr[i];
                if (ph.type != sys::pt_load) continue;
                const std::uintptr_t lo = info->addr + ph.vaddr;
                if (s->at >= lo && s->at < lo + ph.memsz) {
                    s->name = info->name;
                    return 1;
                }
            }
            return 0;
        },
        &s);
    if (s.name && *s.name) sys::dlmopen(sys::lm_id_base, s.name, sys::rtld_now | sys::rtld_noload | sys::rtld_nodelete);
}

template <void (*Fn)(void*) noexcept>
void* thread_entry(void* arg) noexcept {
    Fn(arg);
    return nullptr;
}

// Starts a detached thread running Fn(arg) (the module holding Fn pinned
// first). False, with why in `why` when given, if none could be had. Calls
// pthread_create itself: std::thread reports a failure by throwing, and
// without exceptions (-fno-exceptions) by aborting the process.
template <void (*Fn)(void*) noexcept>
bool start_thread(void* arg, char (*why)[120] = nullptr) noexcept {
    static std::once_flag pinned;  // once per module
    std::call_once(pinned, [] { pin_module_of(reinterpret_cast<const void*>(Fn)); });
    unsigned long id = 0;
    const int rc = sys::pthread_create(&id, nullptr, &thread_entry<Fn>, arg);
    if (rc == 0) {
        sys::pthread_detach(id);
        return true;
    }
    if (why) {
        const char* text = std::strerror(rc);  // thread-safe in glibc >= 2.32
        std::size_t i = 0;
        for (const char* p = text; p && *p && i + 1 < sizeof *why; ++p) (*why)[i++] = *p;
        (*why)[i] = 0;
    }
    return false;
}

// ---- The timer ------------------------------------------------------------

inline void timer_place(timer_entry** heap, std::size_t i, timer_entry* e) noexcept {
    heap[i] = e;
    e->slot = i;
}

inline void timer_sift_up(timer_state& t, std::size_t i) noexcept {
    timer_entry* e = t.heap[i];
    while (i > 0) {
        const std::size_t up = (i - 1) / 2;
        if (t.heap[up]->when <= e->when) break;
        timer_place(t.heap, i, t.heap[up]);
        i = up;
    }
    timer_place(t.heap, i, e);
}

inline void timer_sift_down(timer_state& t, std::size_t i) noexcept {
    timer_entry* e = t.heap[i];
    for (;;) {
        std::size_t c = 2 * i + 1;
        if (c >= t.n) break;
        if (c + 1 < t.n && t.heap[c + 1]->when < t.heap[c]->when) ++c;
        if (e->when <= t.heap[c]->when) break;
        timer_place(t.heap, i, t.heap[c]);
        i = c;
    }
    timer_place(t.heap, i, e);
}

// Takes entry `e` (armed) out of the heap. Under t.m.
inline void timer_remove(timer_state& t, timer_entry* e) noexcept {
    const std::size_t i = e->slot;
    e->slot = no_slot;
    timer_entry* last = t.heap[--t.n];
    if (last == e) return;
    timer_place(t.heap, i, last);
    timer_sift_up(t, i);
    timer_sift_down(t, last->slot);
}

inline void timer_main(void* arg) noexcept {
    auto& t = *static_cast<timer_state*>(arg);
    std::unique_lock lock(t.m);
    for (;;) {
        if (t.n == 0) {
            t.sleeping_until = INT64_MAX;
            t.wake.wait(lock);
            continue;
        }
        timer_entry* top = t.heap[0];
        const std::int64_t now = steady_count();
        if (top->when > now) {
            t.sleeping_until = top->when;
            t.wake.wait_until(lock, steady_clock::time_point(steady_clock::duration(top->when)));
            continue;
        }
        timer_remove(t, top);
        t.firing = top;
        lock.unlock();
        top->fire(top);
        lock.lock();
        t.firing = nullptr;
        t.fired.notify_all();
    }
}

// Arms (or moves) entry `e` to fire at `when`. False when the heap cannot grow
// or no thread can serve it: then it is not armed.
inline bool timer_arm(timer_entry* e, std::int64_t when) noexcept {
    process_state& s = process();
    timer_state& t = s.timer;
    std::unique_lock lock(t.m);
    e->when = when;
    e->owner = sys::pthread_self();
    if (e->slot != no_slot) {
        timer_sift_up(t, e->slot);
        timer_sift_down(t, e->slot);
    } else {
        if (t.n == t.cap) {
            const std::size_t cap = t.cap ? 2 * t.cap : 64;
            void* grown = std::realloc(t.heap, cap * sizeof(timer_entry*));
            if (!grown) return false;
            t.heap = static_cast<timer_entry**>(grown);
            t.cap = cap;
        }
        timer_place(t.heap, t.n++, e);
        timer_sift_up(t, e->slot);
    }
    if (!t.serving) {
        // No thread serves the heap in this process yet (or this is a fork()ed
        // child: timer_pool_after_fork() said so).
        t.start = [](timer_state& state) noexcept { return start_thread<&timer_main>(&state); };
        if (!t.start(t)) {
            timer_remove(t, e);
            return false;
        }
        t.serving = true;
    } else if (e->slot == 0 && when < t.sleeping_until) {
        // Earlier than the serving thread wakes by itself. (While it runs
        // rather than waits, it looks at the heap before it waits again.)
        t.wake.notify_one();
    }
    return true;
}

// Disarms entry `e`: true if it had not fired. If its callback is running, waits
// for it to return first (then `e` may be freed), and reports whether the
// callback armed it again (then it is disarmed too).
inline bool timer_cancel(timer_entry* e) noexcept {
    timer_state& t = process().timer;
    std::unique_lock lock(t.m);
    while (t.firing == e) t.fired.wait(lock);
    if (e->slot == no_slot) return false;
    timer_remove(t, e);
    return true;
}

// ---- How far a thread got ---------------------------------------------------

// A thread's CPU time, its time waiting for a CPU (both ns, from schedstat) and
// its state letter ('R' runnable, 'S' sleeping, 'D' in the kernel, ...).
struct thread_sample {
    bool ok = false;
    std::uint64_t run_ns = 0;
    std::uint64_t wait_ns = 0;
    char state = '?';
};

inline long read_small_file(const char* path, char* buf, std::size_t n) noexcept {
    const int fd = sys::open(path, sys::o_rdonly | sys::o_cloexec);
    if (fd < 0) return -1;
    const long got = sys::syscall(sys::sys_read, fd, buf, n - 1);
    sys::close(fd);
    if (got >= 0) buf[got] = 0;
    return got;
}

inline thread_sample sample_thread(int tid) noexcept {
    thread_sample out;
    char path[64];
    char buf[512];
    char digits[16];
    std::size_t nd = 0;
    for (unsigned v = static_cast<unsigned>(tid); nd == 0 || v; v /= 10) digits[nd++] = static_cast<char>('0' + v % 10);
    auto make = [&](const char* leaf) {
        std::size_t i = 0;
        for (const char* p = "/proc/self/task/"; *p;) path[i++] = *p++;
        while (nd) path[i++] = digits[--nd];
        for (const char* p = leaf; *p;) path[i++] = *p++;
        path[i] = 0;
    };
    const std::size_t nd_all = nd;
    make("/schedstat");
    if (read_small_file(path, buf, sizeof buf) <= 0) return out;
    char* end = nullptr;
    out.run_ns = std::strtoull(buf, &end, 10);
    out.wait_ns = std::strtoull(end, &end, 10);
    nd = nd_all;
    make("/stat");
    if (read_small_file(path, buf, sizeof buf) > 0) {
        // "tid (comm) S ...": the name may hold anything, ')' included.
        const char* close = nullptr;
        for (const char* p = buf; *p; ++p)
            if (*p == ')') close = p;
        if (close && close[1] == ' ') out.state = close[2];
    }
    out.ok = true;
    return out;
}

// ---- The pool -------------------------------------------------------------

// Locks `lock`'s mutex, spinning a little first: the pool's lock is held for a
// few instructions at a time, by many threads, and sleeping on it at once (as
// std::mutex does) costs two context switches.
inline void lock_spinning(std::unique_lock<std::mutex>& lock) noexcept {
    for (int i = 0; i < 64; ++i) {
        if (lock.try_lock()) return;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        asm volatile("yield");
#endif
    }
    lock.lock();
}

inline constexpr std::int64_t pool_idle_ns = 2'000'000'000;      // a worker idle this long ends
inline constexpr std::int64_t pool_tick_ns = 1'000'000;          // the supervisor's period
inline constexpr std::int64_t pool_retry_ns = 100'000'000;       // after a failed thread start

// The CPUs, read once per module (std::thread::hardware_concurrency() reads
// /sys at every call).
inline std::size_t cpu_count() noexcept {
    static const std::size_t n = [] {
        const unsigned k = std::thread::hardware_concurrency();
        return k ? std::size_t{k} : std::size_t{2};
    }();
    return n;
}

// A one-shot wake-up: post() once, wait() until it is posted (or a timeout).
// A futex on the flag itself: std::binary_semaphore spins with sched_yield
// first, which costs a busy machine more than the sleep it saves.
struct wake_flag {
    std::atomic<int> posted{0};

    void post() noexcept {
        posted.store(1, std::memory_order_release);
        if (sys::sys_futex >= 0) sys::syscall(sys::sys_futex, &posted, sys::futex_wake_private, 1);
    }
    // One wait on the flag: until woken, or `t` (null: no limit) has passed.
    void sleep(const sys::timespec* t) noexcept {
        if (sys::sys_futex >= 0)
            sys::syscall(sys::sys_futex, &posted, sys::futex_wait_private, 0, t);
        else
            std::this_thread::sleep_for(std::chrono::microseconds(50));  // (no futex number known here)
    }
    // True when posted; false after `ns` without.
    bool wait_for(std::int64_t ns) noexcept {
        const std::int64_t until = steady_count() + ns;
        while (posted.load(std::memory_order_acquire) == 0) {
            const std::int64_t left = until - steady_count();
            if (left <= 0) return false;
            sys::timespec t{left / 1'000'000'000, left % 1'000'000'000};
            sleep(&t);
        }
        return true;
    }
    void wait() noexcept {
        while (posted.load(std::memory_order_acquire) == 0)
            sleep(nullptr);
    }
};

// An idle worker, on its own stack: a job is handed to it (under the pool's
// lock) and it is woken through its own semaphore, so that a worker never
// fights the others for the pool's lock to learn it has work.
struct pool_slot {
    wake_flag ready;
    pool_job* job = nullptr;
    pool_slot* next = nullptr;
};

inline void pool_worker(void* arg) noexcept {
    auto& p = *static_cast<pool_state*>(arg);
    pool_slot me;
    std::unique_lock lock(p.m, std::defer_lock);
    lock_spinning(lock);
    for (;;) {
        pool_job* job = p.head;
        if (job) {
            p.head = job->next;
            if (!p.head) p.tail = nullptr;
            --p.queued;
        } else {
            me.job = nullptr;
            me.ready.posted.store(0, std::memory_order_relaxed);
            me.next = static_cast<pool_slot*>(p.idle_head);
            p.idle_head = &me;
            ++p.idle;
            lock.unlock();
            while (!me.ready.wait_for(pool_idle_ns)) {
                lock_spinning(lock);
                if (me.job) {
                    // Handed a job as the wait ended: its wake-up is on the way.
                    lock.unlock();
                    me.ready.wait();
                    break;
                }
                if (p.threads > cpu_count()) {
                    // Idle too long, and more threads than CPUs: this one ends.
                    for (void** at = &p.idle_head; *at; at = reinterpret_cast<void**>(&static_cast<pool_slot*>(*at)->next))
                        if (*at == &me) {
                            *at = me.next;
                            break;
                        }
                    --p.idle;
                    --p.threads;
                    return;
                }
                lock.unlock();
            }
            job = me.job;
            job->run(job);
            lock_spinning(lock);
            continue;
        }
        lock.unlock();
        job->run(job);
        lock_spinning(lock);
    }
}

// Starts `k` workers. Under p.m (the lock is let go while a thread starts).
// False if none could be.
inline bool pool_grow(pool_state& p, std::unique_lock<std::mutex>& lock, std::size_t k) noexcept {
    bool any = false;
    for (std::size_t i = 0; i < k; ++i) {
        if (steady_count() < p.retry_at) break;
        // Counted before it runs, so that no other caller starts it twice (and
        // the figures never show a thread alive that was not started).
        ++p.threads;
        ++p.started;
        char why[120] = {};
        lock.unlock();
        const bool ok = start_thread<&pool_worker>(&p, &why);
        lock.lock();
        if (ok) {
            any = true;
            continue;
        }
        --p.threads;
        --p.started;
        ++p.start_failures;
        p.retry_at = steady_count() + steady_count(std::chrono::nanoseconds(pool_retry_ns));
        std::memcpy(p.failure, why, sizeof why);
        break;
    }
    return any;
}

inline void pool_supervise(timer_entry* e) noexcept;

// Arms the supervisor unless it is. Under p.m.
inline void pool_watch(pool_state& p) noexcept {
    if (p.supervising) return;
    // The supervisor is this module's code, armed for as long as the process
    // lives: the module stays loaded.
    static std::once_flag pinned;
    std::call_once(pinned, [] { pin_module_of(reinterpret_cast<const void*>(&pool_supervise)); });
    p.supervising = true;
    p.checked_at = steady_count();
    p.cpu_at = static_cast<std::int64_t>(std::clock());
    p.supervisor.fire = &pool_supervise;
    if (!timer_arm(&p.supervisor, p.checked_at + steady_count(std::chrono::nanoseconds(pool_tick_ns))))
        p.supervising = false;
}

// Every tick while jobs wait for a worker: if the process used less than its
// CPUs since the last tick, the busy workers are (mostly) blocked; add some.
inline void pool_supervise(timer_entry*) noexcept {
    pool_state& p = process().pool;
    std::unique_lock lock(p.m);
    if (p.queued == 0) {
        p.supervising = false;
        return;
    }
    const std::int64_t now = steady_count();
    const auto cpu = static_cast<std::int64_t>(std::clock());
    const double wall_s = std::chrono::duration<double>(steady_clock::duration(now - p.checked_at)).count();
    const double cpu_s = static_cast<double>(cpu - p.cpu_at) / CLOCKS_PER_SEC;
    p.checked_at = now;
    p.cpu_at = cpu;
    const double cpus = static_cast<double>(cpu_count());
    if (wall_s > 0 && cpu_s < 0.75 * cpus * wall_s) {
        std::size_t k = p.threads / 8;
        if (k < cpu_count()) k = cpu_count();
        if (k > p.queued) k = p.queued;
        pool_grow(p, lock, k);
    }
    if (!timer_arm(&p.supervisor, now + steady_count(std::chrono::nanoseconds(pool_tick_ns)))) p.supervising = false;
}

// Makes sure a worker serves the queue (a fork()ed child has none until a job
// is queued; a thread waiting there for jobs queued before the fork asks here).
inline void pool_ensure_worker() noexcept {
    pool_state& p = process().pool;
    std::unique_lock lock(p.m);
    if (p.queued && p.threads == 0) pool_grow(p, lock, 1);
}

// Queues `job`. False (and `job` not queued, why in `why`) only when the pool
// has no thread and none can be started.
inline bool pool_submit(pool_job* job, char (*why)[120] = nullptr) noexcept {
    pool_state& p = process().pool;
    std::unique_lock lock(p.m, std::defer_lock);
    lock_spinning(lock);
    job->next = nullptr;
    if (p.idle_head) {
        // An idle worker takes it.
        auto* idle = static_cast<pool_slot*>(p.idle_head);
        p.idle_head = idle->next;
        --p.idle;
        idle->job = job;
        lock.unlock();
        idle->ready.post();
        return true;
    }
    if (p.tail)
        p.tail->next = job;
    else
        p.head = job;
    p.tail = job;
    ++p.queued;
    if (p.threads < cpu_count() && pool_grow(p, lock, 1)) return true;
    if (p.threads == 0) {
        // Nothing will ever run it: take it back.
        pool_job** at = &p.head;
        pool_job* prev = nullptr;
        while (*at && *at != job) {
            prev = *at;
            at = &(*at)->next;
        }
        if (*at) {
            *at = job->next;
            if (p.tail == job) p.tail = prev;
            --p.queued;
        }
        if (why) std::memcpy(*why, p.failure, sizeof p.failure);
        return false;
    }
    pool_watch(p);
    return true;
}

}  // namespace strata::detail

namespace strata {

// The worker pool's figures: threads started since the process began (in a
// fork()ed child: since the fork), alive now, idle now, and thread starts that
// failed.
struct pool_stats {
    std::uint64_t threads_started = 0;
    std::size_t threads = 0;
    std::size_t idle = 0;
    std::uint64_t start_failures = 0;
};

inline pool_stats thread_pool_stats() noexcept {
    detail::pool_state& p = detail::process().pool;
    std::lock_guard lock(p.m);
    return {p.started, p.threads, p.idle, p.start_failures};
}

}  // namespace strata
