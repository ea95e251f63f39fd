"""Stage 1, ``valor-data fetch``: clip ids -> media on disk, one manifest row per clip.

``run`` plans tasks and runs them; for each clip ``sources`` gets the media (yt-dlp for YouTube and
mirrors, a local directory), ``probe`` measures it, ``filters`` decides keep/reject, ``normalize`` cuts
and re-encodes it (ffmpeg), and ``failures`` turns any error into one reason of the closed set.
"""

from valor_data.fetch.normalize import NormalizeOptions
from valor_data.fetch.plan import FetchOptions
from valor_data.fetch.run import FetchSummary, run_fetch
from valor_data.fetch.sources import DownloadOptions

__all__ = ["DownloadOptions", "FetchOptions", "FetchSummary", "NormalizeOptions", "run_fetch"]
