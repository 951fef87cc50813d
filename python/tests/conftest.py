import pytest


@pytest.fixture(scope="session")
def ng():
    import normgrad

    return normgrad
