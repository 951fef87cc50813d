#!/usr/bin/env python3
"""The numbers the docs quote, regenerated from the commands that produce them.

A number or table in README.md / docs/*.md that some command printed sits between markers:

    <!-- numbers compare.table -->        (a block: the lines up to the end marker)
    ...
    <!-- /numbers -->
    ... trains to <!-- numbers mlp_spiral.accuracy -->99.3%<!-- /numbers --> ...   (inline)

`compare.table` is value `table` of source `compare`. Each source is one command; its whole
output is kept in docs/numbers/<source>.txt (with the commit, machine and wall time), and
every marked value is extracted from that file, so the docs never hold a hand copy.

  doc_numbers.py --update all|fast|SOURCE[,SOURCE...]   run the commands, keep their
                                                        output, rewrite the marked values
  doc_numbers.py --render                               rewrite them from the kept outputs
  doc_numbers.py --check                                (the `doc_numbers` test) the docs
      equal what the kept outputs give, and the fast sources, rerun now, still print the
      kept values (wall times aside): a change to the code that moves a quoted number fails
      until --update is run. The slow sources (training runs, minutes each) are checked
      for consistency, and those that keep their runs (compare: docs/numbers/compare-runs.tar.xz,
      each run's outcome, metrics and probes) are re-rendered by the current code from the
      kept runs, nothing trained: a change to the report's code that moves a quoted block
      fails until --update is run. The check says which commit each comes from.
      Stated times: every duration the docs state ("~7 min", "1 min 46 s", "25 s") outside
      code blocks must be a marker's value, SOURCE.took (one source's kept wall time),
      A+B+C.took (their sum) or all.took (every source's), so that no time can disagree
      with the kept measurement. A duration that is no kept measurement (a setting, a
      GPU-only time) is waived by a comment right before it: <!-- unkept time: why -->.
Options: --build DIR (default build/release), --source DIR (default: this repository).
"""
import argparse
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

DOCS = ["README.md", "docs/cli.md", "docs/library.md", "docs/reproducing.md",
        "docs/paper_numbers.md", "docs/recipes.md", "docs/python.md"] + ["docs/tutorial/%s" % f for f in (
            "01-tensors.md", "02-autograd.md", "03-transformer-block.md",
            "04-training-and-probes.md", "05-your-own-norm.md", "06-the-papers.md")]
MARK = re.compile(r"<!-- numbers (\S+) -->(.*?)<!-- /numbers -->", re.S)


def search(pattern, text, what):
    m = re.search(pattern, text, re.M)
    if not m:
        raise SystemExit("doc_numbers: %s: pattern %r not in the output" % (what, pattern))
    return m.group(1)


def md_table(text, header_start, what):
    """The Markdown table whose header row starts with header_start."""
    lines = text.split("\n")
    for k, line in enumerate(lines):
        if line.startswith(header_start):
            end = k
            while end < len(lines) and lines[end].startswith("|"):
                end += 1
            return "\n".join(lines[k:end])
    raise SystemExit("doc_numbers: %s: no table starting %r" % (what, header_start))


def md_section(text, heading, what):
    """The body of a '## heading' section, blank lines trimmed."""
    m = re.search(r"^## %s\n(.*?)(?=^## |\Z)" % re.escape(heading), text, re.M | re.S)
    if not m:
        raise SystemExit("doc_numbers: %s: no section %r" % (what, heading))
    return m.group(1).strip("\n")


def drop_column(table, name):
    """The table without column `name`, from every row: header, delimiter and body (cells
    are what lies between the pipes, so "|---|" rows lose a cell too)."""
    rows = [r.strip()[1:-1].split("|") for r in table.split("\n")]
    k = [c.strip() for c in rows[0]].index(name)
    return "\n".join("|" + "|".join(r[:k] + r[k + 1:]) + "|" for r in rows)


def compare_tables(report):
    """compare's result tables: one per schedule length (each under '### N steps'), or the
    one table of a single length; tokens/s left out (it is quoted apart, as a range)."""
    tables = re.findall(r"^### (\d+) steps\n\n((?:\|.*\n)+)", report, re.M)
    if not tables:
        return drop_column(md_table(report, "| variant | runs |", "compare"),
                           "tokens/s (training steps)")
    return "\n\n".join("**%s steps**\n\n%s" % (n, drop_column(t.rstrip("\n"),
                                                              "tokens/s (training steps)"))
                         for n, t in tables)


def minutes(seconds):
    s = int(round(float(seconds)))
    return "%d min %d s" % (s // 60, s % 60) if s >= 60 else "%d s" % s


# ---- the sources: how each runs, and the values it gives ------------------------------

class Ctx:
    def __init__(self, build, source):
        self.build, self.source = build, source

    def exe(self, rel):
        return os.path.join(os.path.abspath(self.build), rel)

    def run(self, argv, cwd=None, env=None, timeout=None, keep_files=None):
        """Runs argv in a scratch directory; its output, with this checkout's path as '.'.
        keep_files: {path in the scratch directory: path in this checkout} copied after the
        run (a figure the docs show), each atomically."""
        work = tempfile.mkdtemp(prefix="normgrad_numbers.")
        try:
            p = subprocess.run(argv, cwd=cwd or work, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=timeout,
                               env=dict(os.environ, **(env or {})))
            for src, dest in (keep_files or {}).items():
                if p.returncode == 0 and os.path.isfile(os.path.join(work, src)):
                    tmp = os.path.join(self.source, dest) + ".tmp.%d" % os.getpid()
                    shutil.copyfile(os.path.join(work, src), tmp)
                    os.replace(tmp, os.path.join(self.source, dest))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        if p.returncode != 0:
            raise SystemExit("doc_numbers: %s exited %d:\n%s" % (argv, p.returncode, p.stdout[-3000:]))
        out = p.stdout.replace(os.path.abspath(self.source) + "/", "./")
        return "\n".join(l for l in out.split("\n") if not l.startswith("threads:")).rstrip() + "\n"

    def report(self, steps, keep_runs=None, from_runs=(), reuse_runs=()):
        """Runs each argv of steps in one scratch directory, returns report/report.md.
        keep_runs: archive the report's runs there (archive_runs, without those of
        reuse_runs); from_runs: start from the runs of these archives, and fail if any step
        would train (a re-render); reuse_runs: start from the runs of these archives and
        train the others (a longer ladder)."""
        work = tempfile.mkdtemp(prefix="normgrad_numbers.")
        try:
            for archive in list(from_runs) + list(reuse_runs):
                extract_runs(archive, os.path.join(work, "report"))
            for argv in steps:
                try:
                    out = self.run([a.replace("{ng}", self.exe("bin/normgrad")) for a in argv],
                                   cwd=work, timeout=120 if from_runs else None)
                except subprocess.TimeoutExpired:
                    raise SystemExit("doc_numbers: re-rendering from %s took over 120 s: the "
                                     "kept runs no longer match the command (it trains)"
                                     % ", ".join(from_runs))
                kept = len(re.findall(r"outcome\.json$", "\n".join(
                    os.path.join(d, f) for d, _, fs in os.walk(work) for f in fs), re.M))
                if from_runs and not re.search(r"\b%d runs finished before \(kept\), 0 continue"
                                               % kept, out):
                    raise SystemExit("doc_numbers: the kept runs %s no longer match the command "
                                     "(it would train):\n%s" % (", ".join(from_runs), out[-2000:]))
            if keep_runs:
                archive_runs(os.path.join(work, "report"), keep_runs, exclude=reuse_runs)
            return open(os.path.join(work, "report", "report.md"), encoding="utf-8").read()
        finally:
            shutil.rmtree(work, ignore_errors=True)


KEPT_RUN_FILES = ("outcome.json", "metrics.jsonl", "probes.jsonl")


# What report.md reads of a run besides its last record: per step the loss, gradient norm and
# evaluations (metrics), per probe the residual gradients and the norms' saturation (probes).
METRIC_KEYS = {"step", "loss", "lr", "grad_norm", "val_loss", "train_loss_eval", "val_loss_full",
               "val_windows"}


def thin_metrics(lines):
    out = [{k: v for k, v in m.items() if k in METRIC_KEYS} for m in lines[:-1]]
    return out + lines[-1:]  # the last record whole: the run's speed and times


def thin_probes(lines):
    out = []
    for i, rec in enumerate(lines):
        for n in rec.get("norms", []):
            n.pop("scatter_x", None), n.pop("scatter_y", None)  # only the figures draw them
        if i + 1 < len(lines):
            rec = {k: v for k, v in rec.items() if k != "params"}
            rec["norms"] = [{k: v for k, v in n.items() if k in ("name", "kind", "saturation")}
                            for n in rec.get("norms", [])]
        out.append(rec)
    return out


def archive_runs(report_dir, dest, exclude=()):
    """The report's runs as its markdown reads them: each run's outcome.json, metrics.jsonl
    and probes.jsonl, thinned to what report.md reads (thin_metrics, thin_probes: a
    re-render from them writes the same report.md; the figures need the whole runs), in a
    tar.xz written atomically. Checkpoints and event files stay out, and so do the runs of
    the archives in `exclude` (a longer ladder keeps only its new runs)."""
    skip = set()
    for archive in exclude:
        with tarfile.open(archive, "r:xz") as tar:
            skip |= {m.name for m in tar.getmembers()}
    tmp = "%s.tmp.%d" % (dest, os.getpid())
    try:
        write_runs_tar(report_dir, tmp, skip)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    os.replace(tmp, dest)


def write_runs_tar(report_dir, tmp, skip):
    with tarfile.open(tmp, "w:xz") as tar:
        runs = os.path.join(report_dir, "runs")
        for folder, _, files in sorted(os.walk(runs)):
            for name in sorted(f for f in files if f in KEPT_RUN_FILES):
                path = os.path.join(folder, name)
                if os.path.relpath(path, report_dir) in skip:
                    continue
                data = open(path, "rb").read()
                if name.endswith(".jsonl"):
                    recs = [json.loads(l) for l in data.decode("utf-8").splitlines() if l.strip()]
                    recs = thin_probes(recs) if name == "probes.jsonl" else thin_metrics(recs)
                    data = "".join(json.dumps(r, separators=(",", ":")) + "\n"
                                   for r in recs).encode("utf-8")
                info = tarfile.TarInfo(os.path.relpath(path, report_dir))
                info.size, info.mtime = len(data), 0
                tar.addfile(info, io.BytesIO(data))


def extract_runs(archive, dest):
    """An archive_runs archive into dest, read defensively: plain files named runs/.../<one of
    KEPT_RUN_FILES>, nothing else."""
    if not os.path.isfile(archive):
        raise SystemExit("doc_numbers: %s is missing: run python3 tools/doc_numbers.py --update "
                         "with that source" % archive)
    with tarfile.open(archive, "r:xz") as tar:
        for m in tar.getmembers():
            parts = m.name.split("/")
            if (not m.isfile() or m.name.startswith("/") or ".." in parts or parts[0] != "runs"
                    or parts[-1] not in KEPT_RUN_FILES or m.size > 64 << 20):
                raise SystemExit("doc_numbers: %s: unexpected member %r" % (archive, m.name))
            path = os.path.join(dest, *parts)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(tar.extractfile(m).read())


def runs_archive(root, name):
    return os.path.join(root, "docs", "numbers", name + "-runs.tar.xz")


def example_output(name):
    return {"output": lambda raw: "```\n$ build/release/examples/%s\n%s```" % (name, raw)}


SOURCES = {}


def source(name, fast, run, values, measured=(), rerender=None):
    """values: key -> function(raw output) -> text; measured: keys that are wall times;
    rerender: the same output from kept runs, by the current code, nothing trained."""
    SOURCES[name] = dict(fast=fast, run=run, values=values, measured=set(measured) | {"took"},
                         rerender=rerender)


source("micrograd", True, lambda c: c.run([c.exe("examples/micrograd_style")]), {
    "g": lambda r: search(r"g = tensor\(([-0-9.]+)", r, "micrograd"),
    "dg_da": lambda r: search(r"^dg/da = (\S+)", r, "micrograd"),
    "dg_db": lambda r: search(r"^dg/db = (\S+)", r, "micrograd"),
})
source("mlp_spiral", True, lambda c: c.run([c.exe("examples/mlp_spiral")]), {
    "accuracy": lambda r: search(r"final training accuracy (\S+%)", r, "mlp_spiral"),
    "seconds": lambda r: search(r"done in (\S+ s)", r, "mlp_spiral"),
}, measured=["seconds"])
for name, fast in [("dyt_vs_dyisru_outliers", True), ("ln_tanh_mapping", True),
                   ("alpha_tracks_inv_std", False), ("gradient_flow_depth", False),
                   ("saturation", False)]:
    source(name, fast, (lambda n: lambda c: c.run([c.exe("examples/" + n)]))(name),
           example_output(name))
source("dyt_collapse", False, lambda c: c.run(
    [c.exe("examples/dyt_collapse")],
    keep_files={"dyt_collapse/collapse.png": "docs/figures/dyt_collapse.png"}),
    example_output("dyt_collapse"))
COMPARE = [["{ng}", "compare", "--report", "report"]]
source("compare", False, lambda c: c.report(COMPARE, keep_runs=runs_archive(c.source, "compare")), {
    "table": compare_tables,
    "unigram": lambda r: search(r"Unigram baseline: ([0-9.]+)", r, "compare"),
    "shows": lambda r: md_section(r, "What this shows", "compare"),
    "collapsed": lambda r: md_section(r, "Runs that did not learn, and why (from their own probes)",
                                      "compare"),
    "flow": lambda r: md_section(r, "Gradient flow and the optimizer's hand", "compare"),
    "tokens_per_s": lambda r: "%d-%d" % (lambda v: (min(v), max(v)))([int(x) for x in re.findall(
        r"^\| `[^`]+` \| \d+ \| \w+ \| \d+(?: of \d+)? \| [0-9.]+ \| [0-9.]+ \| (\d+) \|", r,
        re.M)]),
}, measured=["tokens_per_s"],
   rerender=lambda c: c.report([COMPARE[0] + ["--figures", "0"]],
                               from_runs=[runs_archive(c.source, "compare")]))
# A longer schedule of the same variants and seeds: the 400- and 1200-step runs are compare's
# kept ones (the same settings, so compare keeps them), the 3600-step runs train here.
LADDER = [["{ng}", "compare", "--steps-ladder", "400,1200,3600", "--report", "report"]]
source("ladder", False, lambda c: c.report(LADDER, keep_runs=runs_archive(c.source, "ladder"),
                                           reuse_runs=[runs_archive(c.source, "compare")]), {
    "table": compare_tables,
    "shows": lambda r: md_section(r, "What this shows", "ladder"),
    "flow": lambda r: md_section(r, "Gradient flow and the optimizer's hand", "ladder"),
}, rerender=lambda c: c.report([LADDER[0] + ["--figures", "0"]],
                               from_runs=[runs_archive(c.source, n) for n in ("compare", "ladder")]))
source("sweep", False, lambda c: c.report([["{ng}", "sweep", "--report", "report"]]), {
    "table": lambda r: md_table(r, "| n_embd |", "sweep"),
    "finding": lambda r: md_section(r, "What the numbers say", "sweep"),
    "unigram": lambda r: search(r"Unigram baseline: ([0-9.]+)", r, "sweep"),
})
source("surgery", False, lambda c: c.report([
    ["{ng}", "train", "--norm", "rmsnorm", "--out", "runs/rmsnorm", "--quiet"],
    ["{ng}", "convert", "--ckpt", "runs/rmsnorm/ckpt.safetensors", "--to", "dyisru,dyt",
     "--per-layer", "--report", "report"]]), {
    "before": lambda r: search(r"\*\*Before surgery: ([0-9.]+)\*\*", r, "surgery"),
    "table": lambda r: md_table(r, "| to | init |", "surgery"),
    "per_layer": lambda r: md_table(r, "| to | position |", "surgery"),
    "unigram": lambda r: search(r"Unigram baseline: ([0-9.]+)", r, "surgery"),
})
source("gpt2", False, lambda c: c.run(["bash", os.path.join(c.source, "bench/gpt2_interop.sh"),
                                       os.path.abspath(c.build)], cwd=c.source), {
    "output": lambda r: "```\n$ bash bench/gpt2_interop.sh\n%s```" % r,
}, measured=["output"])


def bench_py(script, python=sys.executable):
    return lambda c: c.run([python, os.path.join(c.source, "bench", script), "--build",
                            os.path.abspath(c.build)], cwd=c.source)


def code_block(cmd):
    return lambda raw: "```\n$ %s\n%s```" % (cmd, raw)


source("speed", False, bench_py("compare_torch.py", "/usr/bin/python3"), {
    "table": lambda r: md_table(r, "| config | norm |", "speed"),
    "output": code_block("/usr/bin/python3 bench/compare_torch.py"),
    "machine": lambda r: "OpenBLAS core %s; FMA peak (%s) %s" % (
        search(r"core (\S+) \(", r, "speed"),
        search(r"FMA peak \(bench/fma_peak, (\w+),", r, "speed"),
        search(r"FMA peak \([^)]*\): (.*)", r, "speed")),
}, measured=["table", "output", "machine"])
source("user_path", False, bench_py("train_vs_bench.py"), {
    "table": lambda r: md_table(r, "| measure |", "user_path"),
    "output": code_block("python3 bench/train_vs_bench.py"),
}, measured=["table", "output"])
source("threads", False, bench_py("threads_scaling.py"), {
    "output": code_block("python3 bench/threads_scaling.py"),
}, measured=["output"])
source("bf16", False, bench_py("bf16_vs_fp32.py"), {
    "table": lambda r: md_table(r, "| step |", "bf16"),
    "summary": lambda r: "\n".join(l for l in r.split("\n") if l.startswith(("final val", "largest", "tokens/s"))),
    "output": code_block("python3 bench/bf16_vs_fp32.py"),
}, measured=["summary", "output"])


# ---- kept outputs ---------------------------------------------------------------------

def kept_path(root, name):
    return os.path.join(root, "docs", "numbers", name + ".txt")


def read_kept(root, name):
    """(header dict, raw output) of a kept output, or None."""
    path = kept_path(root, name)
    if not os.path.isfile(path):
        return None
    text = open(path, encoding="utf-8").read()
    head, sep, raw = text.partition("\n----\n")
    if not sep:
        raise SystemExit("doc_numbers: %s: no '----' line after the header" % path)
    header = dict(l.split(": ", 1) for l in head.split("\n") if ": " in l)
    return header, raw


def write_atomic(path, text):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def update(ctx, root, names):
    commit = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"],
                            stdout=subprocess.PIPE, text=True).stdout.strip() or "unknown"
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if
                l.startswith("model name")), "unknown cpu")
    os.makedirs(os.path.join(root, "docs", "numbers"), exist_ok=True)
    for name in names:
        print("doc_numbers: running %s ..." % name, flush=True)
        start = time.time()
        raw = SOURCES[name]["run"](ctx)
        took = time.time() - start
        header = ("source: %s (regenerate: python3 tools/doc_numbers.py --update %s)\n"
                  "commit: %s\nmachine: %d cores, %s\ntook: %.1f s\n----\n"
                  % (name, name, commit, os.cpu_count(), cpu, took))
        write_atomic(kept_path(root, name), header + raw)
        print("doc_numbers: %s took %s" % (name, minutes(took)), flush=True)


def rerender(ctx, root, names):
    commit = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"],
                            stdout=subprocess.PIPE, text=True).stdout.strip() or "unknown"
    for name in names:
        if name not in SOURCES or not SOURCES[name]["rerender"]:
            raise SystemExit("doc_numbers: %r keeps no runs to re-render (those that do: %s)" % (
                name, ", ".join(n for n in SOURCES if SOURCES[n]["rerender"])))
        kept = read_kept(root, name)
        if kept is None:
            raise SystemExit("doc_numbers: docs/numbers/%s.txt is missing" % name)
        header = dict(kept[0])
        header["rendered"] = "%s (the runs of commit %s, re-rendered)" % (commit, header["commit"])
        raw = SOURCES[name]["rerender"](ctx)
        head = "".join("%s: %s\n" % (k, v) for k, v in header.items())
        write_atomic(kept_path(root, name), head + "----\n" + raw)
        print("doc_numbers: re-rendered %s from its kept runs" % name)


def kept_took(root, names, cache):
    """The kept wall times of these sources, summed, in words."""
    total = 0.0
    for name in names:
        if name not in SOURCES:
            raise SystemExit("doc_numbers: unknown source %r in a .took sum (sources: %s)"
                             % (name, ", ".join(SOURCES)))
        if name not in cache:
            kept = read_kept(root, name)
            if kept is None:
                raise SystemExit("doc_numbers: docs/numbers/%s.txt does not exist: run python3 "
                                 "tools/doc_numbers.py --update %s" % (name, name))
            cache[name] = kept
        total += float(cache[name][0]["took"].split()[0])
    return minutes(total)


# A duration as prose states it: "~7 min", "1 min 46 s", "about 0.1 s", "25 s", "5 minutes".
DURATION = re.compile(r"(?:~\s?)?\b\d+(?:\.\d+)?\s?(?:min|minutes|seconds|hours|h|s)\b"
                      r"(?:\s\d+(?:\.\d+)?\s?s\b)?")
WAIVER = re.compile(r"<!-- unkept time: [^>]+-->\s*$")


def stated_times(text):
    """(line, duration) of every duration outside numbers markers, fenced code, inline code
    and waived ones: what the docs state by hand."""
    out = []
    prose = strip_code(MARK.sub(blank, text))
    for m in DURATION.finditer(prose):  # "5\nminutes": a time may wrap a line
        if not WAIVER.search(prose[max(0, m.start() - 300):m.start()]):
            out.append((prose.count("\n", 0, m.start()) + 1, m.group(0)))
    return out


def blank(m):
    """A match's text as spaces, its line breaks kept."""
    return re.sub(r"[^\n]", " ", m.group(0))


def strip_code(text):
    """text with fenced blocks and `inline code` (which may wrap a line) blanked."""
    text = re.sub(r"^```.*?^```", blank, text, flags=re.M | re.S)
    return re.sub(r"`[^`]*`", blank, text)


def value(root, key, cache):
    name, _, field = key.partition(".")
    if field == "took" and (name == "all" or "+" in name):
        return kept_took(root, list(SOURCES) if name == "all" else name.split("+"), cache)
    if name not in SOURCES:
        raise SystemExit("doc_numbers: unknown source in marker %r (sources: %s)"
                         % (key, ", ".join(SOURCES)))
    if name not in cache:
        kept = read_kept(root, name)
        if kept is None:
            raise SystemExit("doc_numbers: %s is quoted but docs/numbers/%s.txt does not exist: "
                             "run python3 tools/doc_numbers.py --update %s" % (key, name, name))
        cache[name] = kept
    header, raw = cache[name]
    if field == "took":
        return minutes(header["took"].split()[0])
    if field == "commit":
        return header["commit"]
    if field not in SOURCES[name]["values"]:
        raise SystemExit("doc_numbers: %s: source %s has no value %r (it has: %s)" % (
            key, name, field, ", ".join(list(SOURCES[name]["values"]) + ["took", "commit"])))
    return SOURCES[name]["values"][field](raw)


def rendered(root, text, cache):
    def fill(m):
        v = value(root, m.group(1), cache)
        block = m.group(2).startswith("\n")
        return "<!-- numbers %s -->%s<!-- /numbers -->" % (m.group(1), "\n%s\n" % v if block else v)
    return MARK.sub(fill, text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--update")
    ap.add_argument("--render", action="store_true")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--rerender", help="SOURCE[,SOURCE...]: rewrite the kept output from its "
                    "kept runs with the current code (nothing trained; the wall time kept)")
    ap.add_argument("--build", default="build/release")
    ap.add_argument("--source", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    a = ap.parse_args()
    root = a.source
    ctx = Ctx(a.build, root)
    if a.update:
        names = (list(SOURCES) if a.update == "all" else
                 [n for n in SOURCES if SOURCES[n]["fast"]] if a.update == "fast" else
                 a.update.split(","))
        for n in names:
            if n not in SOURCES:
                raise SystemExit("doc_numbers: unknown source %r (sources: %s)" % (n, ", ".join(SOURCES)))
        update(ctx, root, names)
    if a.rerender:
        rerender(ctx, root, a.rerender.split(","))
    cache, errors, used = {}, [], set()
    for doc in DOCS:
        path = os.path.join(root, doc)
        text = open(path, encoding="utf-8").read()
        used |= {n for m in MARK.finditer(text) for n in m.group(1).split(".")[0].split("+")}
        new = rendered(root, text, cache)
        if new != text:
            if a.check:
                errors.append("%s: its quoted numbers differ from docs/numbers/ (edited by hand? "
                              "run python3 tools/doc_numbers.py --render)" % doc)
            else:
                write_atomic(path, new)
                print("doc_numbers: rewrote %s" % doc)
    if a.check:
        for doc in DOCS:
            for line, t in stated_times(open(os.path.join(root, doc), encoding="utf-8").read()):
                errors.append("%s:%d: the time %r is stated by hand: quote the kept measurement "
                              "(<!-- numbers SOURCE.took -->, A+B.took, all.took) or, if it is "
                              "no measurement of a source, waive it with <!-- unkept time: why "
                              "-->" % (doc, line, t))
        for name in SOURCES:
            kept = read_kept(root, name)
            if kept is None:
                errors.append("docs/numbers/%s.txt is missing" % name)
                continue
            src = SOURCES[name]
            if not src["fast"] and not src["rerender"]:
                print("%-24s kept from commit %s (slow: consistency only)" % (name, kept[0]["commit"]))
                continue
            if src["rerender"]:
                try:
                    fresh = src["rerender"](ctx)
                except SystemExit as e:
                    errors.append("%s: %s" % (name, e))
                    continue
                print("%-24s kept runs from commit %s, re-rendered by this code" %
                      (name, kept[0]["commit"]))
            else:
                fresh = src["run"](ctx)
            for key, f in src["values"].items():
                if key in src["measured"] and not src["rerender"]:
                    continue
                if key == "took":
                    continue
                old, new = f(kept[1]), f(fresh)
                if old != new:
                    errors.append("%s.%s: the docs quote\n%s\nbut the code now prints\n%s\n(run "
                                  "python3 tools/doc_numbers.py --update %s%s)" % (
                                      name, key, old, new, name,
                                      ", or --rerender %s to keep the runs" % name
                                      if src["rerender"] else ""))
            print("%-24s rerun: %s" % (name, "same values" if not errors else "see below"))
        for name in SOURCES:
            if name not in used:
                errors.append("source %s is quoted nowhere in %s" % (name, ", ".join(DOCS)))
    for e in errors:
        print("doc_numbers: " + e, file=sys.stderr)
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
