"""`ivs-archive` (console.parser has its commands): each command's module run on the deployment
the stack names, or on a local archive, and the laptop's commands (`ivs-archive local ...`,
local/commands.py); whatever ends a command is reported in one line (exit status 1, or 2 for
bad input)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from botocore.exceptions import BotoCoreError, ClientError

from console.aws import Aws
from console.deployment import Deployment, find
from console.errors import ConsoleError, one_line
from console.output import Output
from console.parser import PROG, parser
from local import commands as local_commands

# A traceback instead of the one-line error, for whoever debugs the console itself.
DEBUG = "IVS_ARCHIVE_DEBUG"


def _deployment(args: argparse.Namespace) -> Deployment:
    return find(Aws(region=args.region, profile=args.profile), args.stack)


def _local_or_aws(args: argparse.Namespace) -> Deployment | None:
    return None if getattr(args, "dir", None) is not None else _deployment(args)


def _dispatch(args: argparse.Namespace, out: Output) -> int:
    from archiver.messages import SessionMessage
    from console import (  # each command's module, imported only when it runs
        archive,
        backfill,
        erase,
        migrate,
        redrive,
        sessions,
        smoke,
        status,
        timeline_command,
    )

    runners: dict[str, Callable[[], int]] = {
        "status": lambda: status.show(
            _deployment(args), out, account=args.account, region=args.in_region
        ),
        "sessions": lambda: sessions.show(
            _deployment(args), out, stage=args.stage, status=args.status, since=args.since
        ),
        "archive": lambda: archive.run(
            _deployment(args),
            out,
            SessionMessage(stageArn=args.stage_arn, sessionId=args.session_id),
        ),
        "backfill": lambda: backfill.run(
            _deployment(args),
            out,
            stages=args.stage,
            since=args.since,
            tps=args.tps,
            follow_up=not args.no_follow,
            interval=args.interval,
        ),
        "redrive": lambda: redrive.run(_deployment(args), out, dry_run=args.dry_run),
        "smoke": lambda: smoke.run(_deployment(args), out),
        "timeline": lambda: timeline_command.run(
            _local_or_aws(args),
            out,
            session_id=args.session_id,
            directory=args.dir,
            target=args.out,
            participant=args.participant,
        ),
        "erase": lambda: erase.run(
            _local_or_aws(args), out, user_id=args.user_id, directory=args.dir, yes=args.yes
        ),
        "migrate": lambda: migrate.run(_local_or_aws(args), out, directory=args.dir),
    }
    return runners[args.command]()


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "local":  # the laptop's commands report their own errors
        return local_commands.run(args)
    out = Output(as_json=args.json, limit=getattr(args, "limit", 0) if not args.json else 0)
    try:
        return _dispatch(args, out)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if os.environ.get(DEBUG):
            raise
        status, message = _describe(error)
        print(f"{PROG} {args.command}: error: {message}", file=sys.stderr)
        return status


def _describe(error: Exception) -> tuple[int, str]:
    """(exit status, one line) for an error that ended a command."""
    from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

    from console.timeline import TimelineError  # (matplotlib: only when a command needed it)

    if isinstance(error, ConsoleError):
        return error.status, str(error)
    if isinstance(error, TimelineError):
        return 1, str(error)
    if isinstance(error, ClientError | BotoCoreError):
        return 1, one_line(error)
    if isinstance(error, NoSuchTableError | NoSuchNamespaceError):
        return 1, f"{one_line(error)} (`ivs-archive smoke` checks the deployment's tables)"
    if isinstance(error, OSError):
        return 1, one_line(error)
    return 1, f"{one_line(error)} (set {DEBUG}=1 for the traceback)"


if __name__ == "__main__":
    sys.exit(main())
