// Symbolization as programs meet it: one session per process shared by every
// thread (a new thread at a new call site reads no debug information another
// thread read), many threads at once, and printed stacks that show the user's
// code (not strata's frames, not the runtime's thread start, nothing below main).
#include <catch2/catch.hpp>

#include <strata/format.hpp>
#include <strata/json.hpp>
#include <strata/task_group.hpp>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#if STRATA_USE_LIBDW
#include <elfutils/libdwfl.h>
#endif

namespace {

[[gnu::noinline]] strata::error made_in_user_code() {
    strata::error e = strata::make_error<strata::low_level>("from user code");
    asm volatile("" ::: "memory");
    return e;
}

[[gnu::noinline]] strata::error thread_function_body() {
    strata::error e = made_in_user_code();
    asm volatile("" ::: "memory");
    return e;
}

template <int N>
[[gnu::noinline]] strata::error distinct() {
    strata::error e = strata::make_error<strata::low_level>("distinct {}", N);
    asm volatile("" ::: "memory");
    return e;
}

std::string verbose(const strata::error& e) { return fmt::format("{:v}", e); }

}  // namespace

#if STRATA_USE_LIBDW
// detail/dwarf.hpp declares libdw's functions itself (no global names): its
// types must be libdw's.
static_assert(sizeof(strata::detail::dw::die) == sizeof(Dwarf_Die));
static_assert(sizeof(strata::detail::dw::attribute) == sizeof(Dwarf_Attribute));
static_assert(offsetof(strata::detail::dw::attribute, valp) == offsetof(Dwarf_Attribute, valp));
static_assert(sizeof(strata::detail::dw::callbacks) == sizeof(Dwfl_Callbacks));
static_assert(offsetof(strata::detail::dw::callbacks, find_debuginfo) == offsetof(Dwfl_Callbacks, find_debuginfo));
static_assert(offsetof(strata::detail::dw::callbacks, debuginfo_path) == offsetof(Dwfl_Callbacks, debuginfo_path));

TEST_CASE("one libdw session for the process: a new thread at a new call site reuses it", "[symbolize]") {
    const strata::error first = distinct<1>();
    (void)verbose(first);  // the session is made, this unit indexed
    auto& st = strata::detail::process();
    auto* session = static_cast<strata::detail::dwarf_session*>(st.symbolizer_session);
    REQUIRE(session != nullptr);
    REQUIRE(session->dwfl != nullptr);
    const auto* dwfl = session->dwfl;
    const std::size_t units = session->units.size();

    std::string text;
    std::thread([&] {
        const strata::error fresh = distinct<2>();  // addresses no one asked about yet
        text = verbose(fresh);
    }).join();
    CHECK(text.find("distinct<2>") != std::string::npos);
    CHECK(text.find("symbolizer_test.cpp") != std::string::npos);
    // The same session, and this unit's functions were not indexed again.
    CHECK(static_cast<strata::detail::dwarf_session*>(st.symbolizer_session) == session);
    CHECK(session->dwfl == dwfl);
    CHECK(session->units.size() == units);
}
#endif

TEST_CASE("threads symbolizing new addresses at once all get names", "[symbolize]") {
    std::vector<strata::error> errors;
    errors.push_back(distinct<10>());
    errors.push_back(distinct<11>());
    errors.push_back(distinct<12>());
    errors.push_back(distinct<13>());
    errors.push_back(distinct<14>());
    errors.push_back(distinct<15>());
    std::vector<std::string> texts(errors.size());
    std::atomic<int> ready{0};
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < errors.size(); ++i)
        threads.emplace_back([&, i] {
            ready.fetch_add(1);
            while (ready.load() < static_cast<int>(errors.size())) std::this_thread::yield();
            texts[i] = verbose(errors[i]);
        });
    for (auto& t : threads) t.join();
    for (std::size_t i = 0; i < texts.size(); ++i) {
        INFO(texts[i]);
        CHECK(texts[i].find("distinct<" + std::to_string(10 + i) + ">") != std::string::npos);
    }
}

TEST_CASE("a stack made on a std::thread shows the thread function and not the runtime's start", "[symbolize]") {
    strata::error e = made_in_user_code();
    std::thread([&] { e = thread_function_body(); }).join();
    const std::string text = verbose(e);
    INFO(text);
    CHECK(text.find("made_in_user_code") != std::string::npos);
    CHECK(text.find("thread_function_body") != std::string::npos);
    for (const char* hidden : {"_M_run", "_State_impl", "start_thread", "clone", "execute_native_thread_routine",
                               "strata::detail::", "strata::make_error<"})
        CHECK(text.find(hidden) == std::string::npos);
    // Every captured address is still in the error (JSON keeps them).
    CHECK(e.stack().size() > 3);
}

TEST_CASE("a stack made on the main thread ends at main", "[symbolize]") {
    const std::string text = verbose(made_in_user_code());
    INFO(text);
    CHECK(text.find("made_in_user_code") != std::string::npos);
    CHECK(text.find("# main at ") != std::string::npos);
    CHECK(text.find("__libc_start") == std::string::npos);
    CHECK(text.find("_start") == std::string::npos);
}

TEST_CASE("a task's stack shows the task, not the group's machinery", "[symbolize]") {
    strata::task_group g;
    g.spawn([](std::stop_token) -> strata::result<void> { return thread_function_body(); });
    strata::result<void> r = g.wait();
    REQUIRE_FALSE(r.has_value());
    const std::string text = verbose(r.error());
    INFO(text);
    CHECK(text.find("thread_function_body") != std::string::npos);
    for (const char* hidden : {"strata::detail::", "start_thread", "_M_run"})
        CHECK(text.find(hidden) == std::string::npos);
}

TEST_CASE("JSON keeps every raw address, the shown lines leave the runtime out", "[symbolize][json]") {
    strata::error e = made_in_user_code();
    std::thread([&] { e = thread_function_body(); }).join();
    const std::string json = strata::to_json(e);
    INFO(json);
    CHECK(json.find("start_thread") == std::string::npos);
    CHECK(json.find("thread_function_body") != std::string::npos);
    // Each captured address is there, raw.
    for (std::uintptr_t pc : e.stack()) CHECK(json.find(fmt::format("{:#x}", pc)) != std::string::npos);
}
