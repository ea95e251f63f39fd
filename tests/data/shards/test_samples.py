"""A shard directory's samples read in place: index.parquet's byte ranges point at the very member bytes, the
json members are read by seeking, and every bad input is one line (an error, or a problem for the caller)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import tarfile

import pyarrow.parquet as pq
import pytest

from valor_data.shards.layout import ShardError
from valor_data.shards.samples import MemberRange, Sample, read_json_members, read_samples


def test_index_ranges_are_the_tar_members_in_tar_order(sharded_template):
    samples = read_samples(sharded_template)
    in_tars = []
    for tar_path in sorted(sharded_template.glob("*.tar")):
        with tarfile.open(tar_path) as tar:
            for info in tar.getmembers():
                in_tars.append((str(tar_path), info.name, info.offset_data, info.size))
    ranges = [(m.path, f"{s.key}.{ext}", m.offset, m.size) for s in samples.values() for ext, m in s.members.items()]
    assert sorted(ranges) == sorted(in_tars)
    assert list(samples) == list(dict.fromkeys(name.split(".")[0] for _, name, _, _ in in_tars))
    for sample, meta, problem in read_json_members(samples.values()):
        assert problem == "" and meta["key"] == sample.key and meta["clip_id"] == sample.clip_id
        mp4 = sample.members["mp4"]
        with open(mp4.path, "rb") as f:
            f.seek(mp4.offset)
            assert hashlib.sha256(f.read(mp4.size)).hexdigest() == meta["sha256"]["mp4"]


def test_index_members_asked_for_are_the_only_ones_read(sharded_template):
    samples = read_samples(sharded_template, members=("mp4", "flac"))
    assert samples and all(set(s.members) == {"mp4", "flac"} for s in samples.values())
    assert read_samples(sharded_template, members=("wav",)) == {}


def test_index_missing_or_unreadable_is_one_line(sharded, tmp_path):
    with pytest.raises(ShardError, match=r"no index.parquet here; give a directory written by a finished"):
        read_samples(tmp_path)
    index = sharded / "index.parquet"
    pq.write_table(pq.read_table(index).drop_columns(["offset_data"]), index)
    with pytest.raises(ShardError, match=r"index.parquet: not a shard index \(.*offset_data"):
        read_samples(sharded)
    index.write_text("not parquet")
    with pytest.raises(ShardError, match="not a shard index"):
        read_samples(sharded)


def test_json_member_problems_are_yielded_not_raised(sharded):
    samples = list(read_samples(sharded).values())
    first, second = samples[0].members["json"], samples[1].members["json"]
    with open(first.path, "r+b") as f:
        f.seek(first.offset)
        f.write(b"\0" * first.size)
        f.seek(second.offset)
        f.write(b"[" + b" " * (second.size - 2) + b"]")
    without = Sample("k", "", {"mp4": samples[2].members["mp4"]})
    gone = Sample("g", "", {"json": MemberRange(str(sharded / "gone.tar"), 0, 10)})
    problems = [problem for _, _, problem in read_json_members([samples[0], samples[1], without, gone, samples[3]])]
    assert problems[0].startswith("unreadable .json member: ")
    assert problems[1:3] == [".json member is not a JSON object", "no .json member"]
    assert problems[3].startswith("unreadable .json member: [Errno 2]") and problems[4] == ""


def test_ffmpeg_url_reads_the_member_in_place_and_refuses_double_commas(sharded_template):
    video = next(iter(read_samples(sharded_template, members=("mp4",)).values())).members["mp4"]
    assert video.ffmpeg_url == f"subfile,,start,{video.offset},end,{video.offset + video.size},,:{video.path}"
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "json",
                          video.ffmpeg_url], capture_output=True, text=True, check=True)
    assert [s["codec_name"] for s in json.loads(out.stdout)["streams"]] == ["h264"]
    with pytest.raises(ValueError, match=r"/a,,b.tar: a path with ',,' cannot be read"):
        _ = MemberRange("/a,,b.tar", 0, 1).ffmpeg_url
