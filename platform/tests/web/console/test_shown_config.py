"""The configuration page shows every setting and no secret."""

import tomllib

from payments_platform.config import decode_settings
from payments_platform.operators import hash_password
from payments_platform.web.console.shown_config import REDACTED, as_toml, redacted_settings

KEY_HASH = "sha256:" + "ab" * 32


def _settings() -> object:
    return decode_settings(
        {
            "database": {"url": "postgresql://payments:db-pass-123@db.internal:5432/payments"},
            "security": {"merchants": {"monkey": {"key_hashes": [KEY_HASH]}}},
            "console": {"operators": {"alice": {"password_hash": hash_password("x" * 12, n=2)}}},
            "gateways": {
                "acme": {
                    "type": "json",
                    "settings": {
                        "base_url": "https://user:vendor-pass@api.acme.example/v1",
                        "webhook_secret": "whsec_named_secret",
                        "signing_material": "declared-by-plugin",
                        "merchant_label": "configured-elsewhere-as-secret",
                        "read_timeout": 10,
                    },
                }
            },
        }
    )


def test_every_kind_of_secret_is_withheld_and_the_rest_shown() -> None:
    shown = redacted_settings(
        _settings(),  # type: ignore[arg-type]
        {"acme": {"signing_material"}},
        known_secrets=["configured-elsewhere-as-secret"],
    )
    text = as_toml(shown)

    for secret in (
        "db-pass-123",
        "vendor-pass",
        "whsec_named_secret",
        "declared-by-plugin",
        "configured-elsewhere-as-secret",
        KEY_HASH,
        "scrypt$",
    ):
        assert secret not in text, secret
    acme = shown["gateways"]["acme"]["settings"]
    assert acme["webhook_secret"] == REDACTED  # by its name
    assert acme["signing_material"] == REDACTED  # the plugin declares it
    assert acme["merchant_label"] == REDACTED  # a value kept out of the logs
    assert acme["base_url"] == f"https://user:{REDACTED}@api.acme.example/v1"
    assert acme["read_timeout"] == 10
    assert shown["database"]["url"] == (
        f"postgresql://payments:{REDACTED}@db.internal:5432/payments"
    )
    assert shown["security"]["merchants"]["monkey"]["key_hashes"] == REDACTED
    assert shown["console"]["operators"]["alice"]["password_hash"] == REDACTED


def test_the_shown_configuration_is_toml_that_reads_back() -> None:
    shown = redacted_settings(_settings(), {})  # type: ignore[arg-type]

    parsed = tomllib.loads(as_toml(shown))

    assert parsed["gateways"]["acme"]["settings"]["read_timeout"] == 10
    assert parsed["routing"]["breaker"]["minimum_calls"] == 10
    assert "public_url" not in parsed["server"]  # not set: shown as a comment
    assert "# public_url: not set" in as_toml(shown)
