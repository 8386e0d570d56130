// strata/detail/fmt_extern.hpp: libfmt (fmt 9, not header-only) holds the compiled
// formatting engine, detail::vformat_to<char>, but fmt's header does not declare
// it extern, so every file that formats at run time instantiates the engine
// again: about a fifth of a second of compile time for each file that includes
// strata. This declaration lets those files use the library's copy instead.
// g++ only: clang mangles this signature differently from the g++-built libfmt,
// so a clang build would not link. STRATA_NO_FMT_EXTERN turns it off (for a
// libfmt built another way).
#pragma once

#include <fmt/format.h>

#if defined(FMT_VERSION) && FMT_VERSION >= 90000 && FMT_VERSION < 100000 && !defined(FMT_HEADER_ONLY) && \
    defined(__GNUC__) && !defined(__clang__) && !defined(STRATA_NO_FMT_EXTERN)
FMT_BEGIN_NAMESPACE
namespace detail {
extern template FMT_API void vformat_to<char>(buffer<char>&, basic_string_view<char>,
                                              basic_format_args<FMT_BUFFER_CONTEXT(type_identity_t<char>)>,
                                              locale_ref);
}  // namespace detail
FMT_END_NAMESPACE
#endif
