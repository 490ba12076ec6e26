"""`ivs-archive timeline SESSION_ID`: the picture of one session (console.timeline), from the
query tables through Athena, or with `--dir` from a local copy of the archive; `--participant
ID` keeps that participant's lane where the lane limit would fold it."""

from __future__ import annotations

import re
from pathlib import Path

from console.athena import Athena
from console.deployment import DATABASE, WORKGROUP, Deployment
from console.errors import UsageError
from console.output import Output, counted
from console.sources import athena_session, local_session
from console.timeline import WRITERS, timeline_of, words, write


def check_target(target: Path) -> None:
    """Before any query: a file name the picture can be written to."""
    if target.suffix.lower() not in WRITERS:
        raise UsageError(f"argument --out: {target}: the file name must end in .png or .html")
    if not target.parent.is_dir():
        raise UsageError(f"argument --out: {target}: no folder {target.parent}")
    if target.is_dir():
        raise UsageError(f"argument --out: {target} is a folder")


PARTICIPANT_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")  # the API model's ParticipantId


def check_participant(participant: str) -> None:
    """Before any query: something that can be a participant id."""
    if not PARTICIPANT_ID.match(participant):
        raise UsageError(
            f"argument --participant: not a participant id (1 to 64 letters, digits, - or _): "
            f"{participant!r}"
        )


def run(
    deployment: Deployment | None,
    out: Output,
    *,
    session_id: str,
    directory: Path | None,
    target: Path | None,
    participant: str | None = None,
) -> int:
    target = target or Path(f"{session_id}.png")
    check_target(target)
    if participant is not None:
        check_participant(participant)
    if directory is not None:
        rows, source = local_session(directory, session_id)
        source = f"{directory}: {source}"
    else:
        assert deployment is not None
        deployment.require(WORKGROUP, DATABASE)
        athena = Athena(deployment.client("athena"), deployment[WORKGROUP], deployment[DATABASE])
        rows = athena_session(athena, session_id)
        source = f"Athena, workgroup {deployment[WORKGROUP]}"
    timeline = timeline_of(rows, participant=participant)
    written = write(timeline, target)
    folded = f", {words.folded_who(timeline.fold)} folded" if timeline.fold is not None else ""
    out.data(
        {
            "file": str(written),
            "session_id": timeline.session_id,
            "stage_arn": timeline.stage_arn,
            "participants": len(rows.participants),
            "events": len(rows.events),
            "lanes": len(timeline.lanes),
            "lane_limit": timeline.fold_limit,
            "folded": timeline.folded,
            "folded_publishers": timeline.fold.publishers if timeline.fold is not None else 0,
            "participant": participant,
            "source": source,
        }
    )
    stage = timeline.stage_name or timeline.stage_arn
    out.line(
        f"wrote {written}: session {timeline.session_id} of {stage}, "
        f"{counted(len(rows.participants), 'participant')}, "
        f"{counted(len(rows.events), 'event')}, "
        f"{counted(len(timeline.lanes), 'lane')}{folded} (from {source})"
    )
    return 0
