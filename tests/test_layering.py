"""Layering of the `character` package, checked statically over every module's imports.

The graph counts every import a module can execute: top-level imports and imports inside
functions alike. A function-level import only defers the cost (torch, a backend); it is still a
dependency, and the cycles this check exists for (`models.registry` -> `backends.tinker_backend`
-> `tinker.tokenizer` -> `models.registry`) were all function-level. Not counted: imports under
`if TYPE_CHECKING:` (never executed) and under `if __name__ == "__main__":` (run only when the
file is a script, where the module is `__main__`, not the library module).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    where: str  # path:line of the import


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _skipped_block(node: ast.AST) -> bool:
    if not isinstance(node, ast.If):
        return False
    test = node.test
    if isinstance(test, ast.Name) and test.id == "TYPE_CHECKING":
        return True
    if isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING":
        return True
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in test.comparators)
    )


def import_graph(root: Path, package: str) -> dict[str, list[Edge]]:
    """Module -> its imports of other modules of `package` (under `root`)."""
    files = {_module_name(root, p): p for p in sorted((root / package).rglob("*.py"))}

    def owner(name: str) -> str | None:
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, list[Edge]] = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        edges: list[Edge] = []
        stack: list[ast.AST] = [tree]
        while stack:
            node = stack.pop()
            for child in ast.iter_child_nodes(node):
                if _skipped_block(child):
                    stack.extend(child.orelse)  # the else branch does run
                    continue
                stack.append(child)
                targets: list[str] = []
                if isinstance(child, ast.Import):
                    targets = [a.name for a in child.names]
                elif isinstance(child, ast.ImportFrom):
                    if child.level:
                        base = module.split(".") if is_package else module.split(".")[:-1]
                        base = base[: len(base) - child.level + 1]
                        mod = ".".join([*base, *([child.module] if child.module else [])])
                    else:
                        mod = child.module or ""
                    # `from pkg import sub` imports the submodule when there is one
                    targets = [
                        f"{mod}.{a.name}" if f"{mod}.{a.name}" in files else mod
                        for a in child.names
                    ]
                for target in targets:
                    if target.split(".")[0] != package:
                        continue
                    resolved = owner(target)
                    if resolved and resolved != module:
                        rel = path.relative_to(root)
                        edges.append(Edge(module, resolved, f"{rel}:{child.lineno}"))
        graph[module] = sorted(set(edges), key=lambda e: (e.where, e.target))
    return graph


def cycles(graph: dict[str, list[Edge]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(graph[start]))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            advanced = False
            for edge in edges:
                nxt = edge.target
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(graph.get(nxt, []))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
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
    return found


def _describe(graph: dict[str, list[Edge]], component: list[str]) -> str:
    inside = set(component)
    lines = [
        f"  {e.source} -> {e.target} ({e.where})"
        for m in component
        for e in graph[m]
        if e.target in inside
    ]
    return "cycle between " + ", ".join(component) + ":\n" + "\n".join(lines)


def test_character_has_no_import_cycles() -> None:
    graph = import_graph(REPO, "character")
    assert len(graph) > 100  # the whole package was read
    found = cycles(graph)
    assert not found, "\n".join(_describe(graph, c) for c in found)


def _is_cli(module: str) -> bool:
    last = module.rsplit(".", 1)[-1]
    return last in ("cli", "__main__") or last.endswith("_cli")


# (importer prefix, imported prefix, why): dependencies that point the wrong way.
FORBIDDEN = [
    (
        "character.distillation",
        "character.sources",
        "the recipe's stages sit below the extra sources (shared parts go in a lower module)",
    ),
    (
        "character.introspection",
        "character.sources",
        "the recipe's stages sit below the extra sources (shared parts go in a lower module)",
    ),
    (
        "character.backends",
        "character.models.registry",
        "the registry builds backends; a backend importing it closes a cycle",
    ),
    (
        "character.tinker",
        "character.models.registry",
        "the registry builds the Tinker backend on top of these helpers",
    ),
]


def _wrong_way(graph: dict[str, list[Edge]]) -> list[str]:
    problems = []
    for module, edges in graph.items():
        for e in edges:
            if _is_cli(e.target) and not _is_cli(module) and module != "character.cli_support":
                problems.append(f"{e.where}: library module {module} imports CLI {e.target}")
            for low, high, why in FORBIDDEN:
                if (module == low or module.startswith(low + ".")) and (
                    e.target == high or e.target.startswith(high + ".")
                ):
                    problems.append(f"{e.where}: {module} imports {e.target} ({why})")
    return problems


def test_dependencies_point_down() -> None:
    problems = _wrong_way(import_graph(REPO, "character"))
    assert not problems, "\n".join(problems)


def test_the_checks_find_what_they_look_for(tmp_path: Path) -> None:
    """A package with a function-level cycle, a wrong-way import and imports that must not
    count (TYPE_CHECKING, script entry): the checks report exactly the first two."""
    pkg = tmp_path / "character"
    (pkg / "models").mkdir(parents=True)
    (pkg / "backends").mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "models" / "__init__.py").write_text("")
    (pkg / "backends" / "__init__.py").write_text("")
    (pkg / "models" / "registry.py").write_text(
        "def build():\n    from character.backends import remote\n    return remote\n"
    )
    (pkg / "backends" / "remote.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from character import cli\n"
        "def aliases():\n    from ..models.registry import build\n    return build\n"
    )
    (pkg / "cli.py").write_text("from character.models import registry\n")
    (pkg / "tool.py").write_text(
        "import character.models.registry\n"
        "if __name__ == '__main__':\n    from character.cli import app\n"
    )
    graph = import_graph(tmp_path, "character")
    assert cycles(graph) == [["character.backends.remote", "character.models.registry"]]
    assert "remote.py:5" in _describe(graph, cycles(graph)[0])
    problems = _wrong_way(graph)
    assert len(problems) == 1 and "character.backends.remote imports" in problems[0]
    assert not any(e.target == "character.cli" for e in graph["character.tool"])


def test_only_the_cli_demo_imports_the_test_doubles() -> None:
    """`character.testing` holds stand-ins of remote services (synthetic results); the product
    path must never reach them. Only a CLI command (the offline demo) may import them."""
    graph = import_graph(REPO, "character")
    assert "character.testing.tinker_standin" in graph
    problems = [
        f"{e.where}: {module} imports the test double {e.target}"
        for module, edges in graph.items()
        if not module.startswith("character.testing") and not _is_cli(module)
        for e in edges
        if e.target.startswith("character.testing")
    ]
    assert not problems, "\n".join(problems)
