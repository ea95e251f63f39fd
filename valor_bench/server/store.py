"""Uploaded files, stored by content hash under the server's data directory.

An upload is streamed to ``incoming/`` under a random name, hashed and synced as it arrives (the web kit's
``receive_upload``), and only once it is whole and checked is it renamed to ``blobs/{sha[:2]}/{sha}{ext}``. The name the client sent is kept in
the database for display and never touches a path, so ``../../etc/passwd.npz`` is just a label. A server
killed mid-upload leaves at most a file in ``incoming/``, which the next start deletes.
"""

from __future__ import annotations

import os
from pathlib import Path

from valor_data.atomic import fsync_dir
from valor_data.web.uploads import clean_incoming


class BlobStore:
    def __init__(self, data_dir: str | Path):
        self.root = Path(data_dir).resolve()
        self.blobs = self.root / "blobs"
        self.incoming = self.root / "incoming"

    def create(self) -> BlobStore:
        self.blobs.mkdir(parents=True, exist_ok=True)
        self.incoming.mkdir(parents=True, exist_ok=True)
        return self

    def path(self, sha256: str, ext: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256) or ext not in (".npz", ".json", ".jsonl"):
            raise ValueError(f"not a blob name: {sha256}{ext}")
        return self.blobs / sha256[:2] / f"{sha256}{ext}"

    def commit(self, tmp: Path, sha256: str, ext: str) -> Path:
        """Move a complete, synced upload into place; identical bytes already stored are reused."""
        final = self.path(sha256, ext)
        if final.is_file():
            tmp.unlink(missing_ok=True)
            return final
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, final)
        fsync_dir(final.parent)
        return final

    def clean_incoming(self) -> int:
        """Delete what interrupted uploads left behind; returns how many files went."""
        return clean_incoming(self.incoming)
