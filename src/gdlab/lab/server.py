"""Run the lab with uvicorn: print the URL, warn when bound to more than the loopback interface; JAX's
persistent compilation cache on (a later lab's first run and surfaces compile from it, as gdlab fit's do)."""

from __future__ import annotations

import ipaddress
import socket
import sys

from gdlab.core.checks import check_int_range
from gdlab.engine.compilation_cache import enable_compilation_cache
from gdlab.store import open as open_store


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
    check_can_listen(host, port)
    if db is not None:  # a folder or a file that is no gdlab database, refused now, not at the first run
        open_store(db).close()
    enable_compilation_cache()  # a cache folder that cannot be written, refused now too
    print(f"gdlab lab: {url(host, port)}  (Ctrl-C to stop)", flush=True)
    if not is_loopback(host):
        print(f"warning: bound to {host}, not 127.0.0.1: anyone who can reach this machine can use "
              "the lab and start training runs on it.", file=sys.stderr, flush=True)
    uvicorn.run(create_app(db), host=host, port=port, log_level="warning")


def url(host: str, port: int) -> str:
    """The address to open: the host as bound, or this machine's name where it binds every address (0.0.0.0,
    ::), which is no address a browser can open."""
    if host in ("0.0.0.0", "::", ""):
        host = "localhost"
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/"


def check_can_listen(host: str, port: int) -> None:
    """Refuse a host that does not resolve (ValueError) or an address in use (OSError) before the URL is printed.

    uvicorn's own error came after the URL, as a log line, with exit code 3.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as err:
        raise ValueError(f"host must be an address or a name of this machine; got {host!r} ({err.strerror}).") \
            from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(address)
        except OSError as err:
            raise OSError(f"the lab cannot listen on {host} port {port}: {err.strerror} (choose another --port "
                          "or --host).") from None
