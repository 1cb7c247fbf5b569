"""``forecourt identity``: resolve a CSV of people or the lake into persons, explain a record's
person, split a person merged too eagerly."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from forecourt.cli.output import emit, errors, fail, read_text_csv

if TYPE_CHECKING:
    from datetime import datetime

    import pyarrow as pa

    from forecourt.identity.job import ResolveRun
    from forecourt.identity.resolve import Resolution, ResolveConfig


def _merges_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema([("merged_id", pa.string()), ("into_id", pa.string())])


@click.group()
def identity() -> None:
    """One-ID: which records are the same person, and why.

    Try matching on your own data: `forecourt identity resolve people.csv --out persons.csv` reads
    a CSV with the columns record_id, first_name, last_name, email, phone, street, city, state, zip,
    birth_date and vin (all but record_id may be missing) and writes record_id, person_id.
    """


def _config(path: Path | None) -> ResolveConfig:
    from forecourt.identity.resolve import ResolveConfig

    if path is None:
        return ResolveConfig()
    try:
        return ResolveConfig.from_json(path.read_text(encoding="utf-8"))
    except (ValueError, KeyError, TypeError) as exc:
        fail(f"{path}: {exc}")
        raise  # unreachable: fail exits


def _read_people(path: Path) -> pa.Table:
    import pyarrow.compute as pc

    from forecourt.identity.features import PEOPLE_COLUMNS

    table = read_text_csv(path)
    if "record_id" not in table.column_names:
        fail(f"{path}: no record_id column (columns: {', '.join(table.column_names)})")
    ids = table.column("record_id").combine_chunks()
    empty = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(ids), ""), True)
    if pc.any(empty).as_py():
        line = pc.index(empty, True).as_py() + 2
        fail(f"{path}, line {line}: record_id is empty")
    if pc.count_distinct(ids).as_py() != len(ids):  # name the first repeat (only on this failure)
        seen: dict[str, int] = {}
        for line, value in enumerate(ids.to_pylist(), start=2):
            if value in seen:
                fail(f"{path}, line {line}: record_id {value!r} already on line {seen[value]}")
            seen[value] = line
    ignored = [n for n in table.column_names if n not in PEOPLE_COLUMNS]
    if ignored:
        click.echo(f"ignored columns: {', '.join(ignored)}", err=True)
    return table


def _previous(path: Path | None) -> tuple[dict[str, str], dict[str, str]]:
    """record → person id and person id → created, from an earlier run's --out file."""
    if path is None:
        return {}, {}
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
    except (OSError, pa.ArrowInvalid) as exc:
        fail(f"{path}: cannot be read as CSV: {exc}")
        raise
    missing = {"record_id", "person_id"} - set(table.column_names)
    if missing:
        fail(f"{path}: not an earlier --out file (no {', '.join(sorted(missing))} column)")
    records = [str(r) for r in table.column("record_id").to_pylist()]
    persons = [str(p) for p in table.column("person_id").to_pylist()]
    when = (
        [str(c) for c in table.column("person_created").to_pylist()]
        if "person_created" in table.column_names
        else [""] * len(persons)
    )
    return dict(zip(records, persons, strict=True)), dict(zip(persons, when, strict=True))


def _resolve(
    path: Path, config: Path | None, country: str, previous_path: Path | None = None
) -> tuple[Resolution, float]:
    from datetime import UTC, datetime

    from forecourt.identity.features import features, normalize_people
    from forecourt.identity.resolve import resolve
    from forecourt.normalize import Locale

    people = _read_people(path)
    settings = _config(config)
    previous, created = _previous(previous_path)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    started = time.perf_counter()
    with errors.status(f"folding the people fields of {people.num_rows:,} records") as status:
        prepared = features(normalize_people(people, Locale(country=country)))
        status.update("blocking, comparing and clustering")
        result = resolve(prepared, settings, previous, created, now)
    return result, time.perf_counter() - started


@identity.command("resolve")
@click.argument("input_csv", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where to write record_id, person_id (and the link that made it).",
)
@click.option(
    "--pairs",
    "pairs_out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write every compared pair with its levels, weights and whether it linked.",
)
@click.option(
    "--config",
    "config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON overrides of threshold, records_per_person, max_block, max_names and m/u levels.",
)
@click.option(
    "--previous",
    "previous",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="An earlier run's --out file: persons found again keep their ids; when persons merge, the "
    "oldest id survives.",
)
@click.option(
    "--merges",
    "merges_out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the earlier person ids now merged into another (merged_id, into_id).",
)
@click.option("--country", default="US", show_default=True, help="Default country of phone numbers.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def identity_resolve(
    input_csv: Path,
    out: Path,
    pairs_out: Path | None,
    config: Path | None,
    previous: Path | None,
    merges_out: Path | None,
    country: str,
    as_json: bool,
) -> None:
    """Resolve the people of INPUT_CSV into persons; write record_id, person_id to --out."""
    import pyarrow as pa

    from forecourt.safe_csv import write_csv

    result, seconds = _resolve(input_csv, config, country, previous)
    write_csv(result.links, out)
    if pairs_out is not None:
        write_csv(result.pairs, pairs_out)
    merged = result.naming.merged
    if merges_out is not None:
        columns = {"merged_id": [m for m, _ in merged], "into_id": [i for _, i in merged]}
        write_csv(pa.table(columns, schema=_merges_schema()), merges_out)
    links = result.links
    sizes: dict[str, int] = {}
    for person in links.column("person_id").to_pylist():
        sizes[person] = sizes.get(person, 0) + 1
    summary = {
        "records": links.num_rows,
        "persons": len(sizes),
        "persons with several records": sum(1 for n in sizes.values() if n > 1),
        "largest person (records)": max(sizes.values(), default=0),
        "pairs compared": result.pairs.num_rows,
        "pairs linked": sum(result.pairs.column("linked").to_pylist()),
        "person ids kept": result.naming.kept,
        "person ids new": result.naming.new,
        "person ids merged into another": len(merged),
        "seconds": round(seconds, 2),
        "written": str(out),
    }
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    emit([{"": k, "value": v} for k, v in summary.items()], as_json=False, title="Identity resolution")


@identity.command("explain")
@click.argument("record_id")
@click.option(
    "--input",
    "input_csv",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The CSV of people the record is in (as for resolve); without it, the lake's last "
    "`forecourt identity run` is explained.",
)
@click.option(
    "--config",
    "config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON overrides, as for resolve.",
)
@click.option("--country", default="US", show_default=True, help="Default country of phone numbers.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def identity_explain(
    record_id: str, input_csv: Path | None, config: Path | None, country: str, as_json: bool
) -> None:
    """Show RECORD_ID's person, its records, and the evidence that put it there.

    With --input, the CSV is resolved and every comparison of RECORD_ID is shown with its weight per
    field; without it, the lake's person_links (the last `forecourt identity run`) are read."""
    from forecourt.identity.resolve import FIELDS

    if input_csv is None:
        _explain_from_lake(record_id, as_json)
        return
    result, _ = _resolve(input_csv, config, country)
    links = {r["record_id"]: r for r in result.links.to_pylist()}
    if record_id not in links:
        fail(f"record {record_id!r} is not in {input_csv}")
    person = links[record_id]["person_id"]
    members = sorted(r for r, link in links.items() if link["person_id"] == person)
    compared = [p for p in result.pairs.to_pylist() if record_id in (p["left_id"], p["right_id"])]
    rows: list[dict[str, Any]] = []
    for pair in sorted(compared, key=lambda p: -p["match_weight"]):
        other = pair["right_id"] if pair["left_id"] == record_id else pair["left_id"]
        evidence = ", ".join(
            f"{name} {pair[f'{name}_level']} {pair[f'{name}_weight']:+.1f}"
            for name in FIELDS
            if pair[f"{name}_level"] != "missing"
        )
        rows.append(
            {
                "other record": other,
                "same person": links[other]["person_id"] == person,
                "linked directly": pair["linked"],
                "match weight": round(pair["match_weight"], 1),
                "evidence (level, bits)": evidence,
                "blocked by": pair["rules"],
            }
        )
    if as_json:
        emit(
            [{"record_id": record_id, "person_id": person, "records": members, "comparisons": rows}],
            as_json=True,
        )
        return
    click.echo(f"{record_id} is person {person}, with {len(members)} record(s): {', '.join(members)}")
    prior = compared[0]["prior_weight"] if compared else None
    if prior is not None:
        click.echo(f"prior: {prior:+.1f} bits (the odds that two of {len(links):,} records are one person)")
    emit(rows, as_json=False, title=f"Comparisons of {record_id}")


def _explain_from_lake(record_id: str, as_json: bool) -> None:
    from forecourt import analytics
    from forecourt.cli.data import _connect

    _connect()
    if not record_id.isalnum():
        fail(f"{record_id!r} is not a record id (letters and digits)")
    found = analytics.run_query(f"SELECT person_id FROM person_links WHERE record_id = '{record_id}'").rows
    if not found:
        fail(
            f"record {record_id!r} is in no person: it is not a lead, visit or sale, or "
            "`forecourt identity run` has not run since it arrived"
        )
    person = found[0][0]
    result = analytics.run_query(
        "SELECT record_id, dataset, dealer_id, linked_to, round(match_weight, 1) AS match_weight, evidence, "
        f"person_created FROM person_links WHERE person_id = '{person}' ORDER BY record_id"
    )
    rows = [dict(zip(result.columns, row, strict=True)) for row in result.rows]
    if as_json:
        click.echo(
            json.dumps({"record_id": record_id, "person_id": person, "records": rows}, indent=2, default=str)
        )
        return
    dealers = sorted({r["dealer_id"] for r in rows})
    click.echo(
        f"{record_id} is person {person} (since {rows[0]['person_created']}), with {len(rows)} record(s) "
        f"at {len(dealers)} dealer(s): {', '.join(dealers)}"
    )
    columns = ["record_id", "dataset", "dealer_id", "linked_to", "match_weight", "evidence"]
    emit(rows, as_json=False, title=f"Records of {person} and the link that put each there", columns=columns)


@identity.command("run")
@click.option(
    "--full",
    is_flag=True,
    help="Resolve every record again, not only what is new or changed (after changing the settings).",
)
@click.option("--timeout", default=300.0, show_default=True, help="Seconds to wait for the commits.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def identity_run(full: bool, timeout: float, as_json: bool) -> None:
    """Resolve the lake's records (leads, visits, sales) into persons and person_links.

    Incremental once a run exists: records new or changed since are compared with everyone, and
    only the persons they reach are resolved again; --full resolves everything. Persons found again
    keep their ids; the run replaces the previous run's rows. Query the result with
    `forecourt query "SELECT * FROM person_links"`."""
    from datetime import UTC, datetime

    from forecourt.cli.data import _connect
    from forecourt.identity.job import run
    from forecourt.local import stack

    running = _connect()
    started = datetime.now(UTC).replace(microsecond=0)
    with errors.status("reading the lake's records, resolving, writing persons and person_links…"):
        done = run(started, full=full)
        stack.wait_idle(running, timeout=timeout)
    _summary(done, started, as_json)


def _summary(done: ResolveRun, started: datetime, as_json: bool) -> None:
    summary = {
        "mode": done.mode,
        "records": done.records,
        "records new or changed": done.changed,
        "records resolved": done.resolved,
        "persons": done.persons,
        "persons with several records": done.multi_record_persons,
        "persons seen at several dealers": done.cross_dealer_persons,
        "person ids kept": done.kept,
        "person ids new": done.new,
        "person ids merged into another": done.merged,
        "identity index keys published": done.published,
        "resolved at": started.isoformat(),
    }
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    emit([{"": k, "value": v} for k, v in summary.items()], as_json=False, title="Identity resolution (lake)")


@identity.command("split")
@click.argument("record_ids", nargs=-1, required=True, metavar="RECORD_ID...")
@click.option("--reason", help="Why (kept with the split; write no personal data in it).")
@click.option("--timeout", default=300.0, show_default=True, help="Seconds to wait for the commits.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def identity_split(record_ids: tuple[str, ...], reason: str | None, timeout: float, as_json: bool) -> None:
    """Split a person merged too eagerly: RECORD_IDs leave their person and become a person of their
    own, and stay apart from its other records in every later run.

    Find the records with `forecourt identity explain RECORD_ID`. The split is kept in the
    identity_splits table; the person is resolved again at once (an incremental run)."""
    from datetime import UTC, datetime

    from forecourt.cli.data import _connect
    from forecourt.identity.job import run, split
    from forecourt.local import stack

    running = _connect()
    started = datetime.now(UTC).replace(microsecond=0)
    try:
        done = split(list(record_ids), reason, started)
    except ValueError as exc:
        fail(str(exc))
        return
    with errors.status(f"splitting {len(done.records)} record(s) off {done.person_id}, resolving again…"):
        stack.wait_idle(running, timeout=timeout)
        resolved = run(started)
        stack.wait_idle(running, timeout=timeout)
    if not as_json:
        click.echo(
            f"split {done.split_id}: {', '.join(done.records)} kept apart from the {len(done.rest)} other "
            f"record(s) of {done.person_id}"
        )
    _summary(resolved, started, as_json)
