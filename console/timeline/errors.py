"""What can go wrong making a timeline; every message is one line, fit to print as is."""

from __future__ import annotations


class TimelineError(Exception):
    """Base of the errors below: print `str(error)` and stop."""


class SessionNotFound(TimelineError, LookupError):
    """No archived session of that id where we looked."""


class ParticipantNotFound(TimelineError, LookupError):
    """The session has no participant of that id."""


class ArchiveUnreadable(TimelineError, ValueError):
    """The session's files are there but cannot be read."""


class BadRows(TimelineError, ValueError):
    """The rows given are not one session's rows of the archive tables."""
