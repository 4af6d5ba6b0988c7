"""Prefect API servers run as children of a newswatch command.

Two kinds: the *temporary* server a run uses when no `PREFECT_API_URL` is set (the same
uvicorn app Prefect's ephemeral mode starts, but started by us at the very beginning of the
command, so it boots while the CLI imports Prefect and the extraction workers load
trafilatura), and the *local* `prefect server start` that `newswatch serve` keeps for its
schedules. Both watch a pipe from us on their stdin and stop themselves gracefully when it
closes, so even a SIGKILLed newswatch leaves no server behind.

No Prefect import here: the temporary server must be on its way before Prefect is imported.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from flows.runtime import quick_start
from warehouse.errors import PrefectApiError

STOP_SECONDS = 15.0  # allowed for a graceful stop before harder signals
SHORT_LIVED = "--short-lived"
_PORT_TAKEN = ("address already in use", "errno 98")


class ServerError(PrefectApiError):
    """A Prefect server child exited or did not answer; the message ends with its log."""


@dataclass
class ServerChild:
    """A Prefect API server running as our child, in its own process group."""

    process: subprocess.Popen[bytes]
    url: str  # the API URL, ending in /api
    log: Path
    name: str  # for messages: "the local Prefect server"

    def wait_healthy(self, timeout: float, *, poll: float = 0.02) -> None:
        """Return once `/api/health` answers 200; ServerError if it exits or times out.

        A refused connection costs ~0.1 ms of CPU: polling often is cheap, and a command
        waiting for its temporary server starts its flow run ~40 ms sooner than at 0.1 s.
        """
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise ServerError(
                    f"{self.name} exited with code {self.process.returncode} before it "
                    f"answered; see its log {self.log}\nwhich ends:\n{tail(self.log)}"
                )
            try:
                # Loopback address built by us; never user input.
                with urllib.request.urlopen(f"{self.url}/health", timeout=5) as reply:  # noqa: S310
                    if reply.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise ServerError(
                    f"{self.name} did not answer {self.url}/health within "
                    f"{timeout:.0f} s; see its log {self.log}\nwhich ends:\n{tail(self.log)}"
                )
            time.sleep(poll)

    def warm_up(self) -> None:
        """Have it build its routes now, while we set up the flow run, not at our first request.

        FastAPI (0.137 and newer) builds a router's routes when the first request reaches them,
        in order: one for /api/admin/version, near the end, builds nearly all (~0.25 s of the
        server's CPU). Asked from a daemon thread; whatever it answers is ignored.
        """

        def ask() -> None:
            # A failure shows in the run itself. Loopback address built by us; no user input.
            url = f"{self.url}/admin/version"
            with contextlib.suppress(OSError, ValueError), urllib.request.urlopen(url, timeout=30):  # noqa: S310
                pass

        threading.Thread(target=ask, name="server-warm-up", daemon=True).start()

    def port_was_taken(self) -> bool:
        """Whether it exited because another process took its port meanwhile."""
        return self.process.poll() is not None and any(
            mark in tail(self.log).lower() for mark in _PORT_TAKEN
        )

    def release(self, graceful_seconds: float = STOP_SECONDS) -> None:
        """Stop it without waiting: it shuts down gracefully on its own (~1 s of Prefect's
        services stopping), reaped by a daemon thread that escalates if it lingers.

        Closing its stdin is the stop: its orphan watch interrupts it once, exactly as when we
        die. If we exit first, it finishes alone.
        """
        if self.process.stdin is not None:
            self.process.stdin.close()
        threading.Thread(
            target=self.stop, args=(graceful_seconds,), name="server-reaper", daemon=True
        ).start()

    def stop(self, graceful_seconds: float = STOP_SECONDS) -> None:
        """SIGINT to its process group, then SIGTERM, then SIGKILL, each after a wait."""
        child = self.process
        try:
            if os.name != "posix":  # pragma: no cover
                child.terminate()
                try:
                    child.wait(graceful_seconds)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
                return
            # SIGINT first: uvicorn shuts down on SIGTERM too but then re-raises it and dies
            # before Prefect closes its database (rc -15, WAL left behind); on SIGINT it exits 0.
            released = child.stdin is not None and child.stdin.closed  # interrupted already
            for sig, wait in ((signal.SIGINT, graceful_seconds), (signal.SIGTERM, 5.0)):
                if child.poll() is not None:
                    break
                if not (released and sig == signal.SIGINT):  # a second SIGINT forces uvicorn
                    _signal_group(child.pid, sig)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.wait(wait)
            _signal_group(child.pid, signal.SIGKILL)  # whatever is left, the server included
            child.wait()
        finally:
            if child.stdin is not None:
                child.stdin.close()


def spawn(
    module: str,
    argv: list[str],
    *,
    port: int,
    env: dict[str, str],
    log: Path,
    name: str,
    short_lived: bool = False,
) -> ServerChild:
    """Start `python -m <module> <argv>` (a server on 127.0.0.1:port) under our orphan watch.

    short_lived: it serves one command, so it keeps the start-up garbage collection settings
    (flows/runtime/quick_start.py) for its whole life.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    flags = [SHORT_LIVED] if short_lived else []
    with log.open("ab") as out:
        # Own session: a Ctrl-C at the terminal reaches only us, and we stop the server.
        # Its stdin is a pipe from us: it stops itself when we die without cleaning up.
        process = subprocess.Popen(
            [sys.executable, "-m", "flows.runtime.prefect_server", *flags, module, *argv],
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    return ServerChild(process, f"http://127.0.0.1:{port}/api", log, name)


# Services a server that lives for one command has no use for: automations (the triggers and
# their actions) and the stream of events to live subscribers (there is no UI to watch). The
# task-run recorder and the event persister stay: they write the run history. (~0.3 CPU-s of
# the server's start; a setting in the environment wins.)
LEAN_SERVICES = {
    "PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED": "false",
    "PREFECT_SERVER_EVENTS_STREAM_OUT_ENABLED": "false",
}


def temporary(home: Path, env: dict[str, str], *, migrate: bool = True) -> ServerChild:
    """Start the API app Prefect's ephemeral mode would start, on a free loopback port.

    `env` must already carry PREFECT_HOME and the other settings; the app uses PREFECT_HOME's
    prefect.db as Prefect's own temporary server does, without the UI or the services.
    migrate=False: the database is known to be current, so the server skips checking its
    migrations (~0.2 CPU-s).
    """
    import importlib.util

    spec = importlib.util.find_spec("prefect")  # the package's location, without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ServerError("prefect is not installed in this environment")
    app_dir = Path(next(iter(spec.submodule_search_locations))).parent
    port = free_port()
    argv = ["--app-dir", str(app_dir), "--factory", "prefect.server.api.server:create_app"]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "error", "--lifespan", "on"]
    env = {**LEAN_SERVICES, **env, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1"}
    # Prefect's default, kept whatever the environment says: the command's client asks for no
    # CSRF token (flows/runtime/prefect_api.py), and no browser uses this server.
    env["PREFECT_SERVER_CSRF_PROTECTION_ENABLED"] = "false"
    if not migrate:
        env.setdefault("PREFECT_SERVER_DATABASE_MIGRATE_ON_START", "false")
    # Not PREFECT__SERVER_FINAL, which Prefect's own ephemeral server sets: with FastAPI 0.137
    # and newer (the lock has 0.150) its only effect is a full garbage collection of the ~290k
    # objects just imported, 0.19-0.25 s on the path to the first answer, freeing ~100.
    return spawn(
        "uvicorn",
        argv,
        port=port,
        env=env,
        log=home / "temporary-server.log",
        name="the temporary Prefect server",
        short_lived=True,
    )


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)  # the server leads its own session: its group id is its pid


def tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log file, or "(no log)"."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could bind host:port now (with SO_REUSEADDR, as uvicorn binds)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port the system has just handed out as free."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
    return port


def _child_main() -> None:
    """Run `python -m <module> <args>`, interrupted (a graceful stop) when stdin reaches end of
    file: the parent has exited, even by SIGKILL, and nobody else would stop the server."""
    import runpy

    def orphaned() -> None:
        while os.read(0, 4096):  # the raw descriptor: sys.stdin's lock would break shutdown
            pass
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=orphaned, name="orphan-watch", daemon=True).start()
    args = sys.argv[1:]
    if args[0] == SHORT_LIVED:
        quick_start.starting()
        args = args[1:]
    module = args[0]
    sys.argv = [module, *args[1:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    _child_main()


# `newswatch serve` names its Prefect API here, in the Prefect home beside the warehouse, so
# that a cron-style `newswatch ingest` or `run` on the same clone uses it instead of starting a
# temporary server of its own (~5 s of every such run).
SERVE_FILE = "serve-api.json"


@contextlib.contextmanager
def advertised(home: Path, url: str) -> Iterator[Path]:
    """While serve runs: its API's URL and PID in `home`, removed when it stops."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / SERVE_FILE
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"url": url, "pid": os.getpid()}), encoding="utf-8")
    tmp.replace(path)
    try:
        yield path
    finally:
        with contextlib.suppress(OSError, ValueError):
            if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
                path.unlink()


def serve_api(home: Path, *, timeout: float = 1.0) -> str | None:
    """The API a running `newswatch serve` advertised in `home`, if it is alive and answers."""
    try:
        known = json.loads((home / SERVE_FILE).read_text(encoding="utf-8"))
        url, pid = str(known["url"]), int(known["pid"])
        os.kill(pid, 0)  # a serve that was SIGKILLed left its file behind
        # An address serve wrote for us; http(s) only.
        if not url.startswith(("http://", "https://")):
            return None
        with urllib.request.urlopen(f"{url}/health", timeout=timeout) as reply:  # noqa: S310
            return url if reply.status == 200 else None
    except (OSError, ValueError, KeyError, TypeError, urllib.error.URLError):
        return None
