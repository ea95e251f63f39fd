"""Kaldi-compatible log-mel filterbank, as VALOR/AST compute it, with a pure-torch fallback.

The official VALOR (data/data.py, AudioMapper) runs ``torchaudio.compliance.kaldi.fbank(waveform - mean,
htk_compat=True, sample_frequency=16000, use_energy=False, window_type='hanning', num_mel_bins=64,
dither=0.0, frame_shift=10)`` on float waveforms in [-1, 1], zero-pads the fbank to whole 512-frame
slices, picks the slices and normalises with AudioSet's statistics (x + 4.2677393) / (2 x 4.5689974).
torchaudio is used when it imports; otherwise :func:`kaldi_fbank` reproduces the same computation
(25 ms povey/hanning/hamming window, 10 ms shift, snip edges, per-frame DC removal, pre-emphasis 0.97,
512-point power spectrum, HTK mel triangles from 20 Hz to Nyquist, log floored at float32 eps).
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F

SAMPLE_RATE = 16000
NUM_MEL_BINS = 64
AUDIOSET_MEAN = -4.2677393
AUDIOSET_STD = 4.5689974
WINDOW_TYPE = "hanning"  # the official VALOR's choice (torchaudio's default would be "povey")


def _torchaudio_kaldi():
    try:
        from torchaudio.compliance import kaldi  # optional: torchaudio (absent, or built for another torch)
    except Exception:  # ImportError, or OSError when the torchaudio build does not match torch
        return None
    return kaldi


def mel_scale(freq: torch.Tensor | float):
    """HTK mel scale, as Kaldi: 1127 ln(1 + f / 700)."""
    if isinstance(freq, torch.Tensor):
        return 1127.0 * torch.log(1.0 + freq / 700.0)
    return 1127.0 * math.log(1.0 + freq / 700.0)


@functools.lru_cache(maxsize=8)
def mel_banks(num_bins: int, padded_window: int, sample_rate: float, low_freq: float = 20.0,
              high_freq: float = 0.0) -> torch.Tensor:
    """Triangular mel filters [num_bins, padded_window // 2 + 1] (last FFT bin always zero, as Kaldi).

    Cached: the returned tensor is shared, never modify it in place.
    """
    nyquist = 0.5 * sample_rate
    if high_freq <= 0.0:
        high_freq += nyquist
    fft_bin_width = sample_rate / padded_window
    mel_low, mel_high = mel_scale(low_freq), mel_scale(high_freq)
    delta = (mel_high - mel_low) / (num_bins + 1)
    b = torch.arange(num_bins).unsqueeze(1)
    left, center, right = mel_low + b * delta, mel_low + (b + 1.0) * delta, mel_low + (b + 2.0) * delta
    mel = mel_scale(fft_bin_width * torch.arange(padded_window // 2)).unsqueeze(0)
    up = (mel - left) / (center - left)
    down = (right - mel) / (right - center)
    banks = torch.clamp(torch.minimum(up, down), min=0.0)
    return F.pad(banks, (0, 1))


@functools.lru_cache(maxsize=8)
def window_function(kind: str, size: int) -> torch.Tensor:
    if kind == "hanning":
        return torch.hann_window(size, periodic=False)
    if kind == "povey":
        return torch.hann_window(size, periodic=False).pow(0.85)
    if kind == "hamming":
        return torch.hamming_window(size, periodic=False, alpha=0.54, beta=0.46)
    if kind == "rectangular":
        return torch.ones(size)
    raise ValueError(f"unknown window_type {kind!r}")


def kaldi_fbank(
    waveform: torch.Tensor,
    sample_rate: int = SAMPLE_RATE,
    num_mel_bins: int = NUM_MEL_BINS,
    window_type: str = WINDOW_TYPE,
    frame_length_ms: float = 25.0,
    frame_shift_ms: float = 10.0,
    preemphasis: float = 0.97,
    low_freq: float = 20.0,
    high_freq: float = 0.0,
) -> torch.Tensor:
    """Our torch implementation of torchaudio.compliance.kaldi.fbank (dither 0, no energy): [frames, bins]."""
    wav = waveform.reshape(-1).float()
    size = int(sample_rate * frame_length_ms * 0.001)
    shift = int(sample_rate * frame_shift_ms * 0.001)
    padded = 1 << (size - 1).bit_length()
    if wav.numel() < size:
        return torch.empty(0, num_mel_bins)
    frames = wav.unfold(0, size, shift)  # snip_edges=True: 1 + (T - size) // shift frames
    frames = frames - frames.mean(dim=1, keepdim=True)
    previous = torch.cat([frames[:, :1], frames[:, :-1]], dim=1)
    frames = frames - preemphasis * previous
    frames = frames * window_function(window_type, size).to(frames)
    frames = F.pad(frames, (0, padded - size))
    power = torch.fft.rfft(frames).abs().pow(2.0)
    energies = power @ mel_banks(num_mel_bins, padded, sample_rate, low_freq, high_freq).to(power).t()
    return torch.clamp(energies, min=torch.finfo(torch.float32).eps).log()


def raw_fbank(waveform: torch.Tensor, sample_rate: int = SAMPLE_RATE, num_mel_bins: int = NUM_MEL_BINS,
              window_type: str = WINDOW_TYPE) -> torch.Tensor:
    """Unnormalised log-mel fbank [frames, bins] of a mono float waveform (torchaudio when available)."""
    wav = waveform.reshape(1, -1).float()
    wav = wav - wav.mean()
    kaldi = _torchaudio_kaldi()
    if kaldi is None:
        return kaldi_fbank(wav, sample_rate, num_mel_bins, window_type)
    return kaldi.fbank(wav, htk_compat=True, sample_frequency=sample_rate, use_energy=False,
                       window_type=window_type, num_mel_bins=num_mel_bins, dither=0.0, frame_shift=10)


def normalize(raw: torch.Tensor) -> torch.Tensor:
    """AudioSet normalisation used by AST and VALOR."""
    return (raw - AUDIOSET_MEAN) / (2 * AUDIOSET_STD)


def fbank(waveform: torch.Tensor, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """Normalised Kaldi fbank [frames, 64] of a 16 kHz mono float waveform [T] in [-1, 1]."""
    return normalize(raw_fbank(waveform, sample_rate))


def fbank_slices(
    waveform: torch.Tensor,
    n_slices: int,
    slice_frames: int = 512,
    training: bool = False,
    generator: torch.Generator | None = None,
    sample_rate: int = SAMPLE_RATE,
) -> torch.Tensor:
    """`n_slices` normalised fbank slices [n_slices, slice_frames, 64] of one clip (official VALOR sampling).

    The raw fbank is zero-padded to whole slices (padding becomes 0.467 after normalisation, as in the
    official code; unlike it, an exact multiple gets no extra all-padding slice), the slice indices are
    split into `n_slices` equal chunks (short clips repeat their last slice) and one slice is taken per
    chunk: the middle one at evaluation, a random one in training.
    """
    if n_slices < 1:
        raise ValueError(f"n_slices must be >= 1, got {n_slices}")
    raw = raw_fbank(waveform, sample_rate)
    if raw.shape[0] == 0:
        raise ValueError(f"audio of {waveform.numel()} samples is shorter than one 25 ms window")
    total = -(-raw.shape[0] // slice_frames)
    raw = F.pad(raw, (0, 0, 0, total * slice_frames - raw.shape[0]))
    picks = [_pick(chunk, training, generator) for chunk in split_evenly(list(range(total)), n_slices)]
    slices = raw.view(total, slice_frames, raw.shape[1])[picks]
    return normalize(slices)


def split_evenly(items: list[int], n: int) -> list[list[int]]:
    """Official VALOR `split`: pad with the last item up to n, then n contiguous near-equal chunks."""
    items = items + [items[-1]] * max(0, n - len(items))
    k, m = divmod(len(items), n)
    return [items[i * k + min(i, m) : (i + 1) * k + min(i + 1, m)] for i in range(n)]


def _pick(chunk: list[int], training: bool, generator: torch.Generator | None) -> int:
    if training:
        return chunk[int(torch.randint(len(chunk), (1,), generator=generator))]
    return chunk[(len(chunk) + 1) // 2 - 1]
