"""Where a callback may go: https only, and only to public addresses after DNS resolution.

A callback URL is a request the server makes on someone's behalf, so it must not reach what
only the server can reach (SSRF): loopback, private and link-local ranges, carrier-grade NAT,
and above all the cloud metadata endpoints. The URL is checked when it is set (its form, and
its host when that is an address), and again at every delivery after resolving the name; the
connection then goes to the address that was checked (a name that resolves differently a moment
later does not matter), with the name kept for TLS (SNI and certificate) and the Host header.
`WEBHOOK_CALLBACK_ALLOW_PRIVATE` lets local and private addresses through (never the metadata
endpoints), `WEBHOOK_CALLBACK_ALLOW_HTTP` plain http.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

import msgspec

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Instance metadata services (AWS, GCP and Azure share the first; ECS, Alibaba, AWS over IPv6).
METADATA = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254")
)


class UnsafeUrl(Exception):
    """The URL may not be called; `str(err)` says why."""


class Unresolvable(UnsafeUrl):
    """The URL's host name did not resolve (now: it may later)."""


class Target(msgspec.Struct, frozen=True):
    """A checked URL and the address to connect to."""

    url: str
    scheme: str
    host: str
    port: int
    address: str

    def pinned_url(self) -> str:
        """The URL with the checked address in place of the name."""
        parts = urlsplit(self.url)
        host = f"[{self.address}]" if ":" in self.address else self.address
        path = parts.path or "/"
        return f"{self.scheme}://{host}:{self.port}{path}" + (f"?{parts.query}" if parts.query else "")


def check_form(url: str, *, allow_http: bool, allow_private: bool) -> str:
    """The URL if its form is acceptable (and its host, when an address literal, too)."""
    value = url.strip()
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise UnsafeUrl("The callback URL is not a valid URL.") from None
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes:
        raise UnsafeUrl("The callback URL must start with https://.")
    if not parts.hostname:
        raise UnsafeUrl("The callback URL has no host.")
    if parts.username or parts.password:
        raise UnsafeUrl("The callback URL may not carry a user name or password.")
    if port == 0:
        raise UnsafeUrl("The callback URL's port is not valid.")
    try:
        literal: IPAddress | None = ipaddress.ip_address(parts.hostname)
    except ValueError:
        literal = None
    if literal is not None:
        refusal = refuse(literal, allow_private=allow_private)
        if refusal:
            raise UnsafeUrl(f"The callback URL points at {refusal}.")
    return value


def refuse(address: IPAddress, *, allow_private: bool) -> str:
    """Why `address` may not be called ("" when it may)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in METADATA:
        return f"a cloud metadata address ({address})"
    if address.is_unspecified or address.is_multicast:
        return f"an address that is not a host ({address})"
    if allow_private or address.is_global:
        return ""
    if address.is_loopback:
        return f"this machine ({address})"
    if address.is_link_local:
        return f"a link-local address ({address})"
    return f"a private or reserved address ({address})"


async def resolve(url: str, *, allow_http: bool, allow_private: bool) -> Target:
    """The URL checked and resolved; every address the name resolves to must be allowed."""
    value = check_form(url, allow_http=allow_http, allow_private=allow_private)
    parts = urlsplit(value)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as err:
        raise Unresolvable(f"The callback host {host} could not be resolved ({err}).") from None
    addresses = list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos))
    if not addresses:
        raise Unresolvable(f"The callback host {host} has no address.")
    for address in addresses:
        refusal = refuse(address, allow_private=allow_private)
        if refusal:
            raise UnsafeUrl(f"The callback host {host} resolves to {refusal}.")
    return Target(url=value, scheme=parts.scheme, host=host, port=port, address=str(addresses[0]))
