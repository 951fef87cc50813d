#!/usr/bin/env python3
"""Compiles and runs every C++ snippet of the given Markdown files against the built
library, and checks the output each one claims. A snippet that drifts from the library
fails the `snippets` test.

Fences:
  ```cpp                  compiled and run
  ```cpp compile          compiled only, not linked or run (needs a GPU, data files, ...)
  ```cpp excerpt FILE     not compiled: every code line of it must appear in FILE (comments,
                          trailing ';' / '{' and spacing aside): excerpts cannot drift either
Claimed output: a comment line `// prints:` followed by comment lines, each an output line
the program must print (in that order; other lines may come between).

Each snippet is its own program, compiled as the docs say a reader compiles it (docs/
tutorial/README.md): a snippet with a main() exactly as printed; a snippet without one with
exactly this wrapper and nothing else: its `#include` and `using namespace` lines first, then
every other line inside `int main() {` ... `return 0; }`. Nothing is added (no standard
header either), so a snippet that compiles here compiles when copied. A `#line` directive
points compiler errors at the Markdown line; it changes nothing else.

  check_snippets.py --build BUILD_DIR --source SOURCE_DIR [--cxx c++] FILE.md ...
  check_snippets.py --extract FILE.md N     print compiled snippet N of FILE.md (1-based,
                                            excerpts not counted) as the program it is
"""
import argparse
import concurrent.futures
import os
import re
import subprocess
import sys
import tempfile

FENCE = re.compile(r"^```(\S*)\s*(.*)$")


def snippets(path):
    """(first line number, mode, argument, lines) of every ```cpp block."""
    out, block = [], None
    for no, line in enumerate(open(path, encoding="utf-8").read().split("\n"), 1):
        m = FENCE.match(line)
        if block is None and m and m.group(1) == "cpp":
            words = m.group(2).split()
            mode = words[0] if words else "run"
            block = (no + 1, mode, words[1] if len(words) > 1 else "", [])
        elif block is not None and line.startswith("```"):
            out.append(block)
            block = None
        elif block is not None:
            block[3].append(line)
    return out


def normalise(line):
    line = re.sub(r"//.*$", "", line).strip()
    line = re.sub(r"\s+", " ", line)
    return line.rstrip(";{ ").strip()


def check_excerpt(md, first, target, lines, source):
    path = os.path.join(source, target)
    if not os.path.isfile(path):
        return ["%s:%d: excerpt of %s, which does not exist" % (md, first - 1, target)]
    text = {normalise(l) for l in open(path, encoding="utf-8")}
    errors = []
    for k, line in enumerate(lines):
        n = normalise(line)
        if n and "..." not in line and n not in text:
            errors.append("%s:%d: not in %s: %s" % (md, first + k, target, line.strip()))
    return errors


def claimed_output(lines):
    want, on = [], False
    for line in lines:
        s = line.strip()
        if s == "// prints:":
            on = True
        elif on and s.startswith("//"):
            want.append(s[3:] if s.startswith("// ") else s[2:])
        elif on and s:
            on = False
    return [w.rstrip() for w in want]


def is_head(line):
    return line.startswith("#include") or line.strip().startswith("using namespace")


def program(md, first, lines, line_directives=True):
    """The program a snippet is (see the module's comment): verbatim when it has a main(),
    else its #include / using lines, then the rest as the body of main()."""
    at = lambda no: ['#line %d "%s"' % (no, md)] if line_directives else []
    if any(re.search(r"\bint\s+main\s*\(", l) for l in lines):
        return "\n".join(at(first) + lines) + "\n"
    head = [l for l in lines if is_head(l)]
    body_first = next((first + j for j, l in enumerate(lines) if not is_head(l)), first)
    body = [l for l in lines if not is_head(l)]
    return "\n".join(head + ["int main() {"] + at(body_first) + body + ["return 0;", "}"]) + "\n"


UMBRELLA = "#include <normgrad/normgrad.h>"


def first_code_line(text):
    """The program's first line that is neither blank nor a #line directive."""
    return next((l.strip() for l in text.split("\n") if l.strip() and not l.startswith("#line")), "")


def compiled_snippets(files):
    """(md, first, mode, lines) of every snippet that is compiled, in file order."""
    return [(md, first, mode, lines) for md in files for first, mode, _, lines in snippets(md)
            if mode in ("run", "compile")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build")
    ap.add_argument("--source")
    ap.add_argument("--extract", nargs=2, metavar=("FILE", "N"),
                    help="print compiled snippet N (1-based) of FILE as the program it is")
    ap.add_argument("--cxx", default="c++")
    ap.add_argument("--show", action="store_true", help="print what every snippet printed")
    ap.add_argument("files", nargs="*")
    a = ap.parse_args()
    if a.extract:
        md, n = a.extract
        found = compiled_snippets([md])
        if not n.isdigit() or not 1 <= int(n) <= len(found):
            ap.error("%s has %d compiled snippets, numbered from 1" % (md, len(found)))
        md, first, _, lines = found[int(n) - 1]
        sys.stdout.write(program(md, first, lines, line_directives=False))
        return 0
    if not a.build or not a.source or not a.files:
        ap.error("--build, --source and FILE.md are required (unless --extract)")
    errors, items, runs = [], [], []
    for md in a.files:
        for first, mode, arg, lines in snippets(md):
            if mode == "excerpt":
                errors += check_excerpt(md, first, arg, lines, a.source)
                continue
            if mode not in ("run", "compile"):
                errors.append("%s:%d: unknown snippet mode '%s'" % (md, first - 1, mode))
                continue
            items.append((md, first, mode, lines))
            runs.append(mode == "run")
    work = tempfile.mkdtemp(prefix="normgrad_snippets_")
    inc = ["-I" + os.path.join(a.source, d) for d in ("core/include", "nn/include", "optim/include")]
    if os.path.isdir(os.path.join(a.source, "cuda/include")):
        inc.append("-I" + os.path.join(a.source, "cuda/include"))
    inc.append("-I" + os.path.join(a.build, "generated"))  # normgrad/norms/all.h (CMake)

    flags = ["-std=c++20", "-O0", "-g0", *inc]
    # A program whose first line is the umbrella header gets it precompiled (GCC's -include
    # with a .gch beside it): 0.4 s a compile instead of 1.3. The program is unchanged (that
    # header comes first either way), and an unusable .gch falls back to the text.
    pch = os.path.join(work, "umbrella.h")
    open(pch, "w").write(UMBRELLA + "\n")
    programs = [program(md, first, lines) for md, first, _, lines in items]
    use_pch = any(first_code_line(t) == UMBRELLA for t in programs) and subprocess.run(
        [a.cxx, *flags, "-x", "c++-header", pch, "-o", pch + ".gch"],
        capture_output=True).returncode == 0

    def build(k):
        md, first, mode, lines = items[k]
        src, exe = os.path.join(work, "snippet%d.cpp" % k), os.path.join(work, "snippet%d" % k)
        open(src, "w").write(programs[k])
        cmd = [a.cxx, *flags, src, "-o", exe]
        if use_pch and first_code_line(programs[k]) == UMBRELLA:
            cmd[1:1] = ["-include", pch]
        # a `compile` snippet may need what this build lacks at link time (CUDA): not linked
        cmd += (["-L" + a.build, "-lnormgrad", "-Wl,-rpath," + os.path.abspath(a.build)]
                if mode == "run" else ["-c"])
        return exe, subprocess.run(cmd, capture_output=True, text=True)

    # One program per snippet (nothing shared between them), compiled in parallel.
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        built = list(pool.map(build, range(len(items))))
    ran = 0
    for k, (md, first, mode, lines) in enumerate(items):
        exe, cc = built[k]
        if cc.returncode != 0:
            errors.append("%s:%d: does not compile as printed:\n%s" % (md, first, cc.stderr[-3000:]))
            continue
        if not runs[k]:
            continue
        p = subprocess.run([exe], capture_output=True, text=True, cwd=work, timeout=300)
        got = [l.rstrip() for l in p.stdout.split("\n")]
        ran += 1
        if a.show:
            print("== %s:%d ==\n%s" % (md, first, p.stdout))
        if p.returncode != 0:
            errors.append("%s:%d: exited with %d: %s" % (md, first, p.returncode, p.stderr.strip()[-500:]))
            continue
        at = 0
        for want in claimed_output(lines):
            while at < len(got) and got[at] != want:
                at += 1
            if at == len(got):
                errors.append("%s:%d: claims the output line\n    %s\n  but printed:\n    %s"
                              % (md, first, want, "\n    ".join(got)))
                break
            at += 1
    for e in errors:
        print(e)
    print("%d snippets compiled, %d run and their claimed output checked, %d excerpts checked; %s"
          % (len(items), ran, sum(1 for md in a.files for s in snippets(md) if s[1] == "excerpt"),
             "%d problems" % len(errors) if errors else "all good"))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
