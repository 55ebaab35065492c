"""Rejected requests: the invalid-request handler and its default answer.

The default answer is 400 with the error's class and code, logged at WARNING; it never
carries a secret, a signature or decrypted content.
"""

from __future__ import annotations

import logging
from typing import Any

from ..errors import CallbackError
from .request import InvalidRequestHandler, Response
from .responses import internal_error, plain_response

__all__ = ["default_invalid_request_handler", "reject"]

_log = logging.getLogger(__name__)


def default_invalid_request_handler(http_request: Any, error: CallbackError) -> Response:
    """Answer 400 with the error's class and code, logged at WARNING (nothing secret)."""
    name = type(error).__name__
    _log.warning("rejected callback: %s (%d)", name, error.code)
    return plain_response(400, f"{name} ({error.code})\n".encode())


def reject(
    handler: InvalidRequestHandler | None, http_request: Any, error: CallbackError
) -> Response:
    """Answer a rejected request with ``handler``, or the default 400 when it gives ``None``."""
    if handler is not None:
        try:
            response = handler(http_request, error)
        except Exception:
            _log.exception("invalid-request handler failed")
            return internal_error()
        if response is not None:
            return response
    return default_invalid_request_handler(http_request, error)
