#!/usr/bin/env python3
"""Compiles and runs every C++ snippet of the given Markdown files against the built
library, and checks the output each one claims. A snippet that drifts from the library
fails the `snippets` test.

Fences:
  ```cpp                  compiled and run (a fragment without main() runs inside one)
  ```cpp compile          compiled only (needs a GPU, data files, ...)
  ```cpp excerpt FILE     not compiled: every code line of it must appear in FILE (comments,
                          trailing ';' / '{' and spacing aside): excerpts cannot drift either
Claimed output: a comment line `// prints:` followed by comment lines, each an output line
the program must print (in that order; other lines may come between).

  check_snippets.py --build BUILD_DIR --source SOURCE_DIR [--cxx c++] FILE.md ...
All snippets go into one translation unit (one compile), each in its own namespace, with
#line directives so that compiler errors point at the Markdown file and line.
"""
import argparse
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


def translation_unit(items):
    """items: (md, first, mode, lines). One file: hoisted includes, one namespace each."""
    includes, bodies = ["#include <cstdio>", "#include <cstdlib>", "#include <iostream>"], []
    for k, (md, first, mode, lines) in enumerate(items):
        code, body_first = [], None
        for j, line in enumerate(lines):
            if line.startswith("#include"):
                if line not in includes:
                    includes.append(line)
                continue
            if body_first is None:
                body_first = first + j
            code.append(line)
        has_main = any(re.search(r"\bint\s+main\s*\(", l) for l in code)
        text = "\n".join(code)
        if has_main:
            text = re.sub(r"\bint\s+main\s*\(", "int run(", text)
            body = "namespace snippet_%d {\n#line %d \"%s\"\n%s\n}\n" % (k, body_first or first, md, text)
        else:
            # using-directives stay at namespace scope; the rest runs in run()
            usings = [l for l in code if l.strip().startswith("using namespace")]
            rest = [l if not l.strip().startswith("using namespace") else "" for l in code]
            body = ("namespace snippet_%d {\n%s\nint run() {\n#line %d \"%s\"\n%s\nreturn 0;\n}\n}\n"
                    % (k, "\n".join(usings), body_first or first, md, "\n".join(rest)))
        bodies.append(body)
    cases = "\n".join("    case %d: return snippet_%d::run();" % (k, k) for k in range(len(items)))
    main = ("int main(int argc, char** argv) {\n  switch (argc > 1 ? std::atoi(argv[1]) : -1) {\n"
            "%s\n  }\n  return 2;\n}\n" % cases)
    return "\n".join(includes) + "\n\n" + "\n".join(bodies) + "\n" + main


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--cxx", default="c++")
    ap.add_argument("--show", action="store_true", help="print what every snippet printed")
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
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
    src, exe = os.path.join(work, "snippets.cpp"), os.path.join(work, "snippets")
    open(src, "w").write(translation_unit(items))
    inc = ["-I" + os.path.join(a.source, d) for d in ("core/include", "nn/include", "optim/include")]
    if os.path.isdir(os.path.join(a.source, "cuda/include")):
        inc.append("-I" + os.path.join(a.source, "cuda/include"))
    inc.append("-I" + os.path.join(a.build, "generated"))  # normgrad/norms/all.h (CMake)
    cmd = [a.cxx, "-std=c++20", "-O0", "-g0", *inc, src, "-o", exe, "-L" + a.build, "-lnormgrad",
           "-Wl,-rpath," + os.path.abspath(a.build)]
    cc = subprocess.run(cmd, capture_output=True, text=True)
    if cc.returncode != 0:
        print(cc.stderr[-6000:])
        print("FAILED: the snippets do not compile (errors point at the Markdown lines above)")
        return 1
    ran = 0
    for k, (md, first, mode, lines) in enumerate(items):
        if not runs[k]:
            continue
        p = subprocess.run([exe, str(k)], capture_output=True, text=True, cwd=work, timeout=300)
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
