"""Run the lab with uvicorn: print the URL, warn when bound to more than the loopback interface."""

from __future__ import annotations

import ipaddress
import sys

from gdlab.core.checks import check_int_range


def is_loopback(host: str) -> bool:
    """Whether host names only this machine (localhost, 127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(host: str = "127.0.0.1", port: int = 8765, db: str | None = "gdlab.db") -> None:
    """Serve the lab until Ctrl-C; the URL goes to stdout, a warning to stderr when not loopback-only."""
    import uvicorn

    from gdlab.lab.app import create_app

    port = check_int_range("port", port, 1, 65535)
    if not host:
        raise ValueError(f"host must be an address such as 127.0.0.1; got {host!r}.")
    shown = f"[{host}]" if ":" in host else host
    print(f"gdlab lab: http://{shown}:{port}/  (Ctrl-C to stop)", flush=True)
    if not is_loopback(host):
        print(f"warning: bound to {host}, not 127.0.0.1: anyone who can reach this machine can use "
              "the lab and start training runs on it.", file=sys.stderr, flush=True)
    uvicorn.run(create_app(db), host=host, port=port, log_level="warning")
