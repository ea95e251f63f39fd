"""`valor-data export --layout valor`: every exported clip loads the way the official VALOR code loads it.

The shard directory is made by the real pipeline (synthetic lavfi videos -> `valor-data fetch --source local`
-> `valor-data shard`), and :class:`OfficialReader` reads the export as TXH-mercury/VALOR's ``data/data.py``
does at evaluation: ids from ``{split}_id.json``, captions from ``txt_mapper_en.json``, ``os.listdir`` +
``sort`` of a clip's frames split into N segments (middle frame of each), the wav as ``torchaudio.load``
gives it (float32, channel first; no wav: zeros) and the Kaldi fbank at 64 bins cut into 512-frame slices.
The fbank is torchaudio's when it imports, else kaldi-native-fbank's (a Kaldi-compatible C++ library).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import wave
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from PIL import Image

from valor_data.cli import main
from valor_data.synthetic.media import make_clip

FPS = 4
SECONDS = 3
# (ytid, caption(s)): a leading '-', '_' inside the id, several captions, no caption at all.
CLIPS = [
    ("-2Abohj8VYx", "a tone plays over a moving test pattern"),
    ("a_b_c_d_e_f", ["a low hum", "a steady low hum with noise"]),
    ("Agi5ySKb1tY", "bars of colour scroll while a tone sounds"),
    ("zzzzzzzzzzz", "a high tone and hiss"),
    ("C1111111111", "a pattern moves as a tone plays"),
    ("D2222222222", []),
]
SPLIT_OF = {"-2Abohj8VYx": "test", "a_b_c_d_e_f": "test", "Agi5ySKb1tY": "train", "zzzzzzzzzzz": "val",
            "C1111111111": "train", "D2222222222": "test"}
NO_SOUND = "zzzzzzzzzzz"  # its flac member is dropped from the index: a sample without sound


def clip_id(ytid: str) -> str:
    return f"{ytid}_0.500_3.500"


def tone_hz(seed: int) -> int:
    """The sine under the noise of ``make_clip(seed=seed)`` (valor_data.synthetic.media)."""
    return 220 + 110 * (seed % 7)


def tone_bin(hz: float, bins: int = 64, sr: int = 22050, low: float = 20.0) -> int:
    """The Kaldi mel filter (HTK mel scale, ``bins`` triangles from ``low`` to Nyquist) centred nearest ``hz``."""
    step = (htk_mel(sr / 2) - htk_mel(low)) / (bins + 1)
    return min(range(bins), key=lambda k: abs(htk_mel(low) + (k + 1) * step - htk_mel(hz)))


def htk_mel(hz: float) -> float:
    return 1127.0 * math.log(1.0 + hz / 700.0)


def run_cli(*args: str, code: int = 0):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result


# -- the official loader's behaviour (TXH-mercury/VALOR data/data.py), evaluation mode -----------------------

def official_split(items: list, n: int) -> list[list]:
    """data.py's ``split``: pad with the last item up to n, then n contiguous near-equal chunks."""
    items = items + [items[-1]] * (n - len(items)) if len(items) < n else list(items)
    k, m = divmod(len(items), n)
    return [items[i * k + min(i, m):(i + 1) * k + min(i + 1, m)] for i in range(n)]


def load_wav(path: Path) -> tuple[np.ndarray, int]:
    """As ``torchaudio.load``: float32, channel first, 16-bit PCM scaled by 1/32768."""
    try:
        import torchaudio  # optional: torchaudio loads only against the torch it was built for
    except Exception:  # noqa: BLE001 - ImportError, or OSError when its build does not match torch
        torchaudio = None
    if torchaudio is not None:
        waveform, sr = torchaudio.load(str(path))
        return waveform.numpy(), sr
    with wave.open(str(path)) as w:
        assert w.getsampwidth() == 2
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, w.getnchannels())
        return (pcm.T.astype(np.float32) / 32768.0), w.getframerate()


def kaldi_fbank(waveform: np.ndarray, sr: int, bins: int, shift_ms: float) -> np.ndarray:
    """``torchaudio.compliance.kaldi.fbank(htk_compat=True, use_energy=False, window_type='hanning',
    dither=0.0)`` of a [1, T] waveform: torchaudio's, else kaldi-native-fbank's. [frames, bins]."""
    try:
        from torchaudio.compliance import kaldi  # optional: see load_wav
    except Exception:  # noqa: BLE001 - see load_wav
        kaldi = None
    if kaldi is not None:
        import torch  # optional extra: model (torchaudio needs it)

        return kaldi.fbank(torch.from_numpy(waveform), htk_compat=True, sample_frequency=sr, use_energy=False,
                           window_type="hanning", num_mel_bins=bins, dither=0.0, frame_shift=shift_ms).numpy()
    import kaldi_native_fbank as knf  # optional: the dev extra's Kaldi-compatible fbank, when torchaudio is absent

    opts = knf.FbankOptions()
    opts.frame_opts.samp_freq = sr
    opts.frame_opts.dither = 0.0
    opts.frame_opts.window_type = "hanning"
    opts.frame_opts.frame_shift_ms = shift_ms
    opts.mel_opts.num_bins = bins
    opts.use_energy = False
    opts.htk_compat = True
    fbank = knf.OnlineFbank(opts)
    fbank.accept_waveform(sr, waveform[0].tolist())
    fbank.input_finished()
    return np.stack([fbank.get_frame(i) for i in range(fbank.num_frames_ready)])


class OfficialReader:
    """One split of an export, read as VALORDataset with TxtMapper, VideoMapper and AudioMapper (AST audio
    encoder, the valor32k configs' audio options) at evaluation."""

    MELBINS, TARGET_LENGTH, FRAME_SHIFT, MEAN, STD = 64, 512, 10, -4.2677393, 4.5689974

    def __init__(self, root: Path, split: str, frames: str, video_sample_num: int = 8, audio_sample_num: int = 2):
        self.root, self.frames = root, root / frames
        self.ids = json.loads((root / f"{split}_id.json").read_text())
        self.mapper = json.loads((root / "txt_mapper_en.json").read_text())
        self.video_sample_num, self.audio_sample_num = video_sample_num, audio_sample_num

    def text(self, id_: str) -> list[str]:
        text = self.mapper[id_]
        return list(text) if isinstance(text, list) else [text]

    def video(self, id_: str) -> np.ndarray:
        frame_path = self.frames / id_
        frames = os.listdir(frame_path)
        frames.sort()
        picks = [chunk[(len(chunk) + 1) // 2 - 1] for chunk in official_split(frames, self.video_sample_num)]
        pixels = [np.asarray(Image.open(frame_path / name), dtype=np.float32) / 255.0 for name in picks]
        return np.stack(pixels).transpose(0, 3, 1, 2)  # n x 3 x H x W, as ToTensor + cat

    def audio(self, id_: str) -> np.ndarray:
        wav_file = self.root / "audio_22050hz" / f"{id_}.wav"
        if not wav_file.exists():
            return np.zeros((self.audio_sample_num, self.MELBINS, self.TARGET_LENGTH), np.float32)
        waveform, sr = load_wav(wav_file)
        waveform = waveform - waveform.mean()
        fbank = kaldi_fbank(waveform, sr, self.MELBINS, self.FRAME_SHIFT)
        pad_len = self.TARGET_LENGTH - fbank.shape[0] % self.TARGET_LENGTH
        fbank = np.pad(fbank, ((0, pad_len), (0, 0)))
        slices = official_split(list(range(fbank.shape[0] // self.TARGET_LENGTH)), self.audio_sample_num)
        picks = [chunk[(len(chunk) + 1) // 2 - 1] for chunk in slices]
        out = np.stack([fbank[i * self.TARGET_LENGTH:(i + 1) * self.TARGET_LENGTH] for i in picks]).transpose(0, 2, 1)
        return (out - self.MEAN) / (self.STD * 2)

    def __iter__(self):
        for id_ in self.ids:
            yield id_, self.text(id_), self.video(id_), self.audio(id_)


# -- the shard directory, made by the real pipeline -------------------------------------------------------

@pytest.fixture(scope="module")
def pipeline(tmp_path_factory) -> Path:
    """fetch (local source) + shard of the CLIPS; one sample's flac dropped from the index (no sound)."""
    root = tmp_path_factory.mktemp("valor_export")
    for seed, (ytid, _) in enumerate(CLIPS):
        make_clip(root / "videos" / f"{ytid}.mp4", duration=4.0, size=(160, 120), fps=25, seed=seed)
    desc = [{"video_id": clip_id(ytid), "desc": caps} for ytid, caps in CLIPS]
    (root / "desc.json").write_text(json.dumps(desc))
    run_cli("fetch", root / "desc.json", "--out", root / "fetch", "--source", "local", "--video-dir",
            root / "videos", "--workers", "2", "--no-progress")
    run_cli("shard", root / "fetch", "--out", root / "shards", "--shard-size", "4", "--no-progress")
    index = pq.read_table(root / "shards" / "index.parquet")
    no_sound = pc.and_(pc.equal(index["clip_id"], clip_id(NO_SOUND)), pc.equal(index["member"], "flac"))
    pq.write_table(index.filter(pc.invert(no_sound)), root / "shards" / "index.parquet")
    split_dir = root / "split"
    split_dir.mkdir()
    for split in ("train", "val", "test"):
        ids = [clip_id(y) for y, _ in CLIPS if SPLIT_OF[y] == split]
        (split_dir / f"{split}_ids.txt").write_text("".join(f"{i}\n" for i in ids))
    return root


@pytest.fixture(scope="module")
def exported(pipeline) -> tuple[Path, dict]:
    out = pipeline / "out"
    result = run_cli("export", "--layout", "valor", pipeline / "shards", out, "--split-dir", pipeline / "split",
                     "--workers", "2", "--json", "--no-progress")
    return out, json.loads(result.stdout)


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.name.startswith(".")}


# -- tests -----------------------------------------------------------------------------------------------

def test_every_exported_clip_loads_as_the_official_code_loads_it(exported):
    out, report = exported
    captioned = {clip_id(y): ([c] if isinstance(c, str) else c) for y, c in CLIPS if c}
    assert report["failed"] == [] and report["written"] == len(captioned)
    assert report["skipped"] == {"no_caption": 1}
    assert report["without_sound"] == 1
    assert set(report["files"]) == {"train_id.json", "val_id.json", "test_id.json", "txt_mapper_en.json",
                                    "capanno_en.json"}
    tones = {clip_id(ytid): tone_hz(seed) for seed, (ytid, _) in enumerate(CLIPS)}
    loaded = {}
    for split in ("train", "val", "test"):
        want = sorted(clip_id(y) for y, c in CLIPS if SPLIT_OF[y] == split and c)
        reader = OfficialReader(out, split, "frames_fps4")
        assert reader.ids == want and report["splits"][split] == len(want)
        for id_, text, video, audio in reader:
            loaded[id_] = split
            assert text == captioned[id_]
            assert video.shape[:2] == (8, 3) and min(video.shape[2:]) > 0 and video.dtype == np.float32 and np.ptp(video) > 0.3
            assert audio.shape == (2, 64, 512) and np.isfinite(audio).all()
            if id_ == clip_id(NO_SOUND):
                assert not (out / "audio_22050hz" / f"{id_}.wav").exists() and not audio.any()
            else:  # the clip's own sound: its tone is the loudest mel bin over the 3 s before the zero padding
                assert audio[0, :, :290].mean(axis=1).argmax() == tone_bin(tones[id_])
    assert sorted(loaded) == sorted(captioned)
    assert "-2Abohj8VYx_0.500_3.500" in loaded  # ids verbatim: leading '-', dots


def test_frames_sort_as_strings_in_frame_order_and_the_wav_is_mono_22050(exported):
    out, _ = exported
    frames = sorted(os.listdir(out / "frames_fps4" / clip_id("a_b_c_d_e_f")))
    assert frames == [f"frame_{i:04d}.jpg" for i in range(1, SECONDS * FPS + 1)]
    with wave.open(str(out / "audio_22050hz" / f"{clip_id('a_b_c_d_e_f')}.wav")) as w:
        assert (w.getnchannels(), w.getframerate(), w.getsampwidth()) == (1, 22050, 2)
        assert abs(w.getnframes() / 22050 - SECONDS) < 0.05


def test_capanno_holds_the_val_and_test_references_for_pycocotools_and_the_official_coco(exported):
    from pycocotools.coco import COCO  # optional extra: bench (pycocoevalcap brings it)

    out, _ = exported
    coco = COCO(str(out / "capanno_en.json"))
    eval_ids = sorted(clip_id(y) for y, c in CLIPS if SPLIT_OF[y] in ("val", "test") and c)
    assert sorted(coco.getImgIds()) == eval_ids
    by_video: dict[str, list[str]] = {}  # the official vendored coco.py indexes annotations by video_id
    for ann in json.loads((out / "capanno_en.json").read_text())["annotations"]:
        by_video.setdefault(ann["video_id"], []).append(ann["caption"])
    assert by_video[clip_id("a_b_c_d_e_f")] == ["a low hum", "a steady low hum with noise"]
    assert sorted(by_video) == eval_ids


def test_rerun_skips_finished_clips_and_redoes_a_killed_one(pipeline, exported, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(exported[0], out)
    killed = clip_id("C1111111111")
    shutil.rmtree(out / "frames_fps4" / killed)  # killed before its frames folder was moved into place
    leftover = out / "frames_fps4" / f"{killed}.host-123.tmp"
    leftover.mkdir()
    (leftover / "frame_0001.jpg").write_bytes(b"partial")
    report = json.loads(run_cli("export", "--layout", "valor", pipeline / "shards", out, "--split-dir",
                                pipeline / "split", "--json", "--no-progress").stdout)
    assert report["written"] == 1 and report["skipped"]["already_exported"] == 4
    assert not leftover.exists()
    assert tree_digest(out) == tree_digest(exported[0])


def test_serial_and_parallel_runs_write_the_same_bytes(pipeline, exported, tmp_path):
    out = tmp_path / "serial"
    run_cli("export", "--layout", "valor", pipeline / "shards", out, "--split-dir", pipeline / "split",
            "--distributor", "serial", "--no-progress")
    assert tree_digest(out) == tree_digest(exported[0])


def test_a_bad_clip_is_reported_and_left_out_while_the_others_export(pipeline, tmp_path):
    shards = Path(shutil.copytree(pipeline / "shards", tmp_path / "shards"))
    index = pq.read_table(shards / "index.parquet").to_pylist()
    for ytid, member in (("a_b_c_d_e_f", "mp4"), ("C1111111111", "json")):  # bytes garbled in place
        bad = next(r for r in index if r["clip_id"] == clip_id(ytid) and r["member"] == member)
        with open(shards / bad["shard"], "r+b") as f:
            f.seek(bad["offset_data"])
            f.write(b"\0" * bad["size"])
    result = run_cli("export", "--layout", "valor", shards, tmp_path / "out", "--split", "test", "--no-progress",
                     code=1)
    assert f"error: {clip_id('a_b_c_d_e_f')}: ffmpeg exited with" in result.stderr
    assert f"error: {clip_id('C1111111111')}: unreadable .json member" in result.stderr
    ids = json.loads((tmp_path / "out" / "test_id.json").read_text())
    assert clip_id("a_b_c_d_e_f") not in ids and clip_id("C1111111111") not in ids and len(ids) == 3
    assert not (tmp_path / "out" / "frames_fps4" / clip_id("a_b_c_d_e_f")).exists()
    assert not [p for p in (tmp_path / "out").rglob("*.tmp")]


def test_size_and_fps_name_the_frames_folder_as_the_official_configs(pipeline, tmp_path):
    out = tmp_path / "out"
    report = json.loads(run_cli("export", "--layout", "valor", pipeline / "shards", out, "--split", "test",
                                "--fps", "1", "--size", "72x96", "--json", "--no-progress").stdout)
    assert report["frames_dir"] == "frames_1fps_72*96_jpg"
    reader = OfficialReader(out, "test", "frames_1fps_72*96_jpg", video_sample_num=4)
    for id_, _, video, _ in reader:
        assert video.shape == (4, 3, 72, 96)
        assert len(os.listdir(out / "frames_1fps_72*96_jpg" / id_)) == SECONDS


def test_a_second_split_into_the_same_out_adds_to_the_mapper(pipeline, tmp_path):
    out = tmp_path / "out"
    for split in ("train", "test"):
        run_cli("export", "--layout", "valor", pipeline / "shards", out, "--split-dir", pipeline / "split",
                "--split", split, "--no-progress")
        assert (out / "capanno_en.json").exists() == (split == "test")  # references of val/test clips only
    mapper = json.loads((out / "txt_mapper_en.json").read_text())
    listed = json.loads((out / "train_id.json").read_text()) + json.loads((out / "test_id.json").read_text())
    assert sorted(mapper) == sorted(listed) and not (out / "val_id.json").exists()
    coco = json.loads((out / "capanno_en.json").read_text())
    assert sorted(i["id"] for i in coco["images"]) == sorted(json.loads((out / "test_id.json").read_text()))


@pytest.mark.parametrize("args, message", [
    ((), "records no split"),
    (("--split", "test", "--size", "wide"), "HEIGHTxWIDTH"),
    (("--split", "test", "--split", "train"), "records no split"),
])
def test_usage_errors_name_the_option(pipeline, tmp_path, args, message):
    result = run_cli("export", "--layout", "valor", pipeline / "shards", tmp_path / "out", *args, code=2)
    assert message in result.output


def test_a_folder_that_is_not_a_shard_directory_is_one_line(tmp_path):
    result = run_cli("export", "--layout", "valor", tmp_path, tmp_path / "out", "--split", "test", code=1)
    assert "no index.parquet here" in result.output
