"""An open campaign: its directory, its rules (``campaign.yaml``) and its database, migrated on open.

Every process of a campaign (the server, the CLI, a benchmark) opens it the same way and shares nothing but
the database, so a restart (a new :meth:`Campaign.open` on the same database) finds every lease, caption
and round where it was. ``record`` writes the audit row that each change adds in its own transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, insert, select

from valor_data.annotate.campaign import CampaignConfig, load_config
from valor_data.annotate.schema import MIGRATIONS, audit
from valor_data.web.database import Database

DB_FILE = "campaign.sqlite"


@dataclass
class Campaign:
    directory: Path
    config: CampaignConfig
    db: Database

    @classmethod
    def open(cls, directory: str | Path, db_url: str | None = None) -> Campaign:
        """The campaign of ``directory`` on ``db_url`` (default: the SQLite file ``DIR/campaign.sqlite``)."""
        directory = Path(directory).resolve()
        config = load_config(directory)
        db = Database(db_url or str(directory / DB_FILE))
        db.migrate(MIGRATIONS)
        return cls(directory, config, db)

    def close(self) -> None:
        self.db.dispose()


def record(conn: Connection, c: Campaign, user_id: int | None, action: str, subject: str | None,
           **detail: object) -> None:
    """One audit row, in the caller's transaction: it commits with the change it describes, or not at all."""
    conn.execute(insert(audit).values(at=select(c.db.now()).scalar_subquery(), user_id=user_id, action=action,
                                      subject=subject, detail=json.dumps(detail, ensure_ascii=False) if detail
                                      else None))
