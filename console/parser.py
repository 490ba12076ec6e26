"""The command line of `ivs-archive`: its commands, their arguments and help texts, in two
groups: the deployment's (here) and the laptop's (`ivs-archive local ...`, local/commands.py).
Bad input is refused while parsing: one line, exit status 2."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from archiver.ledger import Status
from console import arguments
from console.deployment import DEFAULT_STACK
from local import commands as local_commands
from shared.arguments import Parser

PROG = "ivs-archive"
DESCRIPTION = """\
`ivs-archive`: the operator's console of a deployed IVS Stage Archive, and the archiver on a
laptop (`ivs-archive local ...`).

Every AWS resource is found from the stack's CloudFormation outputs (--stack, default
IvsStageArchive; --region and --profile as for the AWS CLI). `--json` prints a command's result
as one JSON document, for scripts. Errors are one line: exit status 1, or 2 for bad input.
"""


def _common(*, limit: bool = False) -> Parser:
    """The options every command takes."""
    common = Parser(add_help=False)
    aws = common.add_argument_group("deployment")
    aws.add_argument(
        "--stack",
        metavar="NAME",
        default=os.environ.get("IVS_ARCHIVE_STACK", DEFAULT_STACK),
        help=f"the deployment's CloudFormation stack (default {DEFAULT_STACK}, "
        "or $IVS_ARCHIVE_STACK)",
    )
    aws.add_argument("--region", metavar="REGION", help="AWS region (default: your profile's)")
    aws.add_argument("--profile", metavar="NAME", help="AWS CLI profile (default: $AWS_PROFILE)")
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


def parser() -> argparse.ArgumentParser:
    top = Parser(
        prog=PROG,
        usage=f"{PROG} [-h] COMMAND ...",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # The commands are listed in two groups by the epilog (argparse knows only one list).
    commands = top.add_subparsers(
        dest="command", required=True, metavar="COMMAND", help=argparse.SUPPRESS, prog=PROG
    )

    deployment: list[tuple[str, str]] = []  # (command, summary), for the help's first group

    def command(
        name: str, summary: str, description: str, *, limit: bool = False
    ) -> argparse.ArgumentParser:
        deployment.append((name, summary))
        sub = commands.add_parser(
            name,
            help=summary,
            description=description,
            parents=[_common(limit=limit)],
        )
        sub.set_defaults(prog=sub.prog)
        return sub

    status = command(
        "status",
        "is the archive keeping up? every collector too",
        "Sessions by ledger status, the oldest session not archived and its age, the archive "
        "lag (p50, p95) of the sessions archived in the last 24 hours, the work queue and "
        "dead-letter queue, and discovery's last scheduled run and last full reconcile. Then "
        "every collector of the deployment (one per account and region), from the report each "
        "writes into the home after its scheduled discovery: backlog, dead letters, archive lag, "
        "last discovery; SILENT when it has not reported for three discovery intervals. On the "
        "home of a deployment with regions (--stack NAME-home), the collectors alone.",
    )
    status.add_argument(
        "--account", metavar="ID", type=arguments.account_id, help="only this account's collectors"
    )
    status.add_argument(
        "--in-region",
        metavar="REGION",
        type=arguments.ivs_region,
        help="only the collectors in this region (--region is where the stack is)",
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
        type=arguments.status,
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
    timeline.add_argument(
        "--participant",
        metavar="ID",
        help="keep this participant's lane (its whole participant id), highlighted, even where "
        "the lane limit folds it",
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

    local = commands.add_parser(
        "local",
        help="the archiver on a laptop, no AWS account",
        description=local_commands.DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    local.set_defaults(prog=local.prog)
    local_commands.add_commands(
        local.add_subparsers(dest="local_command", required=True, metavar="COMMAND")
    )
    top.epilog = _groups(
        ("deployment commands (a deployed stack: --stack, --region, --profile)", deployment),
        (
            "local commands (on a laptop, no AWS account; the same as `python -m local ...`)",
            [(f"local {name}", summary) for name, summary in local_commands.COMMANDS],
        ),
    )
    return top


def _groups(*groups: tuple[str, list[tuple[str, str]]]) -> str:
    """The commands, listed by group under their headings, as argparse lists options."""
    width = max(len(name) for _, commands in groups for name, _ in commands) + 2
    lines = []
    for heading, commands in groups:
        lines += ["", f"{heading}:"]
        lines += [f"  {name:<{width}}{summary}" for name, summary in commands]
    return "\n".join(lines[1:])
