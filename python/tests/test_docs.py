"""docs/python.md's example runs and prints one line per norm kind."""
import contextlib
import io
import pathlib
import re

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "python.md"


def test_python_md_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) == 1
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(blocks[0], str(DOC), "exec"), {})
    lines = out.getvalue().splitlines()
    print(out.getvalue())
    assert [l.split()[0] for l in lines] == ["rmsnorm", "dyt"]
