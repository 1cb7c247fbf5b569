"""The local stack's server process: moto on 127.0.0.1, resources from template.yaml, the event pump.

Started in the background by ``forecourt local up``; stops (saving its state) on SIGTERM.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from forecourt.local import resources, state
from forecourt.local.http import ApiServer
from forecourt.local.pump import Pump, queue_depth

log = logging.getLogger("forecourt.local")
CHECKPOINT_SECONDS = 15.0
QUIET_SECONDS = 5.0
"""A checkpoint waits until the stack has served nothing but queue polls for this long, so that it
never slows down an upload, a webhook or a query in progress (a first one copies the whole lake)."""
_POLLS = frozenset({"AmazonSQS.ReceiveMessage", "AmazonSQS.GetQueueAttributes"})
_READ_OPERATIONS = ("Get", "List", "Describe", "Query", "Scan", "BatchGet")
"""JSON APIs' operations (``X-Amz-Target: Service.Operation``) that change nothing."""


def _changes_state(environ: dict[str, Any]) -> bool:
    """Whether a request may change what a checkpoint saves: anything but an S3 GET or HEAD, a JSON
    API's read (Get…, List…, Describe…, Query, Scan) and a queue poll."""
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target is None:
        return environ.get("REQUEST_METHOD") not in ("GET", "HEAD")
    return target not in _POLLS and not target.rpartition(".")[2].startswith(_READ_OPERATIONS)


def environment(
    endpoint: str, made: resources.LocalResources, *, smtp_port: int | None = None
) -> dict[str, str]:
    """The environment a handler (or the CLI) needs to talk to the local stack (``smtp_port``: the
    local mailbox ADF e-mail is delivered to)."""
    return (
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "POWERTOOLS_METRICS_NAMESPACE": "Forecourt",
            "POWERTOOLS_SERVICE_NAME": "forecourt-local",
        }
        | resources.settings_environment(made)
        | {"FORECOURT_MAIL_TRANSPORT": "smtp", "FORECOURT_SMTP_HOST": "127.0.0.1"}
        | ({"FORECOURT_SMTP_PORT": str(smtp_port)} if smtp_port else {})
    )


def apply_environment(env: dict[str, str]) -> None:
    """Point this process (settings, boto3 clients, pyiceberg) at the local stack (or a deployed one);
    a no-op when it already is (its clients are kept: every CLI verb connects first)."""
    from forecourt import aws, catalog
    from forecourt.config import settings

    if all(os.environ.get(name) == value for name, value in env.items()):
        return
    os.environ.update(env)
    settings.cache_clear()
    aws.clear_clients()
    catalog.catalog.cache_clear()


class MotoServer:
    """moto's threaded server on 127.0.0.1, as ``moto.server.ThreadedMotoServer`` builds it, except
    that the service behind a Host header is looked up once: moto's dispatcher lists its package
    directory (hundreds of ``stat`` calls, under a lock) twice per request, a fifth of the server's
    time under load; and with ``speed_up_moto_sqs``."""

    def __init__(self, port: int = 0) -> None:
        from moto.moto_server import werkzeug_app
        from werkzeug.serving import make_server

        # newer moto keeps S3 metadata headers with underscores through its own request handler
        handler = getattr(werkzeug_app, "MotoRequestHandler", None)
        speed_up_moto_sqs()
        app = werkzeug_app.DomainDispatcherApplication(werkzeug_app.create_backend_app)
        app.get_backend_for_host = functools.lru_cache(maxsize=1024)(app.get_backend_for_host)  # type: ignore[method-assign]
        self.last_request = time.monotonic()
        """When the server last answered something other than a queue poll (``time.monotonic``)."""
        self.last_change = self.last_request
        """When the server last answered a request that may have changed its state (``_changes_state``)."""

        def noting_activity(environ: dict[str, Any], start_response: Any) -> Any:
            if environ.get("HTTP_X_AMZ_TARGET") not in _POLLS:
                self.last_request = time.monotonic()
            if _changes_state(environ):
                self.last_change = time.monotonic()
            keep_put_body(environ)
            return app(environ, start_response)

        self._server = make_server("127.0.0.1", port, noting_activity, threaded=True, request_handler=handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto", daemon=True)

    def start(self) -> MotoServer:
        self._thread.start()
        return self

    def get_host_and_port(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join()


FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"


def keep_put_body(environ: dict[str, Any]) -> None:
    """Let moto store the bytes of a PUT sent as a form (``curl --data-binary`` and Python's urllib
    label a body so by default; S3 stores it as it is): moto reads the body through werkzeug, which
    parses a form's body away, and stored such an object — a dealer's file PUT to its presigned
    upload URL — with no bytes. The object's Content-Type becomes application/octet-stream.
    No AWS API PUTs a form, so nothing else changes."""
    if environ.get("REQUEST_METHOD") == "PUT" and str(environ.get("CONTENT_TYPE", "")).startswith(
        FORM_MEDIA_TYPE
    ):
        environ["CONTENT_TYPE"] = "application/octet-stream"


def speed_up_moto_sqs() -> None:
    """Make moto's SQS answer the same, faster, when a queue holds a backlog (idempotent).

    moto reads the clock through ``datetime`` arithmetic (``utcnow() - utcfromtimestamp(0)``) for
    every message it looks at, and checks each message it receives against the retention period by
    recomputing all the queue's attributes, three message counts each a scan of the queue: quadratic
    in the backlog. During the demo, with a hundred commit requests queued, that was about a third of
    the server's time. Here the clock is ``time.time()`` (the same seconds since the epoch) and the
    retention period is read from the queue itself."""
    from moto.core import utils
    from moto.sqs import models

    if getattr(models, "_forecourt_fast_clock", False):
        return

    def unix_time(dt: Any = None) -> float:
        return time.time() if dt is None else utils.unix_time(dt)

    def unix_time_millis(dt: Any = None) -> float:
        return time.time() * 1000.0 if dt is None else utils.unix_time_millis(dt)

    def retained(backend: Any, queue_name: str, message: Any) -> bool:
        queue = backend.get_queue(queue_name)
        return bool(int(queue.message_retention_period) + message.sent_timestamp / 1000 > time.time())

    models.unix_time = unix_time
    models.unix_time_millis = unix_time_millis
    models.SQSBackend.is_message_valid_based_on_retention_period = retained  # type: ignore[method-assign,assignment]
    models._forecourt_fast_clock = True  # type: ignore[attr-defined]


def start_moto(
    port: int = 0, *, smtp_port: int | None = None
) -> tuple[MotoServer, str, resources.LocalResources]:
    """A moto server on 127.0.0.1 with every resource of template.yaml, this process pointed at it
    (and ADF e-mail at the mailbox on ``smtp_port``); returns (server, endpoint, resources). Used by
    the stack, the tests and the benchmark."""
    from forecourt import aws

    server = MotoServer(port).start()
    host, bound = server.get_host_and_port()
    endpoint = f"http://{host}:{bound}"
    apply_environment(environment(endpoint, resources.LocalResources()))
    made = resources.create_all(aws.client)
    apply_environment(environment(endpoint, made, smtp_port=smtp_port))
    return server, endpoint, made


def serve(state_dir: Path, port: int) -> None:
    """Run the stack until SIGTERM/SIGINT."""
    from forecourt import aws, catalog
    from forecourt.local import platforms
    from forecourt.local.mailbox import Mailbox

    state_dir.mkdir(parents=True, exist_ok=True)
    mailbox = Mailbox(state_dir / "mail").start()  # dealers' lead-intake inboxes, for ADF e-mail
    server, endpoint, made = start_moto(port, smtp_port=mailbox.port)
    restored = state.restore(aws.client, made, state_dir)
    fakes = platforms.start(state_dir)  # ad platforms, their secrets pointing at them
    resources.enable_notifications(aws.client("s3"), resources.load_template(), made)
    catalog.migrate()
    pump = Pump(
        ingest_queue=made.queues["IngestQueue"],
        commit_queue=made.queues["CommitQueue"],
        delivery_queue=made.queues.get("DeliveryQueue", ""),
    )
    pump.realtime_queue = made.queues["RealtimeQueue"]  # route_lead
    pump.start()
    api = ApiServer(pump.invoke_webhook).start()
    info = {
        "pid": os.getpid(),
        "endpoint": endpoint,
        "resources": made.to_json(),
        "api_url": api.url,
        "smtp": f"{mailbox.host}:{mailbox.port}",
        "platforms": fakes.urls,
        "env": environment(endpoint, made, smtp_port=mailbox.port) | {"FORECOURT_API_URL": api.url},
        "started_at": time.time(),
        "restored_objects": restored,
    }
    (state_dir / "stack.json").write_text(json.dumps(info, indent=2))
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    _checkpoint_until(stopping, pump, server, made, state_dir, fakes)
    api.stop()
    pump.stop()
    mailbox.stop()
    platforms.save(fakes, state_dir)
    platforms.stop(fakes)
    state.dump(aws.client, made, state_dir, drain_queues=True)
    (state_dir / "stack.json").unlink(missing_ok=True)
    server.stop()


def _checkpoint_until(
    stopping: threading.Event,
    pump: Pump,
    server: MotoServer,
    made: resources.LocalResources,
    state_dir: Path,
    fakes: Any,
) -> None:
    from forecourt import aws
    from forecourt.local import platforms

    last = time.monotonic()
    saved_at: float | None = None
    while not stopping.wait(1.0):
        now = time.monotonic()
        if now - last < CHECKPOINT_SECONDS or pump.busy or now - server.last_request < QUIET_SECONDS:
            continue
        if saved_at is not None and server.last_change < saved_at:
            continue  # nothing changed since the last checkpoint began: an idle lake costs nothing
        try:
            # the queues the pump works on: a parked DLQ message must not stop checkpoints
            if all(queue_depth(url) == 0 for url in pump.queues):
                began = time.monotonic()
                saved = state.dump(aws.client, made, state_dir)
                platforms.save(fakes, state_dir)
                saved_at = began
                log.info("checkpoint: %s in %.2f s", saved, time.monotonic() - began)
        except Exception:
            log.exception("checkpoint failed")
        last = time.monotonic()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Forecourt local stack server (use `forecourt local up`).")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, default=0)
    args: Any = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    serve(args.state_dir, args.port)


if __name__ == "__main__":
    main()
