"""Import PureCloudPlatformClientV2 the way Lambda needs it.

The package creates a `Configuration()` singleton at import which reads
~/.genesyscloudpython/config and, unless that file says otherwise, starts a watchdog thread
watching the home directory recursively (or the first existing parent: "/" on a host without
a home). We point HOME at a shipped config that turns live reload off, for the import only.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

_SDK_HOME = Path(__file__).parent / "sdk_home"


def _import_sdk() -> None:
    if "PureCloudPlatformClientV2" in sys.modules:
        return
    previous = os.environ.get("HOME")
    os.environ["HOME"] = str(_SDK_HOME)
    try:
        import PureCloudPlatformClientV2  # noqa: F401
    finally:
        if previous is None:
            os.environ.pop("HOME", None)
        else:
            os.environ["HOME"] = previous


_import_sdk()

import PureCloudPlatformClientV2 as sdk  # noqa: E402
from PureCloudPlatformClientV2.rest import ApiException  # noqa: E402

__all__ = ["ApiException", "sdk"]
