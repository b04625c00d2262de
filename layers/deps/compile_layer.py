"""Write the layer's bytecode for Lambda's Python: run by python3.13 from this folder's Makefile.

Lambda's /opt is read-only, so a module without a matching `__pycache__/*.cpython-313.pyc` is
compiled again in memory at every cold start. Compiling everything would take the layer from
78 to 157 MB, almost all of it for the SDK's ~6,600 model modules, of which the product can load
a thousand at most. So we compile:

- every module of every package, except PureCloudPlatformClientV2's `models` and `apis`;
- of those two, the API modules the product uses (`--sdk-apis`) and every model those modules
  name (they import some at load, their methods return or take others), and, transitively, the
  types of those models' fields (`swagger_types`): a superset of what the deserialiser can load.

Unchecked-hash pycs: Python never compares them with the source (a timestamp pyc would be judged
stale when the zip's 2-second mtimes or the extraction changed the file times, and compiled
again in memory at every start). The layer is immutable, so they cannot go stale.

    python3.13 compile_layer.py LAYER_PYTHON_DIR --sdk-apis ConversationsApi,RoutingApi,UsersApi
"""

from __future__ import annotations

import argparse
import compileall
import py_compile
import re
import sys
from pathlib import Path

PACKAGE = "PureCloudPlatformClientV2"
RUNTIME = (3, 13)  # template.yaml: Runtime: python3.13
_IMPORT = re.compile(r"^from \.([\w.]+) import (\w+)\s*$", re.MULTILINE)
_NAME = re.compile(r"[A-Z]\w*")
_FIELDS = re.compile(r"self\.swagger_types = \{(.*?)\}", re.DOTALL)
_FIELD_TYPE = re.compile(r":\s*'([^']+)'")


def _names(init_file: Path) -> dict[str, str]:
    """{ClassName: module file stem} from an `__init__.py`'s `from .x.y import Name` lines."""
    return {name: module.rsplit(".", 1)[-1] for module, name in _IMPORT.findall(init_file.read_text("utf-8"))}


def sdk_modules(sdk: Path, api_classes: list[str]) -> list[Path]:
    """The API modules named and every model module they can reach."""
    models = _names(sdk / "models" / "__init__.py")
    apis = _names(sdk / "apis" / "__init__.py")
    unknown = [name for name in api_classes if name not in apis]
    if unknown:
        raise SystemExit(
            f"compile_layer.py: {PACKAGE} has no API class {', '.join(unknown)} (see SDK_APIS in Makefile)"
        )
    files = [sdk / "apis" / f"{apis[name]}.py" for name in api_classes]
    todo = [n for api in files for n in _NAME.findall(api.read_text("utf-8")) if n in models]
    reached: set[str] = set()
    while todo:
        name = todo.pop()
        if name in reached:
            continue
        reached.add(name)
        fields = _FIELDS.search((sdk / "models" / f"{models[name]}.py").read_text("utf-8"))
        for declared in _FIELD_TYPE.findall(fields.group(1) if fields else ""):
            todo += [n for n in _NAME.findall(declared) if n in models and n not in reached]
    return files + sorted(sdk / "models" / f"{models[name]}.py" for name in reached)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("layer", type=Path, help="the layer's python/ folder")
    parser.add_argument("--sdk-apis", required=True, help="comma-separated SDK API classes the product uses")
    args = parser.parse_args(argv)
    if sys.version_info[:2] != RUNTIME:
        found = ".".join(map(str, sys.version_info[:3]))
        raise SystemExit(
            f"compile_layer.py: run by Python {found}, but Lambda runs python3.13 and loads only its own "
            "bytecode. Install a Python 3.13 (e.g. pyenv install 3.13) or set PYTHON313=/path/to/python3.13."
        )
    mode = py_compile.PycInvalidationMode.UNCHECKED_HASH
    sdk = args.layer / PACKAGE
    skipped = re.compile(re.escape(f"{PACKAGE}/") + r"(models|apis)/")
    ok = compileall.compile_dir(args.layer, quiet=1, workers=0, rx=skipped, invalidation_mode=mode)
    chosen = sdk_modules(sdk, [n for n in args.sdk_apis.replace(",", " ").split() if n]) if sdk.is_dir() else []
    for module in chosen:
        py_compile.compile(str(module), doraise=True, invalidation_mode=mode)
    print(f"compile_layer.py: bytecode for Python {sys.version.split()[0]}; {len(chosen)} {PACKAGE} API/model modules")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
