"""Imports point down: operators (growth.how), locators (growth.where) and triggers (growth.when) never
import the training loop or the recipes above them; locators and triggers never import an operator, nor
each other.  Every import counts, those inside functions too (parsed with ``ast``, nothing imported)."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "growth"

#: What each layer must not import (a module, or anything below it).
FORBIDDEN = {
    "growth.how": ("growth.train", "growth.recipes"),
    "growth.where": ("growth.train", "growth.recipes", "growth.how", "growth.when"),
    "growth.when": ("growth.train", "growth.recipes", "growth.how", "growth.where"),
}

def _imports(source: str, module: str) -> list[tuple[str | None, str, int]]:
    """``(enclosing function or None, imported module, line)`` of every import in ``source``, the
    source of ``module`` (a package's ``__init__`` named ``package.__init__``; relative imports
    resolved; ``from a import b`` gives ``a`` and ``a.b``, as ``b`` may be a module;
    ``importlib.import_module("...")`` and ``__import__("...")`` of a literal name count too)."""
    package = module.split(".")[:-1]
    found: list[tuple[str | None, str, int]] = []

    def visit(node: ast.AST, function: str | None) -> None:
        if isinstance(node, ast.Import):
            found.extend((function, alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module
            found.append((function, base, node.lineno))
            found.extend((function, f"{base}.{alias.name}", node.lineno) for alias in node.names if alias.name != "*")
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in ("import_module", "__import__"):
                found.append((function, node.args[0].value, node.lineno))
        for child in ast.iter_child_nodes(node):
            inner = node.name if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
            visit(child, inner)

    visit(ast.parse(source), None)
    return found


def _under(target: str, modules: tuple[str, ...]) -> bool:
    return any(target == m or target.startswith(m + ".") for m in modules)


def _violations(source: str, module: str) -> list[str]:
    layer = next((lay for lay in FORBIDDEN if module == lay or module.startswith(lay + ".")), None)
    if layer is None:
        return []
    return [f"{module}:{line} imports {target}" + (f" (in {function}())" if function else "")
            for function, target, line in _imports(source, module)
            if _under(target, FORBIDDEN[layer])]


def _modules() -> list[tuple[str, Path]]:
    found = []
    for layer in FORBIDDEN:
        folder = PACKAGE / layer.split(".")[1]
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
            found.append((".".join(parts), path))
    return found


@pytest.mark.parametrize("module,path", _modules(), ids=[m for m, _ in _modules()])
def test_imports_point_down(module, path):
    assert not _violations(path.read_text(encoding="utf-8"), module)


@pytest.mark.parametrize("source,module", [
    ("from ..train import evaluate", "growth.how.depth_init"),
    ("def f():\n    from ...recipes import vt", "growth.how.sub.x"),
    ("def f():\n    from ..how.width import grow_width", "growth.when.width_schedule"),
    ("from .. import how", "growth.where.stopping"),
    ("from ..how import AddWidth", "growth.when.__init__"),
    ("import growth.when.convergent", "growth.where.stopping"),
    ("from growth.where import stages", "growth.when.periodic"),
    ("import importlib\nimportlib.import_module('growth.train')", "growth.when.periodic"),
])
def test_the_check_sees_an_upward_import(source, module):
    assert _violations(source, module)


def test_the_check_lets_downward_imports_pass():
    source = "from ..models import build_model\nfrom ..metrics import improvement\nfrom .convergent import last_growth"
    assert not _violations(source, "growth.when.fragrow")
    assert not _violations("from ..epoch import evaluate, train_epoch", "growth.how.depth_init")
    assert not _violations("from .depth import grow_depth\nfrom .width import AddWidth", "growth.how.__init__")
