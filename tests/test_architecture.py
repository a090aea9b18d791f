"""The package rules of DESIGN.md ("Who owns what"), checked by parsing every module's imports."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = ("api", "bot", "blocks", "storage", "scheduler")

# DESIGN.md's table: which of our packages each package may import.
MAY_IMPORT = {
    "storage": set(),
    "blocks": {"storage"},
    "scheduler": {"storage"},
    "bot": {"storage", "blocks"},
    "api": {"storage", "blocks", "scheduler", "bot"},
}

# Module-level calls that would open a connection (or a client that does) at import time.
CONNECTING_CALLS = {
    "create_async_engine",
    "create_engine",
    "Database",
    "AsyncApp",
    "App",
    "AsyncWebClient",
    "WebClient",
    "AsyncClient",
    "AsyncIOScheduler",
}


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_modules(path: Path) -> set[str]:
    """Every module a file imports, anywhere in it (functions and TYPE_CHECKING included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this file's package
                base = package[: len(package) - node.level + 1]
                found.add(".".join([*base, *([node.module] if node.module else [])]))
            elif node.module:
                found.add(node.module)
    return found


def _our_packages(path: Path) -> set[str]:
    return {name.split(".")[0] for name in _imported_modules(path)} & set(OURS)


@pytest.mark.parametrize("package", OURS)
def test_every_package_has_modules_to_check(package: str) -> None:
    assert _modules(package), f"{package}/ has no Python files: is the layout still as designed?"


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_packages_import_only_what_design_allows(package: str) -> None:
    allowed = MAY_IMPORT[package] | {package}
    breaches = {
        str(path.relative_to(ROOT)): sorted(_our_packages(path) - allowed)
        for path in _modules(package)
        if _our_packages(path) - allowed
    }
    assert breaches == {}, f"{package}/ may import only {sorted(allowed)} of ours: {breaches}"


# The command line and the demo are at the edge: they import the product, and nothing in
# the product imports them (the tests may).
EDGES = ("api.cli", "api.demo")


def test_nothing_in_the_product_imports_the_cli_or_the_demo() -> None:
    breaches = {}
    for package in OURS:
        for path in _modules(package):
            module = _module_name(path)
            if module.startswith(EDGES):
                continue
            found = sorted(n for n in _imported_modules(path) if n.startswith(EDGES))
            if found:
                breaches[str(path.relative_to(ROOT))] = found
    assert breaches == {}, f"only tests may import {EDGES}: {breaches}"


# The database libraries: storage is the only package that speaks SQL (DESIGN.md).
DATABASE_LIBRARIES = ("sqlalchemy", "sqlmodel", "alembic", "asyncpg", "aiosqlite")


def test_only_storage_speaks_sql() -> None:
    breaches = {}
    for package in sorted(set(OURS) - {"storage"}):
        for path in _modules(package):
            found = sorted(
                name for name in _imported_modules(path) if name.split(".")[0] in DATABASE_LIBRARIES
            )
            if found:
                breaches[str(path.relative_to(ROOT))] = found
    assert breaches == {}, f"only storage/ may import {DATABASE_LIBRARIES}: {breaches}"


def test_api_is_laid_out_by_part() -> None:
    parts = {p.name for p in (ROOT / "api").iterdir() if (p / "__init__.py").exists()}
    assert parts == {"cli", "demo", "http", "relay"}


def test_blocks_uses_only_storage_model_types() -> None:
    allowed = {"storage", "storage.models", "storage.types"}
    breaches = {
        str(path.relative_to(ROOT)): sorted(
            name
            for name in _imported_modules(path)
            if name.split(".")[0] == "storage" and name not in allowed
        )
        for path in _modules("blocks")
    }
    breaches = {file: names for file, names in breaches.items() if names}
    assert breaches == {}, f"blocks/ may use storage's model types only: {breaches}"


def test_the_import_parser_sees_what_it_should() -> None:
    # Guards the rule above against a parser that silently finds nothing.
    assert "storage" in _our_packages(ROOT / "api" / "cli" / "commands.py")
    assert "storage.database" in _imported_modules(ROOT / "storage" / "machine.py")


class _ImportTimeCalls(ast.NodeVisitor):
    """Names of calls that run when the module is imported (function bodies are skipped;
    decorators, default values and class bodies are not)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
        self.calls.append((name, node.lineno))
        self.generic_visit(node)

    def _visit_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for item in (*node.decorator_list, node.args, node.returns):
            if item is not None:
                self.visit(item)

    visit_FunctionDef = _visit_function
    visit_AsyncFunctionDef = _visit_function

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self.visit(node.args)


@pytest.mark.parametrize("package", OURS)
def test_no_module_connects_at_import_time(package: str) -> None:
    found = []
    for path in _modules(package):
        visitor = _ImportTimeCalls()
        visitor.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        found += [
            f"{path.relative_to(ROOT)}:{line} {name}()"
            for name, line in visitor.calls
            if name in CONNECTING_CALLS
        ]
    assert found == [], "module-level objects that connect (build them in a factory): " + ", ".join(
        found
    )


def test_the_import_time_check_catches_a_module_level_engine() -> None:
    source = (
        "from storage.database import Database\n"
        "db = Database('sqlite:///x.db')\n"
        "def later():\n    return Database('sqlite:///y.db')\n"
    )
    visitor = _ImportTimeCalls()
    visitor.visit(ast.parse(source))
    assert [name for name, _ in visitor.calls] == ["Database"]
