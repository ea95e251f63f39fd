"""valor_model: the reference VALOR model (Chen et al. 2023), its training and its predictions."""

__version__ = "0.1.0"
