"""The structure stays as docs/architecture.md draws it: checked on the source, statically.

- no import cycles in ``merprep`` or ``mertrain``, counting imports inside functions as edges
  (a function-local import only hides a cycle until the function runs);
- ``merprep`` never imports ``mertrain``, TensorFlow or Keras;
- an import inside a function is only ever there to defer a heavy library (TensorFlow, Keras,
  OpenCV, MediaPipe, dlib, Ray, matplotlib, ...), directly or through a project module that
  imports one at its top;
- the command modules import without OpenCV and TensorFlow (the CLIs start fast);
- no module is over 420 lines (about 400).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from functools import cache, lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PACKAGES = ("merprep", "mertrain")
#: third-party libraries slow enough to import that deferring them is worth a local import
#: (h5py too: `merprep --help` and `mertrain --help` load no store code)
HEAVY = {
    "tensorflow",
    "keras",
    "cv2",
    "mediapipe",
    "dlib",
    "ray",
    "matplotlib",
    "sklearn",
    "skimage",
    "scipy",
    "jax",
    "torch",
    "openpyxl",
    "pandas",
    "face_recognition_models",
    "h5py",
}
MAX_LINES = 420


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@lru_cache(maxsize=1)
def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(name: str) -> list[tuple[str, bool, int]]:
    """(imported module, inside a function, line) for every runtime import of module ``name``."""
    path = _modules()[name]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: list[tuple[str, bool, int]] = []

    def visit(node: ast.AST, local: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    visit(sub, local)
                continue
            inner = local or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                out.extend((a.name, local, child.lineno) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - child.level + 1]
                    module = ".".join(base + ([child.module] if child.module else []))
                else:
                    module = child.module or ""
                if module == "__future__":
                    continue
                for a in child.names:
                    sub = f"{module}.{a.name}"
                    out.append((sub if sub in _modules() else module, local, child.lineno))
            visit(child, inner)

    visit(tree, False)
    return out


def _project(target: str) -> str | None:
    """The project module an import names (None for third-party ones)."""
    mods = _modules()
    while target and target not in mods:
        target = target.rpartition(".")[0]
    return target or None


@cache
def _heavy(name: str, seen: frozenset = frozenset()) -> bool:
    """Whether importing module ``name`` imports a heavy library (at module level)."""
    for target, local, _ in _imports(name):
        if local:
            continue
        if target.split(".")[0] in HEAVY:
            return True
        mod = _project(target)
        if mod is not None and mod != name and mod not in seen and _heavy(mod, seen | {name}):
            return True
    return False


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in _modules()}
    for name in _modules():
        for target, _, _ in _imports(name):
            mod = _project(target)
            if mod is not None and mod != name:
                graph[name].add(mod)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            strong(v)
    return out


def test_no_import_cycles_counting_function_local_imports():
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_merprep_never_imports_mertrain_or_tensorflow():
    bad = [
        (name, target, line)
        for name in _modules()
        if name.split(".")[0] == "merprep"
        for target, _, line in _imports(name)
        if target.split(".")[0] in ("mertrain", "tensorflow", "keras")
    ]
    assert bad == []


def test_function_local_imports_only_defer_heavy_libraries():
    bad = []
    for name in _modules():
        for target, local, line in _imports(name):
            if not local or target.split(".")[0] in HEAVY:
                continue
            mod = _project(target)
            if mod is None or not _heavy(mod):
                bad.append(f"{_modules()[name].relative_to(ROOT)}:{line} imports {target}")
    assert bad == []


def test_no_module_is_over_about_400_lines():
    long = {
        str(p.relative_to(ROOT)): n
        for p in _modules().values()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


@pytest.mark.parametrize("package", PACKAGES)
def test_command_modules_import_without_opencv_or_tensorflow(package):
    commands = sorted(m for m in _modules() if m.startswith(f"{package}.commands."))
    assert commands
    code = (
        "import sys\n" + "".join(f"import {m}\n" for m in commands) + f"import {package}.cli\n"
        "heavy = sorted(m for m in ('cv2', 'tensorflow', 'keras', 'mediapipe', 'dlib') "
        "if m in sys.modules)\nprint(heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
