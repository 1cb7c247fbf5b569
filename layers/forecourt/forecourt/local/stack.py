"""Client side of the local stack: ``up`` / ``down`` / ``status`` and ``connect`` for other verbs."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

DEFAULT_PORT = 4599
START_TIMEOUT_S = 90.0


class StackNotRunning(RuntimeError):
    """The local stack is not running (or not answering)."""

    def __init__(self, state_dir: Path) -> None:
        super().__init__(
            f"the local stack is not running (state in {state_dir}); start it with `forecourt local up`"
        )


def home() -> Path:
    """Where the local stack keeps its state: $FORECOURT_HOME, else ~/.forecourt."""
    return Path(os.environ.get("FORECOURT_HOME") or Path.home() / ".forecourt")


@dataclass(frozen=True)
class StackInfo:
    pid: int
    endpoint: str
    env: dict[str, str]
    resources: dict[str, dict[str, str]]
    state_dir: Path
    api_url: str = ""
    """The local HTTP API (POST /v1/leads …), served through the real webhook handler."""
    platforms: dict[str, str] = field(default_factory=dict)
    """The fake ad platforms' addresses (``meta``, ``google``)."""
    deployed: str = ""
    """The CloudFormation stack name when this is a deployed stack on AWS (``--stack``), else ""."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _answers(endpoint: str) -> bool:
    """The server accepts connections (a cheap check: no request that makes moto dump its state)."""
    url = urlparse(endpoint)
    try:
        with socket.create_connection((url.hostname or "127.0.0.1", url.port or 80), timeout=2):
            return True
    except OSError:
        return False


def info(state_dir: Path | None = None) -> StackInfo | None:
    """The running stack, or None."""
    state_dir = state_dir or home()
    path = state_dir / "stack.json"
    if not path.exists():
        return None
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None
    if not _alive(int(data["pid"])) or not _answers(data["endpoint"]):
        return None
    return StackInfo(
        int(data["pid"]),
        data["endpoint"],
        data["env"],
        data["resources"],
        state_dir,
        data.get("api_url", ""),
        data.get("platforms") or {},
    )


def up(state_dir: Path | None = None, port: int = DEFAULT_PORT) -> StackInfo:
    """Start the stack in the background (no-op when it runs); raises RuntimeError when it fails to start."""
    state_dir = state_dir or home()
    running = info(state_dir)
    if running:
        return running
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / "stack.json").unlink(missing_ok=True)
    log = (state_dir / "server.log").open("ab")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "forecourt.local.server",
            "--state-dir",
            str(state_dir),
            "--port",
            str(_free_port(port)),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"the local stack exited with {process.returncode}; see {state_dir / 'server.log'}"
            )
        running = info(state_dir)
        if running:
            return running
        time.sleep(0.2)
    process.terminate()
    raise RuntimeError(
        f"the local stack did not start within {START_TIMEOUT_S:.0f} s; see {state_dir / 'server.log'}"
    )


def _free_port(preferred: int) -> int:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            probe.bind(("127.0.0.1", 0))
            return int(probe.getsockname()[1])


def down(state_dir: Path | None = None, timeout: float = 120.0) -> bool:
    """Stop the stack, saving its state; returns False when it was not running."""
    state_dir = state_dir or home()
    path = state_dir / "stack.json"
    if not path.exists():
        return False
    pid = int(json.loads(path.read_text())["pid"])
    if not _alive(pid):
        path.unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
        _reap(pid)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
    path.unlink(missing_ok=True)
    return True


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def connect(state_dir: Path | None = None, *, local: bool = False) -> StackInfo:
    """Point this process at the running local stack, or at the deployed stack that ``--stack NAME``
    (``FORECOURT_STACK``) names unless ``local``; raises StackNotRunning, deployment.StackNotFound."""
    from forecourt import deployment
    from forecourt.local.server import apply_environment

    name = deployment.stack_name()
    if name and not local:
        return connect_deployed(name)
    state_dir = state_dir or home()
    running = info(state_dir)
    if running is None:
        raise StackNotRunning(state_dir)
    apply_environment(running.env)
    return running


def connect_deployed(name: str) -> StackInfo:
    """Point this process at deployed stack ``name`` (its resources from CloudFormation); the
    credentials are the caller's (AWS_PROFILE…); raises deployment.StackNotFound."""
    from forecourt import deployment
    from forecourt.local.server import apply_environment

    env, found, outputs = deployment.environment(name, deployment.cloudformation_client())
    apply_environment(env)
    return StackInfo(
        pid=0,
        endpoint=f"stack {name} ({env['AWS_REGION']})",
        env=env,
        resources=found.to_json(),
        state_dir=home(),
        api_url=outputs.get("WebhookApiUrl", ""),
        deployed=name,
    )


CONSUMED_QUEUES = ("IngestQueue", "CommitQueue", "RealtimeQueue", "DeliveryQueue")
"""The queues the pump consumes (logical ids of template.yaml)."""


def wait_idle(
    running: StackInfo, timeout: float = 600.0, settle: float = 1.0, queues: Sequence[str] = CONSUMED_QUEUES
) -> bool:
    """Wait until ``queues`` (logical ids; by default every queue the pump consumes) are empty — no
    message visible, in flight or delayed: the pump has caught up; False on timeout."""
    from forecourt.local.pump import queue_depth

    urls = [running.resources["queues"][q] for q in queues if q in running.resources["queues"]]
    deadline = time.monotonic() + timeout
    quiet_since: float | None = None
    while time.monotonic() < deadline:
        if all(queue_depth(url) == 0 for url in urls):
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= settle:
                return True
        else:
            quiet_since = None
        time.sleep(0.5)
    return False
