"""Reading one session's rows from a local copy of the archive, in the landing layout:

    DIR/stage_sessions/dt=*/<account>/<region>/<stage_id>/<session_id>.parquet
    DIR/participants/dt=*/<account>/<region>/<stage_id>/<session_id>/part-*.parquet
    DIR/participant_events/dt=*/<account>/<region>/<stage_id>/<session_id>/part-*.parquet

(what `ivs-archive local run --out DIR` or `aws s3 sync` leaves; before places, without the
account and region folders). Other sources (the Iceberg
tables, Athena) give the same `SessionRows`.
"""

from __future__ import annotations

import glob
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from console.timeline.errors import ArchiveUnreadable, SessionNotFound
from console.timeline.rows import Row, SessionRows

# Between the day and the stage: the place's folders, or (landed before places) none.
PLACES = ("*/*/", "")


def load_local_session(directory: str | Path, session_id: str) -> SessionRows:
    folder = Path(directory)
    if not (folder / "stage_sessions").is_dir():
        raise SessionNotFound(
            f"{folder} is not an archive folder (no stage_sessions/ in it); "
            "give the folder `python -m local run --out` wrote"
        )
    name = glob.escape(session_id)
    found = sorted(
        path
        for place in PLACES
        for path in folder.glob(f"stage_sessions/dt=*/{place}*/{name}.parquet")
    )
    if not found:
        landed = any(
            any(folder.glob(f"participant_events/dt=*/{place}*/{name}/part-*.parquet"))
            for place in PLACES
        )
        why = "its archive is not finished (no stage_sessions row yet)" if landed else "not found"
        raise SessionNotFound(f"session {session_id!r} in {folder}: {why}")
    if len(found) > 1:
        where = ", ".join(str(path.relative_to(folder)) for path in found)
        raise SessionNotFound(f"session {session_id!r} is archived more than once: {where}")
    path = found[0]
    # The session's folders under stage_sessions/: the day, the place's (if any), the stage.
    folders = path.parent.relative_to(folder / "stage_sessions").as_posix()
    sessions = _read([path])
    if len(sessions) != 1:
        raise ArchiveUnreadable(f"{path}: expected one stage_sessions row, found {len(sessions)}")
    where = f"{glob.escape(folders)}/{name}/part-*.parquet"
    participants = _read(sorted(folder.glob(f"participants/{where}")))
    events = _read(sorted(folder.glob(f"participant_events/{where}")))
    return SessionRows(sessions[0], participants, events)


def _read(paths: list[Path]) -> list[Row]:
    rows: list[Row] = []
    for path in paths:
        try:
            table: pa.Table = pq.read_table(path, partitioning=None)
        except (OSError, pa.ArrowException) as error:
            first = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise ArchiveUnreadable(f"cannot read {path}: {first}") from None
        rows += table.to_pylist()
    return rows
