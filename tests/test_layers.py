"""The package's shape, checked from its source: layers, cycles, sizes, light imports.

A plain-``ast`` stand-in for import-linter, so it runs wherever pytest does.
Data flows one way; a module may import only from its own layer or layers to
its left (imports inside functions count too)::

    base (errors, text, progress, faults, fs, version) -> inputs -> features -> store
    -> analysis -> page -> jobs -> api (explorer/api.py) -> cli, with
    explorer/__init__ and __main__ on top

Cycles are looked for among the imports that run when a module loads (module
level, not under ``TYPE_CHECKING``). Also checked: no module over 400 lines (nor
any file of the report page's front end, ``explorer/page/static``), no heavy
library imported at module level, ``import explorer`` and ``explorer --help``
load none of them, and every third-party import is declared in pyproject.toml.
The checker functions take a source folder, so the tests at the bottom run them
on small synthetic trees as well: the checker is tested, not only the package.
"""

from __future__ import annotations

import ast
import itertools
import re
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "explorer"
LAYERS = ("base", "inputs", "features", "store", "analysis", "page", "jobs", "api", "cli")
BASE_MODULES = frozenset({"errors", "text", "progress", "faults", "fs", "version"})
TOP_MODULES = frozenset({"__init__", "__main__"})
TOP = len(LAYERS)  # the rank of explorer/__init__.py and __main__.py
MAX_LINES = 400
STATIC = Path(PACKAGE, "page", "static")  # the report page's scripts and stylesheet
# Slow to import; never at module level in explorer/, never under `explorer --help`.
HEAVY = ("tensorflow", "keras", "torch", "umap", "bokeh", "sklearn", "ray", "jinja2")


@dataclass(frozen=True)
class Import:
    """One import statement's edge from a module of the package to one of its modules."""

    source: str  # dotted module name, e.g. "explorer.store.index"
    target: str  # the imported module, e.g. "explorer.analysis.search"
    where: str  # "explorer/store/index.py:12"
    module_level: bool  # runs on import: not inside a function, not under TYPE_CHECKING


def find_modules(src: Path, package: str = PACKAGE) -> dict[str, Path]:
    """Map each module's dotted name (a package by its own name) to its file under ``src``."""
    modules: dict[str, Path] = {}
    for path in sorted((src / package).rglob("*.py")):
        parts = path.relative_to(src).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _statements(nodes: Iterable[ast.AST], module_level: bool) -> Iterator[tuple[ast.stmt, bool]]:
    """Every import statement under ``nodes``, with whether it runs when the module loads."""
    for node in nodes:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, module_level
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            yield from _statements(ast.iter_child_nodes(node), False)
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _statements(node.body, False)
            yield from _statements(node.orelse, module_level)
        else:
            yield from _statements(ast.iter_child_nodes(node), module_level)


def _absolute(node: ast.ImportFrom, name: str, path: Path) -> str:
    """The absolute module an ``ImportFrom`` names (relative imports resolved)."""
    if node.level == 0:
        return node.module or ""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imported_names(
    name: str, path: Path, known: Iterable[str] = ()
) -> Iterator[tuple[str, int, bool]]:
    """Every ``(module, line, module_level)`` that module ``name`` (file ``path``) imports.

    ``from a.b import c`` yields ``a.b.c`` when that is one of the ``known``
    modules, else ``a.b`` (as grimp and import-linter draw the edge); the
    implicit import of parent packages is not yielded.
    """
    known = set(known)
    tree = ast.parse(path.read_bytes(), filename=str(path))
    for node, module_level in _statements(tree.body, True):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, module_level
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(node, name, path)
            for alias in node.names:
                full = f"{module}.{alias.name}"
                yield (full if full in known else module), node.lineno, module_level


def find_imports(src: Path, package: str = PACKAGE) -> list[Import]:
    """The import edges between the package's own modules, one per statement and target."""
    modules = find_modules(src, package)
    edges: set[Import] = set()
    for name, path in modules.items():
        where = path.relative_to(src).as_posix()
        for target, line, module_level in imported_names(name, path, modules):
            if target in modules:
                edges.add(Import(name, target, f"{where}:{line}", module_level))
    return sorted(edges, key=lambda e: (e.where, e.target))


def layer_of(module: str, package: str = PACKAGE) -> int | None:
    """The rank of ``module`` in LAYERS (TOP for the package itself), or None if unplaced."""
    parts = module.split(".")
    if parts[0] != package:
        return None
    if len(parts) == 1 or (len(parts) == 2 and parts[1] in TOP_MODULES):
        return TOP
    if len(parts) == 2 and parts[1] in BASE_MODULES:
        return 0
    if parts[1] in LAYERS[1:]:
        return LAYERS.index(parts[1])
    return None


def _layer_name(rank: int) -> str:
    return "top (explorer/__init__, __main__)" if rank == TOP else LAYERS[rank]


def unplaced_modules(src: Path, package: str = PACKAGE) -> list[str]:
    """Modules in no layer (a new top-level module, or a subpackage not in LAYERS)."""
    return [
        f"{path.relative_to(src).as_posix()} is in no layer: put it in one of "
        f"{', '.join(LAYERS[1:])}/, or name it one of the base modules "
        f"({', '.join(sorted(BASE_MODULES))})"
        for name, path in find_modules(src, package).items()
        if layer_of(name, package) is None
    ]


def layer_violations(src: Path, package: str = PACKAGE) -> list[str]:
    """Each import of a module from a layer to the right of the importer's."""
    found = []
    for edge in find_imports(src, package):
        here, there = layer_of(edge.source, package), layer_of(edge.target, package)
        if here is not None and there is not None and there > here:
            found.append(
                f"{edge.where} imports {edge.target}: {_layer_name(here)} may not import "
                f"from {_layer_name(there)} (layers: {' -> '.join(LAYERS)})"
            )
    return found


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components, iteratively (no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
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
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return components


def _cycle_through(start: str, members: set[str], graph: dict[str, set[str]]) -> list[str]:
    """A shortest cycle from ``start`` back to itself inside one component (BFS)."""
    previous: dict[str, str] = {}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for child in sorted(graph[node] & members):
            if child == start:
                path = [node]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return [start, *reversed(path[:-1]), start]
            if child not in previous:
                previous[child] = node
                queue.append(child)
    return [start, start]


def import_cycles(src: Path, package: str = PACKAGE) -> list[str]:
    """Each cycle among module-level imports, as ``a (file:line) -> b (file:line) -> a``."""
    graph: dict[str, set[str]] = {name: set() for name in find_modules(src, package)}
    line: dict[tuple[str, str], str] = {}
    for edge in find_imports(src, package):
        if edge.module_level:
            graph[edge.source].add(edge.target)
            line.setdefault((edge.source, edge.target), edge.where)
    found = []
    for component in _strongly_connected(graph):
        if len(component) == 1 and component[0] not in graph[component[0]]:
            continue
        cycle = _cycle_through(component[0], set(component), graph)
        steps = " -> ".join(f"{a} ({line[a, b]})" for a, b in itertools.pairwise(cycle))
        found.append(f"import cycle: {steps} -> {cycle[0]}; members: {', '.join(component)}")
    return found


def oversized_modules(src: Path, package: str = PACKAGE, limit: int = MAX_LINES) -> list[str]:
    """Each module longer than ``limit`` lines (as ``wc -l`` counts them)."""
    return _oversized(find_modules(src, package).values(), src, limit)


def oversized_static_files(src: Path, limit: int = MAX_LINES) -> list[str]:
    """Each file under ``STATIC`` (the page's .js and .css) longer than ``limit`` lines."""
    return _oversized(sorted(p for p in (src / STATIC).rglob("*") if p.is_file()), src, limit)


def _oversized(paths: Iterable[Path], src: Path, limit: int) -> list[str]:
    found = []
    for path in paths:
        lines = path.read_bytes().count(b"\n")
        if lines > limit:
            found.append(f"{path.relative_to(src).as_posix()} has {lines} lines (limit {limit})")
    return found


def heavy_module_imports(
    src: Path, package: str = PACKAGE, heavy: Iterable[str] = HEAVY
) -> list[str]:
    """Each import of a heavy library that runs at module import time."""
    heavy = set(heavy)
    found = []
    for name, path in find_modules(src, package).items():
        for target, line, module_level in imported_names(name, path):
            top = target.split(".")[0]
            if module_level and top in heavy:
                found.append(
                    f"{path.relative_to(src).as_posix()}:{line} imports {top} at module "
                    "level: import it inside the function that needs it"
                )
    return sorted(set(found))


def _normalise(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


def undeclared_imports(src: Path, pyproject: Path, package: str = PACKAGE) -> list[str]:
    """Each third-party import whose distribution ``pyproject`` declares nowhere.

    Declared means in ``[project] dependencies`` or in an extra: what the
    package imports directly is declared, not left to another package's
    requirements (rich came only through typer, pynndescent through umap-learn).
    """
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads(pyproject.read_text())["project"]
    requirements = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        requirements.extend(extra)
    declared = set()
    for requirement in requirements:
        match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
        assert match, f"unreadable requirement {requirement!r} in {pyproject}"
        declared.add(_normalise(match.group()))
    providers = packages_distributions()
    found = set()
    for name, path in find_modules(src, package).items():
        for target, line, _ in imported_names(name, path):
            top = target.split(".")[0]
            if not top or top == package or top in sys.stdlib_module_names:
                continue
            distributions = providers.get(top, [top])
            if not any(_normalise(d) in declared for d in distributions):
                found.add(
                    f"{path.relative_to(src).as_posix()}:{line} imports {top} (distribution"
                    f" {', '.join(sorted(set(distributions)))}), declared nowhere in"
                    f" {pyproject.name}"
                )
    return sorted(found)


def _report(problems: list[str]) -> str:
    return f"{len(problems)} found:\n  " + "\n  ".join(problems)


# ---------------------------------------------------------------- the package itself


def test_every_module_is_in_a_layer() -> None:
    problems = unplaced_modules(ROOT)
    assert not problems, _report(problems)


def test_modules_import_only_their_own_layer_or_layers_to_the_left() -> None:
    problems = layer_violations(ROOT)
    assert not problems, _report(problems)


def test_no_import_cycle() -> None:
    problems = import_cycles(ROOT)
    assert not problems, _report(problems)


def test_no_module_over_400_lines() -> None:
    problems = oversized_modules(ROOT)
    assert not problems, _report(problems)


def test_no_static_file_of_the_page_over_400_lines() -> None:
    assert any((ROOT / STATIC).glob("*.js")), "no script found: the checker would pass vacuously"
    problems = oversized_static_files(ROOT)
    assert not problems, _report(problems)


def test_heavy_libraries_are_imported_inside_functions() -> None:
    problems = heavy_module_imports(ROOT)
    assert not problems, _report(problems)


def test_every_third_party_import_is_declared() -> None:
    problems = undeclared_imports(ROOT, ROOT / "pyproject.toml")
    assert not problems, _report(problems)


def _imported_by(*args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run ``python -X importtime *args``; return the process and the top-level modules loaded."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    loaded = {
        line.split("|")[-1].strip().split(".")[0]
        for line in proc.stderr.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    }
    return proc, loaded


@pytest.mark.parametrize(
    "args",
    [("-c", "import explorer"), ("-m", "explorer", "--help")],
    ids=["import explorer", "explorer --help"],
)
def test_import_and_help_load_no_heavy_library(args: tuple[str, ...]) -> None:
    proc, loaded = _imported_by(*args)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert PACKAGE in loaded and "os" in loaded  # the probe read the import log
    if "--help" in args:
        assert "Usage" in proc.stdout
    assert sorted(loaded & set(HEAVY)) == []


# ---------------------------------------------------------------- the checker itself


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (path -> source) under ``tmp_path/src`` and return that folder."""
    src = tmp_path / "src"
    for name, text in files.items():
        path = src / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return src


CLEAN = {
    "explorer/__init__.py": "def __getattr__(name):\n    from explorer.cli import app\n",
    "explorer/__main__.py": "from explorer.cli import app\n",
    "explorer/errors.py": "class ExplorerError(Exception): ...\n",
    "explorer/fs.py": "from explorer import errors\nfrom .errors import ExplorerError\n",
    "explorer/inputs/__init__.py": "",
    "explorer/inputs/scan.py": "from explorer.errors import ExplorerError\n",
    "explorer/features/__init__.py": "",
    "explorer/features/extract.py": "import explorer.inputs.scan\nfrom ..inputs import scan\n",
    "explorer/store/__init__.py": "",
    "explorer/store/index.py": "from explorer.features import extract\nimport numpy\n",
    "explorer/analysis/__init__.py": "",
    "explorer/analysis/knn.py": (
        "from typing import TYPE_CHECKING\n"
        "from explorer.store.index import Index\n"
        "if TYPE_CHECKING:\n    import sklearn\n"
        "def fit():\n    import umap\n    from explorer.analysis import pca\n"
    ),
    "explorer/analysis/pca.py": "from explorer.analysis import knn\n",
    "explorer/page/__init__.py": "",
    "explorer/page/render.py": "from explorer.analysis.knn import fit\n",
    "explorer/jobs/__init__.py": "",
    "explorer/jobs/build.py": "from explorer.page import render\nfrom explorer.store import *\n",
    "explorer/cli/__init__.py": "from explorer.cli.main import app\n",
    "explorer/cli/main.py": "from explorer.jobs.build import build\napp = None\n",
}


def test_checker_passes_a_clean_tree(tmp_path: Path) -> None:
    src = _tree(tmp_path, CLEAN)
    assert unplaced_modules(src) == []
    assert layer_violations(src) == []
    assert import_cycles(src) == []  # knn imports pca only inside a function
    assert oversized_modules(src) == []
    assert heavy_module_imports(src) == []  # umap in a function, sklearn for types only
    edges = {(e.source, e.target) for e in find_imports(src)}
    assert ("explorer.fs", "explorer.errors") in edges  # `from explorer import errors`
    assert ("explorer.features.extract", "explorer.inputs.scan") in edges  # relative import
    assert ("explorer.store.index", "explorer.features.extract") in edges  # `from pkg import mod`
    assert ("explorer.store.index", "explorer.features") not in edges
    assert ("explorer.jobs.build", "explorer.store") in edges  # star import: the package


def test_checker_names_each_upward_import_with_file_and_line(tmp_path: Path) -> None:
    src = _tree(
        tmp_path,
        {
            **CLEAN,
            # upward inside a function, under TYPE_CHECKING, relative, and to the top
            "explorer/store/index.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from explorer.analysis.knn import Graph\n"
                "def load():\n    from ..cli import main\n"
            ),
            "explorer/page/render.py": "from explorer import __version__\n",
            "explorer/inputs/scan.py": "import explorer.errors\nimport explorer.features.extract\n",
        },
    )
    problems = layer_violations(src)
    chain = f"(layers: {' -> '.join(LAYERS)})"
    assert problems == [
        "explorer/inputs/scan.py:2 imports explorer.features.extract: inputs may not import "
        f"from features {chain}",
        "explorer/page/render.py:1 imports explorer: page may not import from top "
        f"(explorer/__init__, __main__) {chain}",
        f"explorer/store/index.py:3 imports explorer.analysis.knn: store may not import from "
        f"analysis {chain}",
        "explorer/store/index.py:5 imports explorer.cli.main: store may not import from "
        f"cli {chain}",
    ]


def test_checker_finds_modules_in_no_layer(tmp_path: Path) -> None:
    src = _tree(tmp_path, {**CLEAN, "explorer/misc.py": "", "explorer/utils/__init__.py": ""})
    problems = unplaced_modules(src)
    assert [p.split(" ")[0] for p in problems] == ["explorer/misc.py", "explorer/utils/__init__.py"]
    assert all("is in no layer" in p for p in problems)


def test_checker_finds_module_level_cycles_only(tmp_path: Path) -> None:
    src = _tree(
        tmp_path,
        {
            **CLEAN,
            "explorer/analysis/pca.py": "import os\nfrom explorer.analysis import knn\n",
            # a three-module cycle, class bodies run at import time too
            "explorer/cli/a.py": "from explorer.cli import b\n",
            "explorer/cli/b.py": "class B:\n    from explorer.cli.c import C\n",
            "explorer/cli/c.py": "import explorer.cli.a\nC = 1\n",
            "explorer/jobs/self.py": "from explorer.jobs import self\n",
        },
    )
    assert import_cycles(src) == [
        "import cycle: explorer.cli.a (explorer/cli/a.py:1) -> explorer.cli.b "
        "(explorer/cli/b.py:2) -> explorer.cli.c (explorer/cli/c.py:1) -> explorer.cli.a; "
        "members: explorer.cli.a, explorer.cli.b, explorer.cli.c",
        "import cycle: explorer.jobs.self (explorer/jobs/self.py:1) -> explorer.jobs.self; "
        "members: explorer.jobs.self",
    ]
    # knn -> pca is inside a function in CLEAN: still no cycle between them
    cyclic = _tree(
        tmp_path / "again",
        {**CLEAN, "explorer/analysis/knn.py": "from explorer.analysis import pca\n"},
    )
    assert import_cycles(cyclic) == [
        "import cycle: explorer.analysis.knn (explorer/analysis/knn.py:1) -> "
        "explorer.analysis.pca (explorer/analysis/pca.py:1) -> explorer.analysis.knn; "
        "members: explorer.analysis.knn, explorer.analysis.pca"
    ]


def test_checker_counts_lines_as_wc_does(tmp_path: Path) -> None:
    src = _tree(
        tmp_path,
        {**CLEAN, "explorer/store/big.py": "x = 1\n" * 401, "explorer/store/ok.py": "x\n" * 400},
    )
    assert oversized_modules(src) == ["explorer/store/big.py has 401 lines (limit 400)"]


def test_checker_counts_the_lines_of_static_files(tmp_path: Path) -> None:
    src = _tree(
        tmp_path,
        {
            **CLEAN,
            "explorer/page/static/big.js": "x;\n" * 401,
            "explorer/page/static/ok.css": "a {}\n" * 400,
        },
    )
    assert oversized_static_files(src) == ["explorer/page/static/big.js has 401 lines (limit 400)"]
    assert oversized_static_files(tmp_path / "no-such-tree") == []


def test_checker_finds_heavy_imports_at_module_level(tmp_path: Path) -> None:
    src = _tree(
        tmp_path,
        {
            **CLEAN,
            "explorer/page/render.py": "import bokeh.plotting\ntry:\n    import jinja2\n"
            "except ImportError:\n    pass\n",
            "explorer/features/vgg16.py": "from keras import layers\n",
        },
    )
    assert heavy_module_imports(src) == [
        "explorer/features/vgg16.py:1 imports keras at module level: "
        "import it inside the function that needs it",
        "explorer/page/render.py:1 imports bokeh at module level: "
        "import it inside the function that needs it",
        "explorer/page/render.py:3 imports jinja2 at module level: "
        "import it inside the function that needs it",
    ]


def test_checker_finds_undeclared_third_party_imports(tmp_path: Path) -> None:
    src = _tree(
        tmp_path,
        {
            "explorer/__init__.py": "import json\nimport numpy\nfrom PIL import Image\n",
            "explorer/cli.py": "def bar():\n    from rich.progress import Progress\n",
            "pyproject.toml": '[project]\nname = "x"\ndependencies = ["numpy>=1"]\n'
            '[project.optional-dependencies]\nimages = ["Pillow >= 10"]\n',
        },
    )
    problems = undeclared_imports(src, src / "pyproject.toml")
    assert problems == [
        "explorer/cli.py:2 imports rich (distribution rich), declared nowhere in pyproject.toml"
    ]
