"""The engine is numpy-only: importing it must not drag in the web, database or ML layers."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import recommender.engine

FORBIDDEN = ("flask", "sqlalchemy", "sklearn", "recommender.services")
# The one other library the engine may use, and where: the thread policy holds BLAS at one
# thread while the engine's own threads run (threadpoolctl, a dependency of scikit-learn).
ALLOWED_ELSEWHERE = {"recommender.engine.parallel": ("threadpoolctl",)}
# Every module of the engine package, so a new one cannot slip past the rule.
ENGINE_MODULES = tuple(
    f"recommender.engine.{path.stem}"
    for path in sorted(Path(recommender.engine.__file__).parent.glob("*.py"))
    if path.stem != "__init__"
)


@pytest.mark.parametrize("module", ENGINE_MODULES)
def test_importing_the_engine_in_a_fresh_interpreter_loads_no_forbidden_package(
    module: str,
) -> None:
    code = f"import json, sys; import {module}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = json.loads(out.stdout)
    assert module in loaded  # the probe really imported the engine
    offenders = [m for m in loaded if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]
    # Importing a submodule runs every parent package's __init__ too, so a web import at the
    # top of recommender/__init__.py shows up here as well.
    assert offenders == [], f"{module} pulled in {sorted({m.split('.')[0] for m in offenders})}"


@pytest.mark.parametrize("module", ENGINE_MODULES)
def test_engine_source_imports_only_numpy_stdlib_and_the_engine(module: str) -> None:
    path = Path(recommender.engine.__file__).parent / (module.rsplit(".", 1)[1] + ".py")
    imported: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
    third_party = {
        name
        for name in imported
        if name.split(".")[0] not in sys.stdlib_module_names and name != "__future__"
    }
    assert third_party, "expected at least numpy or threadpoolctl"
    allowed = ("numpy", *ALLOWED_ELSEWHERE.get(module, ()))
    assert all(
        name.split(".")[0] in allowed or name.startswith("recommender.engine")
        for name in third_party
    ), third_party
