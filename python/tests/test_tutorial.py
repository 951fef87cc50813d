"""docs/tutorial/07-python.md runs as printed: its ```python blocks in order, in one
namespace (as a notebook runs its cells), each printing the lines its `# prints:` comment
claims (in order; other lines may come between), and the figure it saves is a PNG."""
import contextlib
import io
import pathlib
import re

import pytest

CHAPTER = pathlib.Path(__file__).resolve().parents[2] / "docs" / "tutorial" / "07-python.md"


def blocks(text):
    """(first line number, code) of every ```python block."""
    out = []
    for m in re.finditer(r"^```python\n(.*?)^```", text, re.S | re.M):
        out.append((text[:m.start()].count("\n") + 2, m.group(1)))
    return out


def claimed(code):
    """The output lines a block's `# prints:` comment claims."""
    lines = code.splitlines()
    if "# prints:" not in lines:
        return []
    return [l[2:] for l in lines[lines.index("# prints:") + 1:] if l.startswith("# ")]


def test_python_chapter_runs_and_prints_what_it_claims(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib", reason="the chapter draws with matplotlib")
    monkeypatch.chdir(tmp_path)  # the figure lands here, not in the source tree
    found = blocks(CHAPTER.read_text())
    assert len(found) == 2
    namespace = {}
    for line, code in found:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            # Line numbers in a traceback point at the Markdown file.
            exec(compile("\n" * (line - 1) + code, str(CHAPTER), "exec"), namespace)
        printed = out.getvalue().splitlines()
        want = claimed(code)
        assert want, f"block at line {line} claims no output"
        it = iter(printed)
        for w in want:
            assert any(p.rstrip() == w.rstrip() for p in it), (
                f"block at line {line}: '{w}' not printed (in order); printed:\n" + out.getvalue())
    png = tmp_path / "python_dyt_vs_rmsnorm.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
