"""No network in the tests: a socket may reach loopback and unix sockets only.

tests/conftest.py installs this guard in the pytest process and puts this folder first on
PYTHONPATH, so every Python subprocess (snakemake, its jobs, `wganbench ...`) imports this file as
``sitecustomize`` at start-up and is guarded too. A blocked connection raises ``NetworkBlocked``
(an OSError, as a real network failure would), so code paths that would silently download fail
loudly in a test instead. SLURM's daemons, munge and Chromium are not Python; they talk over
loopback and unix sockets anyway.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any, Callable

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}
_ORIGINAL: dict[str, Callable[..., Any]] = {}


class NetworkBlocked(ConnectionRefusedError):
    """A test tried to reach the network."""


def allowed(family: int, address: Any) -> bool:
    """Unix sockets and loopback addresses; any other host (names included: no DNS) is refused."""
    if family == getattr(socket, "AF_UNIX", object()) or not isinstance(address, tuple):
        return True
    host = address[0]
    if isinstance(host, bytes):
        host = host.decode()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _guarded(name: str) -> Callable[..., Any]:
    original = _ORIGINAL[name]

    def method(self: socket.socket, *args: Any) -> Any:
        address = args[-1] if name == "sendto" else args[0]
        if not allowed(self.family, address):
            raise NetworkBlocked(f"network access blocked in tests: {name} to {address!r} "
                                 "(only loopback and unix sockets; tests/netguard)")
        return original(self, *args)

    method.__name__ = name
    return method


def install() -> None:
    """Guard ``connect``, ``connect_ex`` and ``sendto`` of every Python socket (idempotent)."""
    for name in ("connect", "connect_ex", "sendto"):
        if name not in _ORIGINAL:
            _ORIGINAL[name] = getattr(socket.socket, name)
            setattr(socket.socket, name, _guarded(name))


def uninstall() -> None:
    for name, original in _ORIGINAL.items():
        setattr(socket.socket, name, original)
    _ORIGINAL.clear()


install()
