#!/usr/bin/env python3
"""Compile every ```c code block of the given Markdown files (and of every
*.md file in the given directories) as its own translation unit:

  check_code_blocks.py --cc CC [-I DIR]... FILE_OR_DIR...

Each block is compiled with CC -std=c11 -Wall -Wextra -Wpedantic -Werror -c,
so the examples in the docs are complete programs' pieces that really build
against the public header. Errors point at the Markdown line (#line).

A block that cannot be a complete translation unit is skipped only when the
line right before its fence is an HTML comment starting "<!-- fragment"
(give the reason in it, e.g. <!-- fragment: shows only the loop body -->).
"""
import argparse
import concurrent.futures
import os
import re
import subprocess
import sys
import tempfile

FENCE_OPEN = re.compile(r"^(\s*)```\s*c\s*$")
FENCE_CLOSE = re.compile(r"^\s*```\s*$")
FRAGMENT = re.compile(r"^\s*<!--\s*fragment\b.*-->\s*$")


def blocks(path):
    """Yield (first_code_line, code, skipped) for each ```c block."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines):
        m = FENCE_OPEN.match(lines[i])
        if not m:
            i += 1
            continue
        indent = len(m.group(1))
        k = i - 1
        while k >= 0 and not lines[k].strip():
            k -= 1
        skipped = k >= 0 and FRAGMENT.match(lines[k]) is not None
        start = i + 1
        j = start
        while j < len(lines) and not FENCE_CLOSE.match(lines[j]):
            j += 1
        if j == len(lines):
            raise SystemExit("%s:%d: ```c block is never closed" % (path, i + 1))
        code = "\n".join(l[indent:] if l[:indent].strip() == "" else l
                         for l in lines[start:j])
        yield start + 1, code, skipped
        i = j + 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cc", default=os.environ.get("CC", "cc"))
    ap.add_argument("-I", dest="includes", action="append", default=[])
    ap.add_argument("paths", nargs="+")
    args = ap.parse_args()

    files = []
    for p in args.paths:
        if os.path.isdir(p):
            files += sorted(os.path.join(p, f) for f in os.listdir(p) if f.endswith(".md"))
        else:
            files.append(p)

    jobs = []
    skipped = []
    tmp = tempfile.mkdtemp(prefix="tickless-codeblocks.")
    for path in files:
        for line, code, skip in blocks(path):
            where = "%s:%d" % (os.path.relpath(path), line)
            if skip:
                skipped.append(where)
                continue
            name = re.sub(r"[^\w.-]", "_", where) + ".c"
            src = os.path.join(tmp, name)
            with open(src, "w", encoding="utf-8") as f:
                f.write('#line %d "%s"\n%s\n' % (line, os.path.relpath(path), code))
            jobs.append((where, src))

    def compile_one(job):
        where, src = job
        cmd = [args.cc, "-std=c11", "-Wall", "-Wextra", "-Wpedantic", "-Werror"]
        cmd += ["-I" + d for d in args.includes]
        cmd += ["-c", src, "-o", src + ".o"]
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True)
        return where, r.returncode, r.stdout

    failed = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as ex:
        for where, rc, out in ex.map(compile_one, jobs):
            if rc != 0:
                failed += 1
                print("FAIL %s" % where)
                print(out.rstrip())
            else:
                print("ok   %s" % where)
    for where in skipped:
        print("skip %s (marked <!-- fragment -->)" % where)
    for name in os.listdir(tmp):
        os.remove(os.path.join(tmp, name))
    os.rmdir(tmp)
    print("%d code blocks compiled, %d failed, %d fragments skipped"
          % (len(jobs), failed, len(skipped)))
    if failed:
        print("Make each failing block a complete translation unit (its #includes, "
              "whole functions), or, if it truly cannot be one, put "
              "<!-- fragment: why --> on the line before its fence.")
    if not jobs and not skipped:
        print("error: no ```c code blocks found in %s" % " ".join(args.paths))
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
