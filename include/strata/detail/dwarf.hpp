// strata/detail/dwarf.hpp: symbolizing through elfutils' libdw (libdwfl), one
// session per process, shared by every thread and module. Private.
//
// Why libdw: gcc's libbacktrace (under Boost.Stacktrace) reads the debug
// information of every loaded object on a state's first look-up, separate debug
// files included (libc6-dbg's libc alone costs about 80 ms), and Boost keeps one
// state per thread, so each thread paid it again. libdwfl opens an object's debug
// information only when an address in it is asked about, finds the compilation
// unit by .debug_aranges, and reads that unit's lines only. Debug files are found
// by build ID under /usr/lib/debug (as gdb does); debuginfod is never asked (no
// network from an error report).
//
// The functions are declared here under strata's own names (see sys.hpp):
// <elfutils/libdwfl.h> would bring libelf's and POSIX's names into every user's
// global namespace. tests/symbolizer_test.cpp checks these layouts against the
// real headers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <new>
#include <string>
#include <string_view>
#include <vector>
#include <algorithm>

#include <fmt/format.h>

#include "process.hpp"
#include "sys.hpp"

namespace strata::detail::dw {

struct dwfl;         // Dwfl
struct dwfl_module;  // Dwfl_Module
struct dwarf_files;  // Dwarf_Files
struct dwarf;        // Dwarf
struct dwarf_cu;     // Dwarf_CU
struct dwarf_line;   // Dwarf_Line
struct die {         // Dwarf_Die
    void* addr;
    void* cu;
    void* abbrev;
    long padding;
};
struct attribute {  // Dwarf_Attribute
    unsigned int code;
    unsigned int form;
    unsigned char* valp;
    void* cu;
};
using find_elf_fn = int (*)(dwfl_module*, void**, const char*, std::uint64_t, char**, void**);
using find_debuginfo_fn = int (*)(dwfl_module*, void**, const char*, std::uint64_t, const char*, const char*,
                                  std::uint32_t, char**);
struct callbacks {  // Dwfl_Callbacks
    find_elf_fn find_elf;
    find_debuginfo_fn find_debuginfo;
    void* section_address;
    char** debuginfo_path;
};

dwfl* begin(const callbacks* cb) noexcept __asm__("dwfl_begin");
void end(dwfl* d) noexcept __asm__("dwfl_end");
void report_begin(dwfl* d) noexcept __asm__("dwfl_report_begin");
void report_begin_add(dwfl* d) noexcept __asm__("dwfl_report_begin_add");
int linux_proc_report(dwfl* d, int pid) noexcept __asm__("dwfl_linux_proc_report");
int report_end(dwfl* d, void* removed, void* arg) noexcept __asm__("dwfl_report_end");
int linux_proc_find_elf(dwfl_module*, void**, const char*, std::uint64_t, char**, void**) noexcept
    __asm__("dwfl_linux_proc_find_elf");
int build_id_find_debuginfo(dwfl_module*, void**, const char*, std::uint64_t, const char*, const char*,
                            std::uint32_t, char**) noexcept __asm__("dwfl_build_id_find_debuginfo");
dwfl_module* addrmodule(dwfl* d, std::uint64_t pc) noexcept __asm__("dwfl_addrmodule");
const char* module_info(dwfl_module* m, void*** userdata, std::uint64_t* start, std::uint64_t* end,
                        std::uint64_t* dwbias, std::uint64_t* symbias, const char** mainfile,
                        const char** debugfile) noexcept __asm__("dwfl_module_info");
die* module_addrdie(dwfl_module* m, std::uint64_t pc, std::uint64_t* bias) noexcept __asm__("dwfl_module_addrdie");
int getscopes(die* cu, std::uint64_t pc, die** scopes) noexcept __asm__("dwarf_getscopes");
int getscopes_die(die* d, die** scopes) noexcept __asm__("dwarf_getscopes_die");
int tag(die* d) noexcept __asm__("dwarf_tag");
attribute* attr_integrate(die* d, unsigned int name, attribute* out) noexcept __asm__("dwarf_attr_integrate");
const char* formstring(attribute* a) noexcept __asm__("dwarf_formstring");
int formudata(attribute* a, std::uint64_t* out) noexcept __asm__("dwarf_formudata");
const char* diename(die* d) noexcept __asm__("dwarf_diename");
long getfuncs(die* cu, int (*callback)(die*, void*), void* arg, long offset) noexcept __asm__("dwarf_getfuncs");
long ranges(die* d, long offset, std::uint64_t* base, std::uint64_t* start, std::uint64_t* end) noexcept
    __asm__("dwarf_ranges");
int haspc(die* d, std::uint64_t pc) noexcept __asm__("dwarf_haspc");
int child(die* d, die* out) noexcept __asm__("dwarf_child");
int siblingof(die* d, die* out) noexcept __asm__("dwarf_siblingof");
struct elf_sym {  // GElf_Sym (Elf64_Sym)
    std::uint32_t name;
    unsigned char info;
    unsigned char other;
    std::uint16_t shndx;
    std::uint64_t value;
    std::uint64_t size;
};
int module_getsymtab(dwfl_module* m) noexcept __asm__("dwfl_module_getsymtab");
const char* module_getsym_info(dwfl_module* m, int i, elf_sym* sym, std::uint64_t* addr, std::uint32_t* shndx,
                               void** elf, std::uint64_t* bias) noexcept __asm__("dwfl_module_getsym_info");
dwarf* module_getdwarf(dwfl_module* m, std::uint64_t* bias) noexcept __asm__("dwfl_module_getdwarf");
int get_units(dwarf* d, dwarf_cu* cu, dwarf_cu** next, std::uint16_t* version, std::uint8_t* unit_type, die* cudie,
              die* subdie) noexcept __asm__("dwarf_get_units");
dwarf_line* getsrc_die(die* cudie, std::uint64_t addr) noexcept __asm__("dwarf_getsrc_die");
const char* linesrc(dwarf_line* l, std::uint64_t* mtime, std::uint64_t* length) noexcept __asm__("dwarf_linesrc");
int lineno(dwarf_line* l, int* line) noexcept __asm__("dwarf_lineno");
int getsrcfiles(die* cu, dwarf_files** files, std::size_t* n) noexcept __asm__("dwarf_getsrcfiles");
const char* filesrc(dwarf_files* files, std::size_t i, std::uint64_t* mtime, std::uint64_t* length) noexcept
    __asm__("dwarf_filesrc");

// <dwarf.h>
inline constexpr int tag_subprogram = 0x2e, tag_inlined_subroutine = 0x1d, tag_lexical_block = 0x0b;
inline constexpr unsigned int at_name = 0x03, at_call_file = 0x58, at_call_line = 0x59, at_linkage_name = 0x6e,
                              at_mips_linkage_name = 0x2007;

}  // namespace strata::detail::dw

namespace strata::detail {

// The out-of-line functions of each compilation unit asked about so far, sorted
// by address: finding an address's function is a binary search, not a walk of
// the unit's every DIE (which dwarf_getscopes does, about a millisecond a
// look-up in a unit that includes fmt and the standard library).
struct unit_functions {
    void* unit;  // the unit DIE's addr
    struct range {
        std::uint64_t lo, hi;
        dw::die function;
    };
    std::vector<range> ranges;
};
// An object's functions from its symbol table (or its debug file's), sorted by
// address: libdw searches a symbol table linearly, and a symbol table has the
// mangled name of every function, internal ones (anonymous namespaces,
// lambdas) included, which DWARF names only briefly.
struct module_symbols {
    dw::dwfl_module* module;
    struct function {
        std::uint64_t lo, hi;
        const char* name;  // in libdw's copy of the string table
    };
    std::vector<function> functions;
};

// The process's libdwfl session (process_state::symbolizer_session): the objects
// the loader had loaded (adds) and unloaded (subs) when it last looked at
// /proc/self/maps, and the indexes made so far. Its layout is part of
// process_abi.
// An object's compilation units by address, for objects without .debug_aranges
// (clang emits none by default, and libdw 0.188 finds no unit without them):
// each unit DIE's ranges, read once.
struct module_units {
    dw::dwfl_module* module;
    struct range {
        std::uint64_t lo, hi;
        dw::die unit;
    };
    std::vector<range> ranges;
};

struct dwarf_session {
    dw::dwfl* dwfl = nullptr;
    unsigned long long adds = 0;
    unsigned long long subs = 0;
    std::vector<unit_functions> units;
    std::vector<module_symbols> modules;
    std::vector<module_units> unit_maps;
    dw::callbacks callbacks{&dw::linux_proc_find_elf, &dw::build_id_find_debuginfo, nullptr, nullptr};
};

// A session reporting the objects in /proc/self/maps. The callbacks live in the
// session (process-wide heap memory): libdw keeps a pointer to them, and the
// module that made the session may be a plugin unloaded since.
inline dw::dwfl* open_dwfl(const dw::callbacks* cb) noexcept {
    dw::dwfl* d = dw::begin(cb);
    if (!d) return nullptr;
    dw::report_begin(d);
    dw::linux_proc_report(d, sys::getpid());
    dw::report_end(d, nullptr, nullptr);
    return d;
}

// The session, brought up to date with the loader (under st.symbolizer_mutex):
// objects loaded since are reported; after an unload, a new session (an address
// may now belong to another object).
inline dw::dwfl* current_dwfl(process_state& st, unsigned long long adds, unsigned long long subs) noexcept {
    auto* s = static_cast<dwarf_session*>(st.symbolizer_session);
    if (!s) {
        s = new (std::nothrow) dwarf_session();
        if (!s) return nullptr;
        st.symbolizer_session = s;
        // The session outlives whichever module made it (a plugin may be
        // unloaded, and libdw with it if nothing else links it): libdw stays.
        sys::dlmopen(sys::lm_id_base, "libdw.so.1", sys::rtld_now | sys::rtld_noload | sys::rtld_nodelete);
    }
    if (s->dwfl && s->subs != subs) {
        dw::end(s->dwfl);
        s->dwfl = nullptr;
        s->units.clear();
        s->modules.clear();
        s->unit_maps.clear();
    }
    if (!s->dwfl) {
        s->dwfl = open_dwfl(&s->callbacks);
    } else if (s->adds != adds) {
        dw::report_begin_add(s->dwfl);
        dw::linux_proc_report(s->dwfl, sys::getpid());
        dw::report_end(s->dwfl, nullptr, nullptr);
    }
    s->adds = adds;
    s->subs = subs;
    return s->dwfl;
}

// A symbol table's name, demangled, without its version ("@@GLIBC_2.34").
inline std::string demangled(const char* name) {
    std::string bare(name);
    if (const auto at = bare.find('@'); at != std::string::npos) bare.resize(at);
    int status = 0;
    char* plain = sys::cxa_demangle(bare.c_str(), nullptr, nullptr, &status);
    std::string out = plain ? std::string(plain) : bare;
    std::free(plain);
    return out;
}

// A function's name as the program spells it: its demangled linkage name (the
// abstract origin's, for an inlined or out-of-line instance), else its DWARF name.
inline std::string function_name(dw::die* d) {
    dw::attribute a;
    const char* name = nullptr;
    if (dw::attr_integrate(d, dw::at_linkage_name, &a) || dw::attr_integrate(d, dw::at_mips_linkage_name, &a))
        name = dw::formstring(&a);
    if (!name) {
        if (dw::attr_integrate(d, dw::at_name, &a)) name = dw::formstring(&a);
        return name ? std::string(name) : std::string();
    }
    return demangled(name);
}


// The three indexes below (a unit's functions, an object's symbols, an object's
// units) are address ranges sorted by their start, searched by binary search.
// (On pointers: vector iterators' operator<=> would odr-use libstdc++'s
// __synth3way, an STB_GNU_UNIQUE variable that pins a plugin in memory.)
template <class Range>
void sort_by_start(std::vector<Range>& ranges) {
    Range* first = ranges.data();
    std::sort(first, first + ranges.size(), [](const Range& a, const Range& b) { return a.lo < b.lo; });
}
// The range holding pc, or null. Ranges do not overlap, except aliases and a
// unit that lists a function twice: a few before the last that starts at or
// before pc are looked at.
template <class Range>
const Range* range_holding(const std::vector<Range>& ranges, std::uint64_t pc) noexcept {
    const Range* const first = ranges.data();
    const Range* it =
        std::upper_bound(first, first + ranges.size(), pc, [](std::uint64_t v, const Range& r) { return v < r.lo; });
    for (int looked = 0; it != first && looked < 4; ++looked) {
        --it;
        if (pc < it->hi) return it;
    }
    return nullptr;
}

// The unit's functions, indexed on first use.
inline const unit_functions& functions_of(dwarf_session& s, dw::die* cu) {
    for (const unit_functions& u : s.units)
        if (u.unit == cu->addr) return u;
    unit_functions u{cu->addr, {}};
    dw::getfuncs(
        cu,
        [](dw::die* f, void* arg) -> int {
            auto& list = *static_cast<std::vector<unit_functions::range>*>(arg);
            std::uint64_t base = 0, lo = 0, hi = 0;
            for (long off = 0; (off = dw::ranges(f, off, &base, &lo, &hi)) > 0;)
                if (lo < hi) list.push_back({lo, hi, *f});
            return 0;  // DWARF_CB_OK
        },
        &u.ranges, 0);
    sort_by_start(u.ranges);
    s.units.push_back(std::move(u));
    return s.units.back();
}

// The out-of-line function holding pc (unit-relative), or false.
inline bool function_at(const unit_functions& u, std::uint64_t pc, dw::die& out) noexcept {
    const unit_functions::range* r = range_holding(u.ranges, pc);
    if (r) out = r->function;
    return r != nullptr;
}

// Where an inlined instance was called from: its DW_AT_call_file and _line.
inline bool call_site(dw::die* cu, dw::die* inlined, std::string& file, std::uint64_t& line) {
    dw::attribute a;
    std::uint64_t index = 0;
    dw::dwarf_files* files = nullptr;
    std::size_t nfiles = 0;
    if (!dw::attr_integrate(inlined, dw::at_call_file, &a) || dw::formudata(&a, &index) != 0 ||
        dw::getsrcfiles(cu, &files, &nfiles) != 0 || index >= nfiles)
        return false;
    const char* f = dw::filesrc(files, index, nullptr, nullptr);
    if (!f) return false;
    file = f;
    line = 0;
    if (dw::attr_integrate(inlined, dw::at_call_line, &a)) dw::formudata(&a, &line);
    return true;
}

// The call site, in `function`, of the outermost code inlined there that holds
// pc: file and line.
inline bool outer_call_site(dw::die* cu, dw::die* function, std::uint64_t pc, std::string& file,
                            std::uint64_t& line) {
    dw::die d;
    if (dw::child(function, &d) != 0) return false;
    for (;;) {
        const int t = dw::tag(&d);
        if ((t == dw::tag_inlined_subroutine || t == dw::tag_lexical_block) && dw::haspc(&d, pc) == 1) {
            if (t == dw::tag_lexical_block) {
                dw::die inner;
                if (dw::child(&d, &inner) != 0) return false;
                d = inner;
                continue;
            }
            return call_site(cu, &d, file, line);
        }
        dw::die next;
        if (dw::siblingof(&d, &next) != 0) return false;
        d = next;
    }
}

// The name (mangled) of the function holding pc in module m, or null.
inline const char* symbol_name(dwarf_session& s, dw::dwfl_module* m, std::uint64_t pc) {
    module_symbols* ms = nullptr;
    for (module_symbols& known : s.modules)
        if (known.module == m) ms = &known;
    if (!ms) {
        module_symbols fresh{m, {}};
        const int n = dw::module_getsymtab(m);
        for (int i = 1; i < n; ++i) {
            dw::elf_sym sym{};
            std::uint64_t addr = 0;
            const char* name = dw::module_getsym_info(m, i, &sym, &addr, nullptr, nullptr, nullptr);
            if (name && *name && (sym.info & 0xf) == 2 /* STT_FUNC */ && sym.size)
                fresh.functions.push_back({addr, addr + sym.size, name});
        }
        sort_by_start(fresh.functions);
        s.modules.push_back(std::move(fresh));
        ms = &s.modules.back();
    }
    const module_symbols::function* f = range_holding(ms->functions, pc);
    return f ? f->name : nullptr;
}

// The compilation unit holding pc (its DIE, and the bias of the object's DWARF
// addresses): through .debug_aranges, else through the units' own ranges.
inline bool unit_at(dwarf_session& s, dw::dwfl_module* m, std::uint64_t pc, dw::die& unit, std::uint64_t& bias) {
    if (dw::die* found = dw::module_addrdie(m, pc, &bias)) {
        unit = *found;
        return true;
    }
    dw::dwarf* d = dw::module_getdwarf(m, &bias);
    if (!d) return false;
    module_units* mu = nullptr;
    for (module_units& known : s.unit_maps)
        if (known.module == m) mu = &known;
    if (!mu) {
        module_units fresh{m, {}};
        dw::dwarf_cu* cu = nullptr;
        dw::dwarf_cu* next = nullptr;
        dw::die cudie{};
        while (dw::get_units(d, cu, &next, nullptr, nullptr, &cudie, nullptr) == 0) {
            std::uint64_t base = 0, lo = 0, hi = 0;
            for (long off = 0; (off = dw::ranges(&cudie, off, &base, &lo, &hi)) > 0;)
                if (lo < hi) fresh.ranges.push_back({lo, hi, cudie});
            cu = next;
        }
        sort_by_start(fresh.ranges);
        s.unit_maps.push_back(std::move(fresh));
        mu = &s.unit_maps.back();
    }
    const module_units::range* r = range_holding(mu->ranges, pc - bias);
    if (r) unit = r->unit;
    return r != nullptr;
}

// Whether an object (its path) is the C or C++ runtime's: the C library, the
// loader, libm, libgcc_s, libstdc++.
STRATA_MODULE_LOCAL inline bool is_runtime_object(std::string_view path) noexcept {
    const auto slash = path.rfind('/');
    const std::string_view file = slash == std::string_view::npos ? path : path.substr(slash + 1);
    static constexpr std::string_view runtime[] = {"libc.so", "ld-linux", "libm.so", "libgcc_s.so", "libstdc++.so",
                                                   "libpthread.so", "linux-vdso"};
    for (std::string_view r : runtime)
        if (file.starts_with(r)) return true;
    return false;
}

// "function at file:line" for one address, as Boost.Stacktrace spells it: the
// function the address is in (the out-of-line one, when code was inlined into
// it) and the line of that function (the call of the outermost inlined code);
// "function in object" without line information; "0x... in object" without a
// symbol.
inline std::string dwarf_text(dwarf_session& session, std::uintptr_t pc) {
    dw::dwfl_module* m = dw::addrmodule(session.dwfl, pc);
    if (!m) return fmt::format("{:#x}", pc);
    // The C and C++ runtime's own objects are named from their symbol tables
    // alone: their frames are the thread and program start (which printed stacks
    // leave out) or calls into the runtime, and their lines would open the C
    // library's separate debug file (libc6-dbg: about 100 ms of decompressing).
    const char* object = dw::module_info(m, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
    if (object && is_runtime_object(object)) {
        const char* name = symbol_name(session, m, pc);
        std::string text = name ? demangled(name) : fmt::format("{:#x}", pc);
        fmt::format_to(std::back_inserter(text), " in {}", object);
        return text;
    }
    std::string function, file;
    std::uint64_t line = 0;
    std::uint64_t bias = 0;
    dw::die function_die;
    // The name from the symbol table (what Boost.Stacktrace printed), else DWARF's.
    if (const char* name = symbol_name(session, m, pc)) function = demangled(name);
    dw::die unit{};
    dw::die* const cu = unit_at(session, m, pc, unit, bias) ? &unit : nullptr;
    if (cu && function_at(functions_of(session, cu), pc - bias, function_die)) {
        if (function.empty()) function = function_name(&function_die);
        outer_call_site(cu, &function_die, pc - bias, file, line);
    } else if (cu) {
        dw::die* scopes = nullptr;
        if (dw::getscopes(cu, pc - bias, &scopes) > 0) {
            // dwarf_getscopes follows an inlined instance to its abstract
            // definition; dwarf_getscopes_die gives the concrete nesting.
            dw::die* chain = nullptr;
            const int k = dw::getscopes_die(&scopes[0], &chain);
            int sub = -1;
            for (int i = 0; i < k; ++i)
                if (dw::tag(&chain[i]) == dw::tag_subprogram) sub = i;
            if (sub >= 0) {
                if (function.empty()) function = function_name(&chain[sub]);
                for (int i = sub - 1; i >= 0; --i) {
                    if (dw::tag(&chain[i]) != dw::tag_inlined_subroutine) continue;
                    call_site(cu, &chain[i], file, line);
                    break;
                }
            }
            std::free(chain);
        }
        std::free(scopes);
    }
    if (file.empty() && cu) {
        if (dw::dwarf_line* l = dw::getsrc_die(cu, pc - bias)) {
            int n = 0;
            if (const char* f = dw::linesrc(l, nullptr, nullptr); f && dw::lineno(l, &n) == 0) {
                file = f;
                line = static_cast<std::uint64_t>(n);
            }
        }
    }
    std::string out = function.empty() ? fmt::format("{:#x}", pc) : std::move(function);
    if (!file.empty()) {
        fmt::format_to(std::back_inserter(out), " at {}:{}", file, line);
    } else if (object && *object) {
        fmt::format_to(std::back_inserter(out), " in {}", object);
    }
    return out;
}

// Texts for pcs[0, n), all in loaded objects, from the process's session. One
// thread at a time (libdw 0.188 is not thread-safe); only cache misses come here.
inline void dwarf_texts(const std::uintptr_t* pcs, std::size_t n, std::string* out,
                        unsigned long long adds, unsigned long long subs) {
    process_state& st = process();
    std::lock_guard lock(st.symbolizer_mutex);
    dw::dwfl* d = current_dwfl(st, adds, subs);
    for (std::size_t i = 0; i < n; ++i)
        out[i] = d ? dwarf_text(*static_cast<dwarf_session*>(st.symbolizer_session), pcs[i]) : fmt::format("{:#x}", pcs[i]);
}

}  // namespace strata::detail
