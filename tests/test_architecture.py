"""The package tree is the architecture: these rules keep it so (docs/architecture.md)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "glasstune"
GROUND = {"errors", "config", "urls", "figures", "interrupts", "locks", "__init__", "__main__"}
"""Top-level modules every layer may import."""
LAYERS = {"data": 1, "stores": 1, "objectives": 2, "study": 3, "results": 4, "cli": 5}
"""A package imports only from lower layers, its own, and the ground floor; data and stores, both at
the bottom, know nothing of each other."""


def _modules() -> list[Path]:
    return sorted(path for path in PACKAGE.rglob("*.py") if "__pycache__" not in path.parts)


def _imports(path: Path) -> list[str]:
    """Every module name ``path`` imports, at any depth (lazy imports inside functions count too)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def _layer_of(parts: tuple[str, ...]) -> str | None:
    return parts[0] if parts and parts[0] in LAYERS else None


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_package_imports_upward_or_sideways(path):
    own = _layer_of(path.relative_to(PACKAGE).with_suffix("").parts)
    for name in _imports(path):
        if not name.startswith("glasstune."):
            continue
        target_parts = tuple(name.split(".")[1:])
        target = _layer_of(target_parts)
        if target is None:
            assert target_parts[0] in GROUND, f"{path.name} imports {name}, which is in no layer"
            continue
        if own is None:
            assert path.stem in ("__init__", "__main__"), f"ground-floor module {path.name} imports {name}"
            continue
        assert target == own or LAYERS[target] < LAYERS[own], f"{own} must not import {name}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_the_stores_talk_to_mlflow(path):
    if path.relative_to(PACKAGE).parts[0] == "stores":
        return
    assert not [name for name in _imports(path) if name.split(".")[0] == "mlflow"], path
    assert ".client." not in path.read_text(), f"{path}: MLflow's client is the stores' business"


TAG_LIKE = re.compile(r"^glasstune\.[a-z_]+$")


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_attribute_and_tag_name_is_defined_once(path):
    if path == PACKAGE / "stores" / "names.py":
        return
    literals = [node.value for node in ast.walk(ast.parse(path.read_text()))
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and TAG_LIKE.match(node.value)]
    assert not literals, f"{path}: use glasstune.stores.names for {literals}"


def test_the_top_level_holds_few_modules_beside_the_packages():
    modules = sorted(path.stem for path in PACKAGE.glob("*.py"))
    assert set(modules) <= GROUND, modules
    packages = sorted(path.name for path in PACKAGE.iterdir() if (path / "__init__.py").exists())
    assert packages == sorted(LAYERS)
