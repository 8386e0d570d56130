#!/usr/bin/env python3
"""Compiles every ```cpp block of README.md and docs/*.md (the doc_samples test).

Each block is its own translation unit, compiled with the flags of the
strata::strata target plus strata's warnings (-Werror), -fsyntax-only. How a
block is compiled (docs/README.md, "Samples", says the same for writers):

- A block whose first line is an #include is a whole file: compiled as written.
- Any other block follows a prelude (strata.hpp, standard headers,
  `using namespace std::chrono_literals;`, and the header of an optional library
  the block uses: <strata/json.hpp>, <strata/spdlog.hpp>, <strata/catch2.hpp>,
  Abseil's status headers), then the context given by an HTML comment just above
  the block:

      <!-- sample
      strata::result<int> fetch(int key, std::stop_token token);
      void f(int key) {
      {{sample}}
      }
      -->

  The comment's lines are C++; `{{sample}}` marks where the block goes (without
  it, the block follows them). Options after `sample:` on the comment's first
  line: `name=N` names a block, `uses=N[,M]` puts the named blocks (with their
  context) before this one's context, for a page whose samples build on each
  other. `<!-- sample: run -->` (README's example only):
  the block is also built (target doc_sample_example) and run: its stdout
  must equal the first ```text block after it, report IDs aside, and its stderr
  (the log) the second, aside from IDs, times, host, pids, directories, the
  stacks' frame lines and call sites' line numbers (which vary with the run,
  the build and the compiler).
- A block whose first line starts with `// does not compile` must fail to
  compile, and the compiler's report must point at one of the block's own lines.

#line directives make the compiler name the Markdown file and line. A block that
needs a library CMake did not find is skipped, and said so. Exit status 1 if any
block failed.
"""
import argparse
import concurrent.futures
import glob
import os
import re
import subprocess
import sys
import time

PRELUDE = """#include <strata/strata.hpp>
#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>
using namespace std::chrono_literals;
"""

# Optional libraries: how a block is seen to need one, and what the prelude adds.
OPTIONAL = {
    "json": (r"to_json|from_json|origin_of|nlohmann|strata/json\.hpp", "#include <strata/json.hpp>",
             "nlohmann/json (Debian: nlohmann-json3-dev)"),
    "spdlog": (r"spdlog", "#include <strata/spdlog.hpp>", "spdlog (Debian: libspdlog-dev)"),
    "grpc": (r"grpc::|grpc_serve|grpc_call|grpc_code|to_grpc_status|from_grpc_status|strata/grpc\.hpp",
             "#include <strata/grpc.hpp>", "gRPC (Debian: libgrpc++-dev)"),
    "catch2": (r"REQUIRE_THAT|CHECK_THAT|strata::testing|strata/catch2\.hpp|Catch::", "#include <strata/catch2.hpp>",
               "Catch2 2.13 (Debian: catch2)"),
    "absl": (r"absl::|absl/", "#include <absl/status/status.h>\n#include <absl/status/statusor.h>\n"
             "#include <absl/strings/str_cat.h>\n#include <absl/strings/string_view.h>", "Abseil (Debian: libabsl-dev)"),
}

# Warnings a sample may trip without being wrong: a fragment declares what it
# shows and need not use it. Dropping an error (-Wunused-result) still fails.
SAMPLE_WARNING_RELIEF = ["-Wno-unused-variable", "-Wno-unused-but-set-variable", "-Wno-unused-parameter",
                         "-Wno-unused-function", "-Wno-unused-local-typedefs"]

FENCE = re.compile(r"^(\s*)```(\S*)\s*$")
REPORT_ID = re.compile(r"\[[a-z0-9]{10}-(\d+)\]")


class Sample:
    def __init__(self, md, line, lang, code, context, context_line, options):
        self.md, self.line, self.lang, self.code = md, line, lang, code  # line: of the block's first code line
        self.context, self.context_line, self.options = context, context_line, options
        self.expected_stdout = None
        self.expected_stderr = None

    @property
    def where(self):
        return f"{self.md}:{self.line}"

    @property
    def whole_file(self):
        first = next((l for l in self.code if l.strip()), "")
        return first.lstrip().startswith("#include")

    @property
    def must_fail(self):
        first = next((l for l in self.code if l.strip()), "")
        return first.lstrip().startswith("// does not compile")

    def needs(self):
        text = "\n".join(self.code + self.context)
        return [name for name, (pattern, _, _) in OPTIONAL.items() if re.search(pattern, text)]


def parse(root, md):
    """The samples of one Markdown file (md: path relative to root)."""
    lines = open(os.path.join(root, md), encoding="utf-8").read().split("\n")
    samples, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, lang = m.group(1), m.group(2)
        j = i + 1
        while j < len(lines) and not re.match(r"^\s*```\s*$", lines[j]):
            j += 1
        if j == len(lines):
            sys.exit(f"{md}:{i + 1}: a fenced block that is never closed")
        body = [l[len(indent):] if l.startswith(indent) else l.lstrip() for l in lines[i + 1:j]]
        if lang in ("cpp", "c++"):
            context, context_line, options = [], 0, set()
            # An HTML comment "<!-- sample ... -->" just above the fence (blank lines allowed).
            k = i - 1
            while k >= 0 and not lines[k].strip():
                k -= 1
            if k >= 0 and lines[k].strip().endswith("-->"):
                start = k
                while start >= 0 and "<!--" not in lines[start]:
                    start -= 1
                head = lines[start].strip() if start >= 0 else ""
                hm = re.match(r"<!--\s*sample\b:?\s*(.*?)\s*(-->)?$", head)
                if hm:
                    options = set(hm.group(1).split())
                    if start < k:  # the lines between <!-- sample and -->: C++
                        context = [l[len(indent):] if l.startswith(indent) else l for l in lines[start + 1:k]]
                        if lines[k].strip() != "-->":
                            context.append(lines[k].strip()[:-3])
                    context_line = start + 2
            s = Sample(md, i + 2, lang, body, context, context_line, options)
            if "run" in options:
                # The first ```text block after it: the program's stdout.
                k = j + 1
                while k < len(lines) and not re.match(r"^\s*```text\s*$", lines[k]):
                    k += 1
                e = k + 1
                while e < len(lines) and not re.match(r"^\s*```\s*$", lines[e]):
                    e += 1
                s.expected_stdout = lines[k + 1:e] if k < len(lines) else []
                # The next ```text block: its stderr (the log).
                k = e + 1
                while k < len(lines) and not re.match(r"^\s*```text\s*$", lines[k]):
                    k += 1
                e = k + 1
                while e < len(lines) and not re.match(r"^\s*```\s*$", lines[e]):
                    e += 1
                s.expected_stderr = lines[k + 1:e] if k < len(lines) else []
            samples.append(s)
        elif lang == "":
            print(f"note: {md}:{i + 1}: a fenced block without a language is not compiled "
                  "(mark C++ as cpp, the rest as text, sh, cmake, json)")
        i = j + 1
    return samples


def option(s, key):
    """The value of option key=value of sample s, as a list (split at commas)."""
    for o in s.options:
        if o.startswith(key + "="):
            return o[len(key) + 1:].split(",")
    return []


def translation_unit(s, by_name):
    """The source text of sample s, with #line directives naming the Markdown file."""
    if s.whole_file:
        return "\n".join([f'#line {s.line} "{s.md}"'] + s.code) + "\n"
    needs = set(s.needs())
    for name in option(s, "uses"):
        needs.update(by_name[name].needs())
    # The prelude itself comes first, through -include (precompiled when it can be).
    out = [OPTIONAL[n][1] for n in OPTIONAL if n in needs]
    for name in option(s, "uses"):  # earlier blocks of the page this one builds on
        out += body(by_name[name])
    return "\n".join(out + body(s)) + "\n"


def body(s):
    """Sample s's context and code, with #line directives, without the prelude."""
    block = [f'#line {s.line} "{s.md}"'] + s.code
    out = []
    if s.context:
        out.append(f'#line {s.context_line} "{s.md}"')
        placed = False
        for n, l in enumerate(s.context):
            if l.strip() == "{{sample}}":
                out += block
                out.append(f'#line {s.context_line + n + 1} "{s.md}"')
                placed = True
            else:
                out.append(l)
        if not placed:
            out += block
    else:
        out += block
    return out


def compile_one(s, args, flags, workdir, n, by_name, prelude):
    src = os.path.join(workdir, f"sample_{n:03d}.cpp")
    with open(src, "w", encoding="utf-8") as f:
        f.write(translation_unit(s, by_name))
    cmd = [args.cxx, "-std=c++20", "-fsyntax-only"] + flags["core"]
    for dep in sorted(set(s.needs()).union(*(by_name[u].needs() for u in option(s, "uses")))):
        cmd += flags[dep]
    if not s.whole_file:
        cmd += ["-include", prelude]
    cmd += SAMPLE_WARNING_RELIEF + [src]
    p = subprocess.run(cmd, cwd=args.root, capture_output=True, text=True)
    out = p.stdout + p.stderr
    if s.must_fail:
        lines = range(s.line, s.line + len(s.code))
        # As tests/compile_fail: the compiler's report must point at a line of the block.
        hits = [int(m.group(1)) for m in re.finditer(re.escape(s.md) + r":(\d+):", out)]
        if p.returncode == 0:
            return False, f"{s.where}: this block is marked `// does not compile`, but it compiled ({src})"
        if not any(h in lines for h in hits):
            return False, (f"{s.where}: this block must fail to compile at one of its own lines "
                           f"({s.line}-{s.line + len(s.code) - 1}); the errors were elsewhere ({src}):\n{out}")
        return True, None
    if p.returncode != 0:
        return False, f"{s.where}: the block does not compile ({src}):\n{out}"
    return True, None


def run_example(s, args):
    """Builds the block as target doc_sample_example, runs it, compares its stdout."""
    src = args.run_source
    text = "\n".join(s.code) + "\n"
    if not os.path.exists(src) or open(src, encoding="utf-8").read() != text:
        with open(src, "w", encoding="utf-8") as f:
            f.write(text)
    p = subprocess.run(["cmake", "--build", args.build_dir, "--target", args.run_target],
                       capture_output=True, text=True)
    if p.returncode != 0:
        return False, f"{s.where}: the example does not build (target {args.run_target}, {src}):\n{p.stdout}{p.stderr}"
    r = subprocess.run([args.run_binary], capture_output=True, text=True, cwd=os.path.dirname(src), timeout=60)
    got = [REPORT_ID.sub(r"[ID-\1]", l) for l in r.stdout.rstrip("\n").split("\n")]
    want = [REPORT_ID.sub(r"[ID-\1]", l) for l in s.expected_stdout]
    if got != want:
        return False, (f"{s.where}: the example's stdout is not the output shown under it (IDs aside).\n"
                       "shown:\n  " + "\n  ".join(want) + "\nprinted:\n  " + "\n  ".join(got) +
                       f"\n(exit status {r.returncode}; stderr:)\n{r.stderr}")
    got, want = log_lines(r.stderr.rstrip("\n").split("\n")), log_lines(s.expected_stderr)
    if got != want:
        return False, (f"{s.where}: the example's log (stderr) is not the one shown under it (IDs, times, host, "
                       "pids, directories, stack frames and call-site lines aside: they vary with the run, the build "
                       "and the compiler).\n"
                       "shown:\n  " + "\n  ".join(want) + "\nprinted:\n  " + "\n  ".join(got) +
                       f"\n(the whole log:)\n{r.stderr}")
    return True, None


def log_lines(lines):
    """A record's lines, without what varies from run to run or build to build."""
    out = []
    for l in lines:
        if re.match(r"^\s+\d+# ", l):  # a stack frame: inlining differs between presets
            continue
        l = REPORT_ID.sub(r"[ID-\1]", l)
        l = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", "TIME", l)
        l = re.sub(r"host \S+, pid \d+, thread \d+", "host H, pid P, thread T", l)
        l = re.sub(r"[^\s(]*/([^/\s]+\.cpp)", r"\1", l)
        # A call site's line: for a call over several lines g++ names its first
        # line, clang the line of the format string.
        l = re.sub(r"^(\s+at \S+ \(\S+\.cpp):\d+\)$", r"\1:N)", l)
        out.append(l)
    return out


def make_prelude(args, flags):
    """Writes the prelude header and precompiles it (most of a sample's compile
    time is strata.hpp); without a precompiled header the samples still compile."""
    prelude = os.path.join(args.workdir, "prelude.hpp")
    with open(prelude, "w", encoding="utf-8") as f:
        f.write(PRELUDE)
    pch = prelude + (".pch" if "clang" in os.path.basename(args.cxx) else ".gch")
    p = subprocess.run([args.cxx, "-std=c++20"] + flags["core"] + SAMPLE_WARNING_RELIEF +
                       ["-x", "c++-header", prelude, "-o", pch], capture_output=True, text=True)
    if p.returncode != 0:
        print(f"note: the prelude could not be precompiled; compiling without it:\n{p.stderr}")
        if os.path.exists(pch):
            os.remove(pch)
    return prelude


def read_flags(path):
    flags = {}
    for line in open(path, encoding="utf-8"):
        key, _, value = line.rstrip("\n").partition("=")
        flags[key] = [v for v in value.split(";") if v]
    out = {}
    for dep in ["core"] + list(OPTIONAL):
        if f"{dep}.found" not in flags:
            continue
        f, seen = [], set(flags.get("implicit_includes", []))  # as CMake: no -isystem /usr/include
        for d in flags.get(f"{dep}.includes", []):
            if d in seen:
                continue
            seen.add(d)
            f += ["-I" + d] if d in flags.get("core.own_include", []) else ["-isystem", d]
        f += ["-D" + d for d in flags.get(f"{dep}.defines", [])]
        f += flags.get(f"{dep}.options", [])
        out[dep] = f
    out["core"] += flags.get("cxx_flags", [])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--cxx", required=True)
    ap.add_argument("--flags", required=True, help="the file CMake writes (doc_samples/flags.txt)")
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--run-target", default="doc_sample_example")
    ap.add_argument("--run-source", required=True)
    ap.add_argument("--run-binary", required=True)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("files", nargs="*", help="Markdown files, relative to --root (default README.md docs/*.md)")
    args = ap.parse_args()
    started = time.monotonic()
    flags = read_flags(args.flags)
    os.makedirs(args.workdir, exist_ok=True)
    files = args.files or ["README.md"] + sorted(os.path.relpath(p, args.root)
                                                 for p in glob.glob(os.path.join(args.root, "docs", "*.md")))
    samples = [s for md in files for s in parse(args.root, md)]
    by_name = {}
    for s in samples:
        for name in option(s, "name"):
            if name in by_name:
                sys.exit(f"{s.where}: a second sample named {name} (the first is at {by_name[name].where})")
            by_name[name] = s
    for s in samples:
        for name in option(s, "uses"):
            if name not in by_name:
                sys.exit(f"{s.where}: uses={name}, but no sample is named {name}")
    prelude = make_prelude(args, flags)
    failures, skipped, compiled, jobs = [], [], 0, []
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for n, s in enumerate(samples):
            missing = [d for d in set(s.needs()).union(*(by_name[u].needs() for u in option(s, "uses")))
                       if d not in flags]
            if missing:
                skipped.append(f"SKIPPED {s.where}: needs " + ", ".join(OPTIONAL[d][2] for d in missing) +
                               ", which CMake did not find")
                continue
            jobs.append((s, pool.submit(compile_one, s, args, flags, args.workdir, n, by_name, prelude)))
        for s, job in jobs:
            ok, message = job.result()
            compiled += 1
            if not ok:
                failures.append(message)
    runs = 0
    for s in samples:
        if "run" in s.options and not any(f.startswith(s.where) for f in failures):
            ok, message = run_example(s, args)
            runs += 1
            if not ok:
                failures.append(message)
    for line in skipped:
        print(line)
    for message in failures:
        print("FAILED " + message, file=sys.stderr)
    fails = sum(1 for s in samples if s.must_fail)
    print(f"doc_samples: {len(samples)} C++ blocks in {len(files)} files: {compiled} compiled "
          f"({fails} of them must not compile), {runs} built and run, {len(skipped)} skipped, "
          f"{len(failures)} failed, in {time.monotonic() - started:.1f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
