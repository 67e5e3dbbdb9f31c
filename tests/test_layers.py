"""The import layers of docs/architecture.md, checked on the source (an AST walk, nothing imported):
no module imports a higher layer, and no two modules or packages import each other in a circle.

Every import counts: module-level and inside functions alike. Imports under `if TYPE_CHECKING:`
count for the layers (a type from a higher layer is still knowledge of it) but not for circles
(they never run, and annotating with a sibling's type is what they are for).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "manimagent"
SOURCE = Path(__file__).resolve().parent.parent / "src" / PACKAGE

# Top to bottom. A unit is a top-level module or subpackage of manimagent ("__init__" is the
# package itself, for `__version__`). A unit may import its own layer (sideways) or any lower one.
LAYERS: list[tuple[str, set[str]]] = [
    ("edge", {"cli", "backends", "server", "client", "console", "console_cached", "__main__"}),
    ("services", {"services"}),
    ("pipeline", {"pipeline", "attempt"}),
    ("shared", {"context", "schemas"}),
    ("prompts", {"prompts"}),
    ("components", {"providers", "scriptcheck", "render", "store", "mail", "evals"}),
    ("foundation", {"settings", "paths", "keys", "errors", "events", "__init__"}),
]

# Being taken out on another branch; each entry must go once it is gone (a test says so).
# Imports left out of every check, as (importing module, imported module):
KNOWN_IMPORTS: set[tuple[str, str]] = set()
# Circles, each a set of modules a circle may stay inside:
KNOWN_CIRCLES: list[set[str]] = []


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported module of this package
    line: int
    type_only: bool  # under `if TYPE_CHECKING:`


def module_files(root: Path, package: str = PACKAGE) -> dict[str, Path]:
    """Every module of the package under `root`, by dotted name (a package by its own name)."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _type_only_nodes(tree: ast.Module) -> set[int]:
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            inside.update(id(child) for statement in node.body for child in ast.walk(statement))
    return inside


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The module of this package that `name` is or lives in (None: outside the package)."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def _named(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """The dotted names an import statement reaches, relative ones made absolute."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        parts = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
        base = ".".join([*parts, *([node.module] if node.module else [])])
    return [f"{base}.{alias.name}" for alias in node.names] + [base]


def imports_of(module: str, modules: dict[str, Path]) -> list[Import]:
    path = modules[module]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    type_only = _type_only_nodes(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        names = _named(node, module, path.name == "__init__.py")
        if isinstance(node, ast.ImportFrom):  # `from a import b`: the submodule a.b if there is one, else a
            targets = {name if name in modules else _resolve(names[-1], modules) for name in names[:-1]}
        else:
            targets = {_resolve(name, modules) for name in names}
        for target in sorted(target for target in targets if target not in (None, module)):
            found.append(Import(module, target, node.lineno, id(node) in type_only))
    return found


def unit_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def layer_index(unit: str) -> int | None:
    return next((index for index, (_, units) in enumerate(LAYERS) if unit in units), None)


def circles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


def all_imports(root: Path = SOURCE, known: set[tuple[str, str]] = KNOWN_IMPORTS) -> list[Import]:
    """Every import of the package under `root` but the `known` ones."""
    modules = module_files(root)
    found = [found for module in modules for found in imports_of(module, modules)]
    return [imp for imp in found if (imp.source, imp.target) not in known]


def unplaced_units(root: Path = SOURCE) -> list[str]:
    return sorted({unit_of(module) for module in module_files(root)} - set().union(*(u for _, u in LAYERS)))


def upward_imports(imports: list[Import]) -> list[str]:
    found = []
    for imp in imports:
        source, target = layer_index(unit_of(imp.source)), layer_index(unit_of(imp.target))
        if source is not None and target is not None and target < source:
            found.append(
                f"{imp.source} (line {imp.line}) imports {imp.target}: layer {LAYERS[target][0]!r}"
                f" is above {LAYERS[source][0]!r}"
            )
    return found


def module_circles(imports: list[Import]) -> list[str]:
    graph: dict[str, set[str]] = {}
    for imp in imports:
        if not imp.type_only:
            graph.setdefault(imp.source, set()).add(imp.target)
    return [
        " <-> ".join(sorted(circle))
        for circle in circles(graph)
        if not any(circle <= known for known in KNOWN_CIRCLES)
    ]


def unit_circles(imports: list[Import]) -> list[str]:
    graph: dict[str, set[str]] = {}
    for imp in imports:
        source, target = unit_of(imp.source), unit_of(imp.target)
        if not imp.type_only and source != target:
            graph.setdefault(source, set()).add(target)
    return [" <-> ".join(sorted(circle)) for circle in circles(graph)]


def where(circle: str, imports: list[Import]) -> str:
    """A circle and the imports that make it up, for the failure message."""
    members = set(circle.split(" <-> "))

    def part_of(imp: Import) -> bool:
        if imp.source in members and imp.target in members:
            return True
        source, target = unit_of(imp.source), unit_of(imp.target)
        return source != target and source in members and target in members

    lines = [
        f"  {imp.source}:{imp.line} -> {imp.target}" for imp in imports if not imp.type_only and part_of(imp)
    ]
    return "\n".join([circle, *lines])


# --- the checks on manimagent itself ---------------------------------------------------------


def test_every_module_has_a_layer():
    assert unplaced_units() == [], "place these in LAYERS (tests/test_layers.py and docs/architecture.md)"


def test_no_import_points_up():
    found = upward_imports(all_imports())
    assert not found, "imports that point up:\n" + "\n".join(found)


def test_no_modules_import_each_other_in_a_circle():
    imports = all_imports()
    found = [where(circle, imports) for circle in module_circles(imports)]
    assert not found, "modules in a circle:\n" + "\n".join(found)


def test_no_packages_import_each_other_in_a_circle():
    imports = all_imports()
    found = [where(circle, imports) for circle in unit_circles(imports)]
    assert not found, "packages in a circle:\n" + "\n".join(found)


def test_known_imports_are_still_there():
    """A known import that is gone must leave KNOWN_IMPORTS, so it cannot come back unseen."""
    present = {(imp.source, imp.target) for imp in all_imports(known=set())}
    assert KNOWN_IMPORTS - present == set()


def test_known_circles_are_still_there():
    """A known circle that is gone must leave KNOWN_CIRCLES, so it cannot come back unseen."""
    graph: dict[str, set[str]] = {}
    for imp in all_imports():
        if not imp.type_only:
            graph.setdefault(imp.source, set()).add(imp.target)
    present = circles(graph)
    assert [known for known in KNOWN_CIRCLES if not any(len(circle & known) > 1 for circle in present)] == []


ARCHITECTURE = SOURCE.parent.parent / "docs" / "architecture.md"
GROUPED = ("commands_", "routes_")  # cli/commands_*.py and server/routes_*.py are named as a group


def table_misses(root: Path, text: str) -> list[str]:
    """Modules the module table of docs/architecture.md does not name (its rows: "| `name` | ...")."""
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| `")}
    missing = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        if relative.name == "__init__.py" or "versions" in relative.parts:
            continue
        if len(relative.parts) == 1:
            if not any(f"`{relative.name}`" in cell for cell in rows):
                missing.append(str(relative))
            continue
        row = rows.get(f"`{relative.parts[0]}/`", "")
        inner = "/".join(relative.parts[1:])
        stem = inner.removesuffix(".py")
        group = next((prefix for prefix in GROUPED if stem.startswith(prefix)), None)
        named = f"`{stem}`" in row or f"`{inner}`" in row or f"`{stem.split('/')[0]}/`" in row
        if group is not None:
            named = named or (f"`{group}*`" in row and f"`{stem.removeprefix(group)}`" in row)
        if not named:
            missing.append(str(relative))
    return missing


def test_the_architecture_table_names_every_module():
    assert table_misses(SOURCE, ARCHITECTURE.read_text(encoding="utf-8")) == []


# --- the checker itself, on a small package of its own --------------------------------------


def _package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / PACKAGE / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for folder in [root / PACKAGE, *[p for p in (root / PACKAGE).rglob("*") if p.is_dir()]]:
        (folder / "__init__.py").touch()
    return root / PACKAGE


def test_the_walk_sees_upward_imports_in_functions_and_relative_ones(tmp_path):
    root = _package(
        tmp_path,
        {
            "errors.py": "def f():\n    from manimagent.services import generate\n",
            "render/base.py": "from ..pipeline import run\n",
            "pipeline.py": "run = 1\n",
            "services/generate.py": "from manimagent import errors\n",
        },
    )
    found = upward_imports(all_imports(root))
    assert found == [
        (
            "manimagent.errors (line 2) imports manimagent.services.generate: layer 'services' is above "
            "'foundation'"
        ),
        "manimagent.render.base (line 1) imports manimagent.pipeline: layer 'pipeline' is above 'components'",
    ]


def test_the_walk_finds_circles_and_lets_type_only_imports_be(tmp_path):
    root = _package(
        tmp_path,
        {
            "prompts.py": "from manimagent.providers.base import Message\n",
            "providers/base.py": "Message = str\n",
            "providers/offline.py": "import manimagent.prompts\n",
            "render/local.py": (
                "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .pool import P\n"
            ),
            "render/pool.py": "def f():\n    from manimagent.render.local import g\n",
        },
    )
    imports = all_imports(root)
    assert module_circles(imports) == []  # local -> pool is for types only
    assert unit_circles(imports) == ["prompts <-> providers"]
    assert upward_imports(imports) == [
        (
            "manimagent.providers.offline (line 1) imports manimagent.prompts: layer 'prompts' is above "
            "'components'"
        )
    ]


def test_a_module_outside_the_layers_is_named(tmp_path):
    root = _package(tmp_path, {"errors.py": "", "backend.py": ""})
    assert unplaced_units(root) == ["backend"]


def test_known_circles_name_real_modules():
    modules = set(module_files(SOURCE))
    assert [known for known in KNOWN_CIRCLES if not known <= modules] == []


def test_the_table_check_sees_a_module_left_out(tmp_path):
    root = _package(
        tmp_path, {"errors.py": "", "render/base.py": "", "render/pool.py": "", "cli/commands_x.py": ""}
    )
    table = "| `errors.py` | ... |\n| `render/` | `base` (...) |\n| `cli/` | `commands_*` (`x`) |\n"
    assert table_misses(root, table) == ["render/pool.py"]
