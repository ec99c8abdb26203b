"""Signals that end a command: Ctrl-C (SIGINT), SIGTERM and SIGHUP, each as one line and an exit status.

    with stop_signals_raise() as names:  # around a command, in the main thread
        names.prog = "archsim sat"        # the name the lines start with, once known
        ...                               # a signal raises Interrupted(signum) here

Inside the block, the first of these signals raises `Interrupted` (a
KeyboardInterrupt) wherever the main thread is, so every `finally` and `with`
on the way out runs as it does for an error: the run store gives back the units
in flight, a temporary file being written is removed, the previous outputs stay
(SIGTERM's default would end the process on the spot and leave `*.tmp` files
behind). The CLI then prints `interrupted_line(...)` and exits with
`exit_status(signum)`: 128 + the signal's number (130 for SIGINT, 143 for
SIGTERM, 129 for SIGHUP). A second signal during that clean-up ends the process
at once with the same line and status (what it leaves, `archsim store gc` removes).
The handlers in place before the block are put back after it.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


class Interrupted(KeyboardInterrupt):
    """The command was stopped by signal `signum`."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def exit_status(signum: int) -> int:
    return 128 + signum


def interrupted_line(prog: str, signum: int) -> str:
    """The one line a stopped command prints."""
    name = signal.Signals(signum).name + (" (Ctrl-C)" if signum == signal.SIGINT else "")
    return (f"{prog}: interrupted by {name}; what was finished is kept: run the same command again to resume "
            "from there")


class Names:
    prog = "archsim"


@contextmanager
def stop_signals_raise() -> Iterator[Names]:
    """Inside, a stop signal raises Interrupted; a second one exits at once (see the module docstring)."""
    names = Names()
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield names
        return
    received: list[int] = []

    def handle(signum, frame):
        if received:
            sys.stdout.flush()
            print(interrupted_line(names.prog, signum), file=sys.stderr, flush=True)
            os._exit(exit_status(signum))
        received.append(signum)
        raise Interrupted(signum)

    previous = {sig: signal.signal(sig, handle) for sig in STOP_SIGNALS}
    try:
        yield names
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
