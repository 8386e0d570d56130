// concurrent_jobs as coroutines on Boost.Asio (<strata/asio.hpp>): the same
// nightly run as main.cpp, the same errors, but every job is a coroutine on one
// io_context thread instead of a thread of its own, and waiting is an Asio timer
// that strata cancels when a job is stopped.
//
//   concurrent_jobs_coro
//
//   fetch-config    a replicated request to three mirrors: the first answer wins,
//                   the slower mirror's timer is canceled, "lost to replica 2"
//   sync-mirrors    a replicated request where every mirror refuses
//   resize-images   slow: it beats, but needs more time than its deadline allows
//   index-docs      stalls: it stops beating, and is stopped as stalled
//   export-archive  two steps in a group of their own; one fails with a raw disk
//                   error (a bug), which cancels the other
//   warm-cache      still running when the run's deadline passes: canceled, with
//                   the parent's deadline as the cause
//
// No `co_return co_await f();`, no class-type temporaries inside a co_await
// expression, and no `co_return <error made here>` before a later co_await:
// g++ 12 miscompiles some of them (a result destroyed twice). The result goes
// to a local first.
#include <strata/asio.hpp>
#include <strata/strata.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <array>
#include <chrono>
#include <string>
#include <string_view>
#include <system_error>

using namespace std::chrono_literals;
namespace net = boost::asio;
using strata::asio::task_context;

namespace {

template <class T>
using job_result = net::awaitable<strata::result<T>>;

// Waits for `d` on an Asio timer: false if strata canceled the wait (the
// task's token was stopped).
net::awaitable<bool> nap(std::chrono::milliseconds d) {
    net::steady_timer timer(co_await net::this_coro::executor, d);
    auto [ec] = co_await timer.async_wait(net::as_tuple(net::use_awaitable));
    co_return !ec;
}

// --- low level: a pretend network and disk ---------------------------------------

job_result<std::string> fetch_from_mirror(const std::stop_token& token, int mirror, std::chrono::milliseconds latency) {
    strata::result<std::string> r;
    if (mirror >= 3)
        r = strata::wrap<strata::low_level>(std::make_error_code(std::errc::connection_refused),
                                            "connect to mirror{}.example.net:443", mirror);
    else if (const bool slept = co_await nap(latency); !slept)
        r = strata::canceled_by(token);
    else
        r = fmt::format("config v42 from mirror {}", mirror);
    co_return r;
}

job_result<void> write_archive(std::stop_token) {
    co_return strata::wrap<strata::low_level>(std::make_error_code(std::errc::no_space_on_device),
                                              "write /var/spool/export/archive.tar")
        .with("bytes_written", 7340032);
}

// --- the jobs ---------------------------------------------------------------------

job_result<std::string> fetch_config(task_context&) {
    strata::result<std::string> r = co_await strata::asio::with_timeout(2s, {.operation = "fetch-config"}, [](std::stop_token) {
        return strata::asio::first_of(
            [](std::stop_token t) -> job_result<std::string> {
            strata::result<std::string> r = co_await fetch_from_mirror(t, 1, 1500ms);
            co_return r;
        },
            [](std::stop_token t) -> job_result<std::string> {
            strata::result<std::string> r = co_await fetch_from_mirror(t, 2, 20ms);
            co_return r;
        },
            [](std::stop_token t) -> job_result<std::string> {
            strata::result<std::string> r = co_await fetch_from_mirror(t, 3, 0ms);
            co_return r;
        });
    });
    co_return r;
}

job_result<std::string> sync_mirrors(task_context&) {
    strata::result<std::string> r = co_await strata::asio::first_of(
        [](std::stop_token t) -> job_result<std::string> {
            strata::result<std::string> r = co_await fetch_from_mirror(t, 3, 0ms);
            co_return r;
        },
        [](std::stop_token t) -> job_result<std::string> {
            strata::result<std::string> r = co_await fetch_from_mirror(t, 4, 0ms);
            co_return r;
        },
        [](std::stop_token t) -> job_result<std::string> {
            strata::result<std::string> r = co_await fetch_from_mirror(t, 5, 0ms);
            co_return r;
        });
    co_return std::move(r).wrap<strata::intermediate>("sync-mirrors: no mirror answered");
}

// Twenty batches of 50 ms, beating after each: alive all along, but slow.
job_result<std::string> resize_images(task_context&) {
    strata::result<std::string> r = co_await strata::asio::with_timeout(
        100ms, {.operation = "resize-images", .heartbeat = 500ms}, [](task_context& ctx) -> job_result<std::string> {
            for (int batch = 0; batch < 20; ++batch) {
                if (!co_await nap(50ms)) co_return strata::canceled_by(ctx.token());
                ctx.beat();
            }
            co_return std::string("resized 20 batches");
        });
    co_return r;
}

// Beats three times, then waits for a lock nobody releases: stalled, not slow.
job_result<std::string> index_docs(task_context&) {
    strata::result<std::string> r = co_await strata::asio::with_timeout(
        10s, {.operation = "index-docs", .heartbeat = 200ms}, [](task_context& ctx) -> job_result<std::string> {
            for (int i = 0; i < 3; ++i) {
                ctx.beat();
                if (!co_await nap(5ms)) co_return strata::canceled_by(ctx.token());
            }
            co_await nap(1h);  // the lock that is never released
            co_return strata::canceled_by(ctx.token(), "index-docs gave up waiting for the index lock");
        });
    co_return r;
}

// Compress and upload at once, in a group nested in this job; the upload fails
// with a raw disk error, which the job does not wrap for the user: a bug.
job_result<std::string> export_archive(task_context& ctx) {
    strata::asio::task_group steps(ctx);
    steps.spawn("compress", [](std::stop_token token) -> job_result<void> {
        if (!co_await nap(10s)) co_return strata::canceled_by(token, "compression stopped");
        co_return strata::result<void>();
    });
    steps.spawn("upload", write_archive);
    STRATA_CO_TRY(co_await steps.wait());
    co_return std::string("exported");
}

// A long job that beats until the run's deadline stops it.
job_result<std::string> warm_cache(task_context& ctx) {
    for (int entry = 0; entry < 1000; ++entry) {
        if (!co_await nap(10ms))
            co_return strata::canceled_by(ctx.token(), "warm-cache was canceled after {} entries", entry);
        ctx.beat();
    }
    co_return std::string("warmed 1000 entries");
}

struct job {
    std::string_view name;
    job_result<std::string> (*run)(task_context&);
};

constexpr std::array<job, 6> jobs{{{"fetch-config", fetch_config},
                                   {"sync-mirrors", sync_mirrors},
                                   {"resize-images", resize_images},
                                   {"index-docs", index_docs},
                                   {"export-archive", export_archive},
                                   {"warm-cache", warm_cache}}};

}  // namespace

int main() {
    std::array<std::string, jobs.size()> lines;  // what the user sees, in job order
    int failed = 0;                              // one thread: no lock needed
    net::io_context io;
    // The whole run has a deadline; the group inside it is stopped when it
    // passes, and so is every job still running ("parent canceled").
    auto nightly = [&](task_context& run) -> job_result<void> {
        strata::asio::task_group group(run);
        for (std::size_t i = 0; i < jobs.size(); ++i) {
            group.spawn([&, i](task_context& ctx) -> job_result<void> {
                strata::result<std::string> r = co_await jobs[i].run(ctx);
                if (r) {
                    lines[i] = fmt::format("{}: {}", jobs[i].name, *r);
                } else {
                    // One decision per job: known edge case or bug, logged under an ID.
                    lines[i] = fmt::format("{}", strata::handle(std::move(r).error().with("job", jobs[i].name)));
                    ++failed;
                }
                co_return strata::result<void>();  // handled: one job's failure does not stop the others
            });
        }
        strata::result<void> r = co_await group.wait();
        co_return r;
    };
    strata::result<void> run;
    net::co_spawn(io, strata::asio::with_timeout(1500ms, {.operation = "nightly run"}, nightly),
                  [&](std::exception_ptr, strata::result<void> r) { run = std::move(r); });
    io.run();
    for (const std::string& line : lines) fmt::print("{}\n", line);
    if (!run) {
        fmt::print("{}\n", strata::handle(run.error()));
        return 1;
    }
    return failed ? 1 : 0;
}
