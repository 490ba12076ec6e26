"""`ivs-archive`: the operator's console of a deployed IVS Stage Archive.

Every AWS resource is found from the stack's CloudFormation outputs (--stack, default
IvsStageArchive; --region and --profile as for the AWS CLI). `--json` prints a command's result
as one JSON document, for scripts. Errors are one line: exit status 1, or 2 for bad input.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from archiver.ledger import Status
from console import arguments
from console.aws import Aws
from console.deployment import DEFAULT_STACK, Deployment, find
from console.errors import ConsoleError, one_line
from console.output import Output
from console.timeline import TimelineError
from local.arguments import Parser

PROG = "ivs-archive"
# A traceback instead of the one-line error, for whoever debugs the console itself.
DEBUG = "IVS_ARCHIVE_DEBUG"


def _common(*, stack: bool = True, json: bool = True, limit: bool = False) -> Parser:
    common = Parser(add_help=False)
    if stack:
        aws = common.add_argument_group("deployment")
        aws.add_argument(
            "--stack",
            metavar="NAME",
            default=os.environ.get("IVS_ARCHIVE_STACK", DEFAULT_STACK),
            help=f"the deployment's CloudFormation stack (default {DEFAULT_STACK}, "
            "or $IVS_ARCHIVE_STACK)",
        )
        aws.add_argument("--region", metavar="REGION", help="AWS region (default: your profile's)")
        aws.add_argument(
            "--profile", metavar="NAME", help="AWS CLI profile (default: $AWS_PROFILE)"
        )
    if json:
        common.add_argument("--json", action="store_true", help="print the result as JSON")
    if limit:
        common.add_argument(
            "--limit",
            metavar="N",
            type=arguments.count,
            default=100,
            help="most rows to print (default 100; 0: all; --json gives all)",
        )
    return common


def _parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str, summary: str, description: str, **common: bool
    ) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            help=summary,
            description=description,
            parents=[_common(**common)],
        )

    command(
        "status",
        "is the archive keeping up?",
        "Sessions by ledger status, the oldest session not archived and its age, the archive "
        "lag (p50, p95) of the sessions archived in the last 24 hours, the work queue and "
        "dead-letter queue, and discovery's last scheduled run and last full reconcile.",
    )

    sessions = command(
        "sessions",
        "the ledger's sessions, newest first",
        "A table of the sessions in the ledger, newest end first: stage, status, participants, "
        "events, attempts and last error.",
        limit=True,
    )
    sessions.add_argument(
        "--stage", metavar="ARN", type=arguments.stage_arn, help="only this stage"
    )
    sessions.add_argument(
        "--status",
        type=Status,
        choices=list(Status),
        metavar="STATUS",
        help=f"only sessions in this status ({', '.join(Status)})",
    )
    sessions.add_argument(
        "--since",
        metavar="WHEN",
        type=arguments.since,
        help="only sessions ended since then: 2026-11-30, 2026-11-30T12:00 (UTC), or 12h, 7d ago",
    )

    archive = command(
        "archive",
        "archive one session now",
        "Archive one ended session now, through the same path as the manual event: the "
        "discover function checks it with IVS, claims it in the ledger (even after failures) "
        "and queues it. Prints what the function answered: queued, or why it was rejected.",
    )
    archive.add_argument("stage_arn", metavar="STAGE_ARN", type=arguments.stage_arn)
    archive.add_argument("session_id", metavar="SESSION_ID", type=arguments.session_id)

    backfill = command(
        "backfill",
        "queue every ended session IVS still has, and follow them",
        "List the ended sessions IVS still has (on every stage the deployment archives, or the "
        "--stage ones), claim each one the ledger does not have archived, queue it, then follow "
        "them until they are archived. Ctrl-C stops following; the archive goes on in AWS.",
    )
    backfill.add_argument(
        "--since",
        metavar="WHEN",
        type=arguments.since,
        help="only sessions ended since then (2026-11-30, 2026-11-30T12:00, 12h, 7d); "
        "default: all IVS has",
    )
    backfill.add_argument(
        "--stage",
        metavar="ARN",
        type=arguments.stage_arn,
        nargs="+",
        default=[],
        help="only these stages (default: every stage the deployment archives)",
    )
    backfill.add_argument(
        "--tps",
        metavar="N",
        type=arguments.rate,
        default=1.0,
        help="IVS calls a second per operation (default 1; the quota of 5 is shared with the "
        "archiver and your application)",
    )
    backfill.add_argument(
        "--no-follow", action="store_true", help="queue them and return, without following"
    )
    backfill.add_argument(
        "--interval",
        metavar="S",
        type=arguments.seconds,
        default=5.0,
        help="seconds between two looks at the ledger while following (default 5)",
    )

    redrive = command(
        "redrive",
        "move dead-lettered messages back to the work queue",
        "Move every message of the dead-letter queue back to the work queue, with how many and "
        "why they were dead-lettered (the reason the archiver gave, or the ledger's last error "
        "of the session).",
    )
    redrive.add_argument(
        "--dry-run", action="store_true", help="list the messages and reasons, move nothing"
    )

    command(
        "smoke",
        "check a deployment end to end",
        "Check a deployment in a real account: the stack's outputs, each resource answering, "
        "both functions invocable (a DryRun invocation), each table answering SELECT count(*) "
        "and each named query running in the workgroup. Exit status 1 on any failure.",
    )

    timeline = command(
        "timeline",
        "a picture of one session (PNG or HTML)",
        "Draw one session: a lane per participant in order of first join, when it was "
        "connected, published, subscribed to whom, replicated, and its errors. From the query "
        "tables through Athena, or with --dir from a local copy of the archive.",
    )
    timeline.add_argument("session_id", metavar="SESSION_ID", type=arguments.session_id)
    timeline.add_argument(
        "--dir",
        metavar="DIR",
        type=Path,
        help="a local archive (`python -m local run --out DIR`, or `aws s3 sync` of the bucket)",
    )
    timeline.add_argument(
        "--out", metavar="FILE", type=Path, help="FILE.png or FILE.html (default SESSION_ID.png)"
    )

    erase = command(
        "erase",
        "remove every row of a user",
        "Remove every row of a user (as its user id, or a token's in TOKEN_EXCHANGED events) "
        "from the participants and participant_events tables and from the landing objects "
        "still kept. Asks for confirmation unless --yes.",
    )
    erase.add_argument("--user-id", metavar="U", required=True, help="the user id to erase")
    erase.add_argument("--dir", metavar="DIR", type=Path, help="a local archive instead of AWS")
    erase.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    migrate = command(
        "migrate",
        "commit landed sessions the tables lack",
        "Commit to the query tables every session whose landing objects are complete and that "
        "the tables lack: the upgrade from the Hive-table archive (README, Upgrading from the "
        "Hive tables). Safe to run again at any time.",
    )
    migrate.add_argument("--dir", metavar="DIR", type=Path, help="a local archive instead of AWS")
    return parser


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
        "status": lambda: status.show(_deployment(args), out),
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
        ),
        "erase": lambda: erase.run(
            _local_or_aws(args), out, user_id=args.user_id, directory=args.dir, yes=args.yes
        ),
        "migrate": lambda: migrate.run(_local_or_aws(args), out, directory=args.dir),
    }
    return runners[args.command]()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
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
