"""Redirect URIs: RFC 6749 §3.1.2, OAuth 2.1 §2.3 and §8.4.2, RFC 8252 §7, RFC 9700 §2.1/§4.1.3.

Registration (`validate_registered`) decides which URIs a client may register, including that a host is
a DNS name, an IPv4 address or a bracketed IPv6 address (so no `*` wildcard); matching (`matches`)
is an exact string comparison (RFC 3986 §6.2.1, no normalization), with one exception: an `http` URI
on a loopback IP literal matches on any port, since native apps get an ephemeral port from the OS.
`add_params` builds the response URI, keeping the registered query (RFC 6749 §3.1.2).
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import quote, urlencode, urlsplit

MAX_LENGTH = 2048

# scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) (RFC 3986 §3.1)
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+\-.]*):")
# Characters a URI may contain (RFC 3986 §2): unreserved, reserved and "%" (checked below).
_URI_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*")
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
# http://<IPv4 or bracketed IPv6 literal>[:port]<path-abempty>[?query]: the shape that may vary its
# port. The host is checked to be loopback separately; the port, when present, is 1-5 digits.
_LOOPBACK_SHAPE = re.compile(
    r"(http://(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3}|\[[0-9A-Fa-f:.]+\]))(?::([0-9]{1,5}))?((?:[/?].*)?)", re.S
)


# A DNS label in letter-digit-hyphen form (RFC 1123 §2.1, RFC 5890 §2.3.1): 1-63 characters, no hyphen
# at either end. Internationalized names are accepted only as A-labels ("xn--..."), never as U-labels.
_LDH_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
# A last label that a URL parser reads as a number (WHATWG URL "ends in a number"): the host is then an
# IPv4 address, so "127.1" or "0x7f.1" must be written as the dotted quad it means, or not at all.
_NUMERIC_LABEL = re.compile(r"[0-9]+|0[xX][0-9A-Fa-f]*")
MAX_HOST_LENGTH = 253


class InvalidRedirectUri(ValueError):
    """A redirect URI that may not be registered; the message says why."""


def is_loopback_ip(host: str) -> bool:
    """127.0.0.0/8 or ::1, as an IP literal (`host` without brackets); names such as localhost are not."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        return address.scope_id is None and address == ipaddress.IPv6Address("::1")
    return address in ipaddress.IPv4Network("127.0.0.0/8")


def _host_problem(host: str, bracketed: bool) -> str | None:
    """Why `host` (brackets removed) is not a DNS name, an IPv4 address or an IPv6 literal; None if it is."""
    if bracketed:
        try:
            ipaddress.IPv6Address(host)  # no IPvFuture ("v1.x"), no IPv4 in brackets
        except ValueError:
            return "in brackets must be an IPv6 address"
        if "%" in host:
            return "must not carry an IPv6 zone identifier"
        return None
    if "*" in host:
        return "must not contain a wildcard: redirect URIs are compared exactly (OAuth 2.1 §2.3.1)"
    labels = host.split(".")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        try:
            ipaddress.IPv4Address(host)  # four decimal octets, no leading zeros
        except ValueError:
            return "ending in a number must be an IPv4 address in dotted-decimal form"
        return None
    if len(host) > MAX_HOST_LENGTH or not all(_LDH_LABEL.fullmatch(label) for label in labels):
        return (
            "must be a DNS name (labels of 1-63 letters, digits and inner hyphens; internationalized"
            " names in A-label form, xn--), an IPv4 address or a bracketed IPv6 address"
        )
    for label in labels:
        if label[:4].lower() == "xn--":
            try:
                label[4:].encode("ascii").decode("punycode")
            except UnicodeError:
                return "has an xn-- label that is not a valid A-label"
    return None


def validate_registered(uri: str) -> None:
    """Raise InvalidRedirectUri unless `uri` may be registered as a redirect URI.

    - absolute, without a fragment, without userinfo, at most 2048 characters, only URI characters
      (RFC 3986 §2: no whitespace, control or non-ASCII characters; well-formed percent-encoding);
    - `https` with a host; `http` only on a loopback IP literal (127.0.0.0/8, [::1]) or `localhost`
      (RFC 9700 §2.6, RFC 8252 §7.3, §8.3);
    - any other scheme is a native app's private-use scheme and must be in reverse-domain form,
      i.e. contain a "." (OAuth 2.1 §2.3.1, RFC 8252 §7.1). This also keeps out `javascript:`,
      `data:`, `file:` and the like;
    - a host, whatever the scheme, is a DNS name in letter-digit-hyphen form (labels of 1-63
      characters, at most 253 in all, no empty label so no trailing dot; an internationalized name as
      its A-label, `xn--`), an IPv4 address in dotted-decimal form or a bracketed IPv6 address (RFC 7591
      §2 with OAuth 2.1 §2.3.1: redirect URIs are exact, so a `*` wildcard is refused rather than
      stored and compared literally).
    """
    if len(uri) > MAX_LENGTH:
        raise InvalidRedirectUri(f"redirect URI is longer than {MAX_LENGTH} characters")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in uri):
        raise InvalidRedirectUri("redirect URI contains whitespace or control characters")
    if not _URI_CHARS.fullmatch(uri):
        raise InvalidRedirectUri("redirect URI contains characters not allowed in a URI (RFC 3986 §2)")
    if _BAD_PERCENT.search(uri):
        raise InvalidRedirectUri("redirect URI has a malformed percent-encoding")
    if "#" in uri:
        raise InvalidRedirectUri("redirect URI must not contain a fragment")
    scheme_match = _SCHEME.match(uri)
    if scheme_match is None:
        raise InvalidRedirectUri("redirect URI must be absolute (start with a scheme)")
    scheme = scheme_match.group(1).lower()
    try:
        parts = urlsplit(uri)
        host, port = parts.hostname, parts.port  # ValueError: bad IPv6 literal, port not a number in range
    except ValueError as exc:
        raise InvalidRedirectUri("redirect URI has an invalid host or port") from exc
    if port == 0:
        raise InvalidRedirectUri("redirect URI has an invalid host or port")
    if "@" in parts.netloc:
        raise InvalidRedirectUri("redirect URI must not contain userinfo")
    if scheme == "https":
        if not host:
            raise InvalidRedirectUri("https redirect URI must have a host")
    elif scheme == "http":
        if not host or not (is_loopback_ip(host) or host == "localhost"):
            raise InvalidRedirectUri("http redirect URIs are allowed only on loopback (127.0.0.1, [::1], localhost)")
    elif "." not in scheme:
        raise InvalidRedirectUri("private-use URI schemes must be reverse-domain names containing a '.'")
    if host:
        problem = _host_problem(host, parts.netloc.startswith("["))
        if problem is not None:
            raise InvalidRedirectUri(f"redirect URI host {problem}")


def _loopback_parts(uri: str) -> tuple[str, str] | None:
    """(scheme and host, path and query) of an http URI on a loopback IP literal; None otherwise."""
    m = _LOOPBACK_SHAPE.fullmatch(uri)
    if m is None:
        return None
    prefix, port, rest = m.group(1), m.group(2), m.group(3)
    if not is_loopback_ip(prefix[len("http://") :].strip("[]")):
        return None
    if port is not None and not 0 < int(port) <= 65535:
        return None
    return prefix, rest


def matches(requested: str, registered: tuple[str, ...]) -> str | None:
    """The registered redirect URI that `requested` matches, or None.

    Exact string comparison (OAuth 2.1 §4.1.1, RFC 9700 §4.1.3). Only for `http` URIs on a loopback
    IP literal (127.0.0.0/8, [::1]) may the port differ (or be absent on one side); scheme, host,
    path and query must still be identical (OAuth 2.1 §8.4.2, RFC 8252 §7.3). `localhost` gets no
    port exception: it is a name that can resolve elsewhere (RFC 8252 §8.3).
    """
    for uri in registered:
        if requested == uri:
            return uri
    wanted = _loopback_parts(requested)
    if wanted is None:
        return None
    for uri in registered:
        if _loopback_parts(uri) == wanted:
            return uri
    return None


def add_params(uri: str, params: dict[str, str]) -> str:
    """`uri` with `params` appended to its query, keeping the existing query (RFC 6749 §3.1.2).

    Values are percent-encoded (a space as %20, which every query decoder reads as a space) so
    that `state` comes back byte-for-byte. A fragment, if any, stays last.
    """
    if not params:
        return uri
    base, hash_mark, fragment = uri.partition("#")
    encoded = urlencode(params, quote_via=quote, safe="")
    if "?" not in base:
        separator = "?"
    elif base.endswith(("?", "&")):
        separator = ""
    else:
        separator = "&"
    return f"{base}{separator}{encoded}{hash_mark}{fragment}"
