"""Property tests of the whole ingest core (issue 8): any bytes a dealer's system sends — a real
export with its cells replaced by anything, its bytes flipped, cut or spliced — are read by the same
``ingest_object`` the Lambda runs without an unhandled exception, and every record ends curated or
quarantined with a reason: rows in = rows curated + rows quarantined, and the data files hold
exactly those rows.

The default run tries a few dozen files per property; ``make test-slow`` the long version."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from forecourt import feeds, intake
from forecourt.ingest import RawObject, UploadReport, ingest_object
from forecourt.registry import Dealer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FEEDS = Path(__file__).parents[1] / "data" / "feeds"
# the default run (CI) replays the same examples every time, so that main stays green or red for a
# reason; the long run (FORECOURT_FUZZ_EXAMPLES, make test-slow) searches anew each time
RANDOM = os.environ.get("FORECOURT_FUZZ_EXAMPLES")
EXAMPLES = int(RANDOM or "6")
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=RANDOM is None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
RECEIVED = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
DEALER = Dealer(dealer_id="D-FUZZ", feeds=sorted(feeds.load_all()))
SAMPLES = sorted(
    p
    for p in FEEDS.rglob("*")
    if p.is_file() and not p.name.endswith(".json") and "campaign" not in p.parent.name
) + sorted(p for p in FEEDS.rglob("*.jsonl"))


@pytest.fixture(autouse=True)
def _nobody_erased(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("forecourt.privacy.suppression.erased_list", lambda: None)


def ingest(data: bytes, name: str, spool: Path, feed: str | None = None) -> UploadReport:
    """``data`` through the ingest core as the Lambda runs it (minus S3 and the commit), with the
    invariants every upload must keep checked."""
    spool.mkdir(parents=True, exist_ok=True)
    obj = RawObject("lake", f"raw/files/dealer=D-FUZZ/dt=2026-11-02/{name}", "v1", len(data), RECEIVED, feed)
    report = ingest_object(
        io.BytesIO(data),
        obj,
        DEALER,
        "D-FUZZ",
        RECEIVED,
        "up-fuzz",
        intake.spool_writer_factory(str(spool), "up-fuzz", RECEIVED),
        max_bytes=1 << 24,
        batch_rows=7,  # small batches: a file of a few rows crosses batch boundaries too
    )
    assert report.rows_in == report.rows_curated + report.rows_quarantined, report
    assert report.rows_in >= 1 or report.status == "ok"
    written = {
        table: sum(pq.read_metadata(f).num_rows for f in files) for table, files in report.files.items()
    }
    if report.dataset:
        assert written[report.dataset] == report.rows_curated, (written, report)
    assert written["quarantine"] == report.rows_quarantined
    if report.rows_quarantined:
        reasons = pq.read_table(report.files["quarantine"][0], columns=["reason_code", "message"]).to_pylist()
        assert all(r["reason_code"] and r["message"] for r in reasons), reasons
    assert report.checksum_sha256 and report.size_bytes == len(data)
    return report


def _sample(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


# any printable text (control characters make a file binary: the damage property covers those)
_cell = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=30),
    st.sampled_from(["", "=1+2", "+1 (312) 555-0100", "-", "@SUM(A1)", '"', "a,b", "x\ny", "\r", "NULL"]),
)


CSV_EXPORTS = {  # real exports whose first line is their header, with their delimiter
    "generic-leads/website_leads_20240212.csv": ",",
    "vinsolutions-leads/LeadExport_20240212.csv": ",",
    "elead-leads/Opportunities_20240212.csv": ",",
    "cdk-sales/DealExtract_20240212.csv": ",",
    "dealertrack-sales/DealsExport_0212.txt": "|",
    "service-visits/RO_History_20240212.csv": ",",
    "showroom-visits/ShowroomTraffic_20240212.csv": ",",
    "meta-ads-campaigns/Campaigns-Feb-12-2024.csv": ",",
}


@FUZZ
@given(sample=st.sampled_from(sorted(CSV_EXPORTS)), data=st.data())
def test_a_real_export_with_any_cells_loses_no_row(sample: str, data: st.DataObject, tmp_path: Path) -> None:
    delimiter = CSV_EXPORTS[sample]
    rows = list(csv.reader(io.StringIO((FEEDS / sample).read_text(encoding="utf-8")), delimiter=delimiter))
    header, body = rows[0], [r for r in rows[1:] if r]
    count = data.draw(st.integers(1, 12), label="rows")
    quoting = data.draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]), label="quoting")
    new_body = [[data.draw(_cell) for _ in header] for _ in range(count)]
    if quoting == csv.QUOTE_MINIMAL:  # csv leaves a lone CR unquoted: a line break then, not a cell
        new_body = [[cell.replace("\r", "") for cell in row] for row in new_body]
    out = io.StringIO()
    ending = data.draw(st.sampled_from(["\n", "\r\n"]), label="line ending")
    writer = csv.writer(out, delimiter=delimiter, lineterminator=ending, quoting=quoting)
    writer.writerow(header)
    writer.writerows(new_body[: count // 2] + body[:3] + new_body[count // 2 :])
    encoding = data.draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]), label="encoding")
    report = ingest(out.getvalue().encode(encoding), Path(sample).name, tmp_path)
    # every written record is one record in (cells with line breaks are quoted, so still one); a
    # line of empty cells only (`,,,`) is a blank line, as spreadsheets export them, not a record
    assert report.status != "rejected", report.message
    blank = sum(1 for row in new_body if not "".join(row).strip())
    assert report.rows_in == count - blank + min(len(body), 3), report


@FUZZ
@given(sample=st.sampled_from(SAMPLES), data=st.data())
def test_any_damage_to_a_real_file_is_read_or_quarantined_never_raised(
    sample: Path, data: st.DataObject, tmp_path: Path
) -> None:
    raw = bytearray(_sample(sample))
    for _ in range(data.draw(st.integers(1, 6), label="damages")):
        at = data.draw(st.integers(0, len(raw)), label="at")
        kind = data.draw(st.sampled_from(["flip", "cut", "insert", "truncate"]), label="kind")
        if kind == "flip" and at < len(raw):
            raw[at] = data.draw(st.integers(0, 255))
        elif kind == "cut":
            del raw[at : at + data.draw(st.integers(1, 200))]
        elif kind == "insert":
            raw[at:at] = data.draw(
                st.one_of(
                    st.binary(max_size=40),
                    st.sampled_from([b"\x00", b"\xff\xfe", b"\r", b'"', b"<!ENTITY x 'y'>", b"</prospect>"]),
                )
            )
        else:
            del raw[at:]
    ingest(bytes(raw), sample.name, tmp_path)


_json_value = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@FUZZ
@given(data=st.data())
def test_json_lines_of_any_shape_are_each_one_record_in(data: st.DataObject, tmp_path: Path) -> None:
    sample = next(p for p in SAMPLES if p.suffix == ".jsonl" and "web_leads" in p.name)
    good = [line for line in sample.read_text(encoding="utf-8").splitlines() if line.strip()]
    keys = sorted(json.loads(good[0]))
    lines = []
    for _ in range(data.draw(st.integers(1, 10), label="lines")):
        shape = data.draw(st.sampled_from(["known keys", "any value", "broken", "good"]))
        if shape == "known keys":
            lines.append(json.dumps({k: data.draw(_json_value) for k in keys}))
        elif shape == "any value":
            lines.append(json.dumps(data.draw(_json_value)))
        elif shape == "broken":
            lines.append(
                data.draw(st.sampled_from(['{"lead_id": ', "[1, 2", "{'a': 1}", "nul", '{"a": 1}}']))
            )
        else:
            lines.append(data.draw(st.sampled_from(good)))
    body = "\n".join([good[0], *lines]) + data.draw(st.sampled_from(["", "\n", "\r\n"]))
    report = ingest(body.encode(), sample.name, tmp_path, feed="jsonl-leads")
    assert report.status != "rejected", report.message
    assert report.rows_in == 1 + len(lines), report


@FUZZ
@given(data=st.data())
def test_adf_prospects_with_any_text_are_each_one_record_in(data: st.DataObject, tmp_path: Path) -> None:
    from xml.sax.saxutils import escape

    texts = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=30)
    prospects = []
    for _ in range(data.draw(st.integers(1, 6), label="prospects")):
        first, last, email, phone = (escape(data.draw(texts)) for _ in range(4))
        prospects.append(
            f'<prospect status="new"><id sequence="1" source="fuzz">{escape(data.draw(texts))}</id>'
            f"<requestdate>{escape(data.draw(texts))}</requestdate>"
            f'<vehicle interest="buy"><year>{escape(data.draw(texts))}</year><make>Ford</make></vehicle>'
            f'<customer><contact><name part="first">{first}</name><name part="last">{last}</name>'
            f"<email>{email}</email><phone>{phone}</phone></contact></customer>"
            f"<vendor><vendorname>Fuzz Motors</vendorname></vendor></prospect>"
        )
    document = '<?xml version="1.0"?><?adf version="1.0"?><adf>' + "".join(prospects) + "</adf>"
    report = ingest(document.encode(), "fuzz.xml", tmp_path, feed="adf")
    assert report.status != "rejected", report.message
    assert report.rows_in == len(prospects), report
