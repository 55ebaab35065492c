"""``wxcorp_fast/_core_c.pyi`` describes exactly ``_core_py``'s public API, plus OPENSSL_VERSION.

The stub is parsed with ``ast`` and compared with ``inspect.signature`` of the pure twin:
names, parameter kinds, defaults and annotations (the pure twin's annotations are strings
through ``from __future__ import annotations``, so both sides compare as source text).
The compiled module itself is checked against the stub too (marked ``compiled``).
"""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

import wxcorp_fast
from wxcorp_fast import _core_py

STUB = Path(wxcorp_fast.__file__).with_name("_core_c.pyi")
EXTRA = {"OPENSSL_VERSION", "OPENSSL_LINKAGE"}  # the compiled module's only additions
KINDS = {
    "posonlyargs": inspect.Parameter.POSITIONAL_ONLY,
    "args": inspect.Parameter.POSITIONAL_OR_KEYWORD,
    "kwonlyargs": inspect.Parameter.KEYWORD_ONLY,
}


def stub_tree() -> ast.Module:
    return ast.parse(STUB.read_text(encoding="utf-8"), filename=str(STUB))


def top_level(tree: ast.Module) -> dict[str, ast.AST]:
    names: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names[node.name] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names[node.target.id] = node
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    names[target.id] = node
    return names


def stub_shape(
    fn: ast.FunctionDef,
) -> tuple[list[tuple[str, object, str | None, str | None]], str | None]:
    """(name, kind, annotation, default) per parameter, and the return annotation."""
    a = fn.args
    assert a.vararg is None and a.kwarg is None, f"{fn.name}: no *args/**kwargs in the API"
    positional = [(arg, KINDS["posonlyargs"]) for arg in a.posonlyargs] + [
        (arg, KINDS["args"]) for arg in a.args
    ]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(a.defaults)) + list(
        a.defaults
    )
    params = [
        (
            arg.arg,
            kind,
            ast.unparse(arg.annotation) if arg.annotation else None,
            ast.unparse(default) if default is not None else None,
        )
        for (arg, kind), default in zip(positional, defaults)
    ]
    params += [
        (
            arg.arg,
            KINDS["kwonlyargs"],
            ast.unparse(arg.annotation) if arg.annotation else None,
            ast.unparse(default) if default is not None else None,
        )
        for arg, default in zip(a.kwonlyargs, a.kw_defaults)
    ]
    return params, ast.unparse(fn.returns) if fn.returns else None


def runtime_shape(obj) -> tuple[list[tuple[str, object, str | None, str | None]], str | None]:
    sig = inspect.signature(obj)
    params = [
        (
            p.name,
            p.kind,
            None if p.annotation is p.empty else p.annotation,
            None if p.default is p.empty else repr(p.default),
        )
        for p in sig.parameters.values()
    ]
    return params, None if sig.return_annotation is sig.empty else sig.return_annotation


def _normalise(annotation: str | None) -> str | None:
    """Source text of an annotation, re-unparsed so spacing never matters."""
    return None if annotation is None else ast.unparse(ast.parse(annotation, mode="eval").body)


def normalised(shape):
    params, returns = shape
    return [(n, k, _normalise(a), d) for n, k, a, d in params], _normalise(returns)


def test_stub_names_are_pycore_all_plus_openssl_version():
    names = {n for n in top_level(stub_tree()) if not n.startswith("_")}
    assert names == set(_core_py.__all__) | EXTRA


def test_stub_all_is_pycore_all():
    node = top_level(stub_tree())["__all__"]
    assert ast.literal_eval(node.value) == list(_core_py.__all__)


def test_openssl_version_is_a_final_str():
    node = top_level(stub_tree())["OPENSSL_VERSION"]
    assert isinstance(node, ast.AnnAssign) and ast.unparse(node.annotation) == "Final[str]"


FUNCTIONS = [n for n in _core_py.__all__ if inspect.isfunction(getattr(_core_py, n))]


@pytest.mark.parametrize("name", FUNCTIONS)
def test_stub_function_matches_pycore(name):
    node = top_level(stub_tree())[name]
    assert isinstance(node, ast.FunctionDef)
    assert normalised(stub_shape(node)) == normalised(runtime_shape(getattr(_core_py, name)))


def stub_class(name: str) -> dict[str, ast.FunctionDef]:
    node = top_level(stub_tree())[name]
    assert isinstance(node, ast.ClassDef)
    return {item.name: item for item in node.body if isinstance(item, ast.FunctionDef)}


def pycore_class_api(cls: type) -> set[str]:
    return {n for n in vars(cls) if not n.startswith("_") or n == "__init__"}


CLASSES = [n for n in _core_py.__all__ if inspect.isclass(getattr(_core_py, n))]


@pytest.mark.parametrize("name", CLASSES)
def test_stub_class_has_pycore_methods(name):
    assert set(stub_class(name)) == pycore_class_api(getattr(_core_py, name))


@pytest.mark.parametrize(
    ("cls", "method"),
    [(c, m) for c in CLASSES for m in sorted(pycore_class_api(getattr(_core_py, c)))],
)
def test_stub_method_matches_pycore(cls, method):
    node = stub_class(cls)[method]
    runtime = getattr(_core_py, cls).__dict__[method]
    if isinstance(runtime, property):
        assert [ast.unparse(d) for d in node.decorator_list] == ["property"]
        runtime = runtime.fget
    stub = normalised(stub_shape(node))
    expected = normalised(runtime_shape(runtime))
    assert stub == expected


# --------------------------------------------------------------------------- the compiled module


@pytest.fixture(scope="module")
def compiled():
    return importlib.import_module("wxcorp_fast._core_c")


@pytest.mark.compiled
def test_compiled_module_provides_the_stub(compiled):
    names = {n for n in top_level(stub_tree()) if not n.startswith("_")}
    assert set(compiled.__all__) | EXTRA == names
    assert isinstance(compiled.OPENSSL_VERSION, str) and compiled.OPENSSL_VERSION.startswith(
        "OpenSSL"
    )


@pytest.mark.compiled
@pytest.mark.parametrize("name", FUNCTIONS)
def test_compiled_function_matches_stub(compiled, name):
    node = top_level(stub_tree())[name]
    params, _ = stub_shape(node)
    runtime, _ = runtime_shape(getattr(compiled, name))
    assert [(n, k, d) for n, k, _, d in runtime] == [(n, k, d) for n, k, _, d in params]


@pytest.mark.compiled
@pytest.mark.parametrize("method", ["verify_url", "decrypt", "encrypt"])
def test_compiled_method_matches_stub(compiled, method):
    params, _ = stub_shape(stub_class("MsgCrypto")[method])
    runtime, _ = runtime_shape(getattr(compiled.MsgCrypto, method))
    assert [(n, k, d) for n, k, _, d in runtime] == [(n, k, d) for n, k, _, d in params]
    assert isinstance(inspect.getattr_static(compiled.MsgCrypto, "corp_id"), property) or hasattr(
        compiled.MsgCrypto, "corp_id"
    )
