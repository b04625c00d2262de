"""Adversarial tests: each tries to break one promise the README makes (issue #12).

They reuse the integration fixtures (moto server, the simulator, real handler processes).
"""

import pytest

from tests.integration.conftest import *  # noqa: F403  (the same fixtures, one definition)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/attack/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.attack)
