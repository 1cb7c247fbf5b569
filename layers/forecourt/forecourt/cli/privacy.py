"""``forecourt privacy``: the suppression list (e-mails and phones never sent to an ad platform)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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


def _invalid(labels: list[str], prepared: Any) -> list[str]:
    """The invalid e-mails and phones of ``prepared``, named by their ``labels`` (never echoed)."""
    return [
        f"{label}: {issue.replace(':invalid', ' is not valid')}"
        for label, issues in zip(labels, prepared["issues"].to_pylist(), strict=True)
        if issues
        for issue in issues.split(",")
        if issue.split(":")[0] in ("email", "phone")
    ]


def _erasure_requests(
    emails: tuple[str, ...], phones: tuple[str, ...], persons: tuple[str, ...], file: Path | None,
    country: str, opt_out: bool, source: str,
) -> list[Any]:  # fmt: skip
    """The requests named on the command line (one person) and in ``file`` (one a row); fails naming
    every invalid value by its position."""
    import pyarrow as pa

    from forecourt.audiences import people
    from forecourt.privacy.erasure import ErasureRequest

    schema = pa.schema([("email", pa.string()), ("phone", pa.string()), ("person_id", pa.string())])
    given = [{"email": e} for e in emails] + [{"phone": p} for p in phones]
    labels = [f"--email #{i + 1}" for i in range(len(emails))] + [
        f"--phone #{i + 1}" for i in range(len(phones))
    ]
    table = pa.Table.from_pylist(given, schema=schema)
    group = [0] * len(given)  # the request of each row: 0 = the command line's
    if file is not None:
        listed = people.with_known_names(read_text_csv(file))
        if not {"email", "phone", "person_id"} & set(listed.column_names):
            fail(f"{file}: no email, phone or person_id column in its first line")
        wanted = [name for name in ("email", "phone", "person_id", "country") if name in listed.column_names]
        table = pa.concat_tables([table, listed.select(wanted)], promote_options="default")
        labels += [f"{file} row {i + 2}" for i in range(listed.num_rows)]
        group += list(range(1, listed.num_rows + 1))
    try:
        prepared = people.prepare(table, default_country=country)
    except ValueError as exc:
        fail(f"--country: {exc}")
        raise
    bad = _invalid(labels, prepared)
    if bad:
        fail("nothing erased; fix these and run again:\n  " + "\n  ".join(bad))
    requests: dict[int, dict[str, set[str]]] = {}
    if persons:
        requests[0] = {"emails": set(), "phones": set(), "persons": set(persons)}
    ids = table["person_id"].to_pylist() if "person_id" in table.column_names else [None] * table.num_rows
    rows = zip(group, prepared["email"].to_pylist(), prepared["phone"].to_pylist(), ids, strict=True)
    for number, email, phone, person in rows:
        named = requests.setdefault(number, {"emails": set(), "phones": set(), "persons": set()})
        for kind, value in (("emails", email), ("phones", phone), ("persons", person)):
            if value:
                named[kind].add(value.strip())
    return [
        ErasureRequest(emails=tuple(sorted(r["emails"])), phones=tuple(sorted(r["phones"])),
                       persons=tuple(sorted(r["persons"])), opt_out=opt_out, source=source)
        for _, r in sorted(requests.items()) if r["emails"] or r["phones"] or r["persons"]
    ]  # fmt: skip


@privacy.command("erase")
@click.option("--email", "emails", multiple=True, help="An e-mail address of the person (repeatable).")
@click.option("--phone", "phones", multiple=True, help="A phone number of the person (repeatable).")
@click.option("--person", "persons", multiple=True, help="A person id (persons.person_id; repeatable).")
@click.option(
    "--file", "file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A CSV of requests, one person a row: email, phone and/or person_id columns (and country).",
)  # fmt: skip
@click.option("--opt-out", is_flag=True, help="Opt out of sharing only: keep the dealer's own records.")
@click.option(
    "--source", required=True, help="The request's ticket id, kept in the ledger; never an identifier."
)
@click.option("--country", default="US", show_default=True, help="Country of national phone numbers.")
@click.option("--timeout", default=300.0, show_default=True, help="Seconds to wait for each commit.")
@click.option("--json", "as_json", is_flag=True, help="Print the ledgers as JSON.")
def privacy_erase(
    emails: tuple[str, ...], phones: tuple[str, ...], persons: tuple[str, ...], file: Path | None,
    opt_out: bool, source: str, country: str, timeout: float, as_json: bool,
) -> None:  # fmt: skip
    """Erase a person everywhere (or, with --opt-out, stop sharing them): suppressed, taken off
    every audience, their rows deleted from every table (old snapshots expired), raw files
    rewritten without them, and every other copy removed; a ledger in the lake proves each step.

    The options name one person; each row of --file is another. A value that is not a valid e-mail
    or phone is refused (named by its position, not echoed) and nothing is done."""
    import time
    from datetime import UTC, datetime

    from forecourt import commits
    from forecourt.cli.data import _connect
    from forecourt.privacy import erasure

    if "@" in source or sum(ch.isdigit() for ch in source) >= 7:
        fail(
            "--source names the request (a ticket id), never an e-mail or phone: the ledger outlives erasure"
        )
    requests = _erasure_requests(emails, phones, persons, file, country, opt_out, source)
    if not requests:
        fail("nothing to erase: give --email, --phone, --person or --file")
    _connect()

    def wait(pending: list[Any]) -> None:
        deadline = time.monotonic() + timeout
        commits.wait_landed(pending, lambda: deadline - time.monotonic(), poll_seconds=0.5)

    ledgers = [erasure.run(request, datetime.now(UTC).replace(microsecond=0), wait) for request in requests]
    if as_json:
        click.echo(json.dumps([ledger.as_dict() for ledger in ledgers], indent=2))
        return
    for ledger in ledgers:
        rows = [dict(step.items()) for step in ledger.steps]
        emit(rows, as_json=False, title=f"{ledger.mode} {ledger.request_id} ({ledger.source})")
