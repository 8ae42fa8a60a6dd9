"""The tests' own layout: what they share lives in tests.support; no test imports a conftest or
another test module, and only the root conftest registers plugins."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, dotted name) of every module, and every name from a module, that `path` imports."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            yield node.lineno, module
            yield from ((node.lineno, f"{module}.{alias.name}") for alias in node.names)


def where(path: Path, line: int, name: str) -> str:
    return f"{path.relative_to(TESTS.parent)}:{line}: {name}"


def test_no_test_file_imports_a_conftest_or_a_test_module():
    found = [
        where(path, line, name)
        for path in sorted(TESTS.rglob("*.py"))
        for line, name in imports(path)
        if any(part == "conftest" or part.startswith("test_") for part in name.split("."))
        and (name.startswith(("tests.", ".")) or name.split(".")[0] == "conftest")
    ]
    assert found == [], "import shared code from tests.support instead"


def test_only_the_root_conftest_registers_plugins():
    registering = [
        str(path.relative_to(TESTS))
        for path in sorted(TESTS.rglob("*.py"))
        if "pytest_plugins" in path.read_text() and path != Path(__file__)
    ]
    assert registering == ["conftest.py"]
