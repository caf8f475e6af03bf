"""The direction of dependencies (DESIGN.md): inner layers never import frameworks or drivers, and no
lukhas_id modules import each other in a circle."""

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


def _module_name(path: Path, root: Path = SRC) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _module_level(body: list[ast.stmt]) -> list[ast.stmt]:
    """The statements run when the module is imported: into `if` and `try` blocks, not into functions or
    classes, and not into `if TYPE_CHECKING:` (never run)."""
    found: list[ast.stmt] = []
    for node in body:
        if isinstance(node, ast.If):
            if not _type_checking(node.test):
                found += _module_level(node.body)
            found += _module_level(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                found += _module_level(block)
        else:
            found.append(node)
    return found


def _project_imports(path: Path, root: Path, modules: set[str]) -> set[str]:
    """The project modules `path` imports at module level; `from package import name` counts as an
    import of the submodule `package.name` when there is one, else of the package."""
    name = _module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _module_level(ast.parse(path.read_text(), str(path)).body):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join([*parts[: len(parts) - node.level + 1], *([node.module] if node.module else [])])
            for alias in node.names:
                if f"{base}.{alias.name}" in modules:
                    found.add(f"{base}.{alias.name}")
                elif base in modules:
                    found.add(base)
    found.discard(name)
    return found


def _import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the project modules it imports at module level, for the package at `root`."""
    files = sorted(root.rglob("*.py"))
    modules = {_module_name(path, root) for path in files}
    return {_module_name(path, root): _project_imports(path, root, modules) for path in files}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of `graph` (modules each importing the next, the last importing the first), or None."""
    done: set[str] = set()
    for start in sorted(graph):
        if start in done:
            continue
        path = [start]
        stack = [sorted(graph[start])]
        while stack:
            if not stack[-1]:
                stack.pop()
                done.add(path.pop())
                continue
            following = stack[-1].pop()
            if following in path:
                return path[path.index(following) :]
            if following not in done:
                path.append(following)
                stack.append(sorted(graph[following]))
    return None


def test_the_import_walk_and_the_cycle_finder(tmp_path: Path) -> None:
    root = tmp_path / "pkg"
    (root / "sub").mkdir(parents=True)
    files = {
        "__init__.py": "from pkg.sub import b\n",
        "a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import c\n"
        "def later() -> None:\n    import pkg.c\n",
        "c.py": "import pkg.a\n",
        "sub/__init__.py": "",
        "sub/b.py": "from .. import a\ntry:\n    from ..c import x\nexcept ImportError:\n    pass\n",
    }
    for name, text in files.items():
        (root / name).write_text(text)
    graph = _import_graph(root)
    assert graph == {
        "pkg": {"pkg.sub.b"},
        "pkg.a": set(),
        "pkg.c": {"pkg.a"},
        "pkg.sub": set(),
        "pkg.sub.b": {"pkg.a", "pkg.c"},
    }
    assert _cycle(graph) is None
    (root / "a.py").write_text("from pkg.sub import b\n")  # a -> b -> c -> a
    cycle = _cycle(_import_graph(root))
    assert cycle is not None and sorted(cycle) == ["pkg.a", "pkg.c", "pkg.sub.b"]


def test_no_module_imports_a_module_that_imports_it_back() -> None:
    """No import cycle among lukhas_id modules, at module level (imports inside functions run later, and
    under `if TYPE_CHECKING:` never)."""
    cycle = _cycle(_import_graph(SRC))
    assert cycle is None, "import cycle: " + " -> ".join([*cycle, cycle[0]])


ROUTES = "lukhas_id.web.routes"


def _route_imports(path: Path, root: Path = SRC) -> set[str]:
    """The route modules (`lukhas_id.web.routes.X`) that `path` imports, anywhere in it (inside functions
    too), absolutely or relatively; its own name excluded."""
    name = _module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    imported: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            imported += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join([*parts[: len(parts) - node.level + 1], *([node.module] if node.module else [])])
            imported += [base, *(f"{base}.{alias.name}" for alias in node.names)]
    depth = ROUTES.count(".") + 2
    found = {".".join(i.split(".")[:depth]) for i in imported if i.startswith(ROUTES + ".")}
    found.discard(name)
    return found


def test_the_route_import_walk(tmp_path: Path) -> None:
    routes = tmp_path / "lukhas_id" / "web" / "routes"
    routes.mkdir(parents=True)
    cases = {
        "a.py": "from lukhas_id.web.routes.login import x\n",
        "b.py": "from lukhas_id.web.routes import login, logout\n",
        "c.py": "from . import login\n",
        "d.py": "def later() -> None:\n    import lukhas_id.web.routes.login.deep\n",
        "e.py": "from .login import x\nfrom lukhas_id.web import forms\nfrom lukhas_id.web.routes import e\n",
        "f.py": "from lukhas_id.web.session_cookies import current_session\n",
    }
    for name, text in cases.items():
        (routes / name).write_text(text)
    found = {name: _route_imports(routes / name, tmp_path / "lukhas_id") for name in cases}
    login, logout = f"{ROUTES}.login", f"{ROUTES}.logout"
    assert found == {
        "a.py": {login},
        "b.py": {login, logout},
        "c.py": {login},
        "d.py": {login},
        "e.py": {login},
        "f.py": set(),
    }


def test_no_route_module_imports_another() -> None:
    """Routes share helpers through web/ modules (forms, csrf, pages, session_cookies, step_up), never
    through each other."""
    paths = sorted((SRC / "web" / "routes").glob("*.py"))
    assert len(paths) > 5
    for path in paths:
        if path.name == "__init__.py":
            continue
        assert not _route_imports(path), f"web/routes/{path.name} imports {sorted(_route_imports(path))}"


# The web layer's composition: the only web modules that see the application state and the Container.
COMPOSITION = {"app.py", "endpoints.py", "state.py"}
COMPOSITION_MODULES = ("lukhas_id.web.state", "lukhas_id.bootstrap")
COMPOSITION_NAMES = frozenset({"AppState", "Container"})


def _annotation_nodes(tree: ast.AST) -> list[ast.AST]:
    """The expressions of string annotations ("AppState"), which ast.parse leaves as constants."""
    annotations: list[ast.expr | None] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.arg | ast.AnnAssign):
            annotations.append(node.annotation)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            annotations.append(node.returns)
    found: list[ast.AST] = []
    for annotation in annotations:
        for sub in ast.walk(annotation) if annotation is not None else ():
            if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                found.append(ast.parse(sub.value, mode="eval"))
    return found


def _composition_uses(path: Path, root: Path = SRC) -> set[str]:
    """What of the composition `path` reaches: imports of web/state.py or bootstrap.py (anywhere in it,
    absolutely or relatively) and the names AppState and Container (imported, used or annotated)."""
    name = _module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    for top in [tree, *_annotation_nodes(tree)]:
        for node in ast.walk(top):
            imported: list[str] = []
            if isinstance(node, ast.Import):
                imported = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    base = ".".join([*parts[: len(parts) - node.level + 1], *([node.module] if node.module else [])])
                imported = [base, *(f"{base}.{alias.name}" for alias in node.names)]
                found.update(alias.name for alias in node.names if alias.name in COMPOSITION_NAMES)
            elif isinstance(node, ast.Name) and node.id in COMPOSITION_NAMES:
                found.add(node.id)
            elif isinstance(node, ast.Attribute) and node.attr in COMPOSITION_NAMES:
                found.add(node.attr)
            found.update(m for m in COMPOSITION_MODULES for i in imported if i == m or i.startswith(m + "."))
    return found


def test_the_composition_walk(tmp_path: Path) -> None:
    web = tmp_path / "lukhas_id" / "web"
    (web / "routes").mkdir(parents=True)
    cases = {
        "routes/a.py": "from lukhas_id.web.state import AppState\n",
        "routes/b.py": "from ..state import x\n",
        "routes/c.py": "from .. import state\n",
        "routes/d.py": "def later() -> None:\n    import lukhas_id.bootstrap\n",
        "routes/e.py": "from typing import Any\ndef f(c: 'Container') -> Any: ...\n",
        "routes/f.py": "import lukhas_id\ndef f(x: lukhas_id.web.state.AppState) -> None: ...\n",
        "routes/g.py": "from lukhas_id.web.providers import Provider\n'''The Container, in prose.'''\n",
        "page.py": "import typing\nif typing.TYPE_CHECKING:\n    from lukhas_id.bootstrap import Container\n",
    }
    for name, text in cases.items():
        (web / name).write_text(text)
    found = {name: _composition_uses(web / name, tmp_path / "lukhas_id") for name in cases}
    state, bootstrap = COMPOSITION_MODULES
    assert found == {
        "routes/a.py": {state, "AppState"},
        "routes/b.py": {state},
        "routes/c.py": {state},
        "routes/d.py": {bootstrap},
        "routes/e.py": {"Container"},
        "routes/f.py": {"AppState"},
        "routes/g.py": set(),
        "page.py": {bootstrap, "Container"},
    }


def test_routes_and_the_page_toolkit_see_no_application_state() -> None:
    """Route factories and the page toolkit take providers of the services they use and settings values
    (web/providers.py); only the web layer's composition (app.py, endpoints.py, state.py) sees the
    application state and the Container."""
    web = SRC / "web"
    paths = sorted(web.glob("*.py")) + sorted((web / "routes").glob("*.py"))
    checked = [p for p in paths if p.parent != web or p.name not in COMPOSITION]
    assert len(checked) > 20 and {"page_kit.py", "step_up.py", "login.py"} <= {p.name for p in checked}
    for path in checked:
        uses = _composition_uses(path)
        assert not uses, f"{path.relative_to(SRC)} reaches the composition: {sorted(uses)}"
    assert _composition_uses(web / "endpoints.py") == {"lukhas_id.web.state", "AppState"}
