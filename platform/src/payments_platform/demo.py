"""The demo profile: what ``payments serve`` runs with when no config file is given."""

from __future__ import annotations

from typing import Any

DEMO_WARNING = """\
*****************************************************************************
  DEMO PROFILE: no config file was given (--config or PAYMENTS_CONFIG).
  - database: ./payments.db (SQLite), migrated automatically
  - gateways: vendor SIMULATORS served by this same process, not real vendors
  - the client API is open and webhooks are not signed
  - the operator's console at /console: sign in as demo, password demo
  Never take real payments with this profile.
*****************************************************************************"""


DEMO_OPERATOR = "demo"
DEMO_PASSWORD = "demo"  # noqa: S105 - stated in the banner: the demo has nothing to protect
# DEMO_PASSWORD hashed once (`operators.hash_password`): hashing it whenever the profile is
# read would cost every command a tenth of a second.
DEMO_PASSWORD_HASH = (
    "scrypt$n=32768,r=8,p=1$BcNB6FGawwtjvn6Gg5qVRA"  # noqa: S105 - a hash, of the password above
    "$ovi5NWny_iFWoKtga-JOKXuTyQgDvNR-0RKhVo430xg"
)


def demo_profile() -> dict[str, Any]:
    """The raw configuration used when no file is given: everything local, nothing secret.

    Both built-in gateways, each against its own simulator, in priority order: AED goes to
    JSON and fails over to SOAP when the JSON vendor is down (which keeps the walk-through
    deterministic); USD, which only SOAP takes, goes through SOAP.
    """
    return {
        "demo": True,
        "database": {"url": "sqlite:///payments.db", "migrate_on_start": True},
        "security": {"auth": "none", "allow_unsigned_webhooks": True},
        "routing": {"strategy": "priority"},
        "gateways": {
            "json": {"type": "json", "simulator": {"payer_pays_at_once": True}},
            "soap": {"type": "soap", "simulator": {"payer_pays_at_once": True}},
        },
        "console": {"operators": {DEMO_OPERATOR: {"password_hash": DEMO_PASSWORD_HASH}}},
    }
