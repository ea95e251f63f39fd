"""Offline stand-ins for YouTube: synthetic media made with ffmpeg, the synthetic audiovisual task, an
embedded HTTP mirror with faults, and ``valor-data demo``, which runs the whole toolkit on them."""
