#!/usr/bin/env python3
"""Turns the JSON that bench/run.sh writes into the table of ratios in docs/costs.md.

Within a launch of a benchmark binary every timing is a median over repetitions
(interleaved), and every ratio compares two benchmarks of that launch. Each
figure in the table is then the median of that figure over the launches, since
a launch's address-space layout alone moves some figures by 10%.
"""
import glob
import json
import os
import sys


def medians(path):
    with open(path) as f:
        data = json.load(f)
    out = {}
    for b in data["benchmarks"]:
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        name = b["run_name"]
        out[name] = b
    return out


def first_reports(folder):
    """Medians of the fresh-process runs of first_report, by mode."""
    runs = {}
    path = os.path.join(folder, "first.jsonl")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            runs.setdefault(r["mode"], []).append(r)

    def median(mode, field):
        values = sorted(r[field] for r in runs[mode])
        return values[len(values) // 2]

    return {mode: {"ms": median(mode, "ms"), "rss_added_kb": median(mode, "rss_added_kb"), "n": len(runs[mode])}
            for mode in runs}


def figures(m, fp, comp, first=None):
    """The table's rows for one launch: (figure, strata, peers, target, met)."""

    def cpu(name, table=m):
        return table[name]["cpu_time"]

    rows = []

    def row(figure, strata, peers, target, met, key=0.0):
        rows.append((figure, strata, peers, target, "yes" if met else "**no**", key))

    for depth in (20, 64):
        bare = cpu(f"create/bare_unwind/{depth}")
        s = cpu(f"create/strata/{depth}") / bare
        peers = (f"Boost.Stacktrace {cpu(f'create/boost_stacktrace/{depth}') / bare:.2f}x, "
                 f"naive MyError {cpu(f'create/naive_myerror/{depth}') / bare:.2f}x "
                 f"(bare unwind {bare / 1000:.2f} us)")
        row(f"create with stack, {depth} frames (vs bare `_Unwind_Backtrace`)", f"{s:.2f}x", peers, "<= 1.10x", s <= 1.10, s)
    fp20 = cpu("create/strata_fp/20", fp)
    row("create with stack, 20 frames, frame-pointer walk", f"{fp20:.0f} ns",
        f"64 frames: {cpu('create/strata_fp/64', fp):.0f} ns", "<= 300 ns", fp20 <= 300, fp20)
    row("create without stack (capture off)", f"{cpu('create/strata_no_stack/20'):.0f} ns", "", "", True,
        cpu('create/strata_no_stack/20'))
    w = cpu("wrap/strata")
    row("`wrap` (new layer, no stack; one allocation, tested)", f"{w:.0f} ns",
        f"naive MyError {cpu('wrap/naive_myerror'):.0f} ns", "<= 100 ns", w <= 100, w)

    plain = cpu("success20/plain_int")
    s = cpu("success20/strata_result") / plain
    peers = ", ".join(f"{label} {cpu('success20/' + key) / plain:.2f}x" for label, key in
                      (("absl::StatusOr", "absl_statusor"), ("LEAF", "leaf_result"),
                       ("error_code", "error_code"), ("exceptions", "exceptions")))
    row("success path, 20 calls (vs plain `int`)", f"{s:.2f}x", peers, "<= 1.20x", s <= 1.20, s)

    def per_level(key):
        return (cpu(f"fail/{key}/20") - cpu(f"fail/{key}/0")) / 20

    s = per_level("strata_try")
    peers = ", ".join(f"{label} {per_level(key):.1f}" for label, key in
                      (("LEAF", "leaf_result"), ("absl::StatusOr", "absl_statusor"), ("error_code", "error_code"),
                       ("naive MyError", "naive_myerror"), ("exceptions", "exceptions")))
    row("error path, per level (`STRATA_TRY`), ns", f"{s:.1f}", peers, "<= 2 ns", s <= 2.0, s)

    sizes = next(v for k, v in m.items() if k.startswith("sizes"))
    e, ri, rv = int(sizes["error"]), int(sizes["result_int"]), int(sizes["result_void"])
    row("sizes: `error`, `result<int>`, `result<void>` (bytes)", f"{e}, {ri}, {rv}", "absl::Status 8",
        "8, <= 16", e == 8 and ri <= 16)

    warm = cpu("symbolize20/strata_warm") / cpu("symbolize20/boost_to_string")
    row("symbolize 20 frames, warm (vs Boost's `to_string`)", f"{warm:.2f}x",
        f"Boost {cpu('symbolize20/boost_to_string') / 1000:.1f} us", "<= 1.10x", warm <= 1.10, warm)
    cached = cpu("symbolize20/strata_cached")
    row("symbolize 20 frames, from the cache", f"{cached:.0f} ns", "", "<= 1 us", cached <= 1000, cached)
    row("format `{:v}`, 20 frames, symbols cached", f"{cpu('format_v20/strata_cached') / 1000:.1f} us", "", "", True,
        cpu('format_v20/strata_cached'))

    if first:
        boost, handle, thread = first["boost"], first["handle"], first["thread"]
        ratio = handle["ms"] / boost["ms"]
        row("first `handle()` in a process, 20 frames (vs Boost's first `to_string`; fresh processes)",
            f"{ratio:.2f}x ({handle['ms']:.1f} ms)", f"Boost {boost['ms']:.1f} ms", "<= 0.25x", ratio <= 0.25, ratio)
        row("first `handle()` on a new thread, new call site (fresh processes)", f"{thread['ms']:.1f} ms", "",
            "<= 10 ms", thread["ms"] <= 10, thread["ms"])
        row("peak RSS added by the first report (fresh processes)", f"{handle['rss_added_kb'] / 1024:.1f} MB",
            f"Boost's first `to_string` {boost['rss_added_kb'] / 1024:.1f} MB", "<= 16 MB",
            handle["rss_added_kb"] <= 16 * 1024, handle["rss_added_kb"])

    t1 = m["handle/strata/real_time/threads:1"]
    t2 = m["handle/strata/real_time/threads:2"]
    scale = t2["items_per_second"] / t1["items_per_second"]
    row("create + `handle` (null sink), 1 thread", f"{t1['real_time'] / 1000:.1f} us", "", "", True, t1['real_time'])
    row("create + `handle` on 2 threads (vs 1 thread's throughput)", f"{scale:.2f}x", "", ">= 1.80x", scale >= 1.80, scale)

    def real(name):
        return m[name]["real_time"]

    for figure, key in (("`with_timeout`, in time (vs a watchdog `std::jthread` by hand)", "timeout"),
                        ("`first_of`, 3 replicas (vs 2 threads and the caller, by hand)", "first_of3"),
                        ("`task_group`, 8 tasks (vs 8 `std::jthread`s, by hand)", "group8")):
        ratio = real(f"{key}/strata") / real(f"{key}/by_hand")
        row(figure, f"{ratio:.2f}x", f"by hand {real(f'{key}/by_hand') / 1000:.0f} us (wall clock)", "", True, ratio)
    b = cpu("beat/strata")
    row("`beat()` inside a task, ns", f"{b:.0f}", f"`steady_clock::now()` {cpu('beat/steady_clock_now'):.0f}", "", True, b)

    c = comp["strata"] / comp["baseline"]
    row("compile `#include <strata/strata.hpp>` at -O0 (vs fmt + std headers)", f"{c:.2f}x",
        f"Boost.LEAF {comp['leaf'] / comp['baseline']:.2f}x (baseline {comp['baseline']:.2f} s CPU)", "<= 1.30x",
        c <= 1.30)

    return rows


def main(folder):
    mains = sorted(glob.glob(os.path.join(folder, "main.*.json")))
    fps = sorted(glob.glob(os.path.join(folder, "fp.*.json")))
    with open(os.path.join(folder, "compile.json")) as f:
        comp = json.load(f)
    first = first_reports(folder)
    launches = [figures(medians(a), medians(b), comp, first) for a, b in zip(mains, fps)]
    # For each row, the launch whose headline figure is the median one.
    print(f"| figure | strata | peers, same run | target | met |")
    print("| --- | --- | --- | --- | --- |")
    for i in range(len(launches[0])):
        rows = [launch[i] for launch in launches]
        rows.sort(key=lambda r: r[5])
        r = rows[len(rows) // 2]
        print("| " + " | ".join(r[:5]) + " |")
    print(f"\n({len(launches)} launches; each row is the launch with the median figure"
          + (f"; first reports: medians of {first['handle']['n']} fresh processes a mode)" if first else ")"))


def across_machines(folder):
    """The table of bench/grpc (strata_grpc_bench), one row per figure, each the
    median over the launches of that launch's ratio."""
    launches = [medians(p) for p in sorted(glob.glob(os.path.join(folder, "grpc.*.json")))]
    if not launches:
        return

    def med(values):
        values = sorted(values)
        return values[len(values) // 2]

    def ratio(a, b, field="cpu_time"):
        return med(m[a][field] / m[b][field] for m in launches)

    def time(a, field="cpu_time"):
        return med(m[a][field] for m in launches)

    print("\n| across machines (`<strata/grpc.hpp>`) | strata | compared with, same run |")
    print("| --- | --- | --- |")
    print(f"| 5-frame chain with its stack to a `grpc::Status` and back, trusted peer "
          f"| {time('across/grpc_trusted') / 1000:.1f} us | {ratio('across/grpc_trusted', 'across/json'):.2f}x "
          f"`to_json` + `from_json` ({time('across/json') / 1000:.1f} us) |")
    print(f"| the same, untrusted peer (what a user may see) | {time('across/grpc_untrusted') / 1000:.1f} us "
          f"| {ratio('across/grpc_untrusted', 'across/json'):.2f}x `to_json` + `from_json` |")
    print(f"| failing call's server side: error made, handled (null sink), `to_grpc_status` "
          f"| {time('failing/server_side') / 1000:.1f} us | |")
    print(f"| failing call's client side: `from_grpc_status` | {time('failing/client_side') / 1000:.1f} us | |")
    ok = "unary/ok/real_time"
    print(f"| unary call on 127.0.0.1 that fails, strata both sides (wall clock) "
          f"| {ratio('unary/fails/real_time', ok, 'real_time'):.2f}x the same call succeeding "
          f"({time(ok, 'real_time') / 1000:.0f} us) "
          f"| gRPC alone, same status bytes: {ratio('unary/fails_canned_status/real_time', ok, 'real_time'):.2f}x; "
          f"plain status: {ratio('unary/fails_plain_grpc/real_time', ok, 'real_time'):.2f}x; "
          f"strata without stacks: {ratio('unary/fails_no_stack/real_time', ok, 'real_time'):.2f}x |")
    print(f"\n({len(launches)} launches; each figure is the median over them of the launch's median)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "build/bench/results")
    across_machines(sys.argv[1] if len(sys.argv) > 1 else "build/bench/results")
