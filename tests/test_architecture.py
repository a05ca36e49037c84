"""The dependency rule of docs/architecture.md over the real import graph (grimp, import-linter's library).

import-linter checks the contracts in pyproject.toml; these tests cover what a contract cannot say on
its own: every core module found on disk (a new one is covered without being listed), no import
cycles at all (imports inside functions count; `if TYPE_CHECKING:` ones do not), and that the
contracts' lists of features and core modules are the real ones."""

from __future__ import annotations

import functools
import itertools
import tomllib
from collections import deque
from collections.abc import Iterable
from pathlib import Path

import grimp

from bot.features import FEATURES

ROOT = Path(__file__).resolve().parent.parent

PACKAGES = ("bot", "content", "handlers", "broadcasts")
COMPOSITION_ROOT = ("bot.app", "bot.cli", "bot.__main__")
# What only the composition root, handlers and features may import: never the core.
UPPER_LAYERS = ("handlers", "broadcasts")


@functools.cache
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, exclude_type_checking_imports=True, cache_dir=None)


def _within(module: str, packages: Iterable[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def core_modules() -> list[str]:
    """Every module of bot that is neither a feature (bot/features.py) nor the composition root."""
    outside = (*FEATURES, *COMPOSITION_ROOT)
    return sorted(m for m in graph().modules if _within(m, ("bot",)) and not _within(m, outside))


def _line(g: grimp.ImportGraph, importer: str, imported: str) -> str:
    details = g.get_import_details(importer=importer, imported=imported)
    return ", ".join(f"l.{d['line_number']}" for d in details) or "?"


def test_the_core_names_no_feature_handler_or_broadcast() -> None:
    forbidden = (*FEATURES, *UPPER_LAYERS)
    violations = [
        f"{module} -> {imported} ({_line(graph(), module, imported)})"
        for module in core_modules()
        for imported in sorted(graph().find_modules_directly_imported_by(module))
        if _within(imported, forbidden)
    ]
    assert not violations, (
        "the core imports a feature, handlers or broadcasts (reach them through bot/extend.py: "
        "events, menu entries, cards, periodic work):\n  " + "\n  ".join(violations))


def _strongly_connected(g: grimp.ImportGraph, modules: Iterable[str]) -> list[list[str]]:
    """Tarjan's algorithm, iteratively: the groups of modules that import each other (size > 1, or one
    module importing itself)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for start in sorted(modules):
        if start in index:
            continue
        work = [(start, iter(sorted(g.find_modules_directly_imported_by(start))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(g.find_modules_directly_imported_by(child)))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1 or g.direct_import_exists(importer=node, imported=node):
                        groups.append(sorted(group))
    return sorted(groups)


def _shortest_cycle(g: grimp.ImportGraph, start: str, group: set[str]) -> list[str]:
    """The shortest import path from `start` back to itself inside its group (breadth first)."""
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for child in sorted(g.find_modules_directly_imported_by(node) & group):
            if child == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [start, *reversed(path[:-1]), start]
            if child not in came_from:
                came_from[child] = node
                queue.append(child)
    raise AssertionError(f"{start} is in no cycle")


def cycles_report(g: grimp.ImportGraph, modules: Iterable[str]) -> list[str]:
    """Each group of modules that import each other, and one shortest cycle through each member, as
    `a (l.N) -> b (l.M) -> a`; empty when there are no cycles."""
    report: list[str] = []
    for group in _strongly_connected(g, modules):
        members = set(group)
        report.append(f"{len(group)} modules import each other: {', '.join(group)}" if len(group) > 1
                      else f"{group[0]} imports itself")
        seen: set[frozenset[str]] = set()
        for module in group:
            cycle = _shortest_cycle(g, module, members)
            if frozenset(cycle) not in seen:
                seen.add(frozenset(cycle))
                steps = (f"{a} ({_line(g, a, b)})" for a, b in itertools.pairwise(cycle))
                report.append("    " + " -> ".join(steps) + f" -> {cycle[-1]}")
    return report


def test_no_import_cycles() -> None:
    report = cycles_report(graph(), [m for m in graph().modules if _within(m, PACKAGES)])
    assert not report, "import cycles (imports inside functions count):\n" + "\n".join(report)


def test_the_cycle_finder_finds_and_describes_cycles() -> None:
    """The check above passes on a clean tree, so the finder is tested on a made-up graph."""
    g = grimp.ImportGraph()
    for importer, imported in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d"), ("d", "d"), ("e", "a")]:
        g.add_import(importer=importer, imported=imported, line_number=1, line_contents="import x")
    assert cycles_report(g, g.modules) == [
        "3 modules import each other: a, b, c",
        "    a (l.1) -> b (l.1) -> c (l.1) -> a",
        "d imports itself",
        "    d (l.1) -> d",
    ]
    g.remove_import(importer="c", imported="a")
    g.remove_import(importer="d", imported="d")
    assert cycles_report(g, g.modules) == []


def _contracts() -> dict[str, dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return {c["id"]: c for c in config["tool"]["importlinter"]["contracts"]}


def _names(layer: str) -> set[str]:
    return {name.strip().strip("()") for name in layer.replace("|", ":").split(":")}


def test_the_contracts_name_the_real_features_and_core() -> None:
    features = {name for name in FEATURES if name.startswith("bot.")}
    independence = _contracts()["features-independent"]["modules"]
    assert isinstance(independence, list)
    assert set(independence) == features, "pyproject.toml: features-independent must list bot/features.py's packages"
    layers = _contracts()["layers"]["layers"]
    assert isinstance(layers, list)
    assert features <= _names(layers[2]), "pyproject.toml: the features' layer must list bot/features.py's packages"
    top = {".".join(m.split(".")[:2]) for m in core_modules() if m != "bot"}
    listed = _names(layers[4])
    assert listed == top, (
        f"pyproject.toml: the core layer must list every core module; add {sorted(top - listed)}, "
        f"drop {sorted(listed - top)}")
