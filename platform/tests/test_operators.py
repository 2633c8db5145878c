"""Operator accounts: passwords kept as scrypt hashes, checked in constant time, whether or not
the name exists; the ``[console]`` table names the key of a bad entry."""

import hashlib

import pytest
from payments_platform.config import ConfigError, decode_settings, load_settings
from payments_platform.demo import DEMO_OPERATOR, DEMO_PASSWORD, demo_warning
from payments_platform.operators import (
    InvalidPasswordHash,
    OperatorAccounts,
    PasswordHash,
    hash_password,
    new_password,
)

CHEAP = 2**10  # tests need no protection from brute force, only speed


def test_a_password_matches_its_hash_and_nothing_else() -> None:
    hashed = PasswordHash.parse(hash_password("correct horse battery", n=CHEAP))

    assert hashed.matches("correct horse battery")
    assert not hashed.matches("correct horse batterY")
    assert not hashed.matches("")


def test_the_same_password_hashes_differently_each_time() -> None:
    assert hash_password("same password!", n=CHEAP) != hash_password("same password!", n=CHEAP)


def test_a_hash_keeps_its_cost_so_that_it_can_be_raised_later() -> None:
    text = hash_password("correct horse battery", n=CHEAP)

    assert text.startswith("scrypt$n=1024,r=8,p=1$")
    assert PasswordHash.parse(text).text() == text


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("sha256:abc", "not a password hash"),
        ("scrypt$n=1000,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$" + "A" * 43, "power of 2"),
        ("scrypt$n=1048576,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$" + "A" * 43, "more than 128 MiB"),
        ("scrypt$n=1024,r=99,p=1$AAAAAAAAAAAAAAAAAAAAAA$" + "A" * 43, "r in 1-32"),
    ],
)
def test_a_hash_that_payments_did_not_make_is_refused(text: str, complaint: str) -> None:
    with pytest.raises(InvalidPasswordHash, match=complaint):
        PasswordHash.parse(text)


def test_an_unknown_operator_costs_a_full_check_and_never_signs_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    accounts = OperatorAccounts.of({"alice": hash_password("alices password", n=CHEAP)})
    costs: list[int] = []
    real_scrypt = hashlib.scrypt

    def counted(password: bytes, **options: int) -> bytes:
        costs.append(options["n"])
        return real_scrypt(password, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(hashlib, "scrypt", counted)

    assert not accounts.verify("mallory", "alices password")
    assert accounts.verify("alice", "alices password")
    assert not accounts.verify("alice", "mallorys guess")
    # The name that does not exist took one scrypt of the accounts' cost, as the others did.
    assert costs == [CHEAP, CHEAP, CHEAP]


def test_a_made_password_is_long_and_random() -> None:
    first, second = new_password(), new_password()

    assert len(first) >= 24
    assert first != second


def _settings(operators: dict[str, object]) -> object:
    return decode_settings({"security": {"auth": "none"}, "console": {"operators": operators}})


def test_the_console_is_served_only_with_an_operator() -> None:
    assert not decode_settings({"security": {"auth": "none"}}).console.enabled
    hashed = hash_password("alices password", n=CHEAP)
    settings = decode_settings(
        {
            "security": {"auth": "none"},
            "console": {"operators": {"alice": {"password_hash": hashed}}},
        }
    )
    assert settings.console.enabled


@pytest.mark.parametrize(
    ("operators", "key"),
    [
        ({"Alice": {"password_hash": "scrypt$"}}, "console.operators"),
        ({"alice": {"password_hash": "hunter2"}}, "console.operators.alice.password_hash"),
        ({"alice": {"password": "hunter2"}}, "console.operators.alice.password"),
    ],
)
def test_a_bad_operator_entry_names_its_key(operators: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as raised:
        _settings(operators)

    assert raised.value.key == key


def test_the_demo_operator_signs_in_with_the_password_its_banner_states() -> None:
    settings = load_settings(None, {})
    accounts = OperatorAccounts.of(
        {name: account.password_hash for name, account in settings.console.operators.items()}
    )

    assert settings.console.enabled
    banner = demo_warning("127.0.0.1", 8080)
    assert f"sign in as {DEMO_OPERATOR}, password {DEMO_PASSWORD}" in banner
    assert accounts.verify(DEMO_OPERATOR, DEMO_PASSWORD)
