"""The image's HEALTHCHECK: exit 0 when GET /health answers on the address in $BIND."""

import os
import sys
import urllib.request

WILDCARDS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}  # noqa: S104 (read, not bound)


def health_url(bind: str) -> str:
    """The /health URL of a gunicorn `host:port` bind, a wildcard host read as loopback."""
    host, _, port = bind.rpartition(":")
    host = WILDCARDS.get(host.strip("[]"), host.strip("[]"))
    return f"http://[{host}]:{port}/health" if ":" in host else f"http://{host}:{port}/health"


def main() -> int:
    """Check once; on failure say why in one line."""
    url = health_url(os.environ.get("BIND", "0.0.0.0:8000"))
    try:
        urllib.request.urlopen(url, timeout=3).close()  # noqa: S310 (the URL is built above)
    except OSError as error:
        print(f"{url}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
