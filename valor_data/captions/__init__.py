"""Captions without media, ``valor-data acd``: caption readers, the text normalisation, the audio concept
set from the AudioSet ontology, and the audio concept density (ACD) metric of the VALOR paper."""
