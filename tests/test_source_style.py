"""Checks on the source itself: f-strings hold no literal placeholder, library modules import no CLI framework,
and no two modules of the package import each other, directly or through others."""

import ast
import re
from pathlib import Path

from conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "src" / "neuroclip"
SOURCES = sorted(PACKAGE.rglob("*.py"))
PLACEHOLDER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_.]*(\[[^\]]*\])?(![rsa])?(:[^{}]*)?\}")


def test_no_f_string_part_holds_a_literal_placeholder():
    # "...{array.shape}..." next to f"..." parts reads like a value but prints the braces: the f prefix is missing
    found = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.JoinedStr):
                for part in node.values:
                    if isinstance(part, ast.Constant) and PLACEHOLDER.search(str(part.value)):
                        found.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno}: {part.value!r}")
    assert not found, found


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_library_modules_import_no_cli_framework():
    library = [path for path in SOURCES if "cli" not in path.relative_to(PACKAGE).parts]
    offenders = [str(path.relative_to(REPO_ROOT)) for path in library if {"typer", "click"} & _imports(path)]
    assert not offenders, offenders


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in SOURCES}


def _targets(module: str, path: Path, node) -> list[str]:
    """The package modules an import statement anywhere in ``module`` (function bodies included) loads:
    ``from a import b`` means module ``a.b`` when that is a module, else ``a``."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name in MODULES]
    if node.level:
        base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        base = base[:len(base) - node.level + 1]
        prefix = ".".join(base + ([node.module] if node.module else []))
    else:
        prefix = node.module or ""
    found = []
    for alias in node.names:
        full = f"{prefix}.{alias.name}"
        found.append(full if full in MODULES else prefix)
    return [target for target in found if target in MODULES and target != module]


def import_graph() -> dict[str, set[str]]:
    graph = {}
    for module, path in MODULES.items():
        nodes = ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        graph[module] = {target for node in nodes if isinstance(node, (ast.Import, ast.ImportFrom))
                         for target in _targets(module, path, node)}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of ``graph`` as the list of its modules (first repeated at the end), or []."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(module: str) -> list[str]:
        state[module] = "open"
        stack.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[module] = "done"
        stack.pop()
        return []

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)):
            return cycle
    return []


def test_find_cycle_sees_a_cycle_through_three_modules():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set(), "d": {"a", "c"}}) == []


def test_the_import_graph_reads_function_level_and_relative_imports():
    graph = import_graph()
    # clip/backbone.py loads open_clip lazily, and imports the package's devices module at the top
    assert "neuroclip.devices" in graph["neuroclip.clip.backbone"]
    # the CLI imports the library inside its commands only
    assert "neuroclip.recognize" in graph["neuroclip.cli.main"]


def test_no_import_cycle_between_the_package_modules():
    # function-level imports count: a cycle hidden inside a function is still a cycle
    assert find_cycle(import_graph()) == []
