// strata/config.hpp: every configuration macro strata reads, with its default.
// Define a macro before including any strata header (or with -D) to change it.
#pragma once

// Where stack traces are captured by default; the run-time setting
// strata::set_capture_policy() starts from this value.
//   0 = off, 1 = origin (first frame of a chain only), 2 = every_frame.
#ifndef STRATA_CAPTURE_POLICY
#define STRATA_CAPTURE_POLICY 1
#endif

// Most program counters kept in one captured stack. Deeper stacks are cut at
// this many frames (the record says so).
#ifndef STRATA_MAX_STACK_DEPTH
#define STRATA_MAX_STACK_DEPTH 64
#endif

// 1: capture stacks by walking frame pointers (tens of nanoseconds for 20 frames
// instead of microseconds). Only for builds that keep frame pointers
// (-fno-omit-frame-pointer) in all the code that may be on the stack; frames of
// code built without them end the walk early (never a crash: the walk stays
// inside the thread's stack). 0 (default): libgcc's _Unwind_Backtrace.
#ifndef STRATA_FRAME_POINTERS
#define STRATA_FRAME_POINTERS 0
#endif

// How addresses become "function at file:line". 1: elfutils' libdw (link -ldw),
// one session per process that reads an object's debug information only when
// an address in it is first asked about (the strata CMake target and strata.pc
// set this unless configured with STRATA_SYMBOLIZER=boost). 0: Boost.Stacktrace
// with gcc's libbacktrace (link -lboost_stacktrace_backtrace and define
// BOOST_STACKTRACE_LINK), which reads every loaded object's debug information,
// once per thread, on that thread's first look-up.
#ifndef STRATA_USE_LIBDW
#define STRATA_USE_LIBDW 0
#endif

// 1: printed stacks ({:v}, records, JSON's symbolized lines) show every frame
// captured. 0 (default): strata's own frames and the runtime's thread and
// program start are left out (JSON's raw addresses keep them all).
#ifndef STRATA_STACK_ALL_FRAMES
#define STRATA_STACK_ALL_FRAMES 0
#endif

// Most frames that {:c} and {:v} print for one chain: the outermost half and the
// innermost half; the frames between are elided and the output says how many.
#ifndef STRATA_FORMAT_MAX_FRAMES
#define STRATA_FORMAT_MAX_FRAMES 64
#endif

// Define STRATA_NO_FMT_EXTERN to stop strata declaring fmt 9's formatting engine
// extern (see detail/fmt_extern.hpp): needed only with a libfmt whose symbols
// differ from Debian's g++-built one.

// Define STRATA_CHECKED=1 (in every file of a program, like a debug mode) to
// have an error that was destroyed without anyone looking at it reported, as
// LLVM's checked errors are: see set_unchecked_error_handler (detail/frame.hpp).
// Off by default: it costs a flag per frame and a store per check.
#ifndef STRATA_CHECKED
#define STRATA_CHECKED 0
#endif

// Whether exceptions are available; strata never throws without them.
#ifndef STRATA_HAS_EXCEPTIONS
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
#define STRATA_HAS_EXCEPTIONS 1
#else
#define STRATA_HAS_EXCEPTIONS 0
#endif
#endif

// Not a setting: marks strata's inline variables and the functions that hold
// statics as one copy per module, never exported (so never STB_GNU_UNIQUE, which
// would pin a plugin in memory). What must be one per process lives in the
// process state (detail/process.hpp).
#define STRATA_MODULE_LOCAL __attribute__((visibility("hidden")))

static_assert(STRATA_CAPTURE_POLICY >= 0 && STRATA_CAPTURE_POLICY <= 2,
              "STRATA_CAPTURE_POLICY must be 0 (off), 1 (origin) or 2 (every_frame)");
static_assert(STRATA_FORMAT_MAX_FRAMES >= 2, "STRATA_FORMAT_MAX_FRAMES must be at least 2");
static_assert(STRATA_MAX_STACK_DEPTH > 0 && STRATA_MAX_STACK_DEPTH <= 1024,
              "STRATA_MAX_STACK_DEPTH must be between 1 and 1024");
