#!/usr/bin/env python3
"""Check the generated man pages against the shared library and the header.

  check_man_pages.py exports --lib LIB --man-dir DIR --gen GEN_APIREF
                     [--header H] [--nm NM]
      Every symbol LIB exports (nm -D --defined-only, type T) starts with
      tickless_ and has DIR/<symbol>.3 with the sections a reader expects,
      and every function the header exports is in LIB.
  check_man_pages.py render --man-dir DIR
      Every DIR/*.3 renders without a warning: man --warnings -l and
      groff -man -ww -z, whichever the host has. Exit 77 (skipped) if it has
      neither.
"""
import argparse
import glob
import importlib.machinery
import importlib.util
import os
import shutil
import subprocess
import sys

SKIP = 77
FUNCTION_SECTIONS = ("NAME", "LIBRARY", "SYNOPSIS", "DESCRIPTION", "RETURN VALUE",
                     "ERRORS", "THREAD SAFETY", "NOTES", "VERSIONS", "SEE ALSO")


def load_generator(path):
    loader = importlib.machinery.SourceFileLoader("gen_apiref", path)
    spec = importlib.util.spec_from_loader("gen_apiref", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def sections(page):
    with open(page, encoding="utf-8") as f:
        return [l[4:].strip().strip('"') for l in f if l.startswith(".SH ")]


def cmd_exports(args):
    out = subprocess.run([args.nm, "-D", "--defined-only", args.lib],
                         stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout
    exported = set()
    problems = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) != 3:
            continue
        _, kind, name = parts
        if kind == "T":
            exported.add(name)
        elif not name.startswith("tickless_"):
            problems.append("%s exports %s (nm type %s): every exported name starts "
                            "with tickless_" % (args.lib, name, kind))
    if not exported:
        problems.append("%s exports no functions at all (nm output unexpected?)" % args.lib)
    for name in sorted(exported):
        if not name.startswith("tickless_"):
            problems.append("%s exports %s: public names start with tickless_ "
                            "(is an internal function missing static or hidden?)" % (args.lib, name))
            continue
        page = os.path.join(args.man_dir, name + ".3")
        if not os.path.isfile(page):
            problems.append("%s has no man page (%s): document it in tickless.h" % (name, page))
            continue
        missing = [s for s in FUNCTION_SECTIONS if s not in sections(page)]
        if missing:
            problems.append("%s: man page lacks section(s) %s" % (page, ", ".join(missing)))
    gen = load_generator(args.gen)
    header = gen.Header(args.header)
    documented = {f.name for f in header.functions}
    for name in sorted(documented - exported):
        problems.append("%s is declared TICKLESS_EXPORT in %s but %s does not export it"
                        % (name, args.header, args.lib))
    for p in problems:
        print("FAIL " + p)
    print("%d exported functions, %d documented in the header, %d man pages, %d problem(s)"
          % (len(exported), len(documented),
             len(glob.glob(os.path.join(args.man_dir, "*.3"))), len(problems)))
    return 1 if problems else 0


def cmd_render(args):
    pages = sorted(glob.glob(os.path.join(args.man_dir, "*.3")))
    if not pages:
        print("FAIL no man pages in %s" % args.man_dir)
        return 1
    checkers = []
    if shutil.which("man"):
        checkers.append(("man --warnings", lambda p: ["man", "--warnings", "-E", "UTF-8", "-l", p]))
    if shutil.which("groff"):
        checkers.append(("groff -ww", lambda p: ["groff", "-man", "-ww", "-z", "-Tutf8", p]))
    if not checkers:
        print("SKIP neither man nor groff is installed (scripts/install-deps installs them)")
        return SKIP
    env = dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH="80", MANPAGER="cat", PAGER="cat")
    failed = 0
    for page in pages:
        for label, argv in checkers:
            r = subprocess.run(argv(page), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               universal_newlines=True, env=env)
            if r.returncode != 0 or r.stderr.strip():
                failed += 1
                print("FAIL %s (%s, exit %d):\n%s" % (page, label, r.returncode, r.stderr.rstrip()))
            elif label.startswith("man") and "NAME" not in r.stdout:
                failed += 1
                print("FAIL %s (%s): rendered page has no NAME section" % (page, label))
    print("%d man pages checked with %s, %d failure(s)"
          % (len(pages), " and ".join(l for l, _ in checkers), failed))
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("exports")
    e.add_argument("--lib", required=True)
    e.add_argument("--man-dir", required=True)
    e.add_argument("--gen", required=True)
    e.add_argument("--header", required=True)
    e.add_argument("--nm", default="nm")
    r = sub.add_parser("render")
    r.add_argument("--man-dir", required=True)
    args = ap.parse_args()
    return cmd_exports(args) if args.cmd == "exports" else cmd_render(args)


if __name__ == "__main__":
    sys.exit(main())
