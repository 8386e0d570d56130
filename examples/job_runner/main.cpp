// The job runner of "Concurrency in Go", chapter 5 (Error Propagation), with strata.
//
//   job_runner [BINARY]     runs job "1" with BINARY (default /bad/job/bin)
//
// Three modules, as in the book: a low-level one that talks to the operating
// system, an intermediate one that runs jobs, and main, which makes the one
// decision. The user's line goes to stdout; the full record, under the same ID,
// goes to the log (stderr).
#include <strata/strata.hpp>

#include <cerrno>
#include <string>
#include <string_view>
#include <system_error>

#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>

extern char** environ;

// --- low-level module: raw failures of the operating system -------------------

// Whether the owner may execute `path` (the book checks the 0100 bit).
strata::result<bool> is_globally_exec(const std::string& path) {
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0) {
        // Wrap the raw error: its message is fine for the log, never for the user.
        return strata::wrap<strata::low_level>(std::error_code(errno, std::generic_category()), "stat {}", path)
            .with("path", path);
    }
    return (info.st_mode & S_IXUSR) != 0;
}

// Runs the binary and waits for it. Like Go's exec.Command(...).Run(), failures
// come back raw (untagged): nobody crafted a message for them, so they are bugs.
strata::error run_binary(const std::string& path, const std::string& arg) {
    char* argv[] = {const_cast<char*>(path.c_str()), const_cast<char*>(arg.c_str()), nullptr};
    pid_t pid = 0;
    if (int rc = ::posix_spawn(&pid, path.c_str(), nullptr, nullptr, argv, environ); rc != 0)
        return strata::wrap(std::error_code(rc, std::generic_category()), "start {} {}", path, arg);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return strata::wrap(std::error_code(errno, std::generic_category()), "wait for {}", path);
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
        return strata::make_error("exit status {}", WEXITSTATUS(status)).with("command", path + " " + arg);
    if (WIFSIGNALED(status))
        return strata::make_error("killed by signal {}", WTERMSIG(status)).with("command", path + " " + arg);
    return {};
}

// --- intermediate module: jobs -------------------------------------------------

strata::error run_job(std::string_view id, const std::string& binary) {
    auto executable = is_globally_exec(binary);
    if (!executable) {
        // A crafted message for the consumers of this module; the low-level details
        // stay in the chain for the log.
        return strata::wrap<strata::intermediate>(std::move(executable).error(),
                                                  "can't run job \"{}\": requisite binaries are not available", id)
            .with("job", id);
    }
    if (!*executable) {
        // As in the book: a bare error, not wrapped in a user-facing layer. A bug.
        return strata::make_error("can't run job \"{}\": requisite binaries are not executable", id)
            .with("binary", binary);
    }
    return run_binary(binary, fmt::format("--id{}", id));
}

// --- main: the one decision ----------------------------------------------------

int main(int argc, char** argv) {
    const std::string binary = argc > 1 ? argv[1] : "/bad/job/bin";
    if (strata::error err = run_job("1", binary)) {
        // Logs the full record under a new ID; shows the message only if the
        // outermost layer is user-facing.
        const strata::report r = strata::handle(err);
        fmt::print("{}\n", r);
        return 1;
    }
    fmt::print("job \"1\" done\n");
    return 0;
}
