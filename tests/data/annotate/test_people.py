"""Invites are one-time and stored hashed, joining makes a pseudonymous person with a credential, and only a
host qualifies people (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from valor_data.annotate.people import NotAllowed, create_invites, identify, join, list_people, set_qualified
from valor_data.annotate.schema import invites, users
from valor_data.annotate.states import Role
from valor_data.web.errors import InputError
from valor_data.web.tokens import hash_secret


def test_an_invite_is_spent_once_and_stored_hashed(campaign):
    [invite] = create_invites(campaign, "annotator")
    user, token = join(campaign, invite)
    assert user.role == Role.ANNOTATOR and not user.qualified and user.pseudonym.startswith("ann-")
    with pytest.raises(InputError, match="invite: unknown or already used"):
        join(campaign, invite)
    with pytest.raises(InputError, match="invite: unknown or already used"):
        join(campaign, "vai_guessed")
    with campaign.db.read() as conn:
        stored = conn.execute(select(invites.c.token_hash)).scalars().all() + \
            conn.execute(select(users.c.token_hash)).scalars().all()
    assert stored == [hash_secret(invite), hash_secret(token)] and invite not in stored and token not in stored
    assert identify(campaign, token) == user and identify(campaign, token_hash=hash_secret(token)) == user
    assert identify(campaign, "vat_wrong") is None and identify(campaign) is None


def test_roles_pseudonyms_and_the_qualification_switch(campaign):
    people = [join(campaign, i)[0] for i in create_invites(campaign, Role.REVIEWER, 3)]
    host, _ = join(campaign, create_invites(campaign, "host")[0])
    annotator, _ = join(campaign, create_invites(campaign, "annotator")[0])
    assert all(p.role == Role.REVIEWER and p.qualified and p.pseudonym.startswith("rev-") for p in people)
    assert len({p.pseudonym for p in list_people(campaign)}) == 5
    with pytest.raises(NotAllowed, match="only a host"):
        set_qualified(campaign, people[0], annotator.id, True)
    assert set_qualified(campaign, host, annotator.id, True).qualified
    assert not set_qualified(campaign, host, annotator.id, False).qualified
    with pytest.raises(InputError, match="role: 'boss' is not one of annotator, reviewer, host"):
        create_invites(campaign, "boss")
    with pytest.raises(InputError, match="invites: between 1 and"):
        create_invites(campaign, "host", 0)
