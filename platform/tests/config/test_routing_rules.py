"""``[[routing.rules]]`` in the config file: read in order, and refused, naming the key, when a
rule cannot be used."""

from __future__ import annotations

from pathlib import Path

import pytest
from payments_platform.config import ConfigError, load_settings
from payments_plugins import CaptureMode

GATEWAYS = """
[security]
auth = "none"
[gateways.eu-main]
type = "testgw"
[gateways.eu-big]
type = "testgw"
[gateways.spare]
type = "testgw"
enabled = false
"""


def write(tmp_path: Path, rules: str) -> Path:
    path = tmp_path / "payments.toml"
    path.write_text(GATEWAYS + rules, encoding="utf-8")
    return path


def test_rules_are_read_in_order_with_every_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [[routing.rules]]
        name = "eur-large"
        match = { currencies = ["EUR"], amount_min = 100000, amount_max = 5000000 }
        gateways = ["eu-big", "spare"]

        [[routing.rules]]
        name = "gold-split"
        fallback = false
        [routing.rules.match]
        capture = "manual"
        merchants = ["shop"]
        metadata = { tier = "gold", network = ["visa", "mc"] }
        [routing.rules.split]
        eu-big = 10
        eu-main = 90
        """,
    )

    first, second = load_settings(path, {}).routing.rules

    assert (first.name, first.gateways, first.split, first.fallback) == (
        "eur-large",
        ["eu-big", "spare"],
        None,
        True,
    )
    assert (first.match.currencies, first.match.amount_min, first.match.amount_max) == (
        ["EUR"],
        100_000,
        5_000_000,
    )
    assert (second.name, second.gateways, second.split, second.fallback) == (
        "gold-split",
        None,
        {"eu-big": 10, "eu-main": 90},
        False,
    )
    assert second.match.capture is CaptureMode.MANUAL
    assert second.match.merchants == ["shop"]
    assert second.match.metadata == {"tier": "gold", "network": ["visa", "mc"]}


def test_no_rules_is_the_default(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path, ""), {}).routing.rules == []


def _rule(name: str, body: str) -> str:
    return f'\n[[routing.rules]]\nname = "{name}"\n{body}\n'


FINE = _rule("fine", 'gateways = ["eu-main"]')


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        (
            FINE + _rule("fine", 'gateways = ["eu-big"]'),
            "rule name 'fine' is used twice (routing.rules[0] and routing.rules[1]): each"
            " decision records its rule by name - at `routing.rules[1].name`",
        ),
        (
            _rule("Big Ones", 'gateways = ["eu-main"]'),
            "rule name 'Big Ones' must be 1-64 of a-z, 0-9, '-', '_' - at `routing.rules[0].name`",
        ),
        (
            FINE + _rule("both", 'gateways = ["eu-main"]\nsplit = { eu-big = 100 }'),
            "rule 'both' must have exactly one of `gateways` (tried in that order) and `split`"
            " (gateway -> percentage) - at `routing.rules[1]`",
        ),
        (
            _rule("neither", "match = {}"),
            "rule 'neither' must have exactly one of `gateways` (tried in that order) and"
            " `split` (gateway -> percentage) - at `routing.rules[0]`",
        ),
        (
            FINE + _rule("typo", 'gateways = ["eu-bgi", "eu-main"]'),
            "rule 'typo' names 'eu-bgi', which is not configured (gateways: eu-main, eu-big,"
            " spare) - at `routing.rules[1].gateways`",
        ),
        (
            FINE + FINE.replace("fine", "x") + _rule("split", "split = { eu-big = 10, nope = 90 }"),
            "rule 'split' names 'nope', which is not configured (gateways: eu-main, eu-big,"
            " spare) - at `routing.rules[2].split`",
        ),
        (
            FINE
            + FINE.replace("fine", "x")
            + _rule("split", "split = { eu-big = 10, eu-main = 80 }"),
            "rule 'split': its split adds up to 90, not 100 - at `routing.rules[2].split`",
        ),
        (
            _rule("empty", "gateways = []"),
            "rule 'empty' names no gateway - at `routing.rules[0].gateways`",
        ),
        (
            _rule("twice", 'gateways = ["eu-main", "eu-main"]'),
            "rule 'twice' names a gateway twice - at `routing.rules[0].gateways`",
        ),
        (
            _rule("band", 'gateways = ["eu-main"]\nmatch = { amount_min = 500, amount_max = 500 }'),
            "rule 'band': amount_min (500) must be below amount_max (500), which is exclusive"
            " - at `routing.rules[0].match.amount_min`",
        ),
        (
            _rule("none", 'gateways = ["eu-main"]\nmatch = { currencies = [] }'),
            "rule 'none': an empty list matches no payment; leave `currencies` out to match"
            " every payment - at `routing.rules[0].match.currencies`",
        ),
        (
            _rule("eur", 'gateways = ["eu-main"]\nmatch = { currencies = ["EUE"] }'),
            "rule 'eur': 'EUE' is not an ISO 4217 currency code"
            " - at `routing.rules[0].match.currencies`",
        ),
        (
            _rule("meta", 'gateways = ["eu-main"]\nmatch = { metadata = { tier = [] } }'),
            "rule 'meta': an empty list matches no payment"
            " - at `routing.rules[0].match.metadata.tier`",
        ),
        (
            _rule("pct", "split = { eu-main = 101 }"),
            "Expected `int` <= 100 - at `routing.rules[0].split[...]`",
        ),
        (
            _rule("typo", 'gateways = ["eu-main"]\nmatch = { currency = ["EUR"] }'),
            "unknown field `currency` (did you mean `currencies`?) - at"
            " `routing.rules[0].match.currency`",
        ),
        (
            _rule("cap", 'gateways = ["eu-main"]\nmatch = { capture = "later" }'),
            "invalid value 'later': choose one of 'automatic', 'manual'"
            " - at `routing.rules[0].match.capture`",
        ),
    ],
)
def test_a_rule_that_cannot_be_used_is_refused_naming_its_key(
    tmp_path: Path, rules: str, message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(write(tmp_path, rules), {})
    assert str(raised.value) == message
