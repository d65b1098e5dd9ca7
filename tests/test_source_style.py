"""Checks on the source itself: f-strings hold no literal placeholder, and library modules import no CLI
framework."""

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
