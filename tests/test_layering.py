"""The package's layering, read from its own imports: lower groups never import higher ones, and no two
modules import each other, directly or round a circle.

Every ``import`` and ``from ... import`` of an ``autograd_nn`` module is read with ``ast`` from the source
of every module under ``autograd_nn/``; those inside ``if TYPE_CHECKING:`` are left out (annotations only,
never run). A module belongs to the group named by its first component after ``autograd_nn`` (so a package
and all its modules, e.g. ``autograd_nn.compile`` and ``autograd_nn.compile.*``, are one group). Imports
inside a function run when it is called, not at import time; they are allowed only in the modules listed in
``LAZY_IMPORTERS`` with the reason, and obey the layers too, except the pairs in ``UPWARD_IMPORTS``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import autograd_nn

PACKAGE = "autograd_nn"
ROOT = Path(autograd_nn.__file__).parent

# Lowest first. A module may import its own group, any group of its own layer, and any lower layer.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "grad_mode", "files", "_startup"),  # no imports of the package at all
    ("broadcasting", "recording"),  # the engine's core the ops call: undoing broadcasting, apply
    ("ops",),  # the primitives: forward and VJP
    ("tensor", "numpy_dispatch"),  # the Tensor, backward, hooks; NumPy's protocols onto the ops
    ("functional", "compile"),  # transformations of functions, built on the engine alone
    ("nn",),
    ("optim",),
    ("checking", "testing"),
    ("datasets",),  # data loading (training reads its tables module)
    ("training",),  # the loop for any model (uses compile, nn, optim, datasets)
    ("viz", "export"),
    ("digits",),  # the tutorial's application
    ("", "__main__"),  # the package itself (its public face imports everything) and `python -m`
)

# Modules that import inside functions, and why they wait.
LAZY_IMPORTERS = {
    "autograd_nn.digits.cli": "the command line loads the library only when a command runs: --help, "
    "argument errors and Ctrl-C answer before NumPy and the engine are imported",
    "autograd_nn.viz.graph": "the interactive page (page.py and its templates) loads only when a page is written",
    "autograd_nn.ops.contractions": "einsum's diagonal from shapes, as the one op of contractions that needs it",
    "autograd_nn.export.onnx": "the package version, written once in autograd_nn/__init__.py, read at export",
}

# Function-local imports from a lower layer into a higher one, each with its reason.
UPWARD_IMPORTS = {
    ("autograd_nn.export.onnx", "autograd_nn"): "__version__ for the ONNX producer field; the package "
    "is loaded by the time anything is exported",
    ("autograd_nn.digits.cli", "autograd_nn"): "__version__ for --version (written once, in __init__.py)",
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def _group(module: str) -> str:
    """``autograd_nn.ops.base`` -> ``ops``; ``autograd_nn`` -> ``""``."""
    return module.split(".")[1] if "." in module else ""


def _layer(module: str) -> int | None:
    group = _group(module)
    return next((i for i, groups in enumerate(LAYERS) if group in groups), None)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The package's modules ``node`` (in ``module``) imports: ``from . import ops`` gives the module
    ``ops``, ``from .tensor import Tensor`` the module ``tensor``."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name.split(".")[0] == PACKAGE]
    if node.level:
        base = module.split(".") if MODULES[module].name == "__init__.py" else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        source = ".".join([*base, *([node.module] if node.module else [])])
    else:
        source = node.module or ""
    if source.split(".")[0] != PACKAGE:
        return []
    return [
        f"{source}.{alias.name}" if f"{source}.{alias.name}" in MODULES else source for alias in node.names
    ]


def _imports(module: str) -> tuple[set[str], set[str]]:
    """(the modules ``module`` imports at import time, those it imports inside functions)."""
    at_import, in_functions = set(), set()

    def visit(statements: list[ast.stmt], inside_function: bool) -> None:
        for node in statements:
            if isinstance(node, ast.If) and _is_type_checking(node):
                visit(node.orelse, inside_function)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                (in_functions if inside_function else at_import).update(_imported(module, node))
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(node.body, True)
            else:
                for field in ("body", "orelse", "finalbody", "handlers", "cases"):
                    for child in getattr(node, field, None) or ():
                        visit(
                            child.body if isinstance(child, (ast.ExceptHandler, ast.match_case)) else [child],
                            inside_function,
                        )

    visit(ast.parse(MODULES[module].read_text(encoding="utf-8")).body, False)
    at_import.discard(module)
    in_functions.discard(module)
    return at_import, in_functions


IMPORTS = {module: _imports(module) for module in MODULES}


def _describe(module: str) -> str:
    layer = _layer(module)
    return f"{module} (group {_group(module) or PACKAGE!r}, layer {layer}: {', '.join(LAYERS[layer])})"


def test_every_module_belongs_to_a_layer():
    for module in MODULES:
        assert _layer(module) is not None, (
            f"{module}: its group {_group(module)!r} is in no layer of LAYERS; place it where its imports say"
        )


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_module_imports_only_its_own_layer_and_lower_ones(module):
    at_import, in_functions = IMPORTS[module]
    for imported in sorted(at_import | in_functions):
        if (module, imported) in UPWARD_IMPORTS and imported in in_functions:
            continue
        assert _layer(imported) <= _layer(module), (
            f"{_describe(module)} imports {_describe(imported)}, a higher layer: move what it needs below, "
            "or pass it in"
        )


@pytest.mark.parametrize("module", sorted(MODULES))
def test_only_the_listed_modules_import_inside_functions(module):
    _, in_functions = IMPORTS[module]
    if in_functions:
        assert module in LAZY_IMPORTERS, (
            f"{module} imports {', '.join(sorted(in_functions))} inside a function; import at the top, or "
            "list it in LAZY_IMPORTERS with the reason it waits"
        )


def test_the_listed_exceptions_are_still_needed():
    for module in LAZY_IMPORTERS:
        assert IMPORTS[module][1], f"{module} is in LAZY_IMPORTERS but imports nothing inside a function"
    for module, imported in UPWARD_IMPORTS:
        assert imported in IMPORTS[module][1], (
            f"{module} no longer imports {imported} inside a function: remove the pair from UPWARD_IMPORTS"
        )


def _circle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import circle in ``edges`` (module -> the modules it imports), as [a, b, ..., a], or None."""
    done: set[str] = set()
    for start in sorted(edges):
        if start in done:
            continue
        path, on_path = [start], {start}
        stack = [iter(sorted(edges[start]))]
        while stack:
            following = next(stack[-1], None)
            if following is None:
                stack.pop()
                done.add(path[-1])
                on_path.discard(path.pop())
            elif following in on_path:
                return [*path[path.index(following) :], following]
            elif following not in done:
                path.append(following)
                on_path.add(following)
                stack.append(iter(sorted(edges.get(following, ()))))
    return None


def test_no_two_modules_import_each_other_at_import_time():
    circle = _circle({module: at_import for module, (at_import, _) in IMPORTS.items()})
    assert circle is None, f"import circle: {' -> '.join(circle)}"


def test_imports_inside_functions_close_no_circle_either():
    edges = {
        module: at_import | {m for m in in_functions if (module, m) not in UPWARD_IMPORTS}
        for module, (at_import, in_functions) in IMPORTS.items()
    }
    circle = _circle(edges)
    assert circle is None, f"import circle through an import inside a function: {' -> '.join(circle)}"


def test_the_ops_never_import_the_tensor_module():
    for module, (at_import, in_functions) in IMPORTS.items():
        if _group(module) == "ops":
            assert f"{PACKAGE}.tensor" not in at_import | in_functions, (
                f"{module} imports {PACKAGE}.tensor: the ops reach the Tensor class through "
                f"{PACKAGE}.recording (recording.Tensor, apply, _as_tensor)"
            )


def test_the_specification_reads_real_imports():
    """A reader that found nothing would pass every test above: tensor.py's known imports must be seen."""
    at_import, _ = IMPORTS[f"{PACKAGE}.tensor"]
    assert {f"{PACKAGE}.ops", f"{PACKAGE}.recording", f"{PACKAGE}.broadcasting"} <= at_import
    assert f"{PACKAGE}.viz.page" in IMPORTS[f"{PACKAGE}.viz.graph"][1]
