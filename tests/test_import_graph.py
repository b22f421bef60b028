"""The package's own imports point one way: no cycle between multisc's modules (imports
inside functions count; ``if TYPE_CHECKING:`` blocks do not), the parts below the scheme
layer never import it, and every module imports on its own."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
#: the parts a scheme is made of: they never know about schemes
BELOW_SCHEMES = ("channel", "codecs", "metrics", "receiver", "transmitter")


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted((SRC / "multisc").rglob("*.py")):
        name = ".".join(path.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")
        out[name] = path
    return out


def _type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def _imports(tree: ast.AST):
    """Every Import/ImportFrom under ``tree``, ``if TYPE_CHECKING:`` bodies left out."""
    for node in ast.iter_child_nodes(tree):
        if _type_checking(node):
            yield from (i for n in node.orelse for i in _imports_of(n))
            continue
        yield from _imports_of(node)


def _imports_of(node: ast.AST):
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node
    else:
        yield from _imports(node)


def graph() -> dict[str, set[str]]:
    """module -> the multisc modules it imports (a name imported from a package is an
    edge to the module that defines the name when it is a submodule, else to the
    package)."""
    found = modules()

    def resolve(name: str) -> str | None:
        while name and name not in found:
            name = name.rpartition(".")[0]
        return name or None

    edges: dict[str, set[str]] = {name: set() for name in found}
    for name, path in found.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parts, *([base] if base else [])])
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in found else base
                    for alias in node.names
                ]
            for target in targets:
                if target.split(".")[0] != "multisc":
                    continue
                resolved = resolve(target)
                if resolved and resolved != name:
                    edges[name].add(resolved)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm,
    iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
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
                        out.append(sorted(component))
    return out


def rooms(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    """The package-level graph: ``multisc.<room>`` -> the rooms it imports (a room is a
    subpackage or a top-level module; ``multisc`` itself is the package's ``__init__``)."""

    def room(module: str) -> str:
        parts = module.split(".")
        return parts[1] if len(parts) > 1 else "multisc"

    out: dict[str, set[str]] = {}
    for name, targets in edges.items():
        out.setdefault(room(name), set())
        for target in targets:
            out.setdefault(room(target), set())
            if room(target) != room(name):
                out[room(name)].add(room(target))
    return out


def floors(edges: dict[str, set[str]]) -> dict[int, list[str]]:
    """Each room's floor: 0 for rooms that import no other room, else one above the
    highest room it imports (so every arrow points down)."""
    level: dict[str, int] = {}

    def of(node: str) -> int:
        if node not in level:
            level[node] = 1 + max((of(child) for child in edges[node]), default=-1)
        return level[node]

    out: dict[int, list[str]] = {}
    for node in edges:
        out.setdefault(of(node), []).append(node)
    return {k: sorted(v) for k, v in sorted(out.items())}


def test_the_finder_sees_a_cycle_when_there_is_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_inside_multisc():
    found = cycles(graph())
    described = [
        " -> ".join(c)
        + ": "
        + "; ".join(f"{a} imports {b}" for a in c for b in sorted(graph()[a] & set(c)))
        for c in found
    ]
    assert not found, "\n".join(described)


def test_rooms_import_one_way_and_docs_layout_draws_their_floors():
    """Between rooms too (``experiment`` never imports ``report``), and docs/layout.md's
    drawing is the one the imports make."""
    packages = rooms(graph())
    assert not cycles(packages), cycles(packages)
    drawn = (SRC.parent / "docs" / "layout.md").read_text(encoding="utf-8")
    for level, names in floors(packages).items():
        line = f"{level} | " + " ".join(names)
        assert line in drawn, f"docs/layout.md should draw floor {level} as: {line!r}"


def test_nothing_below_the_scheme_layer_imports_it():
    edges = graph()
    upward = [
        f"{name} imports {target}"
        for name, targets in edges.items()
        if name.split(".")[1:2] and name.split(".")[1] in BELOW_SCHEMES
        for target in targets
        if target == "multisc.schemes" or target.startswith("multisc.schemes.")
    ]
    assert not upward, "\n".join(upward)


#: the most lines a module may have: past it, it holds more than one job
MAX_LINES = 400


def test_every_module_says_its_job_first_and_stays_small():
    long = {}
    silent = []
    for name, path in modules().items():
        text = path.read_text(encoding="utf-8")
        if len(text.splitlines()) > MAX_LINES:
            long[name] = len(text.splitlines())
        if not ast.get_docstring(ast.parse(text)):
            silent.append(name)
    assert not long, f"split by job (at most {MAX_LINES} lines): {long}"
    assert not silent, f"say the module's job in its first line: {silent}"


@pytest.mark.slow
def test_every_module_imports():
    """Each module imports (in one fresh interpreter): none needs a name that is gone."""
    names = [n for n in modules() if not n.endswith("__main__")]
    script = (
        "import importlib, sys\n"
        "failed = []\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as exc:\n"
        "        failed.append(f'{name}: {type(exc).__name__}: {exc}')\n"
        "print('\\n'.join(failed))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, *names], capture_output=True, text=True,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin", "HOME": str(Path.home())},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    failed = [line for line in done.stdout.splitlines() if line]
    assert not failed, "\n".join(failed)


@pytest.mark.parametrize("name", ["multisc.schemes", "multisc.receiver.correction"])
def test_the_layers_import_in_either_order(name):
    importlib.import_module(name)
