"""The ``wxcorp-fast`` argument parser and ``main``: one subcommand per module of this room."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Sequence

import wxcorp_fast

from .doctor import add_doctor_command
from .fake_work import add_fake_work_command
from .info import cmd_info
from .server import add_server_commands

__all__ = ["build_parser", "main"]

Command = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    """Build the ``wxcorp-fast`` argument parser with one subparser per command."""
    parser = argparse.ArgumentParser(
        prog="wxcorp-fast",
        description="WeChat Work (企业微信) callback SDK: tools and diagnostics.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {wxcorp_fast.__version__}"
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    info = commands.add_parser(
        "info",
        help="show the core in use, the OpenSSL it links, and run a self-check",
        description="Show the version, the crypto core in use (compiled or python), the "
        "OpenSSL version it links or why the compiled core is missing, and verify the "
        "official WeChat Work docs example. Exits 1 when the self-check fails.",
    )
    info.set_defaults(func=cmd_info)
    add_server_commands(commands)
    add_doctor_command(commands)
    add_fake_work_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit status."""
    args = build_parser().parse_args(argv)
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    command: Command = args.func
    return command(args)
