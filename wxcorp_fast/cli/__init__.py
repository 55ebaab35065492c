"""Command line: ``python -m wxcorp_fast`` and the ``wxcorp-fast`` console script.

One module per part: ``parser`` (the argument parser and ``main``), ``info`` (the core in use
and a self-check), ``server`` (``serve``, ``simulate``, ``demo``), ``echobot`` (the bot that
``serve`` runs), ``gunicorn`` (its production server), ``loadgen`` (``simulate``'s engine) and
``fake_work`` (``fake-work``: the fake WeChat Work API, standalone).
"""

from __future__ import annotations

from .parser import build_parser, main

__all__ = ["build_parser", "main"]
