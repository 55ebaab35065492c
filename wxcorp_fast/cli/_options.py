"""Options several commands share: the agent's credentials, each with its WXCORP_* variable."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any

__all__ = ["add_credentials"]


def _agent_id(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be an integer (flag or WXCORP_AGENT_ID), not {text!r}"
        ) from None


def add_credentials(parser: argparse.ArgumentParser) -> None:
    """Add the agent's credential flags, each defaulting to its WXCORP_* variable."""
    from wxcorp_fast.testing import vectors

    group = parser.add_argument_group(
        "agent credentials",
        "each flag falls back to its environment variable, then to the WeChat Work docs' "
        "example (corp wx5823bf96d3bd56c7, agent 218); --receive-id is an AI bot's (default "
        "empty, a company's own bot)",
    )
    credentials: tuple[tuple[str, str, Callable[[str], Any], str], ...] = (
        ("--corp-id", "WXCORP_CORP_ID", str, vectors.CORP_ID),
        ("--agent-id", "WXCORP_AGENT_ID", _agent_id, str(vectors.AGENT_ID)),
        ("--token", "WXCORP_TOKEN", str, vectors.TOKEN),
        ("--encoding-aes-key", "WXCORP_ENCODING_AES_KEY", str, vectors.ENCODING_AES_KEY),
        ("--receive-id", "WXCORP_RECEIVE_ID", str, ""),
    )
    for flag, env, kind, default in credentials:
        # a string default goes through `type` too, and only for the command in use
        group.add_argument(
            flag,
            type=kind,
            default=os.environ.get(env, default)
            if flag == "--receive-id"
            else os.environ.get(env) or default,
            metavar=env.removeprefix("WXCORP_"),
            help=f"(env {env})",
        )
