"""The apps' imports point one way: therapist_ai <- conversations <- clinicians <- training.

Every import statement of every product module is read (function-level ones included, and
``importlib.import_module("...")`` calls with a literal name), so a cycle hidden inside a
function still fails here. A lower layer that needs something from a higher one asks a
registry of its own that the higher app fills in its ``AppConfig.ready()``.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Lowest first. ``conversations.safety`` is part of the conversations layer, below the chat
# flow: the chat flow calls the screen, the screen never calls the chat flow.
LAYERS = ["therapist_ai", "conversations.safety", "conversations", "clinicians", "training"]
PRODUCT_PACKAGES = ("therapist_ai", "conversations", "clinicians", "training")
# Development tools (the fake Groq upstream, server helpers for tests and benchmarks) are not
# part of the product; the product never imports them.
DEV_PACKAGES = ("devtools", "tests", "bench")


def _layer_of(module: str) -> str | None:
    for layer in sorted(LAYERS, key=len, reverse=True):
        if module == layer or module.startswith(layer + "."):
            return layer
    return None


def _product_modules():
    for package in PRODUCT_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "tests" in parts or "migrations" in parts:
                continue
            yield ".".join(p for p in parts if p != "__init__"), path


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None))
              == "import_module" and node.args and isinstance(node.args[0], ast.Constant)):
            found.append((node.lineno, str(node.args[0].value)))
    return found


def _edges() -> list[tuple[str, str, str]]:
    """(importing module, imported name, where) for every import between product modules."""
    edges = []
    for module, path in _product_modules():
        for lineno, name in _imports(path):
            if name.split(".")[0] in PRODUCT_PACKAGES + DEV_PACKAGES:
                edges.append((module, name, f"{path.relative_to(ROOT)}:{lineno}"))
    return edges


def test_no_app_imports_a_higher_layer():
    upward = []
    for module, name, where in _edges():
        source, target = _layer_of(module), _layer_of(name)
        if source and target and LAYERS.index(target) > LAYERS.index(source):
            upward.append(f"{where}: {module} ({source}) imports {name} ({target})")
    assert not upward, "imports that point up the layers:\n" + "\n".join(upward)


def test_product_code_never_imports_development_tools():
    found = [f"{where}: {name}" for _module, name, where in _edges() if name.split(".")[0] in DEV_PACKAGES]
    assert not found, "\n".join(found)


def _module_graph() -> dict[str, set[str]]:
    modules = {module for module, _ in _product_modules()}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, name, _where in _edges():
        # "from a.b import c" names module a.b.c or attribute c of a.b: take the longest module.
        target = next((c for c in (name, name.rsplit(".", 1)[0]) if c in modules), None)
        if target and target != module:
            graph[module].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles_between_modules():
    cycles = _cycles(_module_graph())
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_the_checker_sees_function_level_and_dynamic_imports(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import importlib\n\ndef f():\n    from training import services\n"
                      "    importlib.import_module('training.serving')\n")
    assert [name for _line, name in _imports(sample)] == ["importlib", "training.services", "training.serving"]


MAX_LINES = 400


def test_modules_stay_small_or_say_why():
    """A module over ~400 lines states the reason at its top ("Long because ...")."""
    long = []
    for _module, path in _product_modules():
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > MAX_LINES and "Long because" not in text[:2000]:
            long.append(f"{path.relative_to(ROOT)}: {text.count(chr(10))} lines")
    assert not long, "modules over 400 lines without a stated reason:\n" + "\n".join(long)
