#!/usr/bin/env python3
"""Smoke test of tickless-bench: scenarios at their quick size.

    smoke_check.py TICKLESS_BENCH OUT_DIR [SCENARIO ...]

Runs `tickless-bench SCENARIO --quick --csv OUT_DIR` for each SCENARIO
(every scenario when none is named) and checks that each one either ran (printed its table, wrote OUT_DIR/<scenario>.csv with
plain numbers in sane ranges) or said plainly that this build cannot run it
(the QUIC scenarios on an OpenSSL without a QUIC server). It checks that
the benchmark works, never how fast anything was: timings are not judged.
"""
import csv
import math
import os
import subprocess
import sys

SCENARIOS = ["busy", "dtls-handshake", "wake", "rearm", "rtt", "bulk",
             "scale", "server-scale", "tick-cost"]
# Scenarios that run without QUIC (busy runs its DTLS half).
RUN_WITHOUT_QUIC = {"busy", "dtls-handshake"}
# Columns that may be negative: differences against a baseline.
MAY_BE_NEGATIVE = {"rss_over_plain_bytes", "vm_over_plain_bytes"}


def number(text):
    try:
        v = float(text)
    except ValueError:
        return None
    return v


def check_csv(path, name, errors):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if len(rows) < 2:
        errors.append(f"{name}: {path} has no data rows")
        return
    header = rows[0]
    if len(set(header)) != len(header):
        errors.append(f"{name}: duplicate column names in {header}")
    numbers = 0
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            errors.append(f"{name}:{line}: {len(row)} fields, header has "
                          f"{len(header)}")
            continue
        for col, cell in zip(header, row):
            v = number(cell)
            if v is None:
                continue
            numbers += 1
            if not math.isfinite(v):
                errors.append(f"{name}:{line}: {col} = {cell}")
            elif v < 0 and col not in MAY_BE_NEGATIVE:
                errors.append(f"{name}:{line}: {col} = {cell} is negative")
    if numbers == 0:
        errors.append(f"{name}: no numbers at all in {path}")
    if name == "scale":
        check_scale(rows, errors)
    if name == "server-scale":
        check_server_scale(rows, errors)


def check_scale(rows, errors):
    """A pool adds exactly its threads: a fact, not a timing."""
    header = rows[0]
    for row in rows[1:]:
        r = dict(zip(header, row))
        want = {"pool-1": "1", "pool-2": "2", "plain": "0"}.get(r["mode"])
        if r.get("ok") == "1" and want is not None \
                and r["threads_added"] != want:
            errors.append(f"scale: {r['mode']} added {r['threads_added']} "
                          f"threads, not {want}")


def check_server_scale(rows, errors):
    """Facts, not timings: every connection the client opened was accepted
    and none was lost, and S shards all took part."""
    header = rows[0]
    for row in rows[1:]:
        r = dict(zip(header, row))
        if r.get("ok") != "1":
            errors.append(f"server-scale: N={r['n_held']} shards="
                          f"{r['shards']} failed")
            continue
        if int(r["accepted"]) < int(r["n_held"]) \
                or r["held_closed"] != "0":
            errors.append(f"server-scale: N={r['n_held']}: accepted "
                          f"{r['accepted']}, {r['held_closed']} held closed")
        if r["listeners"] != r["shards"]:
            errors.append(f"server-scale: {r['shards']} shards, connections "
                          f"from {r['listeners']} listeners")


def smoke(bench, out_dir, name, errors):
    """Runs one scenario; returns True if it produced its CSV."""
    path = os.path.join(out_dir, name + ".csv")
    if os.path.exists(path):
        os.remove(path)
    run = subprocess.run([bench, name, "--quick", "--csv", out_dir],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, timeout=600)
    out = run.stdout
    sys.stdout.write(out)
    if run.returncode != 0:
        errors.append(f"tickless-bench {name} --quick exited "
                      f"{run.returncode}")
    quic = "QUIC needs OpenSSL" not in out
    if os.path.exists(path):
        check_csv(path, name, errors)
        return True
    if quic or name in RUN_WITHOUT_QUIC:
        errors.append(f"{name}: no {path}")
    elif f"{name}: skipped" not in out:
        errors.append(f"{name}: neither a CSV nor a 'skipped' notice")
    return False


def main():
    bench, out_dir = sys.argv[1], sys.argv[2]
    names = sys.argv[3:] or SCENARIOS
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        print(f"smoke: unknown scenario(s): {', '.join(unknown)}")
        return 2
    os.makedirs(out_dir, exist_ok=True)
    errors = []
    ran = [n for n in names if smoke(bench, out_dir, n, errors)]
    for e in errors:
        print("SMOKE FAIL: " + e)
    print(f"smoke: {len(ran)} of {len(names)} scenarios produced CSVs: "
          f"{', '.join(ran)}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
