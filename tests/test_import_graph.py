"""The product packages import each other in one direction only, and no module imports itself round a loop.

Every `import` statement counts, at module level or inside a function: a function-local import that dodges
a loop is still a loop.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "domain",
    "projections",
    "actors",
    "veo_protocol",
    "veo_client",
    "veo_mcp",
    "veo_simulator",
    "server",
    "veo_cli",
)

# What each package may import of the others (anything not listed is forbidden).
ALLOWED: dict[str, frozenset[str]] = {
    "domain": frozenset(),
    "projections": frozenset({"domain"}),
    "actors": frozenset({"domain"}),
    "veo_protocol": frozenset({"domain"}),
    "veo_client": frozenset({"domain", "veo_protocol"}),
    "veo_mcp": frozenset({"domain", "veo_protocol", "veo_client"}),
    "veo_simulator": frozenset(),
    "server": frozenset({"domain", "projections", "actors", "veo_protocol", "veo_simulator"}),
    "veo_cli": frozenset({"domain", "projections", "actors", "veo_protocol", "veo_client", "veo_simulator", "server"}),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, module: str) -> Iterator[str]:
    """The product modules `path` imports (`from a.b import c` names `a.b.c` when that is a module, else `a.b`)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        yield from (name for name in names if name.split(".")[0] in PACKAGES)


@functools.cache  # parsed once for the whole module's tests (they only read it)
def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = {target for target in imported(path, name) if target in modules and target != name}
        # importing a.b.c runs a/__init__ and a/b/__init__ first
        targets |= {parent for target in set(targets) for parent in _parents(target) if parent in modules}
        edges[name] = targets - {name} - set(_parents(name))
    return edges


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_every_product_package_is_checked() -> None:
    """A new top-level package must be given its place in ALLOWED before it can be imported."""
    on_disk = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "bench", "examples"}
    assert on_disk == set(PACKAGES)


def test_no_module_imports_itself_round_a_loop() -> None:
    """No import cycle among the product modules, counting imports inside functions."""
    assert cycles(graph()) == []


@pytest.mark.parametrize("package", PACKAGES)
def test_a_package_imports_only_the_packages_below_it(package: str) -> None:
    """domain imports none of the others, projections only domain, actors neither the read models nor the
    server, the client side neither the server nor the read models."""
    wrong = sorted(
        f"{source} imports {target}"
        for source, targets in graph().items()
        if source.split(".")[0] == package
        for target in targets
        if target.split(".")[0] != package and target.split(".")[0] not in ALLOWED[package]
    )
    assert wrong == []


def test_the_cycle_finder_finds_a_loop_through_three_modules() -> None:
    """The checker itself: a loop a -> b -> c -> a is reported, a chain is not."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []
