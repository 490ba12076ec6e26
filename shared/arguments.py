"""Command-line values checked while argparse parses them, and a parser whose errors are one line.

A bad value stops the command before it does any work: exit status 2 and one line on standard
error naming the flag, e.g. `python -m local run: error: argument --tps: must be a number
greater than 0, got '0' (see --help)`.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn


class Parser(argparse.ArgumentParser):
    """argparse, with a one-line error instead of the usage text followed by the error, and
    an unknown flag reported by the command it was given to (`ivs-archive local run: error:
    unrecognized arguments: --scenaro`), as a subcommand's parser names itself in `prog`
    (`parser.set_defaults(prog=parser.prog)`)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        parsed, unknown = self.parse_known_args(args, namespace)
        if unknown:
            prog = getattr(parsed, "prog", self.prog)
            self.exit(
                2, f"{prog}: error: unrecognized arguments: {' '.join(unknown)} (see --help)\n"
            )
        return parsed


def fail(prog: str, message: str) -> int:
    """Print a usage error as `Parser.error` does; the exit status to return (2)."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    return 2


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def positive(text: str) -> float:
    """A finite number greater than 0."""
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number greater than 0, got {text!r}")
    return value


def positive_up_to(high: float) -> Callable[[str], float]:
    """A number greater than 0 and at most `high`."""

    def parse(text: str) -> float:
        value = _number(text)
        if not 0 < value <= high:
            raise argparse.ArgumentTypeError(
                f"must be a number greater than 0 and at most {high:g}, got {text!r}"
            )
        return value

    return parse


def non_negative(text: str) -> float:
    """A finite number, 0 or more."""
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a number of at least 0, got {text!r}")
    return value


def fraction(text: str) -> float:
    """A number from 0 to 1."""
    value = _number(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be a number from 0 to 1, got {text!r}")
    return value


def integer(low: int, high: int | None = None) -> Callable[[str], int]:
    """An integer from `low` to `high` (no upper bound when None)."""
    bounds = f"of at least {low}" if high is None else f"from {low} to {high}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be a whole number {bounds}, got {text!r}")
        return value

    return parse


def _blocked_by_file(path: Path) -> Path | None:
    """The first ancestor of `path` that exists and is not a folder (so `path` cannot be made)."""
    for parent in reversed(path.absolute().parents):
        if parent.exists() and not parent.is_dir():
            return parent
    return None


def _writable(path: Path) -> None:
    """`path` can be made (or written, if it exists): its nearest existing folder takes a new
    file. Tried, not guessed from permission bits, which say yes to root everywhere (even in
    /proc): an unnamed temporary file is made there and gone at once."""
    blocker = _blocked_by_file(path)
    if blocker is not None:
        raise argparse.ArgumentTypeError(f"{str(path)!r} cannot be made: {blocker} is a file")
    existing = next(p for p in [path, *path.absolute().parents] if p.exists())
    folder = existing if existing.is_dir() else existing.parent
    try:
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as error:
        verb = "written" if existing == path else "made"
        raise argparse.ArgumentTypeError(
            f"{str(path)!r} cannot be {verb} in {folder}: {error.strerror or error}"
        ) from None
    if existing == path and not os.access(path, os.W_OK):
        raise argparse.ArgumentTypeError(f"{str(path)!r} cannot be written")


def output_file(text: str) -> Path:
    """A file to write (replaced if it exists): not a folder, and its folder can be made."""
    path = Path(text)
    if not text or path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a folder; name a file to write")
    _writable(path)
    return path


def output_folder(text: str) -> Path:
    """A folder to write into: not a file, and it can be made."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a file; name a folder")
    _writable(path)
    return path
