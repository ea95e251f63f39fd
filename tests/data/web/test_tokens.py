"""One-time tokens: random, stored only as their hash, compared in constant time."""

from __future__ import annotations

import hashlib

from valor_data.web.tokens import hash_secret, new_token, same_secret


def test_a_token_is_stored_only_as_its_sha256():
    token, stored = new_token("inv_")
    assert token.startswith("inv_") and len(token) > 40
    assert stored == hashlib.sha256(token.encode()).hexdigest() == hash_secret(token)
    assert token not in stored and new_token("inv_")[0] != token


def test_same_secret():
    assert same_secret("abc", "abc")
    assert not same_secret("abc", "abd")
    assert not same_secret("", "") and not same_secret(None, None) and not same_secret("abc", None)
