"""The committed stubs (python/normgrad/*.pyi, read by tools/api_reference.py for the API
reference) name what the built module has: the stubs stubgen wrote beside it in the build
tree. Compared as names (classes, functions, methods), not text, so another nanobind's
formatting does not matter; a binding added without regenerating them fails here."""
import ast
import pathlib

import pytest

import normgrad

SOURCE = pathlib.Path(__file__).resolve().parents[1] / "normgrad"
BUILT = pathlib.Path(normgrad.__file__).resolve().parent
STUBS = ["_core.pyi", "nn.pyi", "optim.pyi"]


def names(path):
    out = set()

    def walk(body, prefix):
        for node in body:
            if isinstance(node, ast.ClassDef):
                out.add(prefix + node.name)
                walk(node.body, prefix + node.name + ".")
            elif isinstance(node, ast.FunctionDef):
                out.add(prefix + node.name)

    walk(ast.parse(path.read_text()).body, "")
    return out


@pytest.mark.parametrize("stub", STUBS)
def test_committed_stub_names_the_built_module(stub):
    if BUILT == SOURCE or not (BUILT / stub).exists():
        pytest.skip(f"no stub built beside the module ({BUILT / stub})")
    committed, built = names(SOURCE / stub), names(BUILT / stub)
    assert committed == built, (
        f"python/normgrad/{stub} is stale: copy {BUILT / stub} there, then run "
        f"python3 tools/api_reference.py (missing: {sorted(built - committed)}, "
        f"gone: {sorted(committed - built)})")


def test_stubs_cover_the_runtime_names():
    core = names(SOURCE / "_core.pyi")
    for name in ["Tensor.__getitem__", "read_saved_run", "Tokenizer.encode", "sweep", "convert",
                 "save_safetensors", "train"]:
        assert name in core
    assert {"GPT", "Norm", "Module.state_dict", "Module.load_state_dict"} <= names(SOURCE / "nn.pyi")
    assert "AdamW" in names(SOURCE / "optim.pyi")
