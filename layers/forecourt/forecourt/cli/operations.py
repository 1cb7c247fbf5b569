"""Operators' verbs: ``forecourt uploads [replay]`` and ``forecourt queues [redrive]`` (README
"Operations runbook"), the same on the local stack and, with ``--stack NAME``, on AWS."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import click

from forecourt.cli.data import _connect
from forecourt.cli.output import console, emit, errors, fail
from forecourt.local import stack


@click.group(invoke_without_command=True)
@click.option("--dealer", "dealer_id", default=None, help="Only this dealer's uploads.")
@click.option("--limit", default=50, show_default=True)
@click.option(
    "--webhooks", is_flag=True, help="Also list webhook requests (each is an upload of one record)."
)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def uploads(ctx: click.Context, dealer_id: str | None, limit: int, webhooks: bool, as_json: bool) -> None:
    """List recent uploaded files with their counts (from the uploads table); `replay` ingests some
    again."""
    if ctx.invoked_subcommand is not None:
        return
    from forecourt import analytics, lake

    _connect()
    conditions = [] if webhooks else [f"object_key LIKE '{lake.RAW_PREFIX}files/%'"]
    if dealer_id:
        conditions.append("dealer_id = '" + dealer_id.replace("'", "''") + "'")
    where = "WHERE " + " AND ".join(conditions) if conditions else ""
    result = analytics.run_query(
        "SELECT CAST(received_at AS date) AS received, dealer_id AS dealer, upload_id, "
        "regexp_extract(object_key, '[^/]+$') AS file, "
        'feed, status, rows_in AS "in", rows_curated AS curated, rows_quarantined AS quarantined '
        f"FROM uploads {where} ORDER BY received_at DESC, object_key LIMIT {int(limit)}"
    )
    emit([dict(zip(result.columns, r, strict=True)) for r in result.rows], as_json=as_json, title="Uploads")


@uploads.command("replay")
@click.argument("references", nargs=-1, metavar="[UPLOAD_ID|KEY]...")
@click.option("--dealer", "dealer_id", default=None, help="The dealer of the uploads (or of the date range).")
@click.option("--from", "first", type=click.DateTime(["%Y-%m-%d"]), default=None, help="First arrival date.")
@click.option(
    "--to", "last", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Last arrival date [--from]."
)
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait for the upload reports.")
@click.option("--timeout", default=600.0, show_default=True, help="Seconds to wait for the reports.")
@click.option("--json", "as_json", is_flag=True, help="Print the upload reports as JSON.")
def uploads_replay(
    references: tuple[str, ...],
    dealer_id: str | None,
    first: Any,
    last: Any,
    wait: bool,
    timeout: float,
    as_json: bool,
) -> None:
    """Ingest raw files of the lake again, through the ingest queue as on arrival: uploads by id
    (the version first ingested) or key (its current version), or every file of --dealer that
    arrived --from DATE --to DATE. The same version replaces its upload's rows; nothing doubles."""
    from forecourt import replay

    running = _connect()
    if bool(references) == bool(first):
        fail(
            "give uploads (UPLOAD_ID or raw/files/… key) or a date range (--dealer D --from DATE [--to DATE])"
        )
    if first and not dealer_id:
        fail("a date range needs the dealer: --dealer ID --from DATE [--to DATE]")
    try:
        if first:
            end: date = (last or first).date()
            refs = list(replay.between(str(dealer_id), first.date(), end))
        else:
            refs = [replay.find(reference, dealer_id=dealer_id) for reference in references]
    except replay.ReplayRefused as exc:
        fail(str(exc))
        return
    if not refs:
        fail(f"no files of dealer {dealer_id} arrived in that range (raw/files/dealer={dealer_id}/dt=…/)")
    queue = running.resources["queues"]["IngestQueue"]
    for ref in refs:
        replay.send(ref, queue)
    errors.print(f"{len(refs)} file(s) queued for ingest again")
    if not wait:
        emit([_row(ref, None) for ref in refs], as_json=as_json, title="Replayed")
        return
    with console.status(f"waiting for {len(refs)} upload report(s)…"):
        reports = replay.wait(refs, timeout=timeout)
        if not running.deployed:
            stack.wait_idle(running, timeout=timeout)  # the commits too, so that a query sees the rows
    emit([_row(ref, reports.get(ref.upload_id)) for ref in refs], as_json=as_json, title="Replayed")
    if len(reports) < len(refs):
        fail(f"{len(refs) - len(reports)} report(s) missing after {timeout:.0f} s: is ingest running?")


def _row(ref: Any, report: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"upload_id": ref.upload_id, "key": ref.key}
    if report is None:
        return row | {"status": "queued"}
    return row | {
        "status": report.status,
        "feed": report.feed,
        "in": report.rows_in,
        "curated": report.rows_curated,
        "quarantined": report.rows_quarantined,
    }


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def queues(ctx: click.Context, as_json: bool) -> None:
    """The stack's queues: messages waiting, in flight and delayed; which is whose dead-letter queue."""
    if ctx.invoked_subcommand is not None:
        return
    from forecourt import redrive

    running = _connect()
    rows = [state.__dict__ for state in redrive.queue_states(running.resources["queues"])]
    shown = ["name", "visible", "in_flight", "delayed", "dead_letters_of"]
    emit(rows if as_json else [{k: r[k] for k in shown} for r in rows], as_json=as_json, title="Queues")


@queues.command("redrive")
@click.argument("name")
@click.option("--to", "destination", default=None, help="Another queue to move them to [the source queue].")
@click.option("--max", "max_messages", type=int, default=None, help="Move at most this many (oldest first).")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def queues_redrive(name: str, destination: str | None, max_messages: int | None, as_json: bool) -> None:
    """Move the messages of dead-letter queue NAME (`delivery`, `DeliveryDeadLetterQueue`…) back to
    the queue they failed from, to be processed again: do it once their cause is fixed."""
    from forecourt import redrive

    running = _connect()
    states = redrive.queue_states(running.resources["queues"])
    by_name = {state.name: state for state in states}
    try:
        dlq = redrive.resolve(name, states)
        target = by_name.get(destination or dlq.dead_letters_of)
        if target is None:
            raise redrive.RedriveRefused(
                f"no queue {destination!r}; the stack's are {', '.join(sorted(by_name))}"
            )
        if dlq.visible == 0:
            console.print(f"{dlq.name} is empty: nothing to redrive ({dlq.in_flight} in flight)")
            return
        result = redrive.redrive(dlq, target, max_messages=max_messages)
    except redrive.RedriveRefused as exc:
        fail(str(exc))
        return
    if as_json:
        click.echo(json.dumps(result.__dict__, indent=2))
    elif result.task_handle:
        console.print(
            f"SQS is moving the {result.moved} message(s) of {result.source} to {result.destination} "
            f"(move task {result.task_handle}); `forecourt queues` shows the progress"
        )
    else:
        console.print(f"moved {result.moved} message(s) from {result.source} to {result.destination}")
    if result.failed:
        stuck = ", ".join(result.failed)
        fail(f"{len(result.failed)} message(s) could not be sent and stay in {result.source}: {stuck}")
