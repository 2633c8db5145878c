"""The listing's cursors as clients hold them: each one names a position for one merchant, and
any other text is refused (issue 19 section 5: any 46 hex digits were taken as a cursor)."""

from __future__ import annotations

import re
import secrets
import uuid
from datetime import UTC, datetime

import pytest
from payments_platform.cursors import CURSOR_PATTERN, CursorRefused, CursorSeal
from payments_platform.store.listing import Cursor

POSITION = Cursor(datetime(2026, 12, 1, 10, 15, 2, 318204, tzinfo=UTC), uuid.uuid4())
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
SEAL = CursorSeal.from_secrets(None, ["sha256:" + "1" * 64, "sha256:" + "2" * 64])


@pytest.mark.parametrize("merchant", ["alice", None])
def test_a_sealed_position_opens_to_itself_for_its_merchant(merchant: str | None) -> None:
    text = SEAL.seal(POSITION, merchant)
    assert re.fullmatch(CURSOR_PATTERN, text)
    assert SEAL.open(text, merchant) == POSITION


@pytest.mark.parametrize(
    ("given_to", "sent_by"), [("alice", "bob"), ("alice", None), (None, "bob")]
)
def test_a_cursor_is_refused_to_anyone_it_was_not_given_to(
    given_to: str | None, sent_by: str | None
) -> None:
    with pytest.raises(CursorRefused):
        SEAL.open(SEAL.seal(POSITION, given_to), sent_by)


def test_a_cursor_with_any_one_character_changed_is_refused() -> None:
    text = SEAL.seal(POSITION, "alice")
    for index, character in enumerate(text):
        for other in ALPHABET.replace(character, "")[::7]:
            with pytest.raises(CursorRefused):
                SEAL.open(text[:index] + other + text[index + 1 :], "alice")


@pytest.mark.parametrize(
    "text",
    [
        # The form cursors had before they were sealed: a creation time and an id in hex.
        "00063a9b1c2d3e" + uuid.uuid4().hex,
        "".join(secrets.choice(ALPHABET) for _ in range(55)),
        SEAL.seal(POSITION, "alice") + "A",
        SEAL.seal(POSITION, "alice")[:-1] + "!",
        "",
    ],
    ids=["before sealing", "random", "longer", "outside the alphabet", "empty"],
)
def test_text_the_service_never_gave_is_refused(text: str) -> None:
    with pytest.raises(CursorRefused, match="list again without a cursor"):
        SEAL.open(text, "alice")


def test_every_process_of_a_deployment_seals_alike_whatever_the_order_of_its_keys() -> None:
    hashes = ["sha256:" + "1" * 64, "sha256:" + "2" * 64]
    again = CursorSeal.from_secrets(None, list(reversed(hashes)))
    assert again.open(SEAL.seal(POSITION, "alice"), "alice") == POSITION


def test_a_cursor_secret_keeps_cursors_through_a_change_of_keys() -> None:
    secret = secrets.token_urlsafe(32)
    before = CursorSeal.from_secrets(secret, ["sha256:" + "1" * 64])
    after = CursorSeal.from_secrets(secret, ["sha256:" + "1" * 64, "sha256:" + "3" * 64])
    assert after.open(before.seal(POSITION, "alice"), "alice") == POSITION
    unset = CursorSeal.from_secrets(None, ["sha256:" + "1" * 64, "sha256:" + "3" * 64])
    with pytest.raises(CursorRefused):
        unset.open(SEAL.seal(POSITION, "alice"), "alice")
