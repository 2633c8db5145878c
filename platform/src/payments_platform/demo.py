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
  - notifications go to a stand-in merchant: GET /simulators/merchant
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

RECEIVER_PATH = "/simulators/merchant"
"""Where the stand-in merchant endpoint is served, when the config asks for it."""
DEMO_NOTIFICATION_SECRET = "whsec_ZGVtby1zZWNyZXQtZm9yLXRoZS13YWxrLXRocm91Z2gtb25seQ=="  # noqa: S105 - the demo's, public on purpose
"""Public on purpose, like everything of the demo: it signs notifications nobody must trust."""


def demo_profile() -> dict[str, Any]:
    """The raw configuration used when no file is given: everything local, nothing secret.

    Both built-in gateways, each against its own simulator, in priority order: AED goes to
    JSON and fails over to SOAP when the JSON vendor is down (which keeps the walk-through
    deterministic); USD, which only SOAP takes, goes through SOAP. The console has one
    operator, whose name and password the banner states.
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
        # Every event of every payment goes to the stand-in merchant this process serves.
        "notifications": {
            "receiver": True,
            "allow_http": True,
            "allow_private_addresses": True,
            "endpoints": {
                "demo-merchant": {
                    "url": f"{RECEIVER_PATH}/notifications",
                    "secret": DEMO_NOTIFICATION_SECRET,
                }
            },
        },
    }
