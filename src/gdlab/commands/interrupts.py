"""Ctrl-C in the ``gdlab`` program: the SIGINT handler ``gdlab.__main__`` installs, and the checks that make an
interrupt Python lost count.

Python raises KeyboardInterrupt wherever the main thread is when the signal is handled. Two places lose it:
- inside a garbage-collector callback (JAX registers one), where the exception is dropped (and was printed as
  "Exception ignored" with a traceback: ``unraisable`` now passes over it), so the command ran on to its end
  and exited 0;
- inside the import of jaxlib's extension module, where it crashed the interpreter (signal 11).
So the handler notes every interrupt (``Interrupts.seen``): the commands' progress callbacks call ``check``,
which raises it again at the next epoch, and while JAX is imported (``deferred``) it only notes it.
Standard library only: ``gdlab.__main__`` imports this before anything heavy.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any


class Interrupts:
    """The program's SIGINT handler and what it saw: ``seen`` (an interrupt came), ``defer`` (note it, do not
    raise: an import is under way), ``told`` (a command said how its interrupted work stands: ``gdlab.cli.main``
    says "interrupted" itself only where none did)."""

    def __init__(self) -> None:
        self.seen = False
        self.defer = False
        self.told = False

    def handler(self, signum: int, frame: FrameType | None) -> None:
        """signal.signal's handler: note the interrupt, and raise KeyboardInterrupt unless deferred."""
        self.seen = True
        if not self.defer:
            raise KeyboardInterrupt

    def check(self) -> None:
        """Raise KeyboardInterrupt if an interrupt came (one Python dropped, or one that was deferred)."""
        if self.seen:
            raise KeyboardInterrupt

    def install(self) -> bool:
        """Handle SIGINT here (the main thread only, as signal.signal requires), unless it is not Python's own
        handler: a SIGINT the parent ignores (a job started with & from a script) stays ignored. Whether it did."""
        if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            return False
        signal.signal(signal.SIGINT, self.handler)
        sys.unraisablehook = self.unraisable(sys.unraisablehook)
        return True

    def unraisable(self, before: Callable[[Any], object]) -> Callable[[Any], object]:
        """sys.unraisablehook that passes over a KeyboardInterrupt this handler raised where Python cannot raise
        (a gc callback: it printed "Exception ignored in: <function _xla_gc_callback ...>" and a traceback);
        ``seen`` keeps it, and ``check`` raises it again. Others go to ``before``."""

        def hook(unraisable: Any) -> object:
            if self.seen and isinstance(unraisable.exc_value, KeyboardInterrupt):
                return None
            return before(unraisable)

        return hook

    def reset(self) -> None:
        """Forget what was seen and told (a command run in-process after another: ``gdlab.cli.main``)."""
        self.seen = self.told = False

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Note an interrupt without raising inside the block; raise it at the block's end."""
        before, self.defer = self.defer, True
        try:
            yield
        finally:
            self.defer = before
        self.check()


INTERRUPTS = Interrupts()
"""The program's one handler (a signal handler is the process's): checked by the commands' progress callbacks."""
