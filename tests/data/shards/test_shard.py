"""`valor-data shard`: contents of the shards, reproducible bytes, captions, resume rules, bad input."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from valor_data.cli import main
from valor_data.shards.layout import MEMBERS


def run(*args: str, ok: bool = True):
    res = CliRunner().invoke(main, list(args))
    if ok:
        assert res.exit_code == 0, res.output
    return res


def tar_digests(shard_dir: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(shard_dir.glob("*.tar"))}


def read_samples(tar_path: Path) -> dict[str, dict[str, bytes]]:
    samples: dict[str, dict[str, bytes]] = {}
    with tarfile.open(tar_path) as tar:
        for info in tar:
            key, ext = info.name.split(".", 1)
            samples.setdefault(key, {})[ext] = tar.extractfile(info).read()
    return samples


def test_shards_hold_every_ok_clip_once_with_four_members(sharded, fetch_dir_template):
    manifest = pq.read_table(fetch_dir_template / "manifest.parquet").to_pylist()
    ok = sorted(r["key"] for r in manifest if r["status"] == "ok")
    tars = sorted(sharded.glob("*.tar"))
    assert [t.name for t in tars] == ["valor-000000.tar", "valor-000001.tar", "valor-000002.tar"]
    keys_in_order = []
    for tar in tars:
        with tarfile.open(tar) as t:
            infos = t.getmembers()
        assert all((i.mtime, i.uid, i.gid, i.uname, i.gname, i.mode) == (946684800, 0, 0, "valor", "valor", 0o444)
                   for i in infos)  # fmt: skip
        for key, members in read_samples(tar).items():
            assert sorted(members) == sorted(MEMBERS)
            keys_in_order.append(key)
    assert keys_in_order == ok  # sorted by key, cut in order: 3 + 3 + 1
    assert not list(sharded.glob("*.tmp"))


def test_sample_members_carry_ids_labels_captions_probe_and_hashes(sharded, fetch_dir_template):
    samples = read_samples(sharded / "valor-000000.tar") | read_samples(sharded / "valor-000001.tar")
    s = samples["a_b_c_d_e_f_1500_11500"]
    meta = json.loads(s["json"])
    assert meta["clip_id"] == "a_b_c_d_e_f_1.500_11.500"
    assert (meta["ytid"], meta["start"], meta["end"]) == ("a_b_c_d_e_f", 1.5, 11.5)
    assert meta["labels"] == [{"mid": "/m/09x0r", "name": "Speech"}, {"mid": "/m/0jbk", "name": "Animal"}]
    assert meta["captions"] == ["a dog barks", "a dog barks twice at night"]
    assert s["txt"] == b"a dog barks"  # the first caption
    assert meta["probe"]["output"]["sample_rate"] == 16000 and meta["probe"]["rms_db"] == -12.5
    src = fetch_dir_template / "clips"
    assert s["mp4"] == (src / "a_b_c_d_e_f_1500_11500.mp4").read_bytes()
    assert s["flac"] == (src / "a_b_c_d_e_f_1500_11500.flac").read_bytes()
    assert meta["sha256"] == {"mp4": hashlib.sha256(s["mp4"]).hexdigest(), "flac": hashlib.sha256(s["flac"]).hexdigest()}
    # An unknown mid keeps its mid as name; a clip without (or with a blank) caption has an empty .txt.
    unknown = json.loads(samples["Agi5ySKb1tY_23700_33700"]["json"])
    assert unknown["labels"] == [{"mid": "/m/0unknown", "name": "/m/0unknown"}] and unknown["captions"] == []
    assert samples["Agi5ySKb1tY_23700_33700"]["txt"] == b""
    assert samples["B0000000000_5000_15000"]["txt"] == b""


def test_index_stats_and_manifest(sharded, fetch_dir_template):
    index = pq.read_table(sharded / "index.parquet").to_pylist()
    assert len(index) == 7 * 4
    for shard in {r["shard"] for r in index}:
        data = (sharded / shard).read_bytes()
        with tarfile.open(sharded / shard) as tar:
            for row in (r for r in index if r["shard"] == shard):
                member = tar.getmember(row["name"])
                assert (member.offset_data, member.size) == (row["offset_data"], row["size"])
                assert data[row["offset_data"] : row["offset_data"] + row["size"]] == tar.extractfile(member).read()
    assert {r["clip_id"] for r in index if r["key"] == "-2Abohj8VYx_30000_40000"} == {"-2Abohj8VYx_30.000_40.000"}

    stats = json.loads((sharded / "stats.json").read_text())
    assert (stats["samples"], stats["shards"], stats["with_captions"], stats["without_captions"]) == (7, 3, 5, 2)
    assert stats["duration_s_total"] == pytest.approx(7.0) and stats["duration_s_mean"] == pytest.approx(1.0)
    assert stats["tar_bytes"] == sum(p.stat().st_size for p in sharded.glob("*.tar"))
    assert stats["manifest"] == {
        "rows": 11, "status": {"frozen": 1, "invalid_id": 1, "ok": 7, "silent": 1, "unavailable": 1}
    }  # fmt: skip

    before = pq.read_table(fetch_dir_template / "manifest.parquet").to_pylist()
    after = pq.read_table(sharded / "manifest.parquet").to_pylist()
    assert [r["key"] for r in after] == [r["key"] for r in before]  # one row per input clip, same order
    by_key = {r["key"]: r for r in after}
    assert by_key["zzzzzzzzzzz_0_10000"]["shard"] == "valor-000002.tar"
    assert by_key["E3333333333_0_10000"]["shard"] is None
    assert by_key["E3333333333_0_10000"]["message"] == "HTTP Error 404: Not Found"


def test_same_input_gives_byte_identical_tars(fetch_dir, sharded_template, tmp_path):
    out = tmp_path / "again"
    res = run("shard", str(fetch_dir), "--out", str(out), "--shard-size", "3", "--distributor", "serial", "--json")
    assert json.loads(res.stdout)["shards_written"] == 3
    assert tar_digests(out) == tar_digests(sharded_template)
    assert pq.read_table(out / "index.parquet").equals(pq.read_table(sharded_template / "index.parquet"))


def test_rerun_skips_done_shards_and_redoes_a_missing_one(sharded):
    before = tar_digests(sharded)
    (sharded / "valor-000001.tar").unlink()
    src = json.loads((sharded / "shard_config.json").read_text())["source"]
    res = run("shard", src, "--out", str(sharded), "--shard-size", "3", "--json")
    summary = json.loads(res.stdout)
    assert (summary["shards_written"], summary["shards_skipped"]) == (1, 2)
    assert tar_digests(sharded) == before


def test_partial_tar_with_marker_is_not_done(sharded):
    """A tar whose size disagrees with its marker (cut short, overwritten) is written again."""
    before = tar_digests(sharded)
    tar = sharded / "valor-000000.tar"
    tar.write_bytes(tar.read_bytes()[:10240])
    src = json.loads((sharded / "shard_config.json").read_text())["source"]
    summary = json.loads(run("shard", src, "--out", str(sharded), "--shard-size", "3", "--json").stdout)
    assert summary["shards_written"] == 1 and tar_digests(sharded) == before


def test_rerun_with_other_options_is_refused(sharded):
    src = json.loads((sharded / "shard_config.json").read_text())["source"]
    res = run("shard", src, "--out", str(sharded), "--shard-size", "2", ok=False)
    assert res.exit_code != 0 and "--shard-size 2 (was 3)" in res.output and "Traceback" not in res.output
    res = run("shard", src, "--out", str(sharded), "--shard-size", "3", "--prefix", "other", ok=False)
    assert res.exit_code != 0 and "--prefix other (was valor)" in res.output


def test_captions_file_overrides_manifest_captions(fetch_dir, tmp_path):
    caps = tmp_path / "desc.json"
    caps.write_text(json.dumps([
        {"video_id": "Agi5ySKb1tY_23.700_33.700", "desc": "wind blows over a microphone"},
        {"video_id": "a_b_c_d_e_f_1.500_11.500", "desc": ["a puppy yelps", "a small dog yelps"]},
        {"video_id": "Q0000000000_0.000_10.000", "desc": "matches no clip"},
        {"video_id": "not-a-clip", "desc": "bad row"},
    ]))  # fmt: skip
    out = tmp_path / "shards"
    res = run("shard", str(fetch_dir), "--out", str(out), "--captions", str(caps), "--json")
    summary = json.loads(res.stdout)
    assert (summary["with_captions"], summary["without_captions"], summary["captions_unmatched"]) == (6, 1, 1)
    assert len(summary["caption_bad_rows"]) == 1 and "desc.json:4" in summary["caption_bad_rows"][0]
    samples = read_samples(out / "valor-000000.tar")
    assert samples["Agi5ySKb1tY_23700_33700"]["txt"] == b"wind blows over a microphone"
    assert json.loads(samples["a_b_c_d_e_f_1500_11500"]["json"])["captions"] == ["a puppy yelps", "a small dog yelps"]
    assert samples["zzzzzzzzzzz_0_10000"]["txt"] == b"rain falls on a roof"  # not in the file: manifest's
    # Other captions for the same out dir are refused.
    caps.write_text(json.dumps([{"video_id": "Agi5ySKb1tY_23.700_33.700", "desc": "something else"}]))
    res = run("shard", str(fetch_dir), "--out", str(out), "--captions", str(caps), ok=False)
    assert res.exit_code != 0 and "other captions" in res.output


def test_shard_bytes_cuts_by_size(fetch_dir, tmp_path):
    out = tmp_path / "shards"
    summary = json.loads(run("shard", str(fetch_dir), "--out", str(out), "--shard-bytes", "70000", "--json").stdout)
    assert summary["samples"] == 7 and summary["shards"] >= 3
    sizes = [p.stat().st_size for p in out.glob("*.tar")]
    assert all(s <= 70000 + 10240 for s in sizes)  # + tar end-of-archive padding


def test_missing_media_is_recorded_not_fatal(fetch_dir, tmp_path):
    (fetch_dir / "clips" / "C1111111111_60000_70000.flac").unlink()
    out = tmp_path / "shards"
    res = run("shard", str(fetch_dir), "--out", str(out), "--json")
    summary = json.loads(res.stdout)
    assert summary["samples"] == 6 and summary["status"]["error"] == 1
    assert "C1111111111_60000_70000: status ok but audio_path" in summary["missing_media"][0]
    row = next(r for r in pq.read_table(out / "manifest.parquet").to_pylist() if r["key"].startswith("C111"))
    assert row["status"] == "error" and "missing" in row["message"] and row["shard"] is None
    assert run("verify", str(out)).exit_code == 0


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        (lambda d: (d / "manifest.parquet").unlink(), [], "no manifest.parquet here"),
        (lambda d: (d / "manifest.parquet").write_text("nope"), [], "cannot read it as parquet"),
        (lambda d: None, ["--shard-size", "0"], "'--shard-size': 0 is not in the range x>=1"),
        (lambda d: None, ["--shard-size", "2", "--shard-bytes", "9"], "not both"),
        (lambda d: None, ["--prefix", "a.b"], "--prefix 'a.b'"),
    ],
)
def test_bad_input_is_one_clear_line(fetch_dir, tmp_path, setup, args, message):
    setup(fetch_dir)
    res = run("shard", str(fetch_dir), "--out", str(tmp_path / "o"), *args, ok=False)
    assert res.exit_code != 0 and message in res.output and "Traceback" not in res.output


def test_foreign_nonempty_out_dir_is_refused(fetch_dir, tmp_path):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "thesis.tex").write_text("x")
    res = run("shard", str(fetch_dir), "--out", str(out), ok=False)
    assert res.exit_code != 0 and "not empty and not a shard directory" in res.output


def test_a_second_run_on_a_busy_dir_is_refused(fetch_dir, tmp_path):
    from valor_data.atomic import exclusive_lock
    from valor_data.shards.layout import LOCK_NAME

    out = tmp_path / "busy"
    out.mkdir()
    with exclusive_lock(out / LOCK_NAME):  # as a running `valor-data shard` (or its orphaned workers) holds it
        res = run("shard", str(fetch_dir), "--out", str(out), ok=False)
        assert res.exit_code != 0 and "in use by another `valor-data shard` run" in res.output
    assert run("shard", str(fetch_dir), "--out", str(out)).exit_code == 0


def test_tar_writer_import_skips_torch_and_leaves_webdataset_intact():
    """shard imports TarWriter without torch (seconds per process), yet a later `import webdataset` in the
    same process is the ordinary torch-backed package."""
    import importlib.util
    import subprocess
    import sys

    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed: webdataset never imports it")
    code = (
        "import sys\n"
        "from valor_data.shards.tar import tar_writer_class\n"
        "cls = tar_writer_class()\n"
        "assert 'torch' not in sys.modules and 'webdataset' not in sys.modules, sorted(sys.modules)[:5]\n"
        "assert cls.__name__ == 'TarWriter'\n"
        "import webdataset, torch.utils.data\n"
        "assert issubclass(webdataset.WebDataset, torch.utils.data.IterableDataset)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_a_failing_shard_is_reported_and_the_rerun_finishes(fetch_dir, tmp_path, monkeypatch):
    """A shard task that fails (here: reading one sample raises, twice) is reported, the other shards
    stay done, exit 1; the rerun writes only that shard."""
    import valor_data.shards.tar as shard_mod

    real = shard_mod.sample_json
    calls = []

    def flaky(spec, *args):
        if spec.key == "zzzzzzzzzzz_0_10000":
            calls.append(spec.key)
            raise OSError("disk went away")
        return real(spec, *args)

    monkeypatch.setattr(shard_mod, "sample_json", flaky)
    out = tmp_path / "shards"
    args = ["shard", str(fetch_dir), "--out", str(out), "--shard-size", "3", "--distributor", "serial"]
    res = run(*args, ok=False)
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "error: valor-000002.tar: OSError: disk went away" in res.stderr
    assert "1 of 3 shards failed" in res.stderr and "Run the same command again" in res.stderr
    assert len(calls) == 2  # tried, then retried once in the same run
    assert sorted(p.name for p in out.glob("*.tar")) == ["valor-000000.tar", "valor-000001.tar"]
    assert not (out / "index.parquet").exists() and not list(out.glob("*.tmp"))
    monkeypatch.setattr(shard_mod, "sample_json", real)
    summary = json.loads(run(*args, "--json").stdout)
    assert (summary["shards_written"], summary["shards_skipped"], summary["samples"]) == (1, 2, 7)
    assert not list(out.glob("*.tmp"))
