"""valor_bench: the AVR (text-to-audiovisual retrieval) and AVC (audiovisual captioning) benchmarks."""

__version__ = "0.1.0"
