"""``valor-data annotate`` init → import → invite → status → export from the command line (SQLite), and
its refusals: one line, exit 1 for a broken campaign or input, exit 2 for a usage error."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from valor_data.annotate.assign import next_review, next_write
from valor_data.annotate.people import join, set_qualified
from valor_data.annotate.state import Campaign
from valor_data.annotate.work import save_caption, save_verdict
from valor_data.cli import main


def _run(*args: str, code: int = 0):
    result = CliRunner().invoke(main, ["annotate", *args])
    assert result.exit_code == code, result.output
    return result


def test_init_import_invite_status_export(tmp_path, shard_dir, h):
    d = str(tmp_path / "c")
    assert "wrote" in _run("init", d).output and (tmp_path / "c" / "guidelines.md").is_file()
    out = _run("import", d, str(shard_dir), "--stage", "first", "--split", "val", "--no-progress").output
    assert "3 clips imported into stage first from shards directory" in out and "1 failed downloads skipped" in out
    again = json.loads(_run("import", d, str(shard_dir), "--stage", "first", "--json", "--no-progress").stdout)
    assert (again["imported"], again["existing"]) == (0, 3)
    links = _run("invite", d, "--role", "annotator", "-n", "2", "--base-url", "https://cap.example/").stdout.split()
    host_link = _run("invite", d, "--role", "host").stdout.strip()
    assert len(links) == 2 and links[0].startswith("https://cap.example/join/vai_")
    assert host_link.startswith("http://127.0.0.1:8000/join/vai_")
    c = Campaign.open(d)
    try:
        writer, _ = join(c, links[0].rsplit("/", 1)[1])
        host, _ = join(c, host_link.rsplit("/", 1)[1])
        writer = set_qualified(c, host, writer.id, True)
        task = next_write(c, writer)
        save_caption(c, writer, task.lease, h.GOOD)
        save_verdict(c, host, next_review(c, host).lease, "accept")
    finally:
        c.close()
    status = _run("status", d).stdout
    assert "1 annotators, 1 hosts" in status and "first: clips 1 accepted, 2 open; captions 1 accepted" in status
    assert json.loads(_run("status", d, "--json").stdout)["stages"]["first"]["verdicts"] == {"accept": 1}
    out = _run("export", d, "--out", str(tmp_path / "out")).stdout
    assert "desc_val.json: 1 captions" in out
    assert json.loads((tmp_path / "out" / "desc_val.json").read_text()) == [
        {"video_id": task.clip_id, "desc": h.GOOD}]


def test_refusals_are_one_line(tmp_path, shard_dir):
    d = str(tmp_path / "c")
    assert "campaign.yaml: not found (make one with `valor-data annotate init" in _run("status", d, code=1).output
    _run("init", d)
    assert "campaign.yaml: already exists" in _run("init", d, code=1).output
    assert "Invalid value for '--stage'" in _run("import", d, str(shard_dir), "--stage", "third", code=2).output
    assert "Invalid value for '--role'" in _run("invite", d, "--role", "boss", code=2).output
    out = _run("import", d, str(tmp_path), "--stage", "first", code=1).output
    assert "neither a shard directory" in out and "Traceback" not in out
    bad = tmp_path / "bad.json"
    bad.write_text("[3]")
    out = _run("import", d, str(shard_dir), "--stage", "first", "--drafts", str(bad), code=1).output
    assert "record 1: expected an object" in out
    out = _run("status", d, "--db", "postgresql://nobody@127.0.0.1:1/none", code=1).output
    assert out.startswith("Error: cannot open the campaign database: OperationalError")


def test_the_installed_command_runs(tmp_path):
    exe = Path(sys.executable).parent / "valor-data"  # the venv's console script, whatever PATH holds
    run = subprocess.run([str(exe), "annotate", "init", str(tmp_path / "c")], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0 and "campaign.yaml" in run.stdout, run.stderr
