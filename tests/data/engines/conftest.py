"""Fixtures for the Spark and storage tests: one local[2] Spark session for the whole run, tiny synthetic
clips served by the local mirror, and an FTP server (a real remote fsspec filesystem, other processes
included) on the loopback address.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import threading
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest

from valor_data.engines.spark import SparkDistributor
from valor_data.synthetic.media import make_clip
from valor_data.synthetic.mirror import Mirror

# ytid -> kind: ok clips, and two that the filters reject (their rows must match too).
CLIPS = {
    "-sparkAAAA1": "ok", "sparkBBBBB2": "ok", "spark_CCCC3": "ok", "sparkDDDDD4": "ok",
    "sparkEEEEE5": "ok", "sparkFFFFF6": "ok", "silentGGGG7": "silent", "noaudioHHH8": "no_audio",
}  # fmt: skip
SEGMENT = (0.5, 2.5)
TASK_SIZE = 4


@pytest.fixture(scope="session")
def spark_distributor():
    """One local[2] Spark session for all Spark tests (starting one costs 10-25 s here)."""
    if shutil.which("java") is None:
        pytest.skip("Spark needs Java 17: apt-get install openjdk-17-jre-headless")
    pytest.importorskip("pyspark")

    dist = SparkDistributor(workers=2)
    _ = dist.spark
    yield dist
    dist.stop()


@pytest.fixture(scope="session")
def spark_sources(tmp_path_factory) -> Path:
    """Tiny source videos {ytid}.mp4 (3 s, 96x64, 10 fps): cheap to download, probe and normalise."""
    root = tmp_path_factory.mktemp("spark_sources")
    for i, (ytid, kind) in enumerate(CLIPS.items()):
        make_clip(root / f"{ytid}.mp4", kind, duration=3.0, size=(96, 64), fps=10, seed=i)
    return root


@pytest.fixture(scope="session")
def spark_mirror(spark_sources):
    with Mirror(spark_sources) as m:
        yield m


@pytest.fixture(scope="session")
def spark_ids(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("spark_inputs") / "ids.txt"
    path.write_text("".join(f"{y}_{SEGMENT[0]:.3f}_{SEGMENT[1]:.3f}\n" for y in CLIPS))
    return path


@pytest.fixture(scope="session")
def spark_spec() -> SimpleNamespace:
    """Constants for test modules (importlib mode cannot import conftest)."""
    ok = sorted(y for y, k in CLIPS.items() if k == "ok")
    return SimpleNamespace(CLIPS=CLIPS, SEGMENT=SEGMENT, TASK_SIZE=TASK_SIZE, OK=ok,
                           N_TASKS=-(-len(CLIPS) // TASK_SIZE))


@pytest.fixture(scope="session")
def console_script() -> str:
    exe = Path(sys.executable).parent / "valor-data"
    return str(exe) if exe.exists() else shutil.which("valor-data") or "valor-data"


def run_cli(console_script: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([console_script, *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def cli():
    """``cli(script, *args)``: run valor-data as a user would (a subprocess)."""
    return run_cli


@pytest.fixture(scope="session")
def reference_fetch(tmp_path_factory, console_script, spark_ids, spark_mirror, spark_spec) -> Path:
    """The clips fetched by the default (multiprocessing) distributor: what Spark must reproduce."""
    out = tmp_path_factory.mktemp("reference") / "fetch"
    res = run_cli(console_script, "fetch", str(spark_ids), "--out", str(out), "--source", "mirror",
                  "--url-template", spark_mirror.url_template, "--workers", "2", "--task-size",
                  str(spark_spec.TASK_SIZE), "--min-duration", "1", "--no-progress", "--json")  # fmt: skip
    assert res.returncode == 0, res.stderr
    return out


@pytest.fixture(scope="session")
def reference_shards(reference_fetch, console_script) -> Path:
    out = reference_fetch.parent / "shards"
    res = run_cli(console_script, "shard", str(reference_fetch), "--out", str(out), "--shard-size", "2", "--json")
    assert res.returncode == 0, res.stderr
    return out


@pytest.fixture(scope="session")
def ftp_server(tmp_path_factory):
    """An FTP server on 127.0.0.1 over a temporary directory: ``.url(path)`` gives the fsspec URL,
    ``.root`` the directory it serves (to check what landed there)."""
    with warnings.catch_warnings():  # pyftpdlib still imports asyncore/asynchat on Python 3.11
        warnings.simplefilter("ignore", DeprecationWarning)
        pytest.importorskip("pyftpdlib")
        from pyftpdlib.authorizers import DummyAuthorizer
        from pyftpdlib.handlers import FTPHandler
        from pyftpdlib.servers import ThreadedFTPServer

    logging.getLogger("pyftpdlib").setLevel(logging.WARNING)
    root = tmp_path_factory.mktemp("ftp_root")
    authorizer = DummyAuthorizer()
    authorizer.add_user("valor", "secret", str(root), perm="elradfmwMT")
    handler = type("Handler", (FTPHandler,), {"authorizer": authorizer, "banner": "valor test ftp"})
    server = ThreadedFTPServer(("127.0.0.1", 0), handler)
    port = server.socket.getsockname()[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"timeout": 0.2}, daemon=True)
    thread.start()
    yield SimpleNamespace(root=root, url=lambda path: f"ftp://valor:secret@127.0.0.1:{port}/{path}")
    server.close_all()
    thread.join(timeout=5)
