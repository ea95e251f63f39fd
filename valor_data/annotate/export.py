"""What a campaign gives back: ``desc_{split}.json`` in the VALOR format (``[{"video_id", "desc"}]``, what
``valor-data acd``, ``split`` and ``shard --captions`` read) holding each accepted clip's accepted caption,
and ``provenance.parquet`` with every caption written on those clips: its author (pseudonym), round,
seconds, draft, and every verdict with its reason, comment and time (host decisions included).

Read in chunks of clips and written as it goes, so a VALOR-1M campaign exports in bounded memory; each
file appears whole or not at all (``valor_data.atomic``). Gold (training) captions are not exported.
"""

from __future__ import annotations

import json
from collections import defaultdict
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Connection, and_, false, func, literal, select, union_all

from valor_data.annotate.people import User
from valor_data.annotate.schema import captions, clips, decisions, review_slots, users
from valor_data.annotate.state import Campaign, record
from valor_data.annotate.states import CaptionStatus, ClipState
from valor_data.atomic import atomic_path

K, C, S, D = clips.c, captions.c, review_slots.c, decisions.c
CHUNK = 20_000
PROVENANCE = "provenance.parquet"
VERDICT = pa.struct([("reviewer", pa.string()), ("verdict", pa.string()), ("reason", pa.string()),
                     ("comment", pa.string()), ("at", pa.float64()), ("seconds", pa.float64()),
                     ("by_host", pa.bool_())])  # by_host: the host's decision after the last round
PROVENANCE_SCHEMA = pa.schema([
    ("clip_id", pa.string()), ("split", pa.string()), ("stage", pa.string()), ("caption_id", pa.int64()),
    ("caption", pa.string()), ("final", pa.bool_()),  # final: the caption in desc_{split}.json
    ("status", pa.string()), ("author", pa.string()), ("round", pa.int32()), ("created_at", pa.float64()),
    ("seconds", pa.float64()), ("draft_shown", pa.bool_()), ("draft_edit_words", pa.int32()),
    ("verdicts", pa.list_(VERDICT)),
])


@dataclass(frozen=True)
class ExportSummary:
    out: str
    captions: dict[str, int] = field(default_factory=dict)  # split -> clips in desc_{split}.json
    provenance_rows: int = 0
    files: list[str] = field(default_factory=list)


def _verdicts(conn: Connection, low: int, high: int) -> dict[int, list[dict]]:
    """The verdicts and host decisions on the captions of the clips with ``low < id <= high``."""
    in_chunk = and_(K.id > low, K.id <= high)
    reviewer = users.alias("reviewer")
    reviews = (select(S.caption_id, reviewer.c.pseudonym, S.verdict, S.reason, S.comment, S.decided_at.label("at"),
                      S.seconds, literal(False).label("by_host"))
               .select_from(review_slots.join(reviewer, reviewer.c.id == S.reviewer_id)
                            .join(captions, C.id == S.caption_id).join(clips, K.id == C.clip_pk))
               .where(in_chunk, S.verdict.is_not(None)))
    host = users.alias("host")
    decided = (select(D.caption_id, host.c.pseudonym, D.verdict, D.reason, D.comment, D.at,
                      literal(None).label("seconds"), literal(True).label("by_host"))
               .select_from(decisions.join(host, host.c.id == D.host_id).join(clips, K.id == D.clip_pk))
               .where(in_chunk))
    out: dict[int, list[dict]] = defaultdict(list)
    for r in conn.execute(union_all(reviews, decided)):
        out[r.caption_id].append({"reviewer": r.pseudonym, "verdict": r.verdict, "reason": r.reason,
                                  "comment": r.comment, "at": r.at, "seconds": r.seconds, "by_host": bool(r.by_host)})
    for items in out.values():
        items.sort(key=lambda v: (v["by_host"], v["at"] or 0.0))
    return out


def export(c: Campaign, out: str | Path, by: User | None = None) -> ExportSummary:
    """Write ``desc_{split}.json`` per split and ``provenance.parquet`` into ``out`` (``by``: the host who
    asked, for the audit; None from the command line)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    author = users.alias("author")
    with c.db.read() as conn:
        splits = sorted(conn.execute(select(K.split).where(K.gold == false(), K.state == ClipState.ACCEPTED)
                                     .group_by(K.split)).scalars())
        last = conn.execute(select(func.max(K.id))).scalar() or 0
    counts = dict.fromkeys(splits, 0)
    rows = 0
    with ExitStack() as stack:
        desc = {}
        for split in splits:
            path = stack.enter_context(atomic_path(out / f"desc_{split}.json"))
            desc[split] = stack.enter_context(open(path, "w", encoding="utf-8"))
            desc[split].write("[")
        writer = pq.ParquetWriter(stack.enter_context(atomic_path(out / PROVENANCE)), PROVENANCE_SCHEMA)
        for low in range(0, last, CHUNK):
            with c.db.read() as conn:
                found = conn.execute(
                    select(K.clip_id, K.split, C.id, C.stage, C.text, C.status, C.round, C.created_at, C.seconds,
                           C.draft_shown, C.draft_edit_words, author.c.pseudonym)
                    .select_from(clips.join(captions, C.clip_pk == K.id).join(author, author.c.id == C.author_id))
                    .where(and_(K.id > low, K.id <= low + CHUNK, K.gold == false(), K.state == ClipState.ACCEPTED))
                    .order_by(K.id, C.round, C.id)).all()
                verdicts = _verdicts(conn, low, low + CHUNK) if found else {}
            if not found:
                continue
            table = {name: [] for name in PROVENANCE_SCHEMA.names}
            for r in found:
                final = r.status == CaptionStatus.ACCEPTED
                if final:
                    desc[r.split].write(("," if counts[r.split] else "") + "\n" + json.dumps(
                        {"video_id": r.clip_id, "desc": r.text}, ensure_ascii=False))
                    counts[r.split] += 1
                for name, value in (("clip_id", r.clip_id), ("split", r.split), ("stage", r.stage),
                                    ("caption_id", r.id), ("caption", r.text), ("final", final),
                                    ("status", r.status), ("author", r.pseudonym), ("round", r.round),
                                    ("created_at", r.created_at), ("seconds", r.seconds),
                                    ("draft_shown", bool(r.draft_shown)), ("draft_edit_words", r.draft_edit_words),
                                    ("verdicts", verdicts.get(r.id, []))):
                    table[name].append(value)
            writer.write_table(pa.table(table, schema=PROVENANCE_SCHEMA))
            rows += len(found)
        writer.close()
        for f in desc.values():
            f.write("\n]\n")
            f.close()
    files = [str(out / f"desc_{s}.json") for s in splits] + [str(out / PROVENANCE)]
    with c.db.write() as conn:
        record(conn, c, by.id if by else None, "export", str(out.resolve()), captions=counts, provenance_rows=rows)
    return ExportSummary(str(out), counts, rows, files)
