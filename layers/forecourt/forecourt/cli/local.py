"""``forecourt local up|down|status|run-schedule`` and ``forecourt demo``."""

from __future__ import annotations

from pathlib import Path

import click

from forecourt.cli.output import console, emit, fail
from forecourt.local import stack


@click.group()
def local() -> None:
    """Run the whole stack on this machine (moto server on 127.0.0.1 + the event pump).

    State (lake, tables, queues, dealer registry) is kept in $FORECOURT_HOME (default ~/.forecourt)
    and survives `down` / `up`.
    """


@local.command()
@click.option(
    "--port",
    default=stack.DEFAULT_PORT,
    show_default=True,
    help="Loopback port (another is picked if taken).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the endpoint and resources as JSON.")
def up(port: int, as_json: bool) -> None:
    """Start the local stack in the background (no-op if it is running)."""
    with console.status("starting the local stack…"):
        try:
            running = stack.up(port=port)
        except RuntimeError as exc:
            fail(str(exc))
            return
    _show(running, as_json)


@local.command()
def down() -> None:
    """Stop the local stack, saving its state."""
    with console.status("stopping the local stack and saving its state…"):
        stopped = stack.down()
    console.print("stopped" if stopped else "the local stack was not running")


@local.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def status(as_json: bool) -> None:
    """Say whether the local stack runs, where, and how busy its queues are."""
    running = stack.info()
    if running is None:
        fail(str(stack.StackNotRunning(stack.home())))
        return
    _show(running, as_json)


@local.command("run-schedule")
@click.option(
    "--full", is_flag=True, help='Resolve every record again (the schedule\'s input {"full": true}).'
)
@click.option("--as-of", "as_of", help="Enrich as of this moment (ISO 8601; default: now).")
@click.option("--json", "as_json", is_flag=True, help="Print what each function returned as JSON.")
def run_schedule(full: bool, as_of: str | None, as_json: bool) -> None:
    """Fire resolve's schedule now, through the real handlers, as AWS would at its hour.

    EventBridge Scheduler's part: resolve is invoked with the schedule's input from template.yaml;
    like Lambda's asynchronous invocation, a failed run is retried once and then recorded in the
    jobs failure queue, and a run that succeeds hands over to enrich (its on-success destination).
    The functions' own logs go to jobs.log in the stack's state folder. For the same work with a
    table of what it did, see `forecourt identity run` and `forecourt enrich run`."""
    import json
    from datetime import UTC, datetime

    from forecourt.cli.data import _connect
    from forecourt.enrich.job import moment
    from forecourt.local import scheduler

    running = _connect()
    event = scheduler.schedule_input() | ({"full": True} if full else {})
    if as_of is not None:
        try:
            event["as_of"] = moment(as_of, datetime.now(UTC)).isoformat()
        except ValueError as exc:
            fail(f"--as-of {exc}")
            return
    if running.deployed:
        _invoke_deployed(running, event, as_json)
        return
    log = running.state_dir / "jobs.log"
    with console.status("resolve, then enrich (the functions' logs: jobs.log)…"):
        runs = scheduler.invoke_async("resolve", event, log=log)
    if as_json:
        click.echo(json.dumps([run.__dict__ for run in runs], indent=2, default=str))
    else:
        rows = [
            {
                "function": run.function,
                "attempts": run.attempts,
                "outcome": "succeeded" if run.succeeded else f"failed: {run.error}",
                "then": run.sent_to or "",
            }
            for run in runs
        ]
        emit(rows, as_json=False, title="Scheduled run", columns=["function", "attempts", "outcome", "then"])
        for run in runs:
            if run.succeeded and isinstance(run.result, dict):
                shown = {k: _readable(v) for k, v in run.result.items() if k != "files"}
                emit([{"": k, run.function: v} for k, v in shown.items()], as_json=False, title=run.function)
        console.print(f"logs: {log}")
    if not all(run.succeeded for run in runs):
        raise SystemExit(1)


def _invoke_deployed(running: stack.StackInfo, event: dict[str, object], as_json: bool) -> None:
    """On a deployed stack: invoke ResolveFunction asynchronously with the schedule's input, as
    EventBridge Scheduler does; Lambda retries, hands over to enrich and records failures itself."""
    import json

    from forecourt import aws

    function = running.resources.get("functions", {}).get("ResolveFunction")
    if not function:
        fail(f"stack {running.deployed} has no ResolveFunction")
        return
    answer = aws.client("lambda").invoke(
        FunctionName=function, InvocationType="Event", Payload=json.dumps(event).encode()
    )
    if as_json:
        click.echo(json.dumps({"function": function, "event": event, "status": answer["StatusCode"]}))
        return
    console.print(
        f"invoked {function} with {json.dumps(event)} (asynchronously, HTTP {answer['StatusCode']}): "
        "enrich and audiences follow it on success; a failed run lands in JobsFailureQueue. "
        f"Follow it with `sam logs --stack-name {running.deployed} --name ResolveFunction --tail`."
    )


def _readable(value: object) -> object:
    """A count per name (tags, dealers) as "name 12, other 3"; anything else as it is."""
    if isinstance(value, dict):
        return ", ".join(f"{name} {count}" for name, count in value.items()) or "none"
    return value


def _show(running: stack.StackInfo, as_json: bool) -> None:
    from forecourt.local.pump import queue_depth

    stack.connect(running.state_dir)
    rows = [{"resource": "endpoint", "name": running.endpoint, "depth": ""}]
    rows.append({"resource": "http api", "name": running.api_url, "depth": ""})
    rows.append({"resource": "state", "name": str(running.state_dir), "depth": ""})
    for kind, entries in running.resources.items():
        for logical, name in entries.items():
            depth = str(queue_depth(name)) if kind == "queues" else ""
            rows.append({"resource": f"{kind[:-1]} {logical}", "name": name, "depth": depth})
    emit(rows, as_json=as_json, title="Forecourt local stack", columns=["resource", "name", "depth"])


@click.command()
@click.option("--leads", default=50_000, show_default=True, help="Leads to generate across the network.")
@click.option("--seed", default=7, show_default=True, help="Random seed of the generated network.")
@click.option(
    "--out", type=click.Path(path_type=Path), default=None, help="Where to write the generated files."
)
@click.option(
    "--webhook-leads",
    default=100,
    show_default=True,
    help="Leads to post to the HTTP API (signed), delivered to local dealer CRMs with faults injected.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the per-dealer summary and query results as JSON."
)
def demo(leads: int, seed: int, out: Path | None, webhook_leads: int, as_json: bool) -> None:
    """Generate a dealer network, push its files through the real handlers, post real-time leads and
    CRM events to the HTTP API, and show what happened."""
    from forecourt.local.demo import run_demo

    run_demo(leads=leads, seed=seed, out=out, as_json=as_json, webhook_leads=webhook_leads)
