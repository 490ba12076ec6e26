"""`python -m local <command>`: the laptop's commands for scripts, the same flags and exit codes
as `ivs-archive local <command>` (local/commands.py defines them)."""

from __future__ import annotations

import argparse
import sys

from local.commands import DESCRIPTION, add_commands, run
from shared.arguments import Parser


def parser() -> Parser:
    top = Parser(
        prog="python -m local",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_commands(top.add_subparsers(dest="local_command", required=True, metavar="COMMAND"))
    return top


def main(argv: list[str] | None = None) -> int:
    return run(parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
