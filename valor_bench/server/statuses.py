"""The closed sets of words the server stores and compares: a submission's status, a team's status, what an
event records, who may call a route. ``str`` enums, so the database and the JSON hold their text and
``SubmissionStatus.QUEUED == "queued"``; ``str()`` and f-strings give the text too."""

from __future__ import annotations

from enum import Enum


class _Word(str, Enum):
    def __str__(self) -> str:
        return self.value


class SubmissionStatus(_Word):
    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"


DONE = (SubmissionStatus.FINISHED, SubmissionStatus.FAILED)  # an outcome is recorded; only these re-run
PENDING_WORK = (SubmissionStatus.QUEUED, SubmissionStatus.RUNNING)


class BoardVisibility(_Word):
    """What a host did to a submission's place on the board (recorded as an event)."""

    HIDDEN = "hidden"
    SHOWN = "shown"


class TeamStatus(_Word):
    PENDING = "pending"
    APPROVED = "approved"
    DISABLED = "disabled"


class Role(_Word):
    """Who holds a token."""

    TEAM = "team"
    HOST = "host"


class Access(_Word):
    """What a route requires of the caller."""

    ANY = "any"  # any valid token (a team or the host)
    TEAM = "team"
    APPROVED = "approved"  # a team the host has approved
    HOST = "host"
