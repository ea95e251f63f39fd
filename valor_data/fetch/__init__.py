"""Stage 1, ``valor-data fetch``: clip ids -> media on disk, one manifest row per clip.

``run`` plans tasks and runs them; for each clip ``sources`` gets the media (yt-dlp for YouTube and
mirrors, a local directory), ``normalize`` cuts and re-encodes it in one ffmpeg pass, ``probe`` measures
what the pass wrote, ``filters`` decides keep/reject, and ``failures`` turns any error into one reason of
the closed set. This package imports nothing itself: the CLI's ``--help`` loads no media library.
"""
