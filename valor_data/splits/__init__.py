"""Clip lists without media, ``valor-data split`` / ``stats``: stratified train/val/test splits, the audit
of an existing split (e.g. the official VALOR-32K one), and per-split statistics and figures."""
