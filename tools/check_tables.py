#!/usr/bin/env python3
"""Fails on a malformed Markdown table in the given files (the `md_tables` test).

A table is a header row followed by a delimiter row (|---|:--:|...). As GitHub renders
them, cells are what lies between unescaped pipes (a pipe inside `code` splits a cell too:
write \\| there), and the leading and trailing pipes are optional. Every table must have
as many delimiter cells as header cells, and every body row as many cells as the header:
GitHub drops the extra cells of a row silently, and renders no table at all when the
delimiter row does not match. Fenced code blocks are skipped.

  check_tables.py FILE.md ...
"""
import re
import sys

DELIMITER = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")


def cells(row):
    s = row.strip()
    if s.startswith("|"):
        s = s[1:]
    if s.endswith("|") and not s.endswith("\\|"):
        s = s[:-1]
    return re.split(r"(?<!\\)\|", s)


def problems(path):
    lines = open(path, encoding="utf-8").read().split("\n")
    out, fence, k = [], None, 0
    while k < len(lines):
        line = lines[k]
        m = re.match(r"^\s*(```+|~~~+)", line)
        if m:
            mark = m.group(1)[0] * 3
            fence = None if fence and line.strip().startswith(fence) else (fence or mark)
            k += 1
            continue
        if fence or "|" not in line or k + 1 >= len(lines) or not DELIMITER.match(lines[k + 1]):
            k += 1
            continue
        want = len(cells(line))
        got = len(cells(lines[k + 1]))
        if got != want:
            out.append("%s:%d: the delimiter row has %d cells, the header %d"
                       % (path, k + 2, got, want))
        k += 2
        while k < len(lines) and "|" in lines[k] and lines[k].strip():
            n = len(cells(lines[k]))
            if n != want:
                out.append("%s:%d: %d cells in a table of %d columns (an unescaped | ?)"
                           % (path, k + 1, n, want))
            k += 1
    return out


def main():
    found = [p for f in sys.argv[1:] for p in problems(f)]
    for p in found:
        print(p)
    print("%d files: %s" % (len(sys.argv) - 1,
                            "%d malformed table rows" % len(found) if found else "every table well formed"))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
