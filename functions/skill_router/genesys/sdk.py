"""Import PureCloudPlatformClientV2 the way Lambda needs it: fast, and without a file watcher.

1. Lazily. The package's `__init__` imports all of its ~6,600 model modules and ~170 API
   modules (about 2 s and 200 MB); the product needs three API classes and the few hundred
   models they name. So the package and its `models` and `apis` subpackages are installed as
   lazy modules: a name is imported from its own submodule on first use. The name -> submodule
   map is read from the SDK's own `__init__.py` files (`from .models.paging_spec import
   PagingSpec`), so an upgraded SDK brings its map with it; the SDK's code runs unchanged, and
   `ApiClient`'s deserialiser, which looks model classes up by name (`eval('models.' + klass)`),
   finds them through the same lazy lookup. If the SDK's layout is ever not understood, the
   ordinary import is used instead.
2. With its `Configuration()` singleton created under a HOME that holds a shipped config with
   `live_reload_config = false`: otherwise it starts a watchdog thread watching the home
   directory recursively (or "/" on a host without a home).
3. With its own logging off. The SDK's logger has a console handler of its own and prints every
   failed request as a multi-line plain-text `=== REQUEST === ... === RESPONSE ===` block once its
   logger's level lets ERROR through; an ordinary 404 (a caller who hung up) would write one into
   the function's log. The client logs each failure itself, as one structured line.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import logging
import os
import re
import sys
import types
from pathlib import Path
from typing import Any

PACKAGE = "PureCloudPlatformClientV2"
_SDK_HOME = Path(__file__).parent / "sdk_home"
SDK_LOG_OFF = logging.CRITICAL + 1  # the SDK's LogLevel.LNone
_RELATIVE_IMPORT = re.compile(r"^from \.([\w.]+) import (\w+)\s*$", re.MULTILINE)


class LazyPackage(types.ModuleType):
    """A package whose public names are imported from their own submodule on first use."""

    def __init__(self, name: str, directory: Path, names: dict[str, str]) -> None:
        super().__init__(name)
        self.__path__ = [str(directory)]
        self.__file__ = str(directory / "__init__.py")
        self.__package__ = name
        spec = importlib.machinery.ModuleSpec(name, loader=None, is_package=True)
        spec.submodule_search_locations = [str(directory)]
        self.__spec__ = spec
        self._lazy_names = names

    def __getattr__(self, name: str) -> Any:
        submodule = self._lazy_names.get(name)
        if submodule is None:
            # A submodule (`sdk.rest`), as an eagerly imported package would have bound it.
            if name.startswith("__") or importlib.util.find_spec(f"{self.__name__}.{name}") is None:
                raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
            value = importlib.import_module(f"{self.__name__}.{name}")
            setattr(self, name, value)
            return value
        value = getattr(importlib.import_module(f"{self.__name__}.{submodule}"), name)
        setattr(self, name, value)  # next time, a plain attribute
        return value

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *self._lazy_names})

    @property
    def loaded_models(self) -> int:
        """How many model modules have been imported (for the benchmark and tests)."""
        prefix = f"{PACKAGE}.models."
        return sum(1 for name in sys.modules if name.startswith(prefix))


def _names(init_file: Path) -> dict[str, str]:
    """`from .x.y import Name` lines of an `__init__.py`, as {Name: "x.y"}."""
    return {name: module for module, name in _RELATIVE_IMPORT.findall(init_file.read_text(encoding="utf-8"))}


def _install_lazy(directory: Path) -> None:
    top = _names(directory / "__init__.py")
    models = _names(directory / "models" / "__init__.py")
    apis = _names(directory / "apis" / "__init__.py")
    if not (models and apis and "ApiClient" in top and "Configuration" in top):
        raise ImportError("unrecognised PureCloudPlatformClientV2 layout")
    package = LazyPackage(PACKAGE, directory, top)
    sys.modules[PACKAGE] = package
    for sub, names in (("models", models), ("apis", apis)):
        module = LazyPackage(f"{PACKAGE}.{sub}", directory / sub, names)
        sys.modules[module.__name__] = module
        setattr(package, sub, module)
    # The package creates its Configuration singleton at import; do the same, at the same moment.
    package.configuration = package.Configuration()  # type: ignore[attr-defined]


def _import_sdk() -> None:
    if PACKAGE in sys.modules:
        return
    previous = os.environ.get("HOME")
    os.environ["HOME"] = str(_SDK_HOME)
    try:
        spec = importlib.util.find_spec(PACKAGE)
        if spec is None or not spec.submodule_search_locations:
            raise ModuleNotFoundError(f"{PACKAGE} is not installed (it ships in the dependency layer)")
        try:
            _install_lazy(Path(next(iter(spec.submodule_search_locations))))
        except (ImportError, OSError) as exc:
            for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
                del sys.modules[name]
            logging.getLogger(__name__).warning("lazy SDK import unavailable (%s); importing all of it", exc)
            importlib.import_module(PACKAGE)
    finally:
        if previous is None:
            os.environ.pop("HOME", None)
        else:
            os.environ["HOME"] = previous
    silence_sdk_logging()


def silence_sdk_logging() -> None:
    """The SDK's request/response printing off: no console handler, no log file, its level past
    CRITICAL (the shipped config says the same; this holds whatever a config file says)."""
    log = sys.modules[PACKAGE].configuration.logger
    log.log_to_console = False  # each setter rebuilds the SDK logger's handlers: none is left
    log.log_file_path = None
    log.log_level = SDK_LOG_OFF


_import_sdk()

sdk: Any = sys.modules[PACKAGE]
ApiException: Any = importlib.import_module(f"{PACKAGE}.rest").ApiException

__all__ = ["ApiException", "LazyPackage", "sdk"]
