"""The demo profile: what ``payments serve`` runs with when no config file is given."""

from __future__ import annotations

import ipaddress
from typing import Any

DEMO_OPERATOR = "demo"
DEMO_PASSWORD = "demo"  # noqa: S105 - stated in the banner: the demo has nothing to protect
# DEMO_PASSWORD hashed once (`operators.hash_password`): hashing it whenever the profile is
# read would cost every command a tenth of a second.
DEMO_PASSWORD_HASH = (
    "scrypt$n=32768,r=8,p=1$BcNB6FGawwtjvn6Gg5qVRA"  # noqa: S105 - a hash, of the password above
    "$ovi5NWny_iFWoKtga-JOKXuTyQgDvNR-0RKhVo430xg"
)

DEMO_HOST = "127.0.0.1"
"""Where the demo listens unless ``--host`` says otherwise: its client API is open, its
simulators' controls mark payments paid, and its console's password is in the banner, so only
this machine reaches it."""

_RULE = "*" * 77


def demo_warning(host: str, port: int) -> str:
    """The banner ``payments serve`` prints in the demo profile, listening on ``host:port``."""
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if _is_loopback(host):
        listening = (
            f"  - listening on {where}, reachable from this machine only;\n"
            "    --host 0.0.0.0 opens all of the above to the network"
        )
    else:
        listening = (
            f"  - listening on {where}: anyone who can reach this machine can\n"
            "    use all of the above; listen on 127.0.0.1 to keep it to this machine"
        )
    return f"""\
{_RULE}
  DEMO PROFILE: no config file was given (--config or PAYMENTS_CONFIG).
  - database: ./payments.db (SQLite), migrated automatically
  - gateways: vendor SIMULATORS served by this same process, not real vendors
  - the client API is open and webhooks are not signed
  - the operator's console at /console: sign in as {DEMO_OPERATOR}, password {DEMO_PASSWORD}
  - notifications go to a stand-in merchant: GET /simulators/merchant;
    its page {RECEIVER_PATH}/return is a return_url for the payer
{listening}
  Never take real payments with this profile.
{_RULE}"""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        # A host name may resolve anywhere: warn as for any other interface.
        return False


RECEIVER_PATH = "/simulators/merchant"
"""Where the stand-in merchant endpoint is served, when the config asks for it."""
DEMO_NOTIFICATION_SECRET = "whsec_ZGVtby1zZWNyZXQtZm9yLXRoZS13YWxrLXRocm91Z2gtb25seQ=="  # noqa: S105 - the demo's, public on purpose
"""Public on purpose, like everything of the demo: it signs notifications nobody must trust."""


def demo_profile() -> dict[str, Any]:
    """The raw configuration used when no file is given: everything local, nothing secret.

    Both built-in gateways, each against its own simulator, in priority order: AED goes to
    JSON and fails over to SOAP when the JSON vendor is down (which keeps the walk-through
    deterministic); USD, which only SOAP takes, goes through SOAP. The console has one
    operator, whose name and password the banner states. It listens on loopback only.
    """
    return {
        "demo": True,
        "server": {"host": DEMO_HOST},
        "database": {"url": "sqlite:///payments.db", "migrate_on_start": True},
        "security": {"auth": "none", "allow_unsigned_webhooks": True},
        "routing": {"strategy": "priority"},
        # The payer comes back to a page of this machine's: http on loopback is taken.
        "payments": {"allow_http_return_url": True},
        "gateways": {
            # The payer pays on the simulated vendor's page (the payment's next action).
            "json": {"type": "json", "simulator": {}},
            "soap": {"type": "soap", "simulator": {}},
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
