// examples/fleet: errors that cross process boundaries.
//
// The parent starts one worker process per job. A worker that fails writes its
// error to its stdout, a pipe to the parent, as strata::to_json; the parent decodes
// each with strata::from_json and handles it: the same decision, the worker's
// layers (even one the parent has never heard of), and a record that names the
// worker's host and pid. The user's lines go to stdout; the records to stderr.
//
//   fleet              the parent: runs the jobs below, one worker each
//   fleet --worker N   one worker (the parent starts these itself)
#include <strata/strata.hpp>
#include <strata/json.hpp>

#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace {

// ---- the workers' side: each job fails in its own layer ----------------------

// A layer only the workers know: the parent decodes it by name.
struct pricing {
    static constexpr std::string_view name = "pricing";
    static constexpr bool user_facing = true;
};

struct storage {
    static constexpr std::string_view name = "storage";
};

// Job 1: a raw disk error wrapped at the storage boundary: a bug.
strata::result<void> load_inventory() {
    const std::error_code ec(EIO, std::generic_category());
    return strata::wrap<storage>(ec, "read inventory page {}", 17).with("device", "/dev/nvme0n1").with("offset", 1u << 20);
}

// Job 2: an account over its quota: a known edge case, the account kept secret.
strata::result<void> charge_account() {
    const std::string account = "acme-co-7731";
    return strata::make_error<strata::intermediate>("account {} is over its monthly quota", strata::sensitive(account))
        .with("quota", 1000)
        .with("used", 1042)
        .with("account", strata::sensitive(account));
}

// Job 3: a price the pricing service refuses, in a layer the parent does not know.
strata::result<void> quote_price() {
    return strata::make_error<pricing>("no price for item {} in region {}", "sku-4411", "eu-west").with("currency", "EUR");
}

// Job 4: a lookup that runs past its deadline: timed_out, user-facing.
strata::result<void> slow_lookup() {
    return strata::with_timeout(std::chrono::milliseconds(50), {.operation = "catalog lookup"},
                                [](std::stop_token stop) -> strata::result<void> {
                                    while (!stop.stop_requested()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
                                    return strata::canceled_by(stop, "lookup abandoned");
                                });
}

// Job 5: succeeds.
strata::result<void> ping() { return {}; }

int run_worker(int job) {
    strata::result<void> r;
    switch (job) {
        case 1: r = load_inventory(); break;
        case 2: r = charge_account(); break;
        case 3: r = quote_price(); break;
        case 4: r = slow_lookup(); break;
        case 5: r = ping(); break;
        case 6:
            // A worker that breaks the protocol: the parent must not lose this.
            std::fputs("{\"strata.version\": 1, \"strata.frames\": [trunc", stdout);
            return 1;
        default: return 2;
    }
    if (r) return 0;
    const std::string json = strata::to_json(r.error());
    std::fwrite(json.data(), 1, json.size(), stdout);
    return 1;
}

// ---- the parent's side ---------------------------------------------------------

struct worker {
    int job;
    const char* what;
    pid_t pid = -1;
    int out = -1;  // read end of the worker's stdout
};

// Starts `self --worker N` with its stdout on a pipe.
strata::result<void> start(worker& w, const char* self) {
    int fds[2];
    if (::pipe(fds) != 0) return strata::wrap<strata::low_level>(std::error_code(errno, std::generic_category()), "pipe");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    posix_spawn_file_actions_addclose(&actions, fds[1]);
    const std::string job = std::to_string(w.job);
    char* argv[] = {const_cast<char*>(self), const_cast<char*>("--worker"), const_cast<char*>(job.c_str()), nullptr};
    const int rc = ::posix_spawn(&w.pid, self, &actions, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    if (rc != 0) {
        ::close(fds[0]);
        return strata::wrap<strata::low_level>(std::error_code(rc, std::generic_category()), "start worker {}", w.job);
    }
    w.out = fds[0];
    return {};
}

// Everything the worker wrote, then its exit status.
std::string collect(worker& w, int& status) {
    std::string text;
    char buf[4096];
    for (;;) {
        const ssize_t n = ::read(w.out, buf, sizeof buf);
        if (n > 0) {
            text.append(buf, static_cast<std::size_t>(n));
        } else if (n == 0 || errno != EINTR) {
            break;
        }
    }
    ::close(w.out);
    while (::waitpid(w.pid, &status, 0) < 0 && errno == EINTR) {
    }
    return text;
}

int run_parent(const char* self) {
    // Every process of the fleet hashes sensitive values with the same key, so the
    // hashes in their records correlate. (A real fleet reads it from its secrets.)
    // strata removes STRATA_SENSITIVE_KEY from the environment once it has read it,
    // so that no child inherits a secret by accident: a parent that wants its
    // workers to share its key hands it on itself, after strata has started.
    constexpr const char* key = "fleet-example-key";
    strata::set_sensitive_key(key);
    ::setenv("STRATA_SENSITIVE_KEY", key, 1);  // for the workers

    std::vector<worker> workers = {{1, "load inventory"}, {2, "charge account"}, {3, "quote price"},
                                   {4, "catalog lookup"}, {5, "ping"},           {6, "broken worker"}};
    for (worker& w : workers) {
        if (auto r = start(w, self); !r) {
            fmt::print("job {} ({}): {}\n", w.job, w.what, strata::handle(r.error()));
            w.pid = -1;
        }
    }
    int failures = 0;
    for (worker& w : workers) {
        if (w.pid < 0) continue;
        int status = 0;
        const std::string text = collect(w, status);
        const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (code == 0 && text.empty()) {
            fmt::print("job {} ({}, pid {}): ok\n", w.job, w.what, w.pid);
            continue;
        }
        ++failures;
        strata::result<strata::error> decoded = strata::from_json(text);
        if (!decoded) {
            // Not an error the parent can read: that is a bug, and the record keeps
            // what the worker did write.
            const strata::error e = strata::wrap<strata::low_level>(decoded.error(), "worker {} (pid {}) exited with {}",
                                                                    w.job, w.pid, code)
                                        .with("worker_output", text);
            const strata::report rep = strata::handle(e);
            fmt::print("job {} ({}, pid {}): {}: {}\n", w.job, w.what, w.pid, rep.is_bug ? "bug" : "known edge case", rep);
            continue;
        }
        const strata::error& e = *decoded;
        const strata::origin* from = strata::origin_of(e);
        const strata::report rep = strata::handle(e);
        fmt::print("job {} ({}, pid {}): {}: {}\n", w.job, w.what, from ? from->pid : 0L,
                   rep.is_bug ? "bug" : "known edge case", rep);
    }
    return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 3 && std::string_view(argv[1]) == "--worker") return run_worker(std::atoi(argv[2]));
    if (argc != 1) {
        std::fprintf(stderr, "usage: fleet\n");
        return 2;
    }
    // The workers are this same program: /proc/self/exe finds it wherever it was run from.
    return run_parent("/proc/self/exe");
}
