#!/usr/bin/env python3
"""scripts/gen-apiref must refuse a header whose documentation has holes,
and say where. Run: test_gen_apiref.py PATH/TO/gen-apiref"""
import os
import subprocess
import sys
import tempfile
import unittest

GEN = None

GOOD_FUNC = """/*
 * tickless_thing_do() does the thing.
 *
 * Returns: 0, or TICKLESS_ERR_INVALID (NULL |t|)
 * Thread-safety: any thread
 * Blocks: no
 * Ownership: none
 * Since: 0.1.0
 */
TICKLESS_EXPORT int tickless_thing_do(tickless_thing *t);
"""


def header(body):
    return """/* licence */
#ifndef TICKLESS_TICKLESS_H
#define TICKLESS_TICKLESS_H
/*
 * The overview.
 */
#define TICKLESS_EXPORT
#define TICKLESS_ERRNO_MAP(XX)                                                 \\
    XX(INVALID, -1, "invalid argument")                                        \\
    XX(TIMEOUT, -2, "timed out")

/*
 * Things
 * ------
 * A thing.
 */
typedef struct tickless_thing tickless_thing;

%s
#endif
""" % body


class GenApirefTest(unittest.TestCase):
    def run_gen(self, body, *extra):
        with tempfile.TemporaryDirectory() as d:
            h = os.path.join(d, "tickless.h")
            with open(h, "w") as f:
                f.write(header(body))
            r = subprocess.run([sys.executable, GEN, "--header", h,
                                "--markdown", os.path.join(d, "api.md"),
                                "--man-dir", os.path.join(d, "man3")] + list(extra),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               universal_newlines=True)
            pages = sorted(os.listdir(os.path.join(d, "man3"))) if r.returncode == 0 else []
            return r.returncode, r.stderr, pages

    def test_complete_header_passes(self):
        rc, err, pages = self.run_gen(GOOD_FUNC)
        self.assertEqual(rc, 0, err)
        self.assertEqual(pages, ["tickless.3", "tickless_thing_do.3"])

    def test_missing_comment_fails(self):
        rc, err, _ = self.run_gen("TICKLESS_EXPORT int tickless_thing_do(tickless_thing *t);\n")
        self.assertEqual(rc, 1)
        self.assertIn("tickless_thing_do: exported function without a comment", err)
        self.assertIn("tickless.h:", err)

    def test_each_missing_footer_line_fails(self):
        for key in ("Returns", "Thread-safety", "Blocks", "Ownership", "Since"):
            body = "\n".join(l for l in GOOD_FUNC.split("\n")
                             if not l.startswith(" * %s:" % key))
            rc, err, _ = self.run_gen(body)
            self.assertEqual(rc, 1, key)
            self.assertIn("missing '%s:' line" % key, err)

    def test_int_function_must_name_its_errors(self):
        rc, err, _ = self.run_gen(GOOD_FUNC.replace(
            "0, or TICKLESS_ERR_INVALID (NULL |t|)", "0 or an error"))
        self.assertEqual(rc, 1)
        self.assertIn("names no TICKLESS_ERR_* code", err)

    def test_unknown_error_code_fails(self):
        rc, err, _ = self.run_gen(GOOD_FUNC.replace("TICKLESS_ERR_INVALID", "TICKLESS_ERR_NOPE"))
        self.assertEqual(rc, 1)
        self.assertIn("unknown error code TICKLESS_ERR_NOPE", err)

    def test_comment_of_another_function_fails(self):
        rc, err, _ = self.run_gen(GOOD_FUNC.replace(
            "int tickless_thing_do(", "int tickless_thing_undo("))
        self.assertEqual(rc, 1)
        self.assertIn("does not name tickless_thing_undo()", err)

    def test_bad_since_fails(self):
        rc, err, _ = self.run_gen(GOOD_FUNC.replace("Since: 0.1.0", "Since: soon"))
        self.assertEqual(rc, 1)
        self.assertIn("not a version", err)

    def test_stale_markdown_is_reported(self):
        with tempfile.NamedTemporaryFile("w", suffix=".md", delete=False) as f:
            f.write("old\n")
        try:
            rc, err, _ = self.run_gen(GOOD_FUNC, "--expect", f.name)
        finally:
            os.remove(f.name)
        self.assertEqual(rc, 1)
        self.assertIn("is stale", err)


if __name__ == "__main__":
    GEN = sys.argv.pop(1)
    unittest.main(verbosity=2)
