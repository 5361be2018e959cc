"""House style: no function in the library is longer than 60 lines, so each reads in one screen."""

from __future__ import annotations

import ast
from pathlib import Path

LIBRARY = Path(__file__).resolve().parents[2] / "src" / "sdprune"
MAX_LINES = 60


def function_lengths(source: str) -> list[tuple[str, int, int]]:
    """(qualified name, first line, length) of every function and method; decorators are not counted
    (``lineno`` of a decorated def is the ``def`` line itself)."""
    found: list[tuple[str, int, int]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{prefix}{child.name}"
                found.append((name, child.lineno, child.end_lineno - child.lineno + 1))
                visit(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(ast.parse(source), "")
    return found


def long_functions(root: Path = LIBRARY, limit: int = MAX_LINES) -> list[str]:
    offenders = []
    for path in sorted(root.rglob("*.py")):
        for name, line, length in function_lengths(path.read_text()):
            if length > limit:
                offenders.append(f"{path.relative_to(root.parent)}:{line} {name} ({length} lines)")
    return offenders


def test_counts_a_function_from_def_to_last_line_without_decorators():
    source = "@decorator\n@another(1)\ndef f():\n    a = 1\n\n    return a\n\nclass C:\n    def m(self):\n        pass\n"
    assert function_lengths(source) == [("f", 3, 4), ("C.m", 9, 2)]


def test_finds_a_function_one_line_over_the_limit(tmp_path):
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_LINES))  # def line + MAX_LINES lines
    (tmp_path / "long.py").write_text(f"def too_long():\n{body}")
    (tmp_path / "short.py").write_text("def fine():\n    return 1\n")
    assert long_functions(tmp_path) == [f"{tmp_path.name}/long.py:1 too_long ({MAX_LINES + 1} lines)"]


def test_no_library_function_is_longer_than_the_limit():
    offenders = long_functions()
    assert not offenders, f"functions longer than {MAX_LINES} lines:\n" + "\n".join(offenders)
