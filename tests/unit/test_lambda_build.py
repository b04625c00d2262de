"""What `sam build` ships carries bytecode for Lambda's Python, so a cold start on the read-only
/var/task and /opt does not compile the modules it imports again (docs/performance.md)."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "deps"


def _compile_layer():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("compile_layer", LAYER / "compile_layer.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _python313() -> str | None:
    candidates = [os.environ.get("LAMBDA_PYTHON", ""), shutil.which("python3.13") or ""]
    candidates += sorted(map(str, Path.home().glob(".pyenv/versions/3.13*/bin/python3.13")), reverse=True)
    for candidate in filter(None, candidates):
        wanted = "import sys; sys.exit(sys.version_info[:2] != (3, 13))"
        if subprocess.run([candidate, "-c", wanted], capture_output=True, check=False).returncode == 0:
            return candidate
    return None


def test_the_layer_compiles_every_sdk_api_class_the_product_uses():
    from skill_router.genesys import client

    listed = re.search(r"^SDK_APIS := (.*)$", (LAYER / "Makefile").read_text(), re.MULTILINE)
    assert listed, "layers/deps/Makefile lost its SDK_APIS line"
    used = {cls.__name__ for cls in client._API_CLASSES} - {"ApiClient"}
    assert used <= set(listed.group(1).split()), "add the new API class to SDK_APIS in layers/deps/Makefile"


def test_the_compiled_sdk_modules_include_every_model_the_handlers_load_at_init():
    code = (
        "import sys, skill_router.handlers.poll, skill_router.handlers.conversation_event\n"
        "print('\\n'.join(n for n in sys.modules if n.startswith('PureCloudPlatformClientV2.models.')))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    spec = importlib.util.find_spec("PureCloudPlatformClientV2")
    assert spec and spec.submodule_search_locations
    sdk = Path(next(iter(spec.submodule_search_locations)))
    chosen = _compile_layer().sdk_modules(sdk, ["ConversationsApi", "RoutingApi", "UsersApi"])
    compiled = {f"PureCloudPlatformClientV2.models.{p.stem}" for p in chosen if p.parent.name == "models"}
    assert loaded, "the handlers loaded no SDK model: this test no longer sees what they import"
    assert set(loaded) <= compiled, sorted(set(loaded) - compiled)
    assert len(compiled) < 2000, "most of the SDK would be compiled: the layer would outgrow its size budget"


def test_the_compiled_sdk_modules_include_the_skill_expression_validate_models():
    """GenesysClient.validate_skill_expression (issue 28) sends SkillExpressionData and reads
    SkillExpressionValidationResult (its errors and skill references): all reached from RoutingApi."""
    spec = importlib.util.find_spec("PureCloudPlatformClientV2")
    assert spec and spec.submodule_search_locations
    sdk = Path(next(iter(spec.submodule_search_locations)))
    listed = re.search(r"^SDK_APIS := (.*)$", (LAYER / "Makefile").read_text(), re.MULTILINE)
    assert listed
    chosen = {p.stem for p in _compile_layer().sdk_modules(sdk, listed.group(1).split())}
    wanted = {
        "skill_expression_data",
        "skill_expression_validation_result",
        "skill_expression_validation_error",
        "skill_reference",
    }
    assert wanted <= chosen, sorted(wanted - chosen)


def test_the_function_package_imports_from_read_only_bytecode(tmp_path):
    python = _python313()
    if python is None:
        pytest.skip("no python3.13 (Lambda's runtime) on this machine; set LAMBDA_PYTHON")
    out = tmp_path / "task"
    make = ["make", "-s", "-C", str(ROOT / "functions"), "build-EventFunction"]
    subprocess.run(
        [*make, f"ARTIFACTS_DIR={out}", f"PYTHON313={python}"],
        check=True,
        capture_output=True,
    )
    for path in out.rglob("*"):
        path.chmod(path.stat().st_mode & ~0o222)
    before = sorted(out.rglob("*"))
    # Every skill_router module, imported by 3.13 with nothing written, must come from a pyc.
    code = (
        "import importlib, importlib.util, os, pkgutil, sys, skill_router\n"
        "names = [m.name for m in pkgutil.walk_packages(skill_router.__path__, 'skill_router.')]\n"
        "origins = [importlib.util.find_spec(n).origin for n in ['skill_router', *names]]\n"
        "print('\\n'.join(o for o in origins if not os.path.exists(importlib.util.cache_from_source(o))))"
    )
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(out), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run([python, "-s", "-c", code], capture_output=True, text=True, check=True, env=env, cwd=out)
    assert done.stdout.split() == [], "modules without 3.13 bytecode in the function package"
    assert sorted(out.rglob("*")) == before
    cached = {p.name.split(".")[1] for p in out.rglob("*.pyc")}
    assert cached == {"cpython-313"}
    header = next(out.rglob("*.pyc")).read_bytes()[4:8]
    assert int.from_bytes(header, "little") == 0b01, "unchecked-hash pycs (flags 0b01): never compared with mtimes"


def test_the_layer_compiles_the_models_of_the_members_read_and_the_skill_expression():
    """GenesysClient.queue_members deserialises QueueMemberEntityListing -> QueueMember -> User
    (skills, languages, routingStatus): models the layer must ship compiled, like the others."""
    spec = importlib.util.find_spec("PureCloudPlatformClientV2")
    assert spec and spec.submodule_search_locations
    sdk = Path(next(iter(spec.submodule_search_locations)))
    chosen = {p.stem for p in _compile_layer().sdk_modules(sdk, ["ConversationsApi", "RoutingApi", "UsersApi"])}
    wanted = {"queue_member_entity_listing", "queue_member", "user", "user_routing_skill", "user_routing_language"}
    assert wanted | {"routing_status", "conversation_routing_data"} <= chosen
