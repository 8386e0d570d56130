// An application that logs with spdlog: strata's records go through the same
// logger as its other messages (here to a file and to the console), each record
// one message, at level error for a bug and warning for a known edge case.
//
//   spdlog_sink [LOG_FILE]     (default: spdlog_sink.log in the current directory)
//
// The user's lines go to stdout; the log to stderr and to LOG_FILE.
#include <strata/spdlog.hpp>
#include <strata/strata.hpp>

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

// This application's user-facing layer.
struct settings_layer {
    static constexpr std::string_view name = "settings";
    static constexpr bool user_facing = true;
};

// A known edge case: the settings file is missing.
strata::error load_settings(const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "r");
    if (!f) {
        return strata::wrap<settings_layer>(
            strata::wrap<strata::low_level>(std::error_code(errno, std::generic_category()), "open {}", path),
            "can't read the settings: {} is missing", path);
    }
    std::fclose(f);
    return {};
}

// A bug: nobody wrote a message for users here.
strata::result<std::string> greeting_for(std::string_view language) {
    if (language == "en") return std::string("hello");
    return strata::make_error("no greeting for language \"{}\"", language).with("language", language);
}

int main(int argc, char** argv) {
    // The application's logger, as it would set it up anyway.
    auto logger = std::make_shared<spdlog::logger>(
        "app", spdlog::sinks_init_list{
                   std::make_shared<spdlog::sinks::basic_file_sink_mt>(argc > 1 ? argv[1] : "spdlog_sink.log", true),
                   std::make_shared<spdlog::sinks::stderr_sink_mt>()});
    logger->flush_on(spdlog::level::warn);
    // Every strata record now goes through it.
    strata::set_log_sink(strata::spdlog_sink(logger));

    logger->info("starting");
    int status = 0;
    if (strata::error err = load_settings("/etc/strata-example/settings.conf")) {
        fmt::print("{}\n", strata::handle(err));
        status = 1;
    }
    if (auto greeting = greeting_for("tlh"); !greeting) {
        fmt::print("{}\n", strata::handle(greeting.error()));
        status = 1;
    }
    logger->info("done");
    return status;
}
