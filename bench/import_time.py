"""Import time of the common imports: best of N ``python -X importtime`` runs, in ms.

    python bench/import_time.py [-n 8] [--tree DIR ...]

Each statement runs N times in a fresh interpreter from a temporary directory (with the
bytecode caches written, as an installed wheel has them), the runs of every statement and
tree interleaved so that a busy neighbour weighs on all alike. A statement's figure is the sum
of the cumulative times of its top-level imports beyond the interpreter's own start-up (what
``-c pass`` imports); the ``-c pass`` line gives that start-up (``site``) for comparison.
``--tree DIR`` (repeatable) also measures a copy of the package in ``DIR`` (on
``PYTHONPATH``), e.g. a ``git archive`` of another commit with the extension copied in.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

STATEMENTS = {
    "import wxcorp_fast": "import wxcorp_fast",
    "from wxcorp_fast import MsgCrypto": "from wxcorp_fast import MsgCrypto",
    "callback server (AgentServerFrontend, MsgCrypto, replies.TextReply)": (
        "from wxcorp_fast import AgentServerFrontend, MsgCrypto;"
        " from wxcorp_fast.replies import TextReply"
    ),
    "AI bot (aibot.AIBotServer)": "from wxcorp_fast.aibot import AIBotServer",
}


def _rows(statement: str, tree: str | None, cwd: str) -> list[tuple[int, str]]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if tree is not None:
        env["PYTHONPATH"] = tree
    err = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    rows = []
    for line in err.splitlines():
        if line.startswith("import time:") and "cumulative" not in line:
            _, cumulative, name = line.split("|")
            rows.append((int(cumulative), name.rstrip()))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=8, help="runs per statement (best is kept)")
    parser.add_argument("--tree", action="append", default=[], help="another package tree")
    args = parser.parse_args()
    trees: list[str | None] = [*args.tree, None]
    best: dict[tuple[str, str | None], int] = {}
    with tempfile.TemporaryDirectory() as cwd:
        startup = {name.strip() for _, name in _rows("pass", None, cwd)}
        for _ in range(args.n):
            site = next(c for c, name in _rows("pass", None, cwd) if name == " site")
            best["-c pass: site", None] = min(best.get(("-c pass: site", None), 1 << 62), site)
            for label, statement in STATEMENTS.items():
                for tree in trees:
                    total = sum(
                        cumulative
                        for cumulative, name in _rows(statement, tree, cwd)
                        if not name.startswith("  ") and name.strip() not in startup
                    )
                    best[label, tree] = min(best.get((label, tree), 1 << 62), total)
    print(f"best of {args.n}, ms (cumulative, -X importtime); load: {os.getloadavg()[0]:.2f}")
    for label in ["-c pass: site", *STATEMENTS]:
        cells = [
            f"{tree or 'this tree'}: {best[label, tree] / 1000:.1f}"
            for tree in trees
            if (label, tree) in best
        ]
        print(f"  {label:<68} {'  '.join(cells)}")


if __name__ == "__main__":
    main()
