"""A webhook URL read once, into the exact URL that is sent.

The loopback rule (plain http only to 127.0.0.1, localhost, ::1) is only as good as the
agreement between the parser that checks it and the one that sends: ``urllib.parse`` reads
``http://a\\@127.0.0.1/`` as a request to 127.0.0.1, urllib3 as one to ``a``. So a URL is
accepted only in a plain form both read alike (no user info, backslash, fragment, odd port,
zone ID, dot segment or character that would be re-encoded); the URL sent is rebuilt from
the checked parts, and is checked once more against what requests and urllib3 make of it.
Reasons never contain the URL: it is a secret.
"""

import ipaddress
import re
from typing import Final
from urllib.parse import urlsplit

from requests.models import PreparedRequest
from urllib3.util import parse_url

LOOPBACK_HOSTS: Final = frozenset({"127.0.0.1", "localhost", "::1"})
NOT_HTTPS: Final = "is not an https URL (plain http only for 127.0.0.1, localhost, ::1)"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST_NAME = re.compile(rf"(?=.{{1,253}}\Z){_LABEL}(?:\.{_LABEL})*\Z")
_PORT = re.compile(r"[1-9][0-9]{0,4}\Z")
# RFC 3986 path and query characters that no library re-encodes, and %XX escapes.
_PLAIN = re.compile(r"(?:[A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-F]{2})*\Z")


def webhook_url(value: str) -> str:
    """The URL to send to, or ValueError saying why ``value`` is refused (never quoting it)."""
    if not value.isascii():
        raise ValueError("holds characters outside ASCII (write the host in punycode)")
    if "\\" in value:
        raise ValueError("holds a backslash, which HTTP libraries read differently")
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises ValueError for a port that is not a number or out of range
    except ValueError:
        raise ValueError(NOT_HTTPS) from None
    scheme, host = parts.scheme, parts.hostname or ""
    if scheme not in ("http", "https") or not host:
        raise ValueError(NOT_HTTPS)
    if "@" in parts.netloc:
        raise ValueError("holds user info (user@host), which HTTP libraries read differently")
    if "#" in value:
        raise ValueError("holds a fragment (#), which is never sent")
    bracketed = parts.netloc.startswith("[")
    port_text = parts.netloc.rpartition("]")[2] if bracketed else parts.netloc
    _, colon, port = port_text.partition(":")
    if colon and not (_PORT.match(port) and int(port) <= 65535):
        raise ValueError("has a port that is not written plainly as 1 to 65535")
    if bracketed:
        try:
            if "%" in host:  # a zone ID (%eth0): each library passes it on its own way
                raise ValueError
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError("has a host that is not a plain IPv6 address") from None
    elif not _HOST_NAME.match(host):
        raise ValueError("has a host that is not a plain name or IPv4 address")
    if not (scheme == "https" or host in LOOPBACK_HOSTS):
        raise ValueError(NOT_HTTPS)
    path = parts.path or "/"
    if any(segment in (".", "..") for segment in path.split("/")):
        raise ValueError("has . or .. segments in its path, which HTTP libraries remove")
    if not (_PLAIN.match(path) and _PLAIN.match(parts.query)):
        raise ValueError("has characters in its path or query that would be re-encoded")
    netloc = (f"[{host}]" if bracketed else host) + (f":{port}" if colon else "")
    target = path + (f"?{parts.query}" if parts.query else "")
    url = f"{scheme}://{netloc}{target}"
    # What is sent is what was checked: requests' prepared URL and urllib3's reading of it.
    prepared = PreparedRequest()
    prepared.prepare_url(url, None)
    sent = parse_url(url)
    host_part = netloc.rpartition(":")[0] if colon else netloc
    expected = (scheme, host_part, int(port) if colon else None, target)
    if prepared.url != url or (sent.scheme, sent.host, sent.port, sent.request_uri) != expected:
        raise ValueError("is read differently by the HTTP libraries")
    return url
