"""The closed vocabularies of a campaign: where a clip stands, what a caption's review decided, who a
person is, and the three stages. Stored in the database as their string values."""

from __future__ import annotations

from enum import Enum

STAGES = ("training", "first", "second")  # the paper's three steps (Sec. 3.2), in order


class ClipState(str, Enum):
    OPEN = "open"  # needs a caption
    WRITING = "writing"  # leased to a writer
    REVIEW = "review"  # its caption awaits the stage's verdicts
    REWORK = "rework"  # its caption was rejected: waits for a writer (the author, or another annotator)
    HOST = "host"  # rejected in the last round the campaign allows: the host decides
    ACCEPTED = "accepted"
    DROPPED = "dropped"  # the host decided that none of its captions is kept: left out of the export


class CaptionStatus(str, Enum):
    PENDING = "pending"  # under review
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class Verdict(str, Enum):
    ACCEPT = "accept"
    REJECT = "reject"


class Role(str, Enum):
    ANNOTATOR = "annotator"  # writes captions (and reviews in stages whose reviewer roles name it)
    REVIEWER = "reviewer"  # reviews only
    HOST = "host"  # the organisers: review gold and first-stage captions, decide, invite, export
