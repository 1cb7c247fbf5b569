"""``forecourt local up|down|status`` and ``forecourt demo``."""

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
