"""Where finished files go: a local (or mounted) directory, or any fsspec URL (``s3://``, ``gs://``, ``hdfs://``...).

Why two kinds: ``fetch`` runs ffmpeg and yt-dlp, which write files by path, so its output directory must
be a POSIX path (on a cluster, one mounted at the same path on every executor: NFS, Lustre, a FUSE
mount). ``shard`` only ever moves *finished* files (a tar, a marker, an index) into its output, so that
output may be anywhere fsspec reaches: each file is written on local disk first (``Store.staged``) and
then committed whole:

* local directory: ``os.replace`` of a temporary name in the same directory, fsynced (atomic);
* object stores (s3, gs, az...): one upload, which becomes visible only when complete (atomic);
* other fsspec filesystems (hdfs, ftp, sftp, webdav, ``file://``...): upload under a temporary name, then
  rename (``fs.mv``), so a reader never sees a partial file under the final name.

Remote credentials come from the backend's usual places (environment, config files, instance roles) on
the driver and on every executor; nothing secret is stored in the outputs.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path

from valor_data.atomic import atomic_path, temp_name

# fsspec protocols whose single upload is atomic (the object appears only once complete).
ATOMIC_UPLOAD = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "oss"})
_URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")


class StorageError(Exception):
    """A location that cannot be used for what was asked; the message is one line for the user."""


def is_url(location: str | os.PathLike) -> bool:
    """``scheme://...`` (an fsspec URL), as opposed to a local path."""
    return bool(_URL_RE.match(str(location)))


def resolve(location: str | os.PathLike) -> str:
    """An absolute local path, or the URL without its trailing slash: the form stored in tasks."""
    return str(location).rstrip("/") if is_url(location) else str(Path(location).resolve())


def require_local(location: str | os.PathLike, what: str) -> Path:
    """The location as a local Path, or a StorageError saying why a URL cannot be used for ``what``."""
    if is_url(location):
        raise StorageError(
            f"{what} {location}: must be a local or mounted POSIX directory (ffmpeg writes files there); "
            "on a cluster use a path every executor mounts (NFS, Lustre, a FUSE mount of the bucket)"
        )
    return Path(location)


class Store:
    """A flat directory of output files, local or remote, written one finished file at a time."""

    def __init__(self, location: str | os.PathLike):
        self.location = resolve(location)
        self.local = not is_url(location)

    def __repr__(self) -> str:
        return f"Store({self.location!r})"

    @cached_property
    def _fs(self):
        import fsspec  # optional extra: data; only remote (URL) stores need it

        try:
            fs, root = fsspec.core.url_to_fs(self.location)
        except (ImportError, ValueError) as e:  # unknown protocol or its package is missing
            raise StorageError(f"{self.location}: {e}") from None
        return fs, root.rstrip("/")

    @property
    def protocol(self) -> str:
        return "file" if self.local else self.location.split("://", 1)[0].lower()

    def _remote(self, name: str) -> str:
        return f"{self._fs[1]}/{name}"

    def _path(self, name: str) -> Path:
        return Path(self.location) / name

    # ------------------------------------------------------------------------------------------ reading
    def makedirs(self) -> None:
        if self.local:
            Path(self.location).mkdir(parents=True, exist_ok=True)
            return
        fs, root = self._fs
        with contextlib.suppress(FileExistsError):
            fs.makedirs(root, exist_ok=True)

    def list(self) -> list[str]:
        """Names of the files directly in the directory (none when it does not exist)."""
        if self.local:
            path = Path(self.location)
            return sorted(p.name for p in path.iterdir()) if path.is_dir() else []
        fs, root = self._fs
        fs.invalidate_cache()  # other processes write here: never trust a cached listing
        try:
            return sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(root, detail=False))
        except FileNotFoundError:
            return []

    def read_text(self, name: str) -> str:
        """The file's text; FileNotFoundError (an OSError) when it is absent."""
        if self.local:
            return self._path(name).read_text(encoding="utf-8")
        fs, _ = self._fs
        fs.invalidate_cache()
        return fs.cat_file(self._remote(name)).decode("utf-8")

    def size(self, name: str) -> int | None:
        """The file's size in bytes, None when it is absent."""
        if self.local:
            try:
                return self._path(name).stat().st_size
            except OSError:
                return None
        fs, _ = self._fs
        fs.invalidate_cache()
        try:
            return int(fs.size(self._remote(name)))
        except (FileNotFoundError, TypeError):
            return None

    # ------------------------------------------------------------------------------------------ writing
    @contextlib.contextmanager
    def staged(self, name: str) -> Iterator[Path]:
        """Yield a local path to write ``name`` to; when the block ends without error, commit it whole
        under ``name``; on error, leave nothing behind."""
        if self.local:
            with atomic_path(self._path(name)) as tmp:
                yield tmp
            return
        scratch = Path(tempfile.mkdtemp(prefix="valor-stage-"))
        try:
            local = scratch / name
            yield local
            self._upload(local, name)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def write_text(self, name: str, text: str) -> None:
        with self.staged(name) as path:
            path.write_text(text, encoding="utf-8")

    def remove(self, name: str) -> None:
        if self.local:
            self._path(name).unlink(missing_ok=True)
            return
        fs, _ = self._fs
        with contextlib.suppress(FileNotFoundError):
            fs.rm_file(self._remote(name))

    def _upload(self, local: Path, name: str) -> None:
        fs, _ = self._fs
        final = self._remote(name)
        if self.protocol in ATOMIC_UPLOAD:
            fs.put_file(str(local), final)
            return
        tmp = self._remote(temp_name(name))
        try:
            fs.put_file(str(local), tmp)
            fs.invalidate_cache()
            if fs.exists(final):  # some filesystems (hdfs) refuse to rename onto an existing file
                fs.rm_file(final)
            fs.mv(tmp, final)
        except BaseException:
            with contextlib.suppress(Exception):
                fs.rm_file(tmp)
            raise
        finally:
            fs.invalidate_cache()

