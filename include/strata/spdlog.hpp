// strata/spdlog.hpp: a log sink that writes handle()'s records through an
// application's spdlog logger. Not included by <strata/strata.hpp>: include it
// where the sink is made, and link spdlog there (find_package(spdlog), target
// spdlog::spdlog). strata and spdlog must share one fmt: spdlog built with
// SPDLOG_FMT_EXTERNAL against the fmt strata uses, as Debian's is.
#pragma once

#include <memory>
#include <string_view>
#include <utility>

// spdlog's bundled fmt would clash with the fmt strata includes (same names,
// another version): spdlog must use the external fmt, or std::format.
#include <spdlog/tweakme.h>
#if !defined(SPDLOG_FMT_EXTERNAL) && !defined(SPDLOG_USE_STD_FORMAT)
#error "strata/spdlog.hpp needs spdlog built with SPDLOG_FMT_EXTERNAL (the fmt strata uses), or SPDLOG_USE_STD_FORMAT"
#endif
#include <spdlog/logger.h>

#include "handle.hpp"

namespace strata {

struct spdlog_sink_options {
    // The level a record is logged at: a bug's, and a known edge case's.
    spdlog::level::level_enum bug_level = spdlog::level::err;
    spdlog::level::level_enum edge_case_level = spdlog::level::warn;
    // The form logged instead of the multi-line text: strata::json_line_form
    // (<strata/json.hpp>) logs each record as one line of JSON, one message per
    // record, for line-based log shippers. Empty: the text.
    record_form form = {};
};

// A log_sink that logs each record through `logger` as one message: the record's
// text without its final newline (the logger's pattern adds its own), so the
// lines of a record never interleave with other messages. The text is the
// message itself, never a format string; the message is stamped with the
// record's time, and its source location is the outermost frame's call site (for
// patterns that show one). With options.form (strata::json_line_form), the
// message is the record as one line of JSON instead of its text. For
// set_log_sink, or for handle_options::sink:
//
//   strata::set_log_sink(strata::spdlog_sink(logger));
//   const strata::log_sink sink = strata::spdlog_sink(logger, {.bug_level = spdlog::level::critical});
//   strata::set_log_sink(strata::spdlog_sink(logger, {.form = strata::json_line_form}));  // <strata/json.hpp>
//   const strata::report r = strata::handle(e, {.sink = &sink});
//
// The sink shares ownership of the logger (the process-wide sink is never freed,
// so neither is its logger). The logger's level and flush_on decide whether a
// record is kept and when it is flushed, as for any other message. When one of
// the logger's sinks fails, spdlog calls the logger's error handler (by default
// a line on stderr, and the record is lost); if that throws, handle() catches it
// and writes the record to stderr. A null logger gives an empty sink, which
// means the default (stderr).
[[nodiscard]] inline log_sink spdlog_sink(std::shared_ptr<spdlog::logger> logger, spdlog_sink_options options = {}) {
    if (!logger) return {};
    return log_sink([logger = std::move(logger), options](const log_record& r) {
        detail::unstamped rendered;
        std::string_view text = options.form ? detail::line_in(r, options.form, rendered) : r.text;
        if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
        // spdlog keeps a source_loc's strings as they are (an async logger reads them
        // later): only a call site compiled into this program (a static string)
        // goes there, not one decoded from another process.
        const detail::frame* top = detail::access::get(r.err);
        const location at = top && !(top->flags & detail::decoded) ? r.err.location() : location();
        logger->log(r.time,
                    at.empty() ? spdlog::source_loc{}
                               : spdlog::source_loc{at.file_name(), static_cast<int>(at.line()), at.function_name()},
                    r.rep.is_bug ? options.bug_level : options.edge_case_level,
                    spdlog::string_view_t(text.data(), text.size()));
    }, options.form);
}

}  // namespace strata
