// One strata per process: the executable and two shared libraries linked to it
// (module_a, module_b) and a plugin opened with dlopen(RTLD_LOCAL), every one
// built with -fvisibility=hidden, share the ID counter, report-once, the log sink,
// the sensitive key, the capture policy, the unchecked-error handler, the
// cancellation scopes and heartbeats, type identity for inner_as, origin_of and
// the symbol cache. A plugin can be unloaded, and its code is never named after.
// And after fork(): an ID given before keeps its value, new ones get a new prefix.
#include <catch2/catch.hpp>

#include "module_api.hpp"

#include <strata/json.hpp>

#include <dlfcn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

STRATA_TEST_EXPORT const module_api* strata_test_module_a();
STRATA_TEST_EXPORT const module_api* strata_test_module_b();

namespace {

using namespace std::chrono_literals;

// The executable's own side of the table.
const module_api& exe() {
    static const module_api api = this_module_api("exe", [] { return std::vector<std::uintptr_t>{}; }, "");
    return api;
}

struct plugin {
    void* handle = nullptr;
    const module_api* api = nullptr;
    explicit plugin(const char* path, const char* entry) {
        handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        INFO(path << ": " << (handle ? "" : dlerror()));
        REQUIRE(handle);
        auto fn = reinterpret_cast<module_entry>(dlsym(handle, entry));
        REQUIRE(fn);
        api = fn();
    }
    // True when the object is gone from the process.
    bool close(const char* path) {
        REQUIRE(dlclose(handle) == 0);
        handle = nullptr;
        return dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD) == nullptr;
    }
};

// The function names of a stack, one a line.
std::string names(const std::vector<std::uintptr_t>& pcs) {
    std::string out;
    for (std::uintptr_t pc : pcs) (out += strata::symbolize(pc).function) += '\n';
    return out;
}

std::vector<const module_api*> linked() { return {&exe(), strata_test_module_a(), strata_test_module_b()}; }

// Records the IDs of what reaches the process-wide sink.
struct sink_capture {
    std::mutex m;
    std::vector<std::string> ids;
    std::vector<long> pids, threads;
    sink_capture() {
        strata::set_log_sink([this](const strata::log_record& r) {
            std::lock_guard lock(m);
            ids.emplace_back(r.id);
            pids.push_back(r.pid);
            threads.push_back(r.thread);
        });
    }
    // Whether the records from the n-th on say they were made by this process, on
    // its first thread.
    bool from_here_since(std::size_t n) {
        std::lock_guard lock(m);
        for (std::size_t i = n; i < ids.size(); ++i)
            if (pids[i] != getpid() || threads[i] != getpid()) return false;
        return true;
    }
    ~sink_capture() { strata::set_log_sink({}); }
    std::vector<std::string> taken() {
        std::lock_guard lock(m);
        return ids;
    }
};

}  // namespace

TEST_CASE("every module finds the one process-wide state", "[modules]") {
    for (const module_api* m : linked()) {
        INFO(m->name);
        CHECK(m->shared());
    }
    plugin p(STRATA_TEST_PLUGIN1, "strata_test_module_plugin1");
    CHECK(p.api->shared());
    CHECK(p.close(STRATA_TEST_PLUGIN1));
}

#ifdef STRATA_TEST_PLUGIN_OTHER
TEST_CASE("a plugin built by the other compiler shares the state", "[modules][plugin]") {
    sink_capture sink;
    plugin p(STRATA_TEST_PLUGIN_OTHER, "strata_test_module_plugin_other");
    CHECK(p.api->shared());
    const strata::error e = strata_test_module_a()->make("one error, two compilers");
    const std::string here = strata::handle(e).id;
    CHECK(p.api->handle_id(e) == here);
    const std::string theirs = p.api->handle_id(p.api->make("made by the other compiler's code"));
    CHECK(theirs != here);
    CHECK(theirs.substr(0, 10) == here.substr(0, 10));
    CHECK(sink.taken() == std::vector<std::string>{here, theirs});
    CHECK(p.api->hash("secret") == exe().hash("secret"));
    CHECK(p.api->payload_of(exe().make_with_payload(7)) == 7);
    CHECK(exe().payload_of(p.api->make_with_payload(8)) == 8);
    CHECK(p.close(STRATA_TEST_PLUGIN_OTHER));
}
#endif

TEST_CASE("one error handled in every module has one ID and one record, in the sink the executable set",
          "[modules]") {
    sink_capture sink;
    plugin p(STRATA_TEST_PLUGIN1, "strata_test_module_plugin1");
    auto all = linked();
    all.push_back(p.api);
    const strata::error e = strata_test_module_a()->make("one error");
    std::set<std::string> ids;
    for (const module_api* m : all) ids.insert(m->handle_id(e));
    CHECK(ids.size() == 1);
    CHECK(sink.taken() == std::vector<std::string>{*ids.begin()});
    CHECK(p.close(STRATA_TEST_PLUGIN1));
}

TEST_CASE("different errors handled in different modules get different IDs, all in the one sink", "[modules]") {
    sink_capture sink;
    plugin p(STRATA_TEST_PLUGIN1, "strata_test_module_plugin1");
    auto all = linked();
    all.push_back(p.api);
    std::set<std::string> ids;
    for (int round = 0; round < 3; ++round)
        for (const module_api* m : all) ids.insert(m->handle_id(m->make("error " + std::to_string(round))));
    CHECK(ids.size() == 3 * all.size());
    const auto seen = sink.taken();
    CHECK(std::set<std::string>(seen.begin(), seen.end()) == ids);
    CHECK(p.close(STRATA_TEST_PLUGIN1));
}

TEST_CASE("the sensitive key is one: the same value hashes the same in every module", "[modules]") {
    plugin p(STRATA_TEST_PLUGIN1, "strata_test_module_plugin1");
    auto all = linked();
    all.push_back(p.api);
    const std::string before = exe().hash("4111 1111 1111 1111");
    for (const module_api* m : all) CHECK(m->hash("4111 1111 1111 1111") == before);
    REQUIRE(strata::set_sensitive_key("fleet key"));
    const std::string after = exe().hash("4111 1111 1111 1111");
    CHECK(after != before);
    for (const module_api* m : all) CHECK(m->hash("4111 1111 1111 1111") == after);
    CHECK(p.close(STRATA_TEST_PLUGIN1));
}

TEST_CASE("the capture policy set in one module is the policy in every module", "[modules]") {
    plugin p(STRATA_TEST_PLUGIN1, "strata_test_module_plugin1");
    auto all = linked();
    all.push_back(p.api);
    const strata::capture_policy was = strata::get_capture_policy();
    for (const module_api* setter : all) {
        const auto want = setter->policy() == strata::capture_policy::off ? strata::capture_policy::every_frame
                                                                          : strata::capture_policy::off;
        setter->set_policy(want);
        for (const module_api* m : all) {
            INFO(setter->name << " set it; " << m->name << " reads it");
            CHECK(m->policy() == want);
        }
    }
    strata::set_capture_policy(was);
    CHECK(p.close(STRATA_TEST_PLUGIN1));
}

namespace {
void handler_one(const strata::unchecked_error&) noexcept {}
void handler_two(const strata::unchecked_error&) noexcept {}
}  // namespace

TEST_CASE("the unchecked-error handler is one for the process", "[modules]") {
    const strata::unchecked_error_handler original = strata::set_unchecked_error_handler(&handler_one);
    CHECK(strata_test_module_a()->set_unchecked(&handler_two) == &handler_one);
    CHECK(strata_test_module_b()->set_unchecked(original) == &handler_two);
    CHECK(strata::set_unchecked_error_handler(original) == original);
}

TEST_CASE("a library beats for the executable's with_timeout: the call is not stalled", "[modules][heartbeat]") {
    for (const module_api* m : {strata_test_module_a(), strata_test_module_b()}) {
        INFO(m->name);
        std::atomic<bool> beat_ok{true};
        const strata::result<int> r = strata::with_timeout(
            60s, strata::timeout_options{.operation = "beating work", .heartbeat = 300ms},
            [&](std::stop_token) -> strata::result<int> {
                for (int i = 0; i < 400; ++i) {  // 400 ms, beating every millisecond
                    if (!m->beat()) beat_ok = false;
                    std::this_thread::sleep_for(1ms);
                }
                return 7;
            });
        CHECK(beat_ok);
        REQUIRE(r.has_value());
        CHECK(*r == 7);
    }
    CHECK_FALSE(strata_test_module_a()->beat());  // no strata work on this thread now
}

TEST_CASE("stop_cause() in a library finds why the executable's group stopped", "[modules][task_group]") {
    strata::error seen_a, seen_b;
    std::atomic<bool> second_started{false};  // (a task spawned after the failure would never run)
    strata::task_group g;
    g.spawn([&](std::stop_token) -> strata::result<void> {
        while (!second_started) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        return strata::make_error<strata::low_level>("the first failure");
    });
    g.spawn([&](std::stop_token t) -> strata::result<void> {
        second_started = true;
        std::mutex m;
        std::condition_variable_any cv;
        std::unique_lock lock(m);
        cv.wait(lock, t, [] { return false; });
        seen_a = strata_test_module_a()->stop_cause(t);
        seen_b = strata_test_module_b()->stop_cause(t);
        return {};
    });
    const strata::result<void> r = g.wait();
    REQUIRE_FALSE(r.has_value());
    REQUIRE(seen_a);
    REQUIRE(seen_b);
    CHECK(fmt::format("{:c}", seen_a).find("the first failure") != std::string::npos);
    CHECK(fmt::format("{:c}", seen_b) == fmt::format("{:c}", seen_a));
}

TEST_CASE("inner_as<T>() finds a user type made in another module", "[modules]") {
    plugin p(STRATA_TEST_PLUGIN1, "strata_test_module_plugin1");
    auto all = linked();
    all.push_back(p.api);
    for (const module_api* maker : all)
        for (const module_api* reader : all) {
            INFO(maker->name << " made it; " << reader->name << " reads it");
            const strata::error e = maker->make_with_payload(42);
            CHECK(reader->payload_of(e) == 42);
            CHECK(e.is<module_layer>());
        }
    CHECK(p.close(STRATA_TEST_PLUGIN1));
}

TEST_CASE("origin_of() knows an error decoded in another module", "[modules][json]") {
    const std::string text = strata::to_json(strata::make_error<module_layer>("sent"));
    for (const module_api* decoder : linked())
        for (const module_api* reader : linked()) {
            INFO(decoder->name << " decoded it; " << reader->name << " asks");
            const strata::error e = decoder->decode(text);
            CHECK(e.is<module_layer>());
            CHECK(reader->has_origin(e));
        }
}

TEST_CASE("a plugin that includes strata is unloaded by dlclose, and strata goes on", "[modules][plugin]") {
    sink_capture sink;
    plugin p(STRATA_TEST_PLUGIN1, "strata_test_module_plugin1");
    const std::string id_in_plugin = p.api->handle_id(p.api->make("before unloading"));
    CHECK(p.close(STRATA_TEST_PLUGIN1));
    const std::string id_after = strata::handle(strata::make_error<strata::low_level>("after unloading")).id;
    CHECK(id_after != id_in_plugin);
    CHECK(id_after.substr(0, 10) == id_in_plugin.substr(0, 10));  // one process, one prefix
    CHECK(sink.taken() == std::vector<std::string>{id_in_plugin, id_after});
}

TEST_CASE("symbolization never names a function of an unloaded plugin", "[modules][plugin][stack]") {
    std::vector<std::uintptr_t> pcs;
    std::string first_name;
    {
        plugin p(STRATA_TEST_PLUGIN1, "strata_test_module_plugin1");
        pcs = p.api->stack_here();
        first_name = names(pcs);
        INFO(first_name);
        CHECK(first_name.find(p.api->stack_function) != std::string::npos);
        CHECK(p.close(STRATA_TEST_PLUGIN1));
    }
    const std::string after_unload = names(pcs);
    INFO("after unloading: " << after_unload);
    CHECK(after_unload.find("plugin1") == std::string::npos);
    // Another plugin, perhaps at the same address: still never the first one's name.
    plugin q(STRATA_TEST_PLUGIN2, "strata_test_module_plugin2");
    const std::string with_other = names(pcs);
    INFO("with plugin2 loaded: " << with_other);
    CHECK(with_other.find("plugin1") == std::string::npos);
    // And plugin2's own code is named as plugin2's.
    const std::string second = names(q.api->stack_here());
    INFO("plugin2's stack: " << second);
    CHECK(second.find(q.api->stack_function) != std::string::npos);
    CHECK(q.close(STRATA_TEST_PLUGIN2));
}

TEST_CASE("a plugin loaded after this thread first symbolized is named", "[modules][plugin][stack]") {
    // This thread's libbacktrace state is made now, before the plugin is loaded.
    const strata::error here = strata::make_error<strata::low_level>("symbolized first");
    REQUIRE_FALSE(here.stack().empty());
    (void)names(std::vector<std::uintptr_t>(here.stack().begin(), here.stack().end()));
    plugin p(STRATA_TEST_PLUGIN1, "strata_test_module_plugin1");
    const std::string late = names(p.api->stack_here());
    INFO(late);
    CHECK(late.find(p.api->stack_function) != std::string::npos);
    CHECK(p.close(STRATA_TEST_PLUGIN1));
}

TEST_CASE("after fork(): an error handled before keeps its ID and is not logged again, new IDs get a new prefix",
          "[modules][fork]") {
    sink_capture sink;
    const strata::error before = strata_test_module_a()->make("handled before the fork");
    const std::string id_before = strata::handle(before).id;
    const std::string parent_next = strata::handle(strata::make_error<strata::low_level>("parent's next")).id;
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        // In the child: report what we see on the pipe, one line each, then exit.
        close(fds[0]);
        std::string out;
        out += strata::handle(before).id + "\n";                         // 1: the same ID
        out += strata_test_module_b()->handle_id(before) + "\n";          // 2: the same, from a library
        out += std::to_string(sink.taken().size()) + "\n";               // 3: nothing logged again (still 2)
        out += strata::handle(strata::make_error<strata::low_level>("child's first")).id + "\n";  // 4
        out += strata_test_module_a()->handle_id(strata_test_module_a()->make("child's second")) + "\n";  // 5
        out += std::to_string(sink.taken().size()) + "\n";               // 6: two more records
        out += std::string(sink.from_here_since(2) ? "here" : "elsewhere") + "\n";  // 7: the child's pid and thread
        const auto written = write(fds[1], out.data(), out.size());
        _exit(written == static_cast<ssize_t>(out.size()) ? 0 : 1);
    }
    close(fds[1]);
    std::string got;
    char buf[512];
    for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) got.append(buf, static_cast<std::size_t>(n));
    close(fds[0]);
    int status = 0;
    REQUIRE(waitpid(child, &status, 0) == child);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
    std::vector<std::string> lines;
    for (std::size_t pos = 0, end; (end = got.find('\n', pos)) != std::string::npos; pos = end + 1)
        lines.push_back(got.substr(pos, end - pos));
    REQUIRE(lines.size() == 7);
    CHECK(lines[0] == id_before);
    CHECK(lines[1] == id_before);
    CHECK(lines[2] == "2");
    CHECK(lines[3] != id_before);
    CHECK(lines[3] != parent_next);
    CHECK(lines[3].substr(0, 10) != id_before.substr(0, 10));  // the child's own prefix
    CHECK(lines[4].substr(0, 10) == lines[3].substr(0, 10));   // one prefix in the child, every module
    CHECK(lines[4] != lines[3]);
    CHECK(lines[5] == "4");
    CHECK(lines[6] == "here");  // no module's cached thread id is the parent's
    // And the parent goes on with its own prefix.
    const std::string parent_after = strata::handle(strata::make_error<strata::low_level>("parent's after")).id;
    CHECK(parent_after.substr(0, 10) == id_before.substr(0, 10));
}
