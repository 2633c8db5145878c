"""API keys (``access``): a key's merchant, and nobody for anything else."""

from __future__ import annotations

from payments_platform.access import Keyring, key_hash, new_key

ALICE, BOB = new_key(), new_key()


def test_keyring_finds_the_merchant_of_a_key_and_nobody_else() -> None:
    keyring = Keyring.of({"alice": [key_hash(ALICE)], "bob": [key_hash(BOB)]})
    assert keyring.merchant_for(f"Bearer {ALICE}") == "alice"
    assert keyring.merchant_for(f"bearer {BOB}") == "bob"
    for header in [
        None,
        "",
        ALICE,
        f"Basic {ALICE}",
        f"Bearer {ALICE}x",
        "Bearer ",
        f"Bearer {'x' * 500}",
    ]:
        assert keyring.merchant_for(header) is None
