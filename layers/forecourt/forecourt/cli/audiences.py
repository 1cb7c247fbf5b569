"""``forecourt audiences``: people formatted and hashed exactly as each ad platform documents."""

from __future__ import annotations

import json
from pathlib import Path

import click

from forecourt.cli.output import emit, fail, read_text_csv

PLATFORMS = ("google", "meta")


@click.group()
def audiences() -> None:
    """Audiences for advertising platforms (Google Ads Customer Match, Meta custom audiences)."""


@audiences.command("hash")
@click.option("--platform", type=click.Choice(PLATFORMS), required=True, help="Whose rules to apply.")
@click.argument("input_csv", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Where to write.")
@click.option(
    "--country", default="US", show_default=True, help="Country of rows that name none (phones, zips)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def audiences_hash(platform: str, input_csv: Path, out: Path, country: str, as_json: bool) -> None:
    """Normalize and hash a list of people as PLATFORM documents, one output row per input row.

    INPUT_CSV has any of the columns email, phone, first_name, last_name, zip, country (header case
    and spaces do not matter; E-Mail, Phone Number, Zip Code, Postal Code, Surname… are understood;
    other columns are ignored). Google: SHA-256 of the e-mail (gmail.com
    dots and +suffix removed), the E.164 phone and the names; country_code and postal_code in
    clear. Meta: the multi-key schema EMAIL, PHONE, FN, LN, ZIP, COUNTRY, every key hashed. A value
    that cannot be used (an e-mail without a valid syntax, a phone that is no number) is left empty
    and named in the row's issues column."""
    from forecourt.audiences import google, meta, people

    raw = people.with_known_names(read_text_csv(input_csv))
    known = [name for name in people.COLUMNS if name in raw.column_names]
    if not known:
        # the header is not echoed: without one, the first person's values would be
        fail(
            f"{input_csv}: none of the columns {', '.join(people.COLUMNS)} in its first line "
            f"({len(raw.column_names)} columns; the first line must name them)"
        )
    try:
        prepared = people.prepare(raw, default_country=country)
    except ValueError as exc:
        fail(f"--country: {exc}")
        raise
    hashed = (google if platform == "google" else meta).identifiers(prepared)
    written = hashed.append_column("issues", prepared["issues"])
    from forecourt.safe_csv import write_csv

    write_csv(written, out)
    counts = {name: raw.num_rows - hashed[name].null_count for name in hashed.column_names}
    summary = {
        "platform": platform,
        "rows": raw.num_rows,
        "columns read": known,
        "columns ignored": [name for name in raw.column_names if name not in people.COLUMNS],
        "identifiers per column": counts,
        "rows with issues": raw.num_rows - prepared["issues"].null_count,
        "written": str(out),
    }
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    rows = [
        {"": key, "value": ", ".join(value) if isinstance(value, list) else value}
        for key, value in summary.items()
        if not isinstance(value, dict)
    ]
    rows += [{"": f"  {name}", "value": count} for name, count in counts.items()]
    emit(rows, as_json=False, title=f"Hashed for {platform}")


@audiences.command("build")
@click.option("--as-of", "as_of", help="Evaluate the segments as of this moment (ISO 8601; default: now).")
@click.option(
    "--segments", "segments_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Segments JSON (default: queries/audiences/segments.json).",
)  # fmt: skip
@click.option("--timeout", default=300.0, show_default=True, help="Seconds to wait for the commit.")
@click.option("--json", "as_json", is_flag=True, help="Print the lists as JSON.")
def audiences_build(as_of: str | None, segments_path: Path | None, timeout: float, as_json: bool) -> None:
    """Build every segment's lists as of a moment: a dated audience_members snapshot, each member
    marked with the reason it may not leave for an ad platform (suppressed, opted out of sale or
    sharing, Global Privacy Control, EEA without consent), or none.

    Run after `forecourt enrich run`. Members: `forecourt query "SELECT audience, person_id, excluded
    FROM audience_members WHERE upload_id = '20261207T110102Z'"` (the snapshot printed below)."""
    from datetime import UTC, datetime

    from pydantic import ValidationError

    from forecourt.audiences import segments
    from forecourt.audiences.build import run
    from forecourt.cli.data import _connect
    from forecourt.cli.enrich import _moment
    from forecourt.cli.output import errors
    from forecourt.local import stack

    try:
        chosen = segments.load(segments_path)
    except (ValidationError, ValueError, OSError) as exc:
        fail(f"{segments_path or segments.SEGMENTS}: {exc}")
        raise
    running = _connect()
    now = datetime.now(UTC).replace(microsecond=0)
    with errors.status("evaluating the segments, checking consent…"):
        done = run(now, _moment(as_of, now), chosen)
        stack.wait_idle(running, timeout=timeout)
    rows = [
        {"audience": c.audience, "kind": c.kind, "members": c.members, "eligible": c.eligible} | c.excluded
        for c in done.lists
    ]
    if as_json:
        summary = {"as_of": done.as_of.isoformat(), "snapshot": done.snapshot, "lists": rows}
        click.echo(json.dumps(summary, indent=2))
        return
    short = {"opted_out_of_sale_or_sharing": "opted out", "global_privacy_control": "GPC",
             "eea_without_consent": "EEA no consent", "consent_denied": "denied"}  # fmt: skip
    emit(
        [{short.get(name, name): value for name, value in row.items()} for row in rows]
        or [{"audience": "(no members)"}],
        as_json=False,
        title=f"Snapshot {done.snapshot}: lists as of {done.as_of:%Y-%m-%d %H:%M} UTC "
        "(eligible: may leave for ad platforms)",
    )


@audiences.command("sync")
@click.option(
    "--platform",
    type=click.Choice(["all", *PLATFORMS]),
    default="all",
    show_default=True,
    help="Where to: one platform, or every platform whose credentials are stored.",
)
@click.option(
    "--full",
    is_flag=True,
    help="Replace every list whole (Meta usersreplace, Google removeAll) instead of sending changes.",
)
@click.option(
    "--dry-run",
    "dry_run",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write each request body to this directory (DIR/<platform>/<list>/…json) and send nothing.",
)
@click.option(
    "--wait",
    default=60.0,
    show_default=True,
    help="Seconds to wait for Google to apply a job before leaving it for the next sync.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def audiences_sync(platform: str, full: bool, dry_run: Path | None, wait: float, as_json: bool) -> None:
    """Bring the platforms' lists to the newest snapshot (`forecourt audiences build`): members who
    left are removed, new ones added, in batches of 10,000 (Meta: a session per operation; Google:
    an OfflineUserDataJob per operation, run and polled); a sync that stopped part-way, or a Google
    job still running, is finished first, from its ledger (ledger/audiences/<platform>/ in the lake
    bucket). Only members the consent gate let through leave, hashed as each platform documents.

    Credentials: the secrets <prefix>/platforms/meta (JSON: access_token, ad_account_id) and
    <prefix>/platforms/google (JSON: developer_token, client_id, client_secret, refresh_token,
    customer_id, optional login_customer_id). A dry run needs none."""
    from datetime import UTC, datetime

    from forecourt.audiences import sync, targets
    from forecourt.cli.data import _connect
    from forecourt.cli.output import errors
    from forecourt.local import stack

    running = _connect()
    chosen = PLATFORMS if platform == "all" else (platform,)
    apis: dict[str, object] = dict.fromkeys(chosen)
    if dry_run is None:
        try:
            apis = targets.connected(chosen)
        except ValueError as exc:
            fail(str(exc))
        if not apis:
            from forecourt.audiences import google_ads_api, meta_api

            names = {"meta": meta_api.secret_name(), "google": google_ads_api.secret_name()}
            fail("no platform connected: create the secret " + " or ".join(repr(names[p]) for p in chosen))
    now = datetime.now(UTC).replace(microsecond=0)
    done: list[sync.ListSync] = []
    stopped: list[str] = []
    for name, api in apis.items():
        try:
            with errors.status(f"syncing to {name}…" if dry_run is None else f"writing the {name} requests…"):
                done += sync.run(now, api, platform=name, full=full, dry_run=dry_run, wait=wait)
        except sync.SyncStopped as exc:
            stopped.append(str(exc))
    if dry_run is None and sync.record(done, now):
        stack.wait_idle(running, timeout=300)
    rows = [
        {"platform": r.platform, "list": r.audience, "snapshot": r.snapshot,
         "sent": ", ".join(f"{op} {n}" for op, n in r.operations.items()) or "nothing changed",
         "batches": r.batches, "received": r.received, "invalid": r.invalid,
         "state": "resumed" if r.resumed else "", }
        | ({"state": "applying (next sync polls)"} if r.pending else {})
        for r in done
    ]  # fmt: skip
    if dry_run is not None:
        for row in rows:
            del row["received"], row["invalid"], row["state"]
    emit(
        rows or [{"list": "(no snapshot: run `forecourt audiences build`)"}],
        as_json=as_json,
        title=", ".join(apis)
        + ": "
        + (f"requests written to {dry_run}, nothing sent" if dry_run else "synced"),
    )
    if stopped:
        fail("; ".join(stopped))
