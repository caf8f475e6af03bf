"""The test suite's own layout: test modules share helpers through tests/support/ only, never each other."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = next(p for p in Path(__file__).resolve().parents if p.name == "tests")
SUPPORT = "tests.support"


def _module_of(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level == 0:
        base = node.module or ""
    else:  # relative: resolved against the importing module's package
        package = module.split(".") if is_package else module.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, *([node.module] if node.module else [])])
    # A name imported from a module may be a submodule (`from tests.features import test_b`): keep it.
    return [f"{base}.{alias.name}" for alias in node.names]


def cross_imports(root: Path) -> list[str]:
    """Every `importer -> imported` where a module under `root` imports a module of the test suite other
    than tests.support (or the package `tests` itself)."""
    found: list[str] = []
    for path in sorted(root.rglob("*.py")):
        module = _module_of(path, root)
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for name in _imported(node, module, path.name == "__init__.py"):
                inside = name == "tests" or name.startswith("tests.")
                allowed = name == SUPPORT or name.startswith(SUPPORT + ".")
                if inside and not allowed:
                    found.append(f"{module} -> {name}")
    return found


def test_test_modules_import_only_tests_support() -> None:
    assert sorted(TESTS.rglob("test_*.py")) and (TESTS / "support").is_dir()
    assert cross_imports(TESTS) == []


def test_a_test_module_importing_another_is_found(tmp_path: Path) -> None:
    root = tmp_path / "tests"
    (root / "support").mkdir(parents=True)
    (root / "features").mkdir()
    (root / "support" / "rp.py").write_text("from tests.support.harness import BASE\n")
    (root / "features" / "conftest.py").write_text("from tests.conftest import IN_CI\n")
    (root / "features" / "test_a.py").write_text(
        "import tests.features.test_b\nfrom tests.features import test_c\nfrom . import test_d\n"
        "from .test_e import helper\nfrom tests.support import rp\n\ndef f():\n    from tests.unit.test_x import y\n"
    )
    assert cross_imports(root) == [
        "tests.features.conftest -> tests.conftest.IN_CI",
        "tests.features.test_a -> tests.features.test_b",
        "tests.features.test_a -> tests.features.test_c",
        "tests.features.test_a -> tests.features.test_d",
        "tests.features.test_a -> tests.features.test_e.helper",
        "tests.features.test_a -> tests.unit.test_x.y",
    ]
