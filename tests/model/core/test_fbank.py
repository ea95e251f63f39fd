"""Kaldi fbank: our torch implementation vs an independent numpy reference of Kaldi's formulae, vs torchaudio
where it loads, and the official VALOR slice sampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from valor_model import fbank as fb

RATE = 16000


def numpy_kaldi_fbank(wav: np.ndarray, window: str, bins: int = 64) -> np.ndarray:
    """Kaldi compute-fbank-feats (dither 0, no energy, snip edges), frame by frame in float64."""
    size, shift, nfft = 400, 160, 512  # 25 ms, 10 ms, next power of two
    n = np.arange(size)
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * n / (size - 1))
    win = {"hanning": hann, "povey": hann**0.85, "hamming": 0.54 - 0.46 * np.cos(2 * np.pi * n / (size - 1))}[window]

    def mel(f):
        return 1127.0 * np.log(1.0 + np.asarray(f) / 700.0)

    edges = mel(20.0) + (mel(RATE / 2) - mel(20.0)) / (bins + 1) * np.arange(bins + 2)
    fft_mel = mel(np.arange(nfft // 2) * RATE / nfft)
    banks = np.zeros((bins, nfft // 2 + 1))
    for m in range(bins):
        left, center, right = edges[m : m + 3]
        for k, f in enumerate(fft_mel):
            if left < f < right:
                banks[m, k] = (f - left) / (center - left) if f <= center else (right - f) / (right - center)
    rows = []
    for i in range(1 + (len(wav) - size) // shift):
        x = wav[i * shift : i * shift + size].astype(np.float64)
        x = x - x.mean()
        x = np.concatenate([[x[0] * (1 - 0.97)], x[1:] - 0.97 * x[:-1]])
        power = np.abs(np.fft.rfft(x * win, nfft)) ** 2
        rows.append(np.log(np.maximum(banks @ power, np.finfo(np.float32).eps)))
    return np.stack(rows)


def _signal(seconds: float, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(int(seconds * RATE)) / RATE
    tone = 0.3 * torch.sin(2 * torch.pi * 440 * t) + 0.2 * torch.sin(2 * torch.pi * 3000 * t * (1 + t))
    return tone + 0.05 * torch.randn(t.shape, generator=g) + 0.01  # small DC offset


@pytest.mark.parametrize("window", ["hanning", "povey", "hamming"])
def test_torch_fallback_matches_numpy_reference(window):
    wav = _signal(0.5)
    ours = fb.kaldi_fbank(wav, window_type=window)
    ref = numpy_kaldi_fbank(wav.numpy(), window)
    assert ours.shape == ref.shape == (1 + (8000 - 400) // 160, 64)
    np.testing.assert_allclose(ours.numpy(), ref, atol=5e-4, rtol=0)


def test_silence_is_floored_not_minus_infinity():
    out = fb.kaldi_fbank(torch.zeros(1600))
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, torch.full_like(out, float(np.log(np.finfo(np.float32).eps))))


def test_equal_to_torchaudio_where_it_loads():
    kaldi = fb._torchaudio_kaldi()
    if kaldi is None:
        pytest.skip("torchaudio does not load here (no build matching torch 2.13): runs where it does, e.g. GPU hosts")
    wav = _signal(1.0).unsqueeze(0)
    for window in ("hanning", "povey"):
        ref = kaldi.fbank(wav, htk_compat=True, sample_frequency=RATE, use_energy=False, window_type=window,
                          num_mel_bins=64, dither=0.0, frame_shift=10)
        torch.testing.assert_close(fb.kaldi_fbank(wav, window_type=window), ref, atol=1e-4, rtol=1e-4)


def test_fbank_is_normalised_kaldi_of_the_mean_removed_waveform():
    wav = _signal(1.0, seed=1)
    expected = (fb.kaldi_fbank(wav - wav.mean()) + 4.2677393) / (2 * 4.5689974)
    torch.testing.assert_close(fb.fbank(wav), expected, atol=1e-4, rtol=1e-4)


def test_slices_of_a_ten_second_clip():
    wav = _signal(10.0)
    raw_frames = 1 + (160000 - 400) // 160  # 998 frames -> 2 slices, the second zero-padded
    slices = fb.fbank_slices(wav, n_slices=2)
    assert slices.shape == (2, 512, 64)
    full = fb.fbank(wav)
    torch.testing.assert_close(slices.reshape(-1, 64)[:raw_frames], full)
    pad_value = 4.2677393 / (2 * 4.5689974)  # a zero log-mel after normalisation, as the official code
    torch.testing.assert_close(slices[1, raw_frames - 512 :], torch.full((1024 - raw_frames, 64), pad_value))
    torch.testing.assert_close(fb.fbank_slices(wav, n_slices=1)[0], slices[0])  # middle of [0, 1] is 0


def test_short_clips_repeat_and_long_clips_sample_one_slice_per_chunk():
    short = fb.fbank_slices(_signal(3.0), n_slices=2)
    torch.testing.assert_close(short[0], short[1])
    assert fb.split_evenly([0, 1, 2, 3, 4], 2) == [[0, 1, 2], [3, 4]]
    wav = _signal(31.0)  # 3099 frames -> 7 slices, chunks [0..3], [4..6]
    full = fb.fbank_slices(wav, n_slices=7)
    evaluation = fb.fbank_slices(wav, n_slices=2)
    torch.testing.assert_close(evaluation, full[[1, 5]])
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    a = fb.fbank_slices(wav, 2, training=True, generator=g1)
    torch.testing.assert_close(a, fb.fbank_slices(wav, 2, training=True, generator=g2))
    first = [i for i in range(4) if torch.equal(a[0], full[i])]
    second = [i for i in range(4, 7) if torch.equal(a[1], full[i])]
    assert first and second


def test_too_short_audio_is_an_error():
    with pytest.raises(ValueError, match="shorter than one 25 ms window"):
        fb.fbank_slices(torch.zeros(399), n_slices=2)
