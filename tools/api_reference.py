#!/usr/bin/env python3
"""The API reference: every public class, struct, enum, alias and function of the public
headers, with the comment that documents it, written to docs/reference.md. A public name
without a comment is a warning naming its file and line; --check exits non-zero on any
(the `reference` test), so the reference always builds with no warning.

The Python package follows, from its committed type stubs (python/normgrad/*.pyi; the
`python` test checks they name what the built module has).

  python3 tools/api_reference.py [--check] [--out docs/reference.md]
--check also fails when docs/reference.md differs from what the headers say now.

Why not Doxygen: the headers are documented with plain `//` comments written to be read in
the header (llm.c style), which Doxygen ignores unless every one becomes `///`; this reads
those comments as they are. A declaration counts as documented when a comment stands
directly above it (a run of declarations with no blank line between shares that comment:
overloads, getters) or follows it on the same line. The header's opening comment documents
its first class; the members of a norm kind (a struct deriving KindDefaults) are documented
once, by the kind protocol in normgrad/norm_kind.h and normgrad/norms/common.h. Private and
protected members, constructors, destructors, defaulted / deleted members, the `detail`
namespaces and function bodies are skipped.
"""
import argparse
import os
import re
import sys

HEADERS = ["core/include/normgrad", "core/include/normgrad/norms", "nn/include/normgrad",
           "nn/include/normgrad/nn", "optim/include/normgrad", "optim/include/normgrad/optim",
           "cuda/include/normgrad"]
KEYWORDS = {"return", "if", "for", "while", "switch", "case", "else", "do", "static_assert",
            "sizeof", "throw", "delete", "new", "co_return", "decltype", "requires"}
DECL = re.compile(
    r"^(?:template\s*<.*>\s*)?(?:(?:static|inline|constexpr|virtual|explicit|friend|"
    r"\[\[\w+\]\])\s+)*"
    r"(?P<what>class|struct|enum class|enum|using)\s+(?P<name>\w+)")
FUNC = re.compile(r"^(?:template\s*<.*>\s*)?(?P<sig>[\w:<>,\s\*&~\[\]]*?\b(?P<name>operator\S+?|~?\w+))\s*\(")


def strip_strings(line):
    return re.sub(r'"(?:\\.|[^"\\])*"', '""', re.sub(r"'(?:\\.|[^'\\])*'", "''", line))


def cut_body(sig):
    """The declaration without its body: cut at the first '{' outside parentheses, so that
    a default argument in braces (TensorOptions o = {}) stays in the signature."""
    depth = 0
    for k, c in enumerate(sig):
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "{" and depth == 0:
            return sig[:k].rstrip()
    return sig


def lead_markdown(lead):
    """A header's opening comment as Markdown: prose lines joined into paragraphs (a blank
    comment line ends one), lines indented two or more spaces past the '//' (code, aligned
    lists) kept as they are in a fenced block, so code never runs into the prose."""
    out, prose, code = [], [], []

    def flush():
        if prose:
            out.extend([" ".join(prose), ""])
            prose.clear()
        if code:
            out.extend(["```"] + code + ["```", ""])
            code.clear()

    for line in lead:
        text = line.rstrip()
        if text.startswith("   "):  # "//" then three or more spaces: an indented line
            if prose:
                flush()
            code.append(text[3:])
        elif not text.strip():
            flush()
        else:
            if code:
                flush()
            prose.append(text.strip())
    flush()
    return out


def parse(path):
    """[(line, kind, name, signature, comment)], [warnings]"""
    lines = open(path, encoding="utf-8").read().split("\n")
    items, warnings = [], []
    depth = 0
    # scope stack: (depth at which its body lives, kind, access public?)
    scopes = [(0, "namespace", True, "")]
    comment, last_documented, prev_blank = [], False, True
    pending_template = ""
    lead = any(l.startswith("//") for l in lines[:3])  # the header's opening comment
    first_type = True
    i = 0
    while i < len(lines):
        raw = lines[i]
        if i > 0 and lines[i - 1].rstrip().endswith("\\"):  # inside a multi-line macro
            i += 1
            continue
        code = strip_strings(raw)
        stripped = code.strip()
        no = i + 1
        i += 1
        if stripped.startswith("//"):
            comment.append(raw.strip()[2:].strip())
            prev_blank = False
            continue
        if not stripped or stripped.startswith("#"):
            if not stripped:
                comment, last_documented, prev_blank = [], False, True
            continue
        scope_depth, scope_kind, public, scope_name = scopes[-1]
        # declarations live directly in a namespace, class or struct, not in a function body
        at_scope = depth == scope_depth and scope_kind in ("namespace", "class", "struct", "kind")
        if at_scope and scope_kind in ("class", "struct", "kind"):
            m = re.match(r"^(public|private|protected)\s*:", stripped)
            if m:
                scopes[-1] = (scope_depth, scope_kind, m.group(1) == "public", scope_name)
                comment = []
                continue
        trailing = re.search(r"//\s*(.*)$", raw)
        body = re.sub(r"//.*$", "", code).strip()
        if at_scope and public and body.startswith("template") and body.endswith(">"):
            pending_template = body + " "
            continue
        decl = DECL.match(pending_template + body) if at_scope and public else None
        func = None
        if at_scope and public and not decl and "(" in body and not body.startswith(("namespace", "}", ":")):
            f = FUNC.match(body)
            if f and f.group("name") not in KEYWORDS and not body.startswith(("return", "NG_", "X(")):
                func = f
        if decl or func:
            name = (decl or func).group("name")
            kind = decl.group("what") if decl else "function"
            forward = decl and kind in ("class", "struct") and body.endswith(";") and "{" not in body
            # the whole signature, up to its end (';', '{' or '= ...')
            sig, j = body, i
            while not re.search(r"[;{]\s*$|\)\s*(const)?\s*(override)?\s*(=\s*\w+)?\s*;?$", sig) and j < len(lines):
                sig += " " + re.sub(r"//.*$", "", strip_strings(lines[j])).strip()
                j += 1
            sig = cut_body(sig).rstrip(";").strip()
            sig = re.sub(r"\s+", " ", pending_template + sig)
            doc = " ".join(comment).strip() or (trailing.group(1).strip() if trailing else "")
            documented = bool(doc) or (last_documented and not prev_blank)
            if decl and kind in ("class", "struct", "enum class", "enum") and not forward:
                documented = documented or (first_type and lead)
                first_type = False
            in_kind = any(k == "kind" for _, k, _, _ in scopes)
            documented = documented or in_kind or bool(re.search(r"\boverride\b", sig))
            in_detail = any(k == "detail" for _, k, _, _ in scopes)
            enclosing = [n for _, k, _, n in scopes if k in ("class", "struct", "kind")]
            special = (kind == "function" and (name.startswith("~") or name in ("operator=", "operator<<") or
                       re.search(r"=\s*(delete|default)\s*$", sig) or
                       (enclosing and name == enclosing[-1])))
            if not forward and not in_detail and not special:
                items.append((no, kind, name, sig, doc, [k for _, k, _, _ in scopes]))
                if not documented:
                    warnings.append("%s:%d: undocumented public %s '%s'" % (path, no, kind, name))
            last_documented = documented
        else:
            last_documented = last_documented and at_scope
        pending_template = ""
        comment, prev_blank = [], False
        # braces: enter/leave scopes
        opens, closes = body.count("{"), body.count("}")
        if opens > closes:
            kind, sname = "block", ""
            m = re.match(r"^namespace\s+([\w:]*)", body)
            if m:
                kind = "detail" if m.group(1).endswith("detail") else "namespace"
            elif decl and decl.group("what") in ("class", "struct"):
                kind, sname = decl.group("what"), decl.group("name")
                if "KindDefaults" in body:
                    kind = "kind"
            elif decl and decl.group("what").startswith("enum"):
                kind = "enum"
            depth += opens - closes
            scopes.append((depth, kind, kind != "class", sname))
        elif closes > opens:
            depth -= closes - opens
            while len(scopes) > 1 and scopes[-1][0] > depth:
                scopes.pop()
    return items, warnings


PYTHON_STUBS = [("normgrad", "python/normgrad/_core.pyi"), ("normgrad.nn", "python/normgrad/nn.pyi"),
                ("normgrad.optim", "python/normgrad/optim.pyi")]


def python_section(module, path):
    """The Python package from its type stub (nanobind's stubgen output, committed; the
    `python` test fails when it differs from the built module's): every class with its
    methods and properties, every function, with the first line of its docstring. Read with
    ast, so the reference builds without the module. An undocumented name is listed bare."""
    import ast

    tree = ast.parse(open(path, encoding="utf-8").read())
    out = ["## Python: `%s` (`%s`)" % (module, path), ""]
    if module == "normgrad":
        out += ["`import normgrad as ng`: the names of `normgrad._core`, re-exported; its "
                "submodules `normgrad.nn` and `normgrad.optim` follow (docs/python.md).", ""]

    def doc(node):
        d = ast.get_docstring(node)
        return ": " + d.strip().split("\n")[0] if d else ""

    def signature(f):
        args = [a.arg for a in f.args.posonlyargs + f.args.args if a.arg != "self"]
        if f.args.vararg:
            args.append("*" + f.args.vararg.arg)
        args += [a.arg for a in f.args.kwonlyargs]
        if f.args.kwarg:
            args.append("**" + f.args.kwarg.arg)
        return "%s(%s)" % (f.name, ", ".join(args))

    def entries(body, prefix, depth):
        seen = set()
        for node in body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                out.append("%s- `class %s%s`%s" % ("  " * depth, prefix, node.name, doc(node)))
                entries(node.body, "", depth + 1)
            elif isinstance(node, ast.FunctionDef):
                name = node.name
                if (name.startswith("_") and not name.startswith("__")) or name in seen:
                    continue  # overloads: listed once, with the first's arguments
                if name.startswith("__") and name not in ("__init__", "__call__", "__getitem__"):
                    continue
                seen.add(name)
                prop = any(isinstance(d, ast.Name) and d.id == "property" for d in node.decorator_list)
                sig = name if prop else signature(node)
                out.append("%s- `%s%s`%s" % ("  " * depth, prefix, sig, doc(node)))

    entries(tree.body, "", 0)
    out.append("")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true", help="only report; exit 1 on a warning")
    ap.add_argument("--out", default="docs/reference.md")
    ap.add_argument("--source", default=".")
    a = ap.parse_args()
    os.chdir(a.source)
    files = sorted(os.path.join(d, f) for d in HEADERS if os.path.isdir(d)
                   for f in os.listdir(d) if f.endswith(".h"))
    out = ["# normgrad API reference", "",
           "Generated from the public headers by `python3 tools/api_reference.py` (the `reference`",
           "test fails when a public name has no comment). Each entry: the declaration, then its",
           "comment from the header. Start with the [tutorial](tutorial/README.md).", ""]
    all_warnings, count = [], 0
    for path in files:
        items, warnings = parse(path)
        all_warnings += warnings
        lead = []
        for line in open(path, encoding="utf-8"):
            if not line.startswith("//"):
                break
            lead.append(line[2:].rstrip("\n"))
        out += ["## `%s`" % path, ""] + (lead_markdown(lead) or [""])
        for no, kind, name, sig, doc, _ in items:
            count += 1
            out.append("- `%s` ([line %d](../%s#L%d))%s" % (sig, no, path, no, ": " + doc if doc else ""))
        out.append("")
    for module, stub in PYTHON_STUBS:
        if os.path.exists(stub):
            out += python_section(module, stub)
    for w in all_warnings:
        print("warning: " + w)
    print("%d public declarations in %d headers, %d undocumented" % (count, len(files), len(all_warnings)))
    text = "\n".join(out) + "\n"
    if a.check:  # the committed reference must be what the headers say now
        old = open(a.out, encoding="utf-8").read() if os.path.exists(a.out) else ""
        if old != text:
            print("%s is stale: run python3 tools/api_reference.py" % a.out)
            return 1
    else:
        with open(a.out + ".tmp", "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(a.out + ".tmp", a.out)
        print("wrote " + a.out)
    return 1 if all_warnings else 0


if __name__ == "__main__":
    sys.exit(main())
