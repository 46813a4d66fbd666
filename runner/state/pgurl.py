"""PostgreSQL URLs as the job file writes them: recognised, checked and shown without psycopg.

A URL never carries a password (libpq finds it in ``PGPASSWORD`` or ``.pgpass``), so what
is shown of a URL in messages and used as a key is safe to print.
"""

import os
from urllib.parse import parse_qs, unquote, urlsplit

from runner.errors import ConfigError

SCHEMES = ("postgresql://", "postgres://")
DEFAULT_PORT = "5432"


def is_postgres_url(text: str) -> bool:
    return text.lower().startswith(SCHEMES)


def _netloc_parts(url: str) -> tuple[str, str, str]:
    """(userinfo, hosts, path) without trusting urllib with a multi-host netloc."""
    parts = urlsplit(url)
    userinfo, _, hosts = parts.netloc.rpartition("@")
    return userinfo, hosts, parts.path


def check_url(url: str, *, what: str = "state") -> None:
    """ConfigError when ``url`` is not a PostgreSQL URL or holds a password.

    The message names the server but never the password: the one line may end up in CI
    logs, and a password typed into a URL is a password all the same.
    """
    if not is_postgres_url(url):
        raise ConfigError(f"{what}: {url!r} is not a postgresql:// URL")
    userinfo, _, _ = _netloc_parts(url)
    query = parse_qs(urlsplit(url).query, keep_blank_values=True)
    if ":" in userinfo or "password" in query:
        raise ConfigError(
            f"{what}: {display(url)}: a password in the URL is not allowed;"
            " set PGPASSWORD or use a .pgpass file"
        )


def _host_port(hosts: str) -> tuple[str, str]:
    first = hosts.split(",")[0]
    if first.startswith("["):  # [::1]:5432
        host, _, rest = first[1:].partition("]")
        port = rest.removeprefix(":")
    else:
        host, _, port = first.partition(":")
    host = unquote(host) or os.environ.get("PGHOST", "") or "localhost"
    return host, port or os.environ.get("PGPORT", "") or DEFAULT_PORT


def where(url: str) -> str:
    """``host:port/db`` for one-line messages (libpq's defaults filled in)."""
    userinfo, hosts, path = _netloc_parts(url)
    host, port = _host_port(hosts)
    host = f"[{host}]" if ":" in host else host  # IPv6
    user = unquote(userinfo.partition(":")[0])
    db = unquote(path.lstrip("/")) or os.environ.get("PGDATABASE", "") or user or "?"
    return f"{host}:{port}/{db}"


def display(url: str) -> str:
    """``postgresql://user@host:port/db``: the URL without password or options."""
    userinfo, _, _ = _netloc_parts(url)
    user = userinfo.partition(":")[0]
    return f"postgresql://{user + '@' if user else ''}{where(url)}"
