"""Outbound files of enriched leads for a dealer to pick up (ARCHITECTURE §4 ``outbound/``).

Per dealer and run: ``outbound/dealer=<id>/enriched-leads/<YYYY-MM-DD>/enriched-leads-<HHMMSS>-<delta>.csv``
and ``….xml``, holding only the leads that are new or changed since the last run (the delta).
``<delta>`` is a hash of the leads' record ids and fingerprints: two runs in the same second with
different deltas never overwrite each other's file, and the same delta written again (a run
retried) replaces its own.

- CSV: UTF-8 with a header, one row per lead, formula-like cells defused (``safe_csv``); the lead's
  contact and vehicle, then the enrichment (``change`` says new or changed).
- ADF 1.0: one document with a ``<prospect>`` per lead (``adf (prospect+)``); the enrichment in the
  customer comments as ``Forecourt …: …`` lines (``adf_out.delivery_notes``). The prospect's
  Forecourt id is the lead's record id; its delivery id changes with the enrichment (record id and
  fingerprint), so a CRM that deduplicates on it takes each new version once. A lead without the
  ADF minimum (name, phone or e-mail, vehicle) stays in the CSV only, and the CSV says so in
  ``adf``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from xml.etree.ElementTree import Element

import pyarrow as pa
import pyarrow.compute as pc

CSV_COLUMNS = (
    "lead_id", "record_id", "change", "requested_at", "first_name", "last_name", "email", "phone",
    "vehicle_year", "vehicle_make", "vehicle_model", "score", "score_reasons", "tags",
    "suggested_dealer_id", "suggested_salesperson", "suggested_reason", "service_gross", "sales_gross",
    "expected_value", "first_touch_campaign", "first_touch_name", "last_touch_campaign",
    "last_touch_name", "person_id", "adf",
)  # fmt: skip


def key(dealer_id: str, now: datetime, rows: pa.Table) -> str:
    """Where one run's files of ``rows`` for one dealer go (without the suffix)."""
    from forecourt.lake import stable_hash

    delta = stable_hash(*rows["record_id"].to_pylist(), *rows["fingerprint"].to_pylist())[:8]
    return f"outbound/dealer={dealer_id}/enriched-leads/{now:%Y-%m-%d}/enriched-leads-{now:%H%M%S}-{delta}"


def write(changed: pa.Table, now: datetime, dealers: Mapping[str, Any]) -> list[str]:
    """Write each dealer's CSV and ADF file of ``changed`` leads (every dealer id a key of
    ``dealers``, the registry's entries); returns the keys written."""
    from forecourt import aws
    from forecourt.config import settings

    s3, bucket = aws.client("s3"), settings().lake_bucket
    written = []
    for dealer_id in sorted(set(changed["dealer_id"].to_pylist())):
        rows = changed.filter(pc.equal(changed["dealer_id"], dealer_id))
        adf, in_adf = adf_document(rows, dealers[dealer_id])
        stem = key(dealer_id, now, rows)
        for suffix, body, content_type in (
            ("csv", csv_bytes(rows, in_adf), "text/csv; charset=utf-8"),
            ("xml", adf, "application/xml"),
        ):
            if body is None:
                continue
            name = f"{stem}.{suffix}"
            s3.put_object(Bucket=bucket, Key=name, Body=body, ContentType=content_type)
            written.append(name)
    return written


def notes(lead: dict[str, Any]) -> dict[str, str]:
    """The enrichment as ADF comment lines (name → value)."""
    found = {
        "score": f"{lead['score']} ({lead['score_reasons']})"
        if lead.get("score_reasons")
        else str(lead["score"]),
        "tags": ", ".join(lead.get("tags") or []),
        "suggested owner": lead.get("suggested_reason") or "",
        "first touch": _touch(lead, "first"),
        "last touch": _touch(lead, "last"),
        "expected value": f"{lead['expected_value']:.0f}" if lead.get("expected_value") is not None else "",
    }
    return {name: value for name, value in found.items() if value}


def _touch(lead: dict[str, Any], which: str) -> str:
    campaign = lead.get(f"{which}_touch_campaign")
    name = lead.get(f"{which}_touch_name")
    if not campaign:
        return ""
    return f"{name} ({campaign})" if name and name != campaign else str(campaign)


def adf_document(rows: pa.Table, dealer: Any) -> tuple[bytes | None, list[bool]]:
    """The ADF document for ``dealer`` (a registry entry; None when no lead has the ADF minimum) and,
    per row, whether it is in."""
    from forecourt import adf_out

    ref = adf_out.DealerRef.of(dealer)
    adf = Element("adf")
    included = []
    for lead in rows.to_pylist():
        try:
            adf_out.add_prospect(
                adf,
                lead,
                ref,
                delivery_id=f"{lead['record_id']}-{lead['fingerprint'][:12]}",
                lead_id=lead["record_id"],
                provider_name="Forecourt enrichment",
                routing_reason=None,
                enrichment=notes(lead),
            )
            included.append(True)
        except adf_out.IncompleteLead:
            included.append(False)
    return (adf_out.adf_document(adf) if any(included) else None), included


def csv_bytes(rows: pa.Table, in_adf: list[bool]) -> bytes:
    """The dealer's CSV (formula-like cells defused)."""
    import io

    from forecourt.safe_csv import write_csv

    columns: dict[str, pa.Array | pa.ChunkedArray] = {}
    for name in CSV_COLUMNS:
        if name == "phone":
            columns[name] = pc.coalesce(rows["mobile_phone"], rows["phone"], rows["alternate_phone"])
        elif name == "tags":
            columns[name] = pc.binary_join(rows["tags"], ";")
        elif name == "adf":
            columns[name] = pa.array(["yes" if inside else "no: lacks the ADF minimum" for inside in in_adf])
        else:
            columns[name] = rows[name]
    sink = io.BytesIO()
    write_csv(pa.table(columns), sink)
    return sink.getvalue()
