"""Start-up and exit of a command without the cyclic garbage collector in the way.

Importing Prefect (the CLI, and again its temporary API server) creates ~500k objects that
live as long as the process. With Python's default threshold the collector traverses them
over and over while they load: 0.5 of the 2.4 CPU-s that importing the server's app takes
here. A raised threshold while starting, then `gc.freeze()` once the command's imports are
done (what exists by then is never traversed again), removes that; collections go on as usual
for what the run itself allocates.

At exit the interpreter tears every module down and collects all of it once more: 0.9 s
after a cron run's flow had finished. `leave()` does what Python's exit does for the program
(joins its threads, runs the atexit handlers, flushes) and then ends the process at once.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import sys
import threading

STARTING_THRESHOLD = 50_000  # objects between collections while importing (Python's: 700)
_default: tuple[int, int, int] | None = None


def starting() -> None:
    """Collect rarely until `settled()`: the process is loading what it keeps until it exits."""
    global _default
    if _default is None:
        _default = gc.get_threshold()
    gc.set_threshold(STARTING_THRESHOLD, *_default[1:])


def settled() -> None:
    """The long-lived objects are loaded: set them aside for good, collect as usual again.

    Only after `starting()`: in a process that goes on (a test session) it does nothing.
    """
    global _default
    if _default is None:
        return
    gc.freeze()
    gc.set_threshold(*_default)
    _default = None


def leave(code: object) -> None:
    """Exit with `code` (as `sys.exit` takes it) without tearing the interpreter down."""
    shutdown = getattr(threading, "_shutdown", None)  # what the interpreter's exit calls first:
    if shutdown is not None:  # the executors' exit hooks, then joining non-daemon threads
        shutdown()
    atexit._run_exitfuncs()
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # as Python prints a non-integer exit code
        print(code, file=sys.stderr)
        status = 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # closed, or a broken pipe
            stream.flush()
    os._exit(status)
