"""The direction of dependencies (DESIGN.md): inner layers never import frameworks or drivers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "lukhas_id"
FORBIDDEN = {"fastapi", "starlette", "sqlalchemy", "redis", "grpc", "httpx", "asyncpg", "aiosqlite", "granian", "typer"}
INNER = ["protocol", "jose", "domain", "ports"]
# Inner layers may not reach outward into these project packages either.
OUTER = {"lukhas_id.web", "lukhas_id.adapters", "lukhas_id.cli", "lukhas_id.bootstrap", "lukhas_id.services"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("layer", INNER)
def test_inner_layers_import_no_framework_or_outer_layer(layer: str) -> None:
    files = sorted((SRC / layer).rglob("*.py"))
    assert files
    for path in files:
        for name in _imports(path):
            top = name.split(".")[0]
            assert top not in FORBIDDEN, f"{path.relative_to(SRC)} imports {name}"
            outward = any(name == o or name.startswith(o + ".") for o in OUTER)
            assert not outward, f"{path.relative_to(SRC)} imports {name}"


def test_services_do_not_import_the_web_framework_or_drivers() -> None:
    for path in sorted((SRC / "services").rglob("*.py")):
        for name in _imports(path):
            assert name.split(".")[0] not in FORBIDDEN, f"{path.relative_to(SRC)} imports {name}"
            assert not name.startswith("lukhas_id.web"), f"{path.relative_to(SRC)} imports {name}"


def test_services_reach_adapters_only_through_ports() -> None:
    for path in sorted((SRC / "services").rglob("*.py")):
        for name in _imports(path):
            assert not name.startswith("lukhas_id.adapters"), f"{path.relative_to(SRC)} imports {name}"
