#!/usr/bin/env python3
"""Turns the JSON lines bench/scale.sh writes (one per process: scale_bench or
scale_go) into a markdown table of medians with ratios to Go, a check of issue
13's targets, and the picture docs/scaling.png (wall time and threads created
against N, log scales, for the sleep and sleep_limit16 scenarios).

Usage: report.py RESULTS.jsonl [--plot PNG]
"""
import json
import statistics
import sys
from collections import defaultdict

IMPLS = ["go", "strata_thread", "strata_coro", "strata_coro_cores", "asio", "asio_cores", "tbb", "os_threads"]
# The coroutine API's figures: on one io_context (one thread), and over one
# io_context per CPU (as Go's scheduler uses every CPU).
CORO_IMPLS = ("strata_coro", "strata_coro_cores")
SCENARIOS = ["sleep", "sleep_limit16", "fail_half", "alive", "timeout_ok", "first_of8", "heartbeat", "stall_detect"]
TITLES = {
    "sleep": "N tasks of 1 ms, no limit",
    "sleep_limit16": "N tasks of 1 ms, at most 16 running",
    "fail_half": "N tasks, task N/2 fails, the rest stop",
    "alive": "N tasks alive at once",
    "timeout_ok": "`with_timeout` in time, N calls (ns a call)",
    "first_of8": "`first_of`, 8 replicas, N rounds (us added over the fastest)",
    "heartbeat": "N tasks beating every 1 ms, 100 ms heartbeat, 10 rounds of 1 s (rounds with a false stall)",
    "stall_detect": "a task blocked on a mutex, 100 ms heartbeat, N rounds (ms from its last beat to its stop)",
}


def headline(scenario):
    """The field a scenario is judged by, and its unit."""
    if scenario == "timeout_ok":
        return "ns_per_call", "ns"
    if scenario == "first_of8":
        return "added_us", "us"
    if scenario == "heartbeat":
        return "false_stalls", "false stalls"
    if scenario == "stall_detect":
        return "detect_ms", "ms"
    return "wall_ms", "ms"


def load(path):
    runs = defaultdict(list)  # (scenario, n, impl) -> [record]
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            r = json.loads(line)
            runs[(r["scenario"], int(r["n"]), r["impl"])].append(r)
    return runs


def med(records, field):
    values = [r[field] for r in records if r.get("ok") and field in r]
    return statistics.median(values) if values else None


def fmt_num(v):
    if v is None:
        return "–"
    if v >= 100:
        return f"{v:,.0f}".replace(",", " ")
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def summarize(runs):
    """(scenario, n, impl) -> dict of medians over the runs that were ok, and counts."""
    out = {}
    for (scenario, n, impl), records in runs.items():
        field, _ = headline(scenario)
        out[(scenario, n, impl)] = {
            "value": med(records, field),
            "threads": med(records, "threads_created"),
            "rss": med(records, "peak_rss_mb"),
            "runs": len(records),
            "failed": sum(1 for r in records if not r.get("ok")),
            "errors": sorted({r.get("error", "") for r in records if not r.get("ok")} - {""}),
            "records": records,
        }
    return out


def table(summary):
    impls = [i for i in IMPLS if any(k[2] == i for k in summary)]
    lines = ["| work | N | " + " | ".join(impls) + " |", "| --- | ---: | " + " | ".join("---" for _ in impls) + " |"]
    notes = []
    for scenario in SCENARIOS:
        ns = sorted({k[1] for k in summary if k[0] == scenario})
        _, unit = headline(scenario)
        for n in ns:
            go = summary.get((scenario, n, "go"), {}).get("value")
            cells = []
            for impl in impls:
                s = summary.get((scenario, n, impl))
                if not s:
                    cells.append("")
                    continue
                if s["value"] is None:
                    cells.append(f"**failed** ({s['failed']}/{s['runs']})")
                    notes.append(f"{impl} {scenario} N={n}: " + "; ".join(s["errors"] or ["not ok"]))
                    continue
                cell = f"{fmt_num(s['value'])} {unit} / {s['threads']:.0f} thr"
                if scenario in ("alive", "sleep"):
                    cell += f" / {fmt_num(s['rss'])} MB"
                if go and impl != "go":
                    cell += f" ({s['value'] / go:.2f}x)"
                if s["failed"]:
                    cell += f" ({s['failed']} of {s['runs']} not ok)"
                    notes.append(f"{impl} {scenario} N={n}: " + "; ".join(s["errors"] or ["not ok"]))
                cells.append(cell)
            lines.append(f"| {TITLES[scenario]} | {n} | " + " | ".join(cells) + " |")
    return lines, notes


def targets(summary):
    """Issue 13's targets, at the largest N of each scenario in the results."""
    rows = []

    def at_max(scenario):
        ns = [k[1] for k in summary if k[0] == scenario]
        return max(ns) if ns else None

    def get(scenario, n, impl):
        s = summary.get((scenario, n, impl))
        return s if s and s["value"] is not None else None

    def row(what, impl, figure, target, met):
        rows.append(f"| {what} | {impl} | {figure} | {target} | {'yes' if met else '**no**'} |")

    def floor_note(scenario, n, go):
        """The same work on bare blocking OS threads, for the thread API's rows."""
        f = get(scenario, n, "os_threads") if n else None
        return f"; bare threads {f['value'] / go['value']:.2f}x" if f and go else ""

    n = at_max("sleep_limit16")
    go = get("sleep_limit16", n, "go") if n else None
    for impl in ("strata_thread",) + CORO_IMPLS:
        s = get("sleep_limit16", n, impl) if n else None
        if s and go:
            r = s["value"] / go["value"]
            row(f"{n} tasks of 1 ms, at most 16 running", impl, f"{r:.2f}x Go, {s['threads']:.0f} threads",
                "<= 1.2x Go, <= 32 threads", r <= 1.2 and s["threads"] <= 32)
    n = at_max("sleep")
    go = get("sleep", n, "go") if n else None
    s = get("sleep", n, "strata_thread") if n else None
    if s and go:
        r = s["value"] / go["value"]
        row(f"{n} tasks of 1 ms, no limit", "strata_thread", f"{r:.2f}x Go" + floor_note("sleep", n, go), "<= 2x Go",
            r <= 2)
    for impl in CORO_IMPLS:
        s = get("sleep", n, impl) if n else None
        if s and go:
            r = s["value"] / go["value"]
            row(f"{n} tasks of 1 ms, no limit", impl, f"{r:.2f}x Go, {s['rss']:.1f} MB (Go {go['rss']:.1f})",
                "<= 1.2x Go, peak RSS <= Go's", r <= 1.2 and s["rss"] <= go["rss"])
    n = at_max("fail_half")
    go = get("fail_half", n, "go") if n else None
    for impl in ("strata_thread",) + CORO_IMPLS:
        s = get("fail_half", n, impl) if n else None
        if s and go:
            r = s["value"] / go["value"]
            floor = floor_note("fail_half", n, go) if impl == "strata_thread" else ""
            row(f"{n} tasks, task {n // 2} fails", impl, f"{r:.2f}x Go, failing task reported" + floor,
                "<= 1.5x Go, the failing task reported", r <= 1.5)
    n = at_max("timeout_ok")
    for impl in ("strata_thread", "strata_coro"):
        s = get("timeout_ok", n, impl) if n else None
        if s:
            per_call = s["threads"] / n
            row("`with_timeout` in time, a call", impl, f"{s['value']:.0f} ns, {per_call:.3f} threads a call",
                "<= 2000 ns, no thread a call", s["value"] <= 2000 and per_call < 0.01)
    n = at_max("first_of8")
    go = get("first_of8", n, "go") if n else None
    for impl in ("strata_thread", "strata_coro"):
        s = get("first_of8", n, impl) if n else None
        if s and go:
            r = s["value"] / go["value"]
            floor = floor_note("first_of8", n, go) if impl == "strata_thread" else ""
            row("`first_of`, 8 replicas, time added", impl,
                f"{s['value']:.0f} us ({r:.2f}x Go's {go['value']:.0f} us{floor})",
                "<= 2x Go's", r <= 2)
    # Heartbeats: every run counts (a run with a false stall is "not ok").
    hb = [r for k, v in summary.items() if k[0] == "heartbeat" and k[2] == "strata_thread" for r in v["records"]]
    if hb:
        stalls = sum(r.get("false_stalls", 1) for r in hb)
        rounds = 10 * len(hb)
        row(f"{hb[0]['n']} tasks beating every 1 ms, 100 ms heartbeat", "strata_thread",
            f"{stalls} false stalls in {rounds} rounds", "no false stall in 10 rounds", stalls == 0 and rounds >= 10)
    sd = [r for k, v in summary.items() if k[0] == "stall_detect" and k[2] == "strata_thread" for r in v["records"]]
    if sd:
        worst = max(r.get("worst_detect_ms", float("inf")) for r in sd)
        every = all(r.get("ok") for r in sd)
        row("a task blocked on a mutex, 100 ms heartbeat", "strata_thread",
            f"stopped as stalled (blocked) {worst:.0f} ms after its last beat at worst" if every
            else "not always reported as stalled and blocked", "reported stalled within 200 ms",
            every and worst <= 200)
    if not rows:
        return []
    return ["| target | impl | figure | target | met |", "| --- | --- | --- | --- | --- |"] + rows


def plot(summary, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"go": "tab:blue", "strata_thread": "tab:red", "strata_coro": "tab:orange",
              "strata_coro_cores": "tab:brown", "asio": "tab:green", "asio_cores": "tab:olive", "tbb": "tab:purple",
              "os_threads": "tab:gray"}
    styles = {"sleep": ("-", "o", "no limit"), "sleep_limit16": ("--", "s", "at most 16 running")}
    fig, (wall_ax, thr_ax) = plt.subplots(1, 2, figsize=(12, 5), dpi=100)
    for scenario, (ls, marker, label) in styles.items():
        for impl in IMPLS:
            points = sorted((k[1], v) for k, v in summary.items()
                            if k[0] == scenario and k[2] == impl and v["value"] is not None)
            if not points:
                continue
            ns = [p[0] for p in points]
            wall_ax.plot(ns, [p[1]["value"] for p in points], ls, marker=marker, color=colors[impl],
                         label=f"{impl}, {label}")
            thr_ax.plot(ns, [p[1]["threads"] for p in points], ls, marker=marker, color=colors[impl],
                        label=f"{impl}, {label}")
    wall_ax.set_xscale("log")
    wall_ax.set_yscale("log")
    wall_ax.set_xlabel("N (tasks of 1 ms)")
    wall_ax.set_ylabel("wall time, ms (median)")
    wall_ax.set_title("Wall time")
    wall_ax.grid(True, which="both", alpha=0.3)
    thr_ax.set_xscale("log")
    thr_ax.set_yscale("symlog", linthresh=1)  # 0 threads (Asio on the main thread) stays on the plot
    thr_ax.set_ylim(bottom=0)
    thr_ax.set_xlabel("N (tasks of 1 ms)")
    thr_ax.set_ylabel("OS threads created (median; log above 1)")
    thr_ax.set_title("Threads created")
    thr_ax.grid(True, which="both", alpha=0.3)
    thr_ax.legend(fontsize=7, loc="upper left")
    fig.suptitle("strata vs Go errgroup, Boost.Asio, oneTBB: N tasks each sleeping 1 ms (bench/scale.sh)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    summary = summarize(load(argv[1]))
    lines, notes = table(summary)
    print("\n".join(lines), flush=True)
    reps = max((v["runs"] for v in summary.values()), default=0)
    print(f"\n(medians of up to {reps} runs, each a fresh process; a cell is the headline figure / OS threads "
          "created [/ peak RSS] (ratio to Go's headline figure))")
    t = targets(summary)
    if t:
        print("\nIssue 13's targets, at the largest N run:\n")
        print("\n".join(t))
    if notes:
        print("\nRuns that were not ok:")
        for note in notes:
            print(f"- {note}")
    if "--plot" in argv:
        path = argv[argv.index("--plot") + 1]
        plot(summary, path)
        print(f"\n(drew {path})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
