"""`valor-data split` refuses to write empty splits: no usable clip is one clear line and a failing exit."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from valor_data.cli import main
from valor_data.splits.make import SplitError, make_split

SEGMENTS = """# YTID, start_seconds, end_seconds, positive_labels
--4gqARaEJE, 0.000, 10.000, "/m/068hy,/m/07q6cd_"
--BfvyPmVMo, 20.000, 30.000, "/m/03l9g"
--U7joUcTCo, 0.000, 10.000, "/m/01b_21"
"""


@pytest.fixture
def segments(tmp_path):
    path = tmp_path / "segments.csv"
    path.write_text(SEGMENTS)
    return path


def _manifest(path, status: str):
    ids = ["--4gqARaEJE_0.000_10.000", "--BfvyPmVMo_20.000_30.000", "--U7joUcTCo_0.000_10.000"]
    pq.write_table(pa.table({"clip_id": ids, "status": [status] * len(ids)}), path)
    return path


def test_a_manifest_with_no_ok_clip_is_an_error_that_says_why(segments, tmp_path):
    manifest = _manifest(tmp_path / "manifest.parquet", "unavailable")
    result = CliRunner().invoke(main, ["split", str(segments), "--manifest", str(manifest), "--fractions",
                                       "0.7,0.1,0.2", "--out", str(tmp_path / "out")])
    assert result.exit_code != 0
    assert result.output.strip() == ("Error: no usable clip to split (read 3 rows: 3 clips, "
                                     "3 not ok in the manifest)")
    assert not (tmp_path / "out").exists()  # no empty id lists left behind


def test_no_captioned_clip_is_an_error_in_the_python_api_too(segments, tmp_path):
    captions = tmp_path / "desc.json"
    captions.write_text('[{"video_id": "aaaaaaaaaaa_0.000_10.000", "desc": "a dog barks"}]')
    with pytest.raises(SplitError, match=r"no usable clip to split \(.*3 no caption\)"):
        make_split([segments], tmp_path / "out", caption_files=[captions], fractions=[0.8, 0.1, 0.1])


def test_usable_clips_still_split(segments, tmp_path):
    manifest = _manifest(tmp_path / "manifest.parquet", "ok")
    summary = make_split([segments], tmp_path / "out", manifest=manifest, fractions=[1.0, 0.0, 0.0])
    assert summary["sizes"] == {"train": 3, "val": 0, "test": 0}
