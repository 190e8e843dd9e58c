#!/usr/bin/env python3
"""Merges scim-bench JSON results (one file per target and size) into markdown tables.

    python3 table.py OUT_DIR > OUT_DIR/results.md

Files are named <N>-<target>.json (written by run.sh). Standard library only.
"""
import json
import math
import pathlib
import sys

TARGETS = {  # issue 4, one Roster core, loopback, SQLite WAL synchronous=NORMAL
    "mixed": ">= 5,000",
    "get": ">= 25,000, p99 <= 2 ms",
    "filter": ">= 20,000, p99 <= 2 ms",
    "page": ">= 800",
    "patch_user": ">= 8,000",
    "patch_member": ">= 8,000",
    "create": ">= 8,000",
    "big_group_patch": ">= 5,000",
    "big_group_get": ">= 20,000",
}
ORDER = ["ceiling", "sqlite", "sqlite-full", "postgres", "python"]
NAMES = {
    "ceiling": "ceiling (actix, canned)",
    "sqlite": "Roster SQLite NORMAL",
    "sqlite-full": "Roster SQLite FULL",
    "postgres": "Roster PostgreSQL",
    "python": "scim2-server 0.8.3",
}


def fmt(x, digits=0):
    if x is None:
        return "-"
    return f"{x:,.{digits}f}"


def main():
    out = pathlib.Path(sys.argv[1])
    runs = {}
    for f in sorted(out.glob("*.json")):
        n, _, target = f.stem.partition("-")
        try:
            runs.setdefault(int(n), {})[target] = json.loads(f.read_text())
        except (ValueError, json.JSONDecodeError) as e:
            print(f"<!-- skipped {f.name}: {e} -->")
    for n in sorted(runs):
        by = runs[n]
        cols = [t for t in ORDER if t in by] + sorted(t for t in by if t not in ORDER)
        print(f"### N = {n:,} users\n")
        print("ops/s (p99 ms); `!k` = k errors\n")
        print("| class | target | " + " | ".join(NAMES.get(c, c) for c in cols) + " |")
        print("| --- | --- |" + " ---: |" * len(cols))
        classes = []
        for c in cols:
            for r in by[c]["classes"]:
                if r["class"] not in classes:
                    classes.append(r["class"])
        for cl in classes:
            cells = []
            for c in cols:
                r = next((x for x in by[c]["classes"] if x["class"] == cl), None)
                if r is None:
                    cells.append("-")
                    continue
                e = f" !{r['errors']}" if r["errors"] else ""
                cells.append(f"{fmt(r['ops_per_s'])} ({r['p99_ms']:.2f}){e}")
            print(f"| {cl} | {TARGETS.get(cl, '')} | " + " | ".join(cells) + " |")
        print("| **score** | >= 100x peer, >= 10% ceiling | "
              + " | ".join(f"**{fmt(by[c]['score'], 1)}**" for c in cols) + " |")
        seeds = []
        for c in cols:
            s = by[c]["seed"]
            how = f"/Bulk x{s['bulk_size']}" if s["via_bulk"] else "POST"
            note = f"; {'; '.join(s['notes'])}" if s["notes"] else ""
            seeds.append(f"{s['users'] + s['spare_users']:,} users in {s['users_seconds']:.1f} s "
                         f"({how}){note}")
        print("| seeding | | " + " | ".join(seeds) + " |")
        ratios = []
        if "python" in by and by["python"]["score"] > 0:
            for c in ("sqlite", "postgres"):
                if c in by:
                    ratios.append(f"{NAMES[c]} / peer = {by[c]['score'] / by['python']['score']:.1f}x")
        if "ceiling" in by and by["ceiling"]["score"] > 0:
            for c in ("sqlite", "postgres"):
                if c in by:
                    ratios.append(f"{NAMES[c]} / ceiling = "
                                  f"{100 * by[c]['score'] / by['ceiling']['score']:.1f}%")
        if ratios:
            print("\n" + "; ".join(ratios) + ".")
        print("\nServer and client cost per class (server CPU from /proc/PID/stat; "
              "PostgreSQL's own processes not included):\n")
        print("| target | class | ops | errors | p50 ms | server CPU s | server CPU µs/op "
              "| peak RSS MiB | client CPU µs/op |")
        print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for c in cols:
            for r in by[c]["classes"]:
                ops = r["ok"] + r["errors"]
                cpu = r.get("server_cpu_s")
                per = cpu * 1e6 / ops if cpu is not None and ops else None
                cl_per = r["client_cpu_s"] * 1e6 / ops if ops else None
                rss = r.get("server_peak_rss_kib")
                print(f"| {c} | {r['class']} | {ops:,} | {r['errors']} | {r['p50_ms']:.2f} | "
                      f"{fmt(cpu, 2)} | {fmt(per)} | {fmt(rss / 1024 if rss else None)} | "
                      f"{fmt(cl_per)} |")
        print()
        for c in cols:
            errs = [f"{r['class']}: {e}" for r in by[c]["classes"] for e in r["first_errors"]]
            if errs:
                print(f"First errors of {NAMES.get(c, c)}: " + "; ".join(f"`{e}`" for e in errs[:5]) + "\n")


if __name__ == "__main__":
    main()
