"""``forecourt privacy``: the suppression list (e-mails and phones never sent to an ad platform)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from forecourt.cli.output import emit, fail, read_text_csv


@click.group()
def privacy() -> None:
    """Privacy requests: the suppression list that keeps people out of every audience.

    Entries are keyed hashes (HMAC-SHA256 under a key in Secrets Manager): the list never holds an
    e-mail or phone in clear, and nothing this command prints names one."""


@privacy.command("suppress")
@click.option("--email", "emails", multiple=True, help="An e-mail address (repeatable).")
@click.option("--phone", "phones", multiple=True, help="A phone number (repeatable; E.164 or national).")
@click.option(
    "--file", "file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A CSV with an email and/or phone column (and country, for national phone numbers).",
)  # fmt: skip
@click.option(
    "--reason", type=click.Choice(["erasure", "do_not_contact", "opt_out"]), default="do_not_contact",
    show_default=True, help="Why: recorded with each entry.",
)  # fmt: skip
@click.option(
    "--source", required=True, help="Where the request came from (a ticket id); never an identifier."
)
@click.option("--country", default="US", show_default=True, help="Country of national phone numbers.")
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait for the commit.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def privacy_suppress(
    emails: tuple[str, ...],
    phones: tuple[str, ...],
    file: Path | None,
    reason: str,
    source: str,
    country: str,
    timeout: float,
    as_json: bool,
) -> None:
    """Put e-mails and phones on the suppression list: from the next `forecourt audiences build`,
    every person with one of them is kept back from every audience (excluded: suppressed).

    A value that is not a valid e-mail or phone number is refused (named by its position, not
    echoed) and nothing is added."""
    from datetime import UTC, datetime

    import pyarrow as pa

    from forecourt.audiences import people
    from forecourt.cli.data import _connect
    from forecourt.local import stack
    from forecourt.privacy import suppression

    if "@" in source or sum(ch.isdigit() for ch in source) >= 7:
        fail("--source names the request (a ticket id), never an e-mail or phone: the list outlives erasure")
    given = [("--email", e, "email") for e in emails] + [("--phone", p, "phone") for p in phones]
    rows = [{"email": v if k == "email" else None, "phone": v if k == "phone" else None} for _, v, k in given]
    labels = [f"{option} #{i + 1}" for option, group in (("--email", emails), ("--phone", phones))
              for i in range(len(group))]  # fmt: skip
    table = pa.Table.from_pylist(rows, schema=pa.schema([("email", pa.string()), ("phone", pa.string())]))
    if file is not None:
        listed = people.with_known_names(read_text_csv(file))
        if not {"email", "phone"} & set(listed.column_names):
            fail(f"{file}: no email or phone column in its first line ({len(listed.column_names)} columns)")
        wanted = [name for name in ("email", "phone", "country") if name in listed.column_names]
        table = pa.concat_tables([table, listed.select(wanted)], promote_options="default")
        labels += [f"{file} row {i + 2}" for i in range(listed.num_rows)]
    if not table.num_rows:
        fail("nothing to suppress: give --email, --phone or --file")
    try:
        prepared = people.prepare(table, default_country=country)
    except ValueError as exc:
        fail(f"--country: {exc}")
        raise
    bad = [
        f"{label}: {issue.replace(':invalid', ' is not valid')}"
        for label, issues in zip(labels, prepared["issues"].to_pylist(), strict=True)
        if issues
        for issue in issues.split(",")
        if issue.split(":")[0] in ("email", "phone")
    ]
    if bad:
        fail("nothing added; fix these and run again:\n  " + "\n  ".join(bad))
    running = _connect()
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        added = suppression.add(prepared["email"], prepared["phone"], reason, source, now)
    except ValueError as exc:
        fail(str(exc))
        raise
    stack.wait_idle(running, timeout=timeout)
    summary = {"batch": added.batch, "reason": reason, "source": source, "entries": added.entries}
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    emit(
        [{"identifier": kind, "entries": n} for kind, n in added.entries.items()],
        as_json=False,
        title=f"Suppressed ({reason}, batch {added.batch}); applies from the next audience build",
    )


@privacy.command("suppressions")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def privacy_suppressions(as_json: bool) -> None:
    """How many entries the suppression list holds, per reason and identifier."""
    from forecourt import analytics
    from forecourt.cli.data import _connect

    _connect()
    rows = (
        analytics.run_query(
            "SELECT reason, identifier, count(DISTINCT identifier_hash) AS entries, "
            "max(added_at) AS last_added "
            "FROM suppressions GROUP BY reason, identifier ORDER BY reason, identifier"
        )
        .to_arrow()
        .to_pylist()
    )
    emit(rows or [{"reason": "(empty)"}], as_json=as_json, title="Suppression list")
