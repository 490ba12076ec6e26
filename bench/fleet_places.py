"""`python -m bench fleet --regions R,... [--accounts N]`: the day's backlog spread over places
(its stages take the places in turn, as `generate --regions` spreads them), each archived by a
collector of its own at its own quota (local/places.py), all committing into one catalog.

Each place's ideal is its own busiest operation's minimum calls at its budget; the places run
at once, so the whole should take the slowest place's ideal: printed is elapsed over that
ideal, each place's own, and the commits redone because another place's collector committed
first (Iceberg's optimistic concurrency: nothing is lost or doubled, some work is redone).
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from local.generator.places import spread
from local.pipeline import Options
from local.places import PlacesRun, places_of
from local.replay import session_keys


def run_places(
    scenario: dict[str, Any],
    options: Options,
    *,
    regions: list[str],
    accounts: int,
    minimum: Any,
) -> dict[str, Any]:
    """The backlog of `scenario` over the places of `regions` and `accounts`; `minimum(part)`:
    a part's fewest calls per operation. What `bench fleet` reports, with `places`."""
    day = spread(scenario, regions, accounts)
    parts = places_of(day)
    budget = options.archiver_budget
    least = {place: minimum(part) for place, part in parts.items()}
    ideal = {place: max(n / budget for n in calls.values()) for place, calls in least.items()}
    with (
        tempfile.TemporaryDirectory(prefix="bench-places-") as folder,
        PlacesRun(day, replace(options, tables_dir=Path(folder))) as run,
    ):
        for place, simulator in run.simulators.items():
            warm(simulator.store, parts[place])
        run.run()
        stats = run.stats()
        reports = dict(run.reports)
        dead = session_keys(run.dead_letters())
    places = {
        place.name: {
            "sessions_archived": stats["places"][place.name]["sessions_archived"],
            "elapsed_s": stats["places"][place.name]["elapsed_s"],
            "ideal_s": round(ideal[place], 1),
            "ratio": round(stats["places"][place.name]["elapsed_s"] / ideal[place], 3)
            if ideal[place]
            else None,
            "commit_conflicts": reports.get(place, {}).get("commit_conflicts", 0),
        }
        for place in parts
    }
    total: dict[str, int] = {}
    for calls in least.values():
        for operation, n in calls.items():
            total[operation] = total.get(operation, 0) + n
    slowest = max(ideal.values(), default=0.0)
    return {
        "places": places,
        "elapsed_s": round(stats["elapsed_s"], 1),
        "ideal_s": round(slowest, 1),
        "ratio": round(stats["elapsed_s"] / slowest, 3) if slowest else None,
        "commit_conflicts": stats["commit_conflicts"],
        "calls": {op: n for op, n in stats["api_calls"].items() if n},
        "minimum_calls": total,
        "throttled": stats["throttled"],
        "archived": stats["sessions_archived"],
        "dead_lettered": len(dead),
        "participants": stats["participants"],
        "events": stats["events"],
        "invocations": sum(r.get("invocations", 0) for r in reports.values()),
        "busy_s": sum(r.get("busy_s", 0.0) for r in reports.values()),
        "finished": not any(r.get("not_queued") for r in reports.values()),
    }


def warm(store: Any, part: dict[str, Any]) -> None:
    """The simulator indexes a session on first use: before the clock starts (IVS has no such
    warm-up)."""
    for stage in part["stages"]:
        for session in stage["sessions"]:
            for person in session["participants"][:1]:
                ids = (stage["arn"], session["sessionId"], person["participantId"])
                store.events(*ids)
                store.participant(*ids)
