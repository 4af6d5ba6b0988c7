"""Processes that die with the process that owns them, however it dies.

`kill -9` of a run's main process alone (by hand, systemd's `KillMode=process`, the OOM
killer) must not leave its extraction workers running: a worker busy with a pathological
page would go on at full CPU for minutes, and nothing would ever read its result.

- The extraction forkserver watches its parent from a thread (`watch_parent`) and kills
  itself within a second of the run's main process dying. (multiprocessing means it to exit
  when its `alive` pipe closes; seen here, it outlived a SIGKILLed parent all the same.)
- Each extraction worker is forked by the forkserver and asks the kernel for SIGKILL when
  its parent dies (`PR_SET_PDEATHSIG`): the forkserver's main thread, the one that forks,
  lives as long as the forkserver, so the signal comes exactly when the forkserver exits.
- A process whose parent *thread* may end before the parent process does (the forkserver,
  started from whichever thread asks first; a flow-run subprocess of `serve`) cannot use
  PDEATHSIG, which follows the thread: `watch_parent` polls instead.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
# `newswatch serve` puts its PID here for the flow runs it starts as subprocesses
SERVE_PID_VARIABLE = "NEWSWATCH_SERVE_PID"
WATCH_SECONDS = 1.0


def die_with_parent() -> None:
    """SIGKILL this process when its parent process exits (Linux; elsewhere nothing)."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        return  # not allowed here: the pool's own pipes still end an idle worker
    if os.getppid() != parent:  # the parent died before the request took effect
        os.kill(os.getpid(), signal.SIGKILL)


def watch_parent(interval: float = WATCH_SECONDS) -> threading.Thread:
    """A daemon thread that SIGKILLs this process when its parent process goes.

    Its extraction forkserver and workers then follow (see the module's docstring).
    """
    parent = os.getppid()

    def watch() -> None:
        while True:
            threading.Event().wait(interval)
            if os.getppid() != parent:
                os.kill(os.getpid(), signal.SIGKILL)

    thread = threading.Thread(target=watch, name="newswatch-parent-watch", daemon=True)
    thread.start()
    return thread


def follow_serve() -> None:
    """In a flow run that `newswatch serve` started: die with serve, however serve dies."""
    if os.environ.get(SERVE_PID_VARIABLE) == str(os.getppid()):
        watch_parent()
