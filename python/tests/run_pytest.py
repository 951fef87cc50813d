"""ctest's entry to the Python tests: pytest on this folder, or exit 77 (ctest: skipped)
with the reason when pytest or the built module cannot be imported."""
import sys

try:
    import pytest
except ImportError as e:
    print(f"python tests skipped: pytest is not installed for {sys.executable} ({e})")
    sys.exit(77)
try:
    import normgrad  # noqa: F401 (PYTHONPATH points at the build tree's package)
except ImportError as e:
    print(f"python tests skipped: the normgrad module does not import ({e})")
    sys.exit(77)
sys.exit(pytest.main(["-q", "-rs", "-p", "no:cacheprovider", *sys.argv[1:]]))
