"""The demo profile as people start it, ``payments serve`` with no config file: where it
listens and what its banner tells them."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from .server_process import payments_serve

LISTEN = "0A"
"""A listening socket's state in ``/proc/net/tcp``."""


def listening_addresses(port: int) -> set[str]:
    """The local addresses of the TCP sockets listening on ``port`` (Linux: ``/proc/net``)."""
    found = set()
    for table in ("tcp", "tcp6"):
        path = Path("/proc/net") / table
        if not path.exists():
            continue
        for line in path.read_text(encoding="ascii").splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, port_hex = local.partition(":")
            if state != LISTEN or int(port_hex, 16) != port:
                continue
            # The kernel prints each 32-bit word of the address in host (little-endian) order.
            raw = bytes.fromhex(address)
            packed = b"".join(raw[index : index + 4][::-1] for index in range(0, len(raw), 4))
            found.add(str(ipaddress.ip_address(packed)))
    return found


def test_the_demo_listens_on_loopback_and_its_banner_says_how_to_open_it(tmp_path: Path) -> None:
    """Issue 19, section 5: the demo listened on 0.0.0.0, which made its open API, its
    simulators' "mark paid" controls and the console's published password reachable from the
    whole network."""
    with payments_serve(tmp_path, host=None) as server:
        port = int(server.base_url.rsplit(":", 1)[1])
        addresses = listening_addresses(port)
        banner = server.output()

    assert addresses == {"127.0.0.1"}
    assert f"listening on 127.0.0.1:{port}, reachable from this machine only" in banner
    assert "--host 0.0.0.0" in banner


def test_the_demo_opened_with_host_listens_everywhere_and_its_banner_warns(
    tmp_path: Path,
) -> None:
    """Issue 19, section 5: ``--host`` still opens the demo, and then the banner says who can
    reach what it leaves open."""
    with payments_serve(tmp_path, host="0.0.0.0") as server:  # noqa: S104 - what is tested
        port = int(server.base_url.rsplit(":", 1)[1])
        addresses = listening_addresses(port)
        banner = server.output()

    assert addresses == {"0.0.0.0"}  # noqa: S104 - what is tested
    assert f"listening on 0.0.0.0:{port}: anyone who can reach this machine" in banner
