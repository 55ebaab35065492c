"""Choose the crypto core once, at import: the compiled ``_core_c`` or the pure ``_core_py``.

``WXCORP_FAST_NO_EXTENSIONS`` (truthy) forces the pure twin; ``WXCORP_FAST_REQUIRE_COMPILED``
(truthy) turns a missing extension into an ``ImportError``. Truthy means non-empty and not
``0``, ``false`` or ``no``. This is the only module that imports either twin.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Final

from . import messages
from ._spec import truthy

__all__ = ["core", "IMPLEMENTATION", "IMPORT_ERROR"]

IMPORT_ERROR: str | None = None

if TYPE_CHECKING:
    from . import _core_py as core
elif truthy("WXCORP_FAST_NO_EXTENSIONS"):
    from . import _core_py as core

    IMPORT_ERROR = "disabled by WXCORP_FAST_NO_EXTENSIONS"
elif sys.implementation.name != "cpython":
    from . import _core_py as core

    IMPORT_ERROR = f"no compiled core for {sys.implementation.name}"
else:
    try:
        core = importlib.import_module(f"{__package__}._core_c")
    except ImportError as exc:
        if truthy("WXCORP_FAST_REQUIRE_COMPILED"):
            raise ImportError(
                "WXCORP_FAST_REQUIRE_COMPILED is set but wxcorp_fast._core_c failed to import:"
                f" {exc}"
            ) from exc
        from . import _core_py as core

        if isinstance(exc, ModuleNotFoundError) and exc.name == f"{__package__}._core_c":
            IMPORT_ERROR = "the compiled core is not built (a pure-Python install)"
        else:
            IMPORT_ERROR = f"{type(exc).__name__}: {exc}"
        # `logging` here only: `from wxcorp_fast import MsgCrypto` does not load it otherwise
        import logging

        logging.getLogger(__name__).debug("using the pure-Python core: %s", IMPORT_ERROR)

if IMPORT_ERROR is not None and truthy("WXCORP_FAST_REQUIRE_COMPILED"):
    raise ImportError(f"WXCORP_FAST_REQUIRE_COMPILED is set but {IMPORT_ERROR}")

IMPLEMENTATION: Final = "python" if core.__name__.endswith("_core_py") else "compiled"
messages.use_tree_parser(core._parse_tree)
