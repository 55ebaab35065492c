"""A module imported on first use, for the standard modules only some paths need (``asyncio``).

In a module that needs ``asyncio`` on its ASGI path only::

    if TYPE_CHECKING:
        import asyncio
    else:
        asyncio = lazy_module("asyncio", globals())

The stand-in's first attribute access imports the module and rebinds the global name to it:
from then on ``asyncio.sleep`` is the plain global look-up it was with an eager import, so the
per-request paths pay nothing. ``typing.get_type_hints`` resolves ``asyncio.Task`` through the
stand-in (which imports ``asyncio`` then).
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

__all__ = ["lazy_module"]


class _LazyModule:
    """Stands for a module bound to a global name until its first attribute access."""

    __slots__ = ("_name", "_namespace")

    def __init__(self, name: str, namespace: dict[str, Any]) -> None:
        self._name = name
        self._namespace = namespace

    def __getattr__(self, attr: str) -> Any:
        name = self._name
        __import__(name)
        module = sys.modules[name]
        # rebind the global: later look-ups find the module itself (idempotent, so two
        # threads racing here both bind the same module)
        self._namespace[name.rpartition(".")[2]] = module
        return getattr(module, attr)

    def __repr__(self) -> str:
        return f"<module {self._name!r}, imported on first use>"


def lazy_module(name: str, namespace: dict[str, Any]) -> ModuleType:
    """Return a stand-in for the module ``name``, rebound in ``namespace`` on first use.

    ``namespace`` is the calling module's ``globals()``; the global is the last part of
    ``name``.
    """
    return _LazyModule(name, namespace)  # type: ignore[return-value]
