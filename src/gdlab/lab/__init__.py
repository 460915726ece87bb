"""The lab: a local web page where gradient descent moves (``gdlab lab``).

    from gdlab.lab import create_app, serve
    serve(host="127.0.0.1", port=8765, db="gdlab.db")

Every number is computed here, by gdlab's own rules and engine; the page only draws.
"""

from gdlab.lab.app import create_app
from gdlab.lab.server import serve

__all__ = ["create_app", "serve"]
