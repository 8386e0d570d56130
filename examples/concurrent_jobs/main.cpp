// A nightly job runner that runs several jobs at once, with strata's timeouts,
// cancellation, replicated requests and heartbeats ("Concurrency in Go",
// chapter 5, second half).
//
//   concurrent_jobs
//
// Six jobs run at once in a task_group, the whole run under a deadline:
//   fetch-config    a replicated request to three mirrors: the first answer wins,
//                   the slower mirror is stopped, "lost to replica 2"
//   sync-mirrors    a replicated request where every mirror refuses: one error
//                   holds the three failures
//   resize-images   slow: it beats, but needs more time than its deadline allows
//   index-docs      stalls: it stops beating, and is stopped as stalled
//   export-archive  two steps in a group of their own; one fails with a raw disk
//                   error (a bug), which cancels the other
//   warm-cache      still running when the run's deadline passes: canceled, with
//                   the parent's deadline as the cause
// Each job's outcome goes through strata::handle(): the user's lines go to
// stdout in job order, the full records (under the same IDs) to the log, stderr.
#include <strata/strata.hpp>

#include <array>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>

using namespace std::chrono_literals;

namespace {

// Waits for `d`, or until the token is stopped: false if it was.
bool nap(const std::stop_token& token, std::chrono::milliseconds d) {
    std::mutex m;
    std::condition_variable_any cv;
    std::unique_lock lock(m);
    return !cv.wait_for(lock, token, d, [] { return false; }) && !token.stop_requested();
}

// --- low level: a pretend network and disk ---------------------------------------

strata::result<std::string> fetch_from_mirror(std::stop_token token, int mirror, std::chrono::milliseconds latency) {
    if (mirror >= 3)
        return strata::wrap<strata::low_level>(std::make_error_code(std::errc::connection_refused),
                                               "connect to mirror{}.example.net:443", mirror);
    if (!nap(token, latency)) return strata::canceled_by(token);
    return fmt::format("config v42 from mirror {}", mirror);
}

strata::result<void> write_archive(std::stop_token) {
    return strata::wrap<strata::low_level>(std::make_error_code(std::errc::no_space_on_device),
                                           "write /var/spool/export/archive.tar")
        .with("bytes_written", 7340032);
}

// --- the jobs ---------------------------------------------------------------------

strata::result<std::string> fetch_config(std::stop_token) {
    return strata::with_timeout(2s, {.operation = "fetch-config"}, [](std::stop_token) {
        return strata::first_of([](std::stop_token t) { return fetch_from_mirror(t, 1, 1500ms); },
                                [](std::stop_token t) { return fetch_from_mirror(t, 2, 20ms); },
                                [](std::stop_token t) { return fetch_from_mirror(t, 3, 0ms); });
    });
}

// Every mirror refuses: one error holds the three failures, wrapped in a message
// for the user (a known edge case).
strata::result<std::string> sync_mirrors(std::stop_token) {
    return strata::first_of([](std::stop_token t) { return fetch_from_mirror(t, 3, 0ms); },
                            [](std::stop_token t) { return fetch_from_mirror(t, 4, 0ms); },
                            [](std::stop_token t) { return fetch_from_mirror(t, 5, 0ms); })
        .wrap<strata::intermediate>("sync-mirrors: no mirror answered");
}

// Twenty batches of 50 ms, beating after each: alive all along, but slow.
strata::result<std::string> resize_images(std::stop_token) {
    return strata::with_timeout(100ms, {.operation = "resize-images", .heartbeat = 500ms},
                                [](std::stop_token token) -> strata::result<std::string> {
                                    for (int batch = 0; batch < 20; ++batch) {
                                        if (!nap(token, 50ms)) return strata::canceled_by(token);
                                        strata::beat();
                                    }
                                    return std::string("resized 20 batches");
                                });
}

// Beats three times, then waits on a lock nobody releases (it still honors its
// token, so it can be stopped): stalled, not slow.
strata::result<std::string> index_docs(std::stop_token) {
    return strata::with_timeout(10s, {.operation = "index-docs", .heartbeat = 200ms},
                                [](std::stop_token token) -> strata::result<std::string> {
                                    for (int i = 0; i < 3; ++i) {
                                        strata::beat();
                                        if (!nap(token, 5ms)) return strata::canceled_by(token);
                                    }
                                    nap(token, 1h);  // the lock that is never released
                                    return strata::canceled_by(token, "index-docs gave up waiting for the index lock");
                                });
}

// Compress and upload at once; the upload fails with a raw disk error, which the
// job does not wrap for the user: a bug. The failure stops the compression.
strata::result<std::string> export_archive(std::stop_token) {
    strata::task_group steps;
    steps.spawn("compress", [](std::stop_token token) -> strata::result<void> {
        if (!nap(token, 10s)) return strata::canceled_by(token, "compression stopped");
        return {};
    });
    steps.spawn("upload", write_archive);
    STRATA_TRY(steps.wait());
    return std::string("exported");
}

// A long job that beats until the run's deadline stops it.
strata::result<std::string> warm_cache(std::stop_token token) {
    for (int entry = 0; entry < 1000; ++entry) {
        if (!nap(token, 10ms)) return strata::canceled_by(token, "warm-cache was canceled after {} entries", entry);
        strata::beat();
    }
    return std::string("warmed 1000 entries");
}

struct job {
    std::string_view name;
    strata::result<std::string> (*run)(std::stop_token);
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
    int failed = 0;
    std::mutex m;
    // The whole run has a deadline; the group inside it is stopped when it passes,
    // and so is every job still running ("parent canceled").
    const strata::result<void> run =
        strata::with_timeout(1500ms, {.operation = "nightly run"}, [&](std::stop_token) -> strata::result<void> {
            strata::task_group group;
            for (std::size_t i = 0; i < jobs.size(); ++i) {
                group.spawn([&, i](std::stop_token token) -> strata::result<void> {
                    strata::result<std::string> r = jobs[i].run(token);
                    std::string line;
                    if (r) {
                        line = fmt::format("{}: {}", jobs[i].name, *r);
                    } else {
                        // One decision per job: known edge case or bug, logged under an ID.
                        line = fmt::format("{}", strata::handle(std::move(r).error().with("job", jobs[i].name)));
                    }
                    std::lock_guard lock(m);
                    failed += r ? 0 : 1;
                    lines[i] = std::move(line);
                    return {};  // handled: one job's failure does not stop the others
                });
            }
            return group.wait();
        });
    for (const std::string& line : lines) fmt::print("{}\n", line);
    if (!run) {
        fmt::print("{}\n", strata::handle(run.error()));
        return 1;
    }
    return failed ? 1 : 0;
}
