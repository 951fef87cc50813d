#!/usr/bin/env python3
"""Stated times in the docs (tools/doc_numbers.py): a duration written by hand is found and
refused; one quoted from a kept measurement (SOURCE.took, A+B.took, all.took), inside code,
or waived is not; sums of kept times are computed from the kept files. Then the real docs:
no hand-stated time anywhere. Usage: test_doc_times.py SOURCE_DIR."""
import os
import sys
import tempfile

root = sys.argv[1]
sys.path.insert(0, os.path.join(root, "tools"))
import doc_numbers as d  # noqa: E402

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)


text = """`bash tools/run.sh sweep` (alpha0 x width, ~7 min) and surgery (1 min 46 s).
The sweep took <!-- numbers sweep.took -->5 min 34 s<!-- /numbers --> here.
Waived: a <!-- unkept time: a setting -->0.25 s gap; but a second 3 s is not.
Inline `sleep 10s` and a fence:
```
took 12 s
```
under 5
minutes wraps, 25 s too, 2 hours
"""
found = [t for _, t in d.stated_times(text)]
expect = ["~7 min", "1 min 46 s", "3 s", "5\nminutes", "25 s", "2 hours"]
check(found == expect, "found %r, expected %r" % (found, expect))
lines = [l for l, _ in d.stated_times(text)]
check(lines[:3] == [1, 1, 3], "line numbers %r" % lines)

with tempfile.TemporaryDirectory() as tmp:
    os.makedirs(os.path.join(tmp, "docs", "numbers"))
    for name, took in (("sweep", "334.1"), ("surgery", "105.8")):
        with open(d.kept_path(tmp, name), "w") as f:
            f.write("source: %s\ncommit: abc\nmachine: 2 cores\ntook: %s s\n----\nout\n" % (name, took))
    cache = {}
    check(d.value(tmp, "sweep.took", cache) == "5 min 34 s", "one source's took")
    check(d.value(tmp, "sweep+surgery.took", cache) == "7 min 20 s", "a sum of two")
    try:
        d.value(tmp, "sweep+nosuch.took", cache)
        check(False, "an unknown source in a sum is refused")
    except SystemExit as e:
        check("nosuch" in str(e), "the refusal names the source: %s" % e)

for doc in d.DOCS:
    for line, t in d.stated_times(open(os.path.join(root, doc), encoding="utf-8").read()):
        failures.append("%s:%d states %r by hand" % (doc, line, t))

for f in failures:
    print("FAILED:", f)
print("doc_times: %d checks failed" % len(failures) if failures else "doc_times: all checks passed")
sys.exit(1 if failures else 0)
