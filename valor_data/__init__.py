"""valor_data: build VALOR-style audiovisual-caption datasets from AudioSet ids, and measure captions."""

__version__ = "0.1.0"
