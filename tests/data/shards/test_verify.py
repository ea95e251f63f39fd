"""`valor-data verify`: a good shard dir passes; each kind of damage is named on its own line."""

from __future__ import annotations

import json
import tarfile

import pyarrow as pa
import pyarrow.parquet as pq
from click.testing import CliRunner

from valor_data.cli import main


def verify(path, *extra):
    return CliRunner().invoke(main, ["verify", str(path), *extra])


def problems_of(res) -> list[str]:
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output
    return json.loads(res.stdout)["problems"]


def test_good_dir_passes_with_a_summary(sharded):
    res = verify(sharded)
    assert res.exit_code == 0, res.output
    assert "ok: 3 shards, 7 samples (5 with captions)" in res.stdout
    assert "media decoded in 3 of 3 shards" in res.stdout
    doc = json.loads(verify(sharded, "--json").stdout)
    assert doc["ok"] is True and doc["problems"] == [] and doc["summary"]["decoded_shards"] == 3


def test_truncated_tar(sharded):
    tar = sharded / "valor-000001.tar"
    data = tar.read_bytes()
    tar.write_bytes(data[: len(data) // 2 + 100])
    probs = problems_of(verify(sharded, "--json"))
    assert any(p.startswith("valor-000001.tar: ") and "truncated" in p and "stats.json records" in p for p in probs)
    assert any(p.startswith("valor-000001.tar: unreadable tar") for p in probs)
    # The keys of the lost samples are named: ok in the manifest but in no shard (or the index is off).
    assert any("status ok in manifest.parquet but in no shard" in p for p in probs)
    plain = verify(sharded)
    assert plain.exit_code == 1 and "valor-000001.tar" in plain.stdout and "problem(s)" in plain.stderr


def test_tar_cut_at_a_member_boundary(sharded):
    """tarfile reads such a tar without complaint; the missing end-of-archive marker gives it away."""
    tar = sharded / "valor-000000.tar"
    with tarfile.open(tar) as t:
        last = t.getmembers()[-1]
    tar.write_bytes(tar.read_bytes()[: last.offset])
    probs = problems_of(verify(sharded, "--json"))
    assert any("valor-000000.tar: no end-of-archive marker" in p for p in probs)
    assert any("members missing: txt" in p for p in probs)


def test_flipped_media_bytes(sharded):
    tar = sharded / "valor-000000.tar"
    with tarfile.open(tar) as t:
        member = t.getmember("Agi5ySKb1tY_23700_33700.mp4")
    data = bytearray(tar.read_bytes())
    for i in range(member.offset_data + 2000, member.offset_data + 2016):
        data[i] ^= 0xFF
    tar.write_bytes(bytes(data))
    probs = problems_of(verify(sharded, "--json"))
    assert "valor-000000.tar: sha256 differs from the one stats.json records (bytes changed)" in probs
    assert (
        "valor-000000.tar/Agi5ySKb1tY_23700_33700: Agi5ySKb1tY_23700_33700.mp4 sha256 does not match the one in "
        "Agi5ySKb1tY_23700_33700.json"
    ) in probs
    assert len(probs) == 2


def test_flipped_header_bytes(sharded):
    tar = sharded / "valor-000002.tar"
    data = bytearray(tar.read_bytes())
    data[100:108] = b"\xff" * 8  # the first member's mode field: the header checksum fails
    tar.write_bytes(bytes(data))
    probs = problems_of(verify(sharded, "--json"))
    assert any(p.startswith("valor-000002.tar: unreadable tar after 0 members") for p in probs)
    assert any(p.startswith("zzzzzzzzzzz_0_10000: status ok in manifest.parquet but in no shard") for p in probs)


def test_undecodable_media_with_matching_hash(sharded, tmp_path):
    """A sample whose mp4 is garbage but whose json hash agrees (bad input, not damage) fails to decode."""
    src = sharded / "valor-000002.tar"
    with tarfile.open(src) as t:
        members = [(i, t.extractfile(i).read()) for i in t.getmembers()]
    import hashlib
    import io

    garbage = b"\x00not an mp4" * 100
    rebuilt = io.BytesIO()
    with tarfile.open(fileobj=rebuilt, mode="w", format=tarfile.USTAR_FORMAT) as out:
        for info, payload in members:
            if info.name.endswith(".mp4"):
                payload = garbage
            elif info.name.endswith(".json"):
                meta = json.loads(payload)
                meta["sha256"]["mp4"] = hashlib.sha256(garbage).hexdigest()
                payload = json.dumps(meta).encode()
            info.size = len(payload)
            out.addfile(info, io.BytesIO(payload))
    src.write_bytes(rebuilt.getvalue())
    probs = problems_of(verify(sharded, "--json"))
    assert any(p.startswith("valor-000002.tar/zzzzzzzzzzz_0_10000: zzzzzzzzzzz_0_10000.mp4 does not decode") for p in probs)


def test_deleted_shard(sharded):
    (sharded / "valor-000002.tar").unlink()
    probs = problems_of(verify(sharded, "--json"))
    assert "valor-000002.tar: missing (stats.json lists it with 1 samples)" in probs
    assert "index.parquet: zzzzzzzzzzz_0_10000.mp4 points to valor-000002.tar, which is not here" in probs
    assert any(p.startswith("zzzzzzzzzzz_0_10000: status ok in manifest.parquet but in no shard") for p in probs)
    assert "stats.json: shards = 3 but the shards hold 2" in probs


def test_edited_index(sharded):
    table = pq.read_table(sharded / "index.parquet")
    rows = table.to_pylist()
    rows[2]["offset_data"] += 512  # -2Abohj8VYx_30000_40000.mp4
    dropped = rows.pop(5)
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), sharded / "index.parquet")
    probs = problems_of(verify(sharded, "--json"))
    assert any(
        p.startswith("index.parquet: valor-000000.tar/-2Abohj8VYx_30000_40000.mp4: offset_data 16896") for p in probs
    )
    assert f"index.parquet: valor-000000.tar/{dropped['name']} is in the tar but not in the index" in probs
    assert len(probs) == 2


def test_manifest_and_stats_disagree_with_shards(sharded):
    table = pq.read_table(sharded / "manifest.parquet")
    rows = table.to_pylist()
    rows[0]["shard"] = "valor-000001.tar"  # wrong shard
    rows[3]["status"] = "silent"  # a sharded clip that is no longer ok
    rows.append(dict(rows[1]))  # a duplicate ok row
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), sharded / "manifest.parquet")
    stats = json.loads((sharded / "stats.json").read_text())
    stats["with_captions"] = 6
    (sharded / "stats.json").write_text(json.dumps(stats))
    probs = problems_of(verify(sharded, "--json"))
    assert "-2Abohj8VYx_30000_40000: manifest.parquet says shard valor-000001.tar, found in valor-000000.tar" in probs
    assert "valor-000002.tar/zzzzzzzzzzz_0_10000: in a shard but its manifest status is silent" in probs
    assert "manifest.parquet: a_b_c_d_e_f_1500_11500 has 2 ok rows" in probs
    assert "stats.json: with_captions = 6 but the shards hold 5" in probs
    assert any(p.startswith("stats.json: manifest status counts") for p in probs)


def test_extra_and_leftover_files(sharded):
    (sharded / "valor-000009.tar").write_bytes((sharded / "valor-000002.tar").read_bytes())
    (sharded / "valor-000003.tar.tmp").write_bytes(b"partial")
    probs = problems_of(verify(sharded, "--json"))
    assert "valor-000009.tar: not listed in stats.json (left from another run?)" in probs
    assert "valor-000003.tar.tmp: partial file left by an interrupted run; rerun `valor-data shard`" in probs
    assert "zzzzzzzzzzz_0_10000: in 2 shards: valor-000002.tar, valor-000009.tar" in probs


def test_not_a_shard_dir(tmp_path):
    probs = problems_of(verify(tmp_path, "--json"))
    assert any(p.startswith("shard_config.json: missing") for p in probs)
    assert any(p.startswith("stats.json: missing") for p in probs)
