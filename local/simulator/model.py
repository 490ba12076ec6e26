"""The installed botocore model of `ivs-realtime`, walked to validate values and shape outputs.

Every enum, pattern, length and member list comes from the model at run time, so a newer
botocore flows through without edits here. Patterns are matched whole (`re.fullmatch`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import botocore.session
from botocore.model import ListShape, MapShape, ServiceModel, Shape, StructureShape

SERVICE = "ivs-realtime"

# ISO-8601 with a time zone and at most millisecond precision, as the API's `Time` values.
_ISO_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?(Z|[+-]\d{2}:\d{2})", re.ASCII
)
_CANONICAL_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", re.ASCII)


@cache
def service_model() -> ServiceModel:
    """The installed botocore model of IVS Real-Time (loaded once)."""
    return botocore.session.get_session().get_service_model(SERVICE)


def shape(name: str) -> Shape:
    return service_model().shape_for(name)


def enum_values(shape_name: str) -> list[str]:
    """The enum of a string shape, e.g. `enum_values("EventName")`."""
    return list(shape(shape_name).enum)


@cache
def _pattern(regex: str) -> re.Pattern[str]:
    return re.compile(regex)


def _describe(shape_name: str) -> str:
    """'EventName' -> 'an event name'."""
    words = re.sub(r"(?<!^)(?=[A-Z])", " ", shape_name).lower()
    return ("an " if words[0] in "aeiou" else "a ") + words


@dataclass(frozen=True)
class Violation:
    """One value that breaks the model: where (a JSON path) and why."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def parse_time(value: str) -> datetime:
    """Parse an ISO-8601 time the scenario or API uses; raise ValueError if it is not one."""
    if not isinstance(value, str) or not _ISO_TIME.fullmatch(value):
        raise ValueError(f"{value!r} is not an ISO-8601 time like '2026-11-01T10:00:00.123Z'")
    return datetime.fromisoformat(value).astimezone(UTC)


def format_time(value: datetime) -> str:
    """Canonical API form: UTC, millisecond precision, 'Z'."""
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def canonical_time(value: str) -> str:
    return value if _CANONICAL_TIME.fullmatch(value) else format_time(parse_time(value))


def check(
    value: Any, shp: Shape, path: str, *, extra: frozenset[str] = frozenset()
) -> Iterator[Violation]:
    """Yield every way `value` (JSON data) breaks shape `shp`; `extra` are allowed extra keys."""
    kind = shp.type_name
    if kind == "structure":
        yield from _check_structure(value, shp, path, extra)
    elif kind == "list":
        yield from _check_list(value, shp, path)
    elif kind == "map":
        yield from _check_map(value, shp, path)
    elif kind == "string":
        yield from _check_string(value, shp, path)
    elif kind in ("integer", "long"):
        yield from _check_number(value, shp, path)
    elif kind == "boolean":
        if not isinstance(value, bool):
            yield Violation(path, f"{value!r} is not a boolean")
    elif kind == "timestamp":
        try:
            parse_time(value)
        except ValueError as error:
            yield Violation(path, str(error))
    else:  # pragma: no cover - the IVS model has no other types in these shapes
        yield Violation(path, f"unsupported model type {kind}")


def _join(path: str, member: str) -> str:
    return f"{path}.{member}" if path else member


def _check_structure(
    value: Any, shp: StructureShape, path: str, extra: frozenset[str]
) -> Iterator[Violation]:
    if not isinstance(value, dict):
        yield Violation(path or "$", f"expected an object ({shp.name}), got {value!r}")
        return
    members = shp.members
    for key in value:
        if key not in members and key not in extra:
            yield Violation(_join(path, key), f"unknown member of {shp.name}")
    for key in shp.required_members:
        if value.get(key) is None:
            yield Violation(_join(path, key), "missing required member")
    for key, item in value.items():
        if key in members and item is not None:
            yield from check(item, members[key], _join(path, key))


def _check_size(size: int, shp: Shape, path: str, what: str) -> Iterator[Violation]:
    low, high = shp.metadata.get("min"), shp.metadata.get("max")
    if low is not None and size < low:
        yield Violation(path, f"{what} must be at least {low}, got {size}")
    if high is not None and size > high:
        yield Violation(path, f"{what} must be at most {high}, got {size}")


def _check_list(value: Any, shp: ListShape, path: str) -> Iterator[Violation]:
    if not isinstance(value, list):
        yield Violation(path, f"expected a list, got {value!r}")
        return
    yield from _check_size(len(value), shp, path, "length")
    for index, item in enumerate(value):
        yield from check(item, shp.member, f"{path}[{index}]")


def _check_map(value: Any, shp: MapShape, path: str) -> Iterator[Violation]:
    if not isinstance(value, dict):
        yield Violation(path, f"expected an object, got {value!r}")
        return
    yield from _check_size(len(value), shp, path, "size")
    for key, item in value.items():
        yield from check(key, shp.key, f"{path}.{key}(key)")
        yield from check(item, shp.value, f"{path}.{key}")


def _check_string(value: Any, shp: Shape, path: str) -> Iterator[Violation]:
    if not isinstance(value, str):
        yield Violation(path, f"{value!r} is not a string")
        return
    if shp.enum:
        if value not in shp.enum:
            allowed = ", ".join(shp.enum)
            yield Violation(path, f"{value!r} is not {_describe(shp.name)} (one of {allowed})")
        return
    yield from _check_size(len(value), shp, path, "length")
    regex = shp.metadata.get("pattern")
    if regex is not None and not _pattern(regex).fullmatch(value):
        yield Violation(path, f"{value!r} does not match the pattern {regex}")


def _check_number(value: Any, shp: Shape, path: str) -> Iterator[Violation]:
    if not isinstance(value, int) or isinstance(value, bool):
        yield Violation(path, f"{value!r} is not an integer")
        return
    low, high = shp.metadata.get("min"), shp.metadata.get("max")
    if low is not None and value < low:
        yield Violation(path, f"must be at least {low}, got {value}")
    if high is not None and value > high:
        yield Violation(path, f"must be at most {high}, got {value}")


def shaped(value: Any, shp: Shape) -> Any:
    """`value` reduced to the members of `shp` (recursively), timestamps in canonical form.

    Members the shape lacks and null members are dropped, so nothing the model lacks leaks out.
    """
    kind = shp.type_name
    if kind == "structure":
        members = shp.members
        return {
            key: shaped(item, members[key])
            for key, item in value.items()
            if key in members and item is not None
        }
    if kind == "list":
        return [shaped(item, shp.member) for item in value]
    if kind == "map":
        return {key: shaped(item, shp.value) for key, item in value.items()}
    if kind == "timestamp":
        return canonical_time(value) if isinstance(value, str) else format_time(value)
    return value
