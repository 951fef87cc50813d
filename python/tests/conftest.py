import atexit
import os
import shutil
import tempfile

import pytest

# --threads 0 caches its measured thread count per machine and model shape: in this test
# session's own folder, not in the user's ~/.cache (normgrad/train/thread_choice.h).
os.environ["NG_CACHE_DIR"] = tempfile.mkdtemp(prefix="normgrad_pytest_cache.")
# The Python module runs OpenBLAS's own kernel family (it cannot re-run the interpreter); the
# normgrad processes the tests start (jobs=2) must run the same one to give the same numbers.
os.environ["NG_BLAS_CORE"] = "keep"
atexit.register(shutil.rmtree, os.environ["NG_CACHE_DIR"], True)


@pytest.fixture(scope="session")
def ng():
    import normgrad

    return normgrad
