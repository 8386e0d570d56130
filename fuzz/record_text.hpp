// fuzz/record_text.hpp: what the fuzz targets expect of handle()'s record, written
// independently of strata's own code (an oracle that shares the code would agree
// with any bug in it).
#pragma once

#include <string>
#include <string_view>

namespace fuzz {

// What handle()'s record prints for a field: line breaks and other control
// characters escaped (\n, \r, \t, \xNN), so that a field stays on one line.
inline std::string escaped(std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (const char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '\n')
            out += "\\n";
        else if (c == '\r')
            out += "\\r";
        else if (c == '\t')
            out += "\\t";
        else if (u < 0x20 || u == 0x7f)
            out += {'\\', 'x', hex[u >> 4], hex[u & 15]};
        else
            out += c;
    }
    return out;
}

}  // namespace fuzz
