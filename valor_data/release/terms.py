"""Licence and citation of a VALOR-style dataset: the defaults a card states unless the publisher overrides.

Three things carry terms, and the card names all three (see annotations/README.md for the sources):
the captions (VALOR-1M / VALOR-32K annotations, research use as released by the VALOR authors), the AudioSet
labels and segment lists (CC BY 4.0, Google) and the media (YouTube videos: their uploaders' copyright; the
shards hold cut, re-encoded excerpts).
"""

from __future__ import annotations

DEFAULT_LICENSE = "other"  # Hugging Face's id for terms that no single SPDX licence covers
LICENSE_NAME = "valor-audioset-research-terms"
LICENSE_URL = "https://github.com/TXH-mercury/VALOR"
AUDIOSET_LICENSE_URL = "https://creativecommons.org/licenses/by/4.0/"
LICENSE_TEXT = (
    "Captions: VALOR-1M / VALOR-32K annotations, for research use as released by the VALOR authors "
    f"({LICENSE_URL}). AudioSet labels and segment lists: CC BY 4.0, Google ({AUDIOSET_LICENSE_URL}). "
    "Video and audio: excerpts of YouTube videos, copyright of their uploaders, shared for non-commercial "
    "research; remove a clip when its owner asks."
)

VALOR_BIBTEX = """@article{chen2023valor,
  title   = {{VALOR}: Vision-Audio-Language Omni-Perception Pretraining Model and Dataset},
  author  = {Chen, Sihan and He, Xingjian and Guo, Longteng and Zhu, Xinxin and Wang, Weining and Tang, Jinhui
             and Liu, Jing},
  journal = {arXiv preprint arXiv:2304.08345},
  year    = {2023}
}"""

AUDIOSET_BIBTEX = """@inproceedings{gemmeke2017audioset,
  title     = {Audio Set: An ontology and human-labeled dataset for audio events},
  author    = {Gemmeke, Jort F. and Ellis, Daniel P. W. and Freedman, Dylan and Jansen, Aren and Lawrence, Wade
               and Moore, R. Channing and Plakal, Manoj and Ritter, Marvin},
  booktitle = {Proc. IEEE ICASSP},
  year      = {2017}
}"""

CITATION = VALOR_BIBTEX + "\n\n" + AUDIOSET_BIBTEX
PAPER_URL = "https://arxiv.org/abs/2304.08345"
