"""The SDK is imported lazily, and every class it exports is still found by name."""

from __future__ import annotations

import subprocess
import sys

from skill_router.genesys.sdk import LazyPackage, sdk


def test_the_handler_loads_a_few_hundred_of_the_sdks_models_not_all():
    code = (
        "import sys, skill_router.handlers.poll\n"
        "from skill_router.genesys.sdk import sdk\n"
        "print(type(sdk).__name__, sdk.models.loaded_models, len(sdk.models._lazy_names))"
    )
    kind, loaded, exported = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert kind == "LazyPackage" and int(exported) > 5000
    assert 0 < int(loaded) < 1000


def test_every_kind_of_name_resolves_through_the_lazy_package():
    assert isinstance(sdk, LazyPackage) and isinstance(sdk.models, LazyPackage)
    sample = sorted(sdk.models._lazy_names)[::400]  # across the alphabet
    assert all(getattr(sdk.models, name).__name__ == name for name in sample)
    assert sdk.RoutingApi.__name__ == "RoutingApi" and sdk.PagingSpec is sdk.models.PagingSpec
    assert sdk.rest.ApiException.__name__ == "ApiException"  # a submodule, as an eager import binds it
    assert sdk.configuration.live_reload_config is False, "no watchdog thread on the home directory"
