"""The library's layers, checked on the source: an import only ever points down.

foundation (io, log, seeding, download)  imports only foundation
scenes (the toy world and its judge)     foundation
models                                   scenes + foundation (the toy model trains on the scene world)
pruning                                  models + foundation
evaluation                               models + scenes + foundation
reporting                                anything but the workflow glue (workflow, cli, rehearsal)
No library layer imports snakemake. Function-level (lazy) imports count, and so does
`importlib.import_module` with a literal (or f-string-prefixed) module name.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LIBRARY = Path(__file__).resolve().parents[2] / "src" / "sdprune"
FOUNDATION = {"io", "log", "seeding", "download"}
ALLOWED = {  # layer -> the sdprune layers its modules may import (itself included)
    "foundation": {"foundation"},
    "scenes": {"foundation", "scenes"},
    "models": {"foundation", "scenes", "models"},
    "pruning": {"foundation", "models", "pruning"},
    "evaluation": {"foundation", "scenes", "models", "evaluation"},
}
FORBIDDEN = {  # layer -> sdprune layers it must not import, for layers that are not bottom-up closed
    "reporting": {"workflow", "cli", "rehearsal"},
}
NO_SNAKEMAKE = {"foundation", "scenes", "models", "pruning", "evaluation", "reporting"}


def layer_of(module: str) -> str:
    """'sdprune.pruning.masks' -> 'pruning'; 'sdprune.io' -> 'foundation'; 'sdprune' -> 'sdprune'."""
    parts = module.split(".")
    if len(parts) == 1:
        return "sdprune"
    return "foundation" if parts[1] in FOUNDATION else parts[1]


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """The modules a `from ... import ...` reaches, relative imports resolved against ``module``."""
    base = node.module or ""
    if node.level:
        anchor = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
        base = ".".join(anchor + ([base] if base else []))
    # `from sdprune import io` reaches sdprune.io; `from sdprune.io import x` reaches sdprune.io.
    if base == "sdprune":
        return [f"sdprune.{alias.name}" for alias in node.names]
    return [base]


def _dynamic_target(node: ast.Call) -> str | None:
    """The literal module name (or its literal f-string prefix) given to importlib.import_module."""
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if name != "import_module" or not node.args:
        return None
    arg = node.args[0]
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    if isinstance(arg, ast.JoinedStr) and arg.values and isinstance(arg.values[0], ast.Constant):
        return str(arg.values[0].value).rstrip(".")
    return None


def imports_of(source: str, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, imported module) for every import in the source, at any depth."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found += [(node.lineno, target) for target in _absolute(node, module, is_package)]
        elif isinstance(node, ast.Call) and (target := _dynamic_target(node)):
            found.append((node.lineno, target))
    return sorted(found)


def violations(source: str, module: str, where: str, is_package: bool = False) -> list[str]:
    """Every import in ``source`` (module ``module``) that its layer may not make, as 'file:line imports x'."""
    layer = layer_of(module)
    problems = []
    for line, target in imports_of(source, module, is_package):
        top = target.split(".")[0]
        if top == "snakemake" and layer in NO_SNAKEMAKE:
            problems.append(f"{where}:{line} ({layer}) imports {target}")
        if top != "sdprune":
            continue
        reached = layer_of(target)
        if layer in ALLOWED and reached not in ALLOWED[layer]:
            problems.append(f"{where}:{line} ({layer}) imports {target} ({reached})")
        elif reached in FORBIDDEN.get(layer, ()):
            problems.append(f"{where}:{line} ({layer}) imports {target} ({reached})")
    return problems


def library_violations(root: Path = LIBRARY) -> list[str]:
    problems = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root.parent)
        is_package = path.name == "__init__.py"
        parts = relative.with_suffix("").parts
        module = ".".join(parts[:-1] if is_package else parts)
        problems += violations(path.read_text(), module, str(relative), is_package)
    return problems


@pytest.mark.parametrize(("module", "source", "expected"), [
    ("sdprune.io", "def f():\n    from sdprune.models import build\n",
     "sdprune/io.py:2 (foundation) imports sdprune.models (models)"),
    ("sdprune.models.build", "import sdprune.pruning.masks\n",
     "sdprune/models/build.py:1 (models) imports sdprune.pruning.masks (pruning)"),
    ("sdprune.pruning.prune", "from sdprune import evaluation\n",
     "sdprune/pruning/prune.py:1 (pruning) imports sdprune.evaluation (evaluation)"),
    ("sdprune.evaluation.generation", "from ..workflow import jobs\n",
     "sdprune/evaluation/generation.py:1 (evaluation) imports sdprune.workflow (workflow)"),
    ("sdprune.pruning.masks", "import importlib\nm = importlib.import_module(f'sdprune.reporting.{x}')\n",
     "sdprune/pruning/masks.py:2 (pruning) imports sdprune.reporting (reporting)"),
    ("sdprune.reporting.tables", "if True:\n    from sdprune.workflow.jobs import snakemake_job\n",
     "sdprune/reporting/tables.py:2 (reporting) imports sdprune.workflow.jobs (workflow)"),
    ("sdprune.scenes.world", "def f():\n    import snakemake\n",
     "sdprune/scenes/world.py:2 (scenes) imports snakemake"),
    ("sdprune.scenes.judge", "from sdprune.models.build import build_pipeline\n",
     "sdprune/scenes/judge.py:1 (scenes) imports sdprune.models.build (models)"),
])
def test_the_checker_names_file_line_and_import_of_a_violation(module, source, expected):
    where = module.replace(".", "/") + ".py"
    assert violations(source, module, where) == [expected]


def test_the_checker_lets_allowed_imports_pass():
    source = ("import torch\nfrom sdprune.io import write_json\nfrom . import masks\n"
              "def f():\n    from sdprune.models.components import COMPONENTS\n")
    assert violations(source, "sdprune.pruning.prune", "sdprune/pruning/prune.py") == []
    assert violations("from sdprune.pruning.spec import PruneSpec\n", "sdprune.reporting.tables", "t.py") == []


def test_relative_imports_resolve_against_the_importing_package():
    assert imports_of("from . import masks\n", "sdprune.pruning", is_package=True) == [(1, "sdprune.pruning")]
    assert imports_of("from ..models import build\n", "sdprune.pruning.prune") == [(1, "sdprune.models")]


def test_every_library_module_imports_only_from_its_own_or_lower_layers():
    problems = library_violations()
    assert not problems, "imports across the layers:\n" + "\n".join(problems)
