"""forecourt.local.generate: a seeded, realistic dealer network and a large messy leads CSV."""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from collections import defaultdict
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from defusedxml import ElementTree
from feed_headers import decode, detected_feed, raw_bytes
from forecourt import feeds
from forecourt.local import bulk_leads
from forecourt.local.bulk_leads import HEADER
from forecourt.local.generate import FileSpec, NetworkSpec, generate_leads_csv, generate_network
from forecourt.local.population import vin

TODAY = date(2026, 11, 2)
LEADS = 2_000
VIN_VALUES = dict(zip("0123456789ABCDEFGHJKLMNPRSTUVWXYZ", [*range(10), *range(1, 9), *range(1, 6), 7, 9,
                                                              *range(2, 10)], strict=True))  # fmt: skip
VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, NetworkSpec]:
    out = tmp_path_factory.mktemp("network")
    return out, generate_network(out, seed=7, leads=LEADS, today=TODAY)


def count_records(path: Path, spec: FileSpec) -> int:
    """Records in a generated file, read the plain way (CSV rows below the header, prospects, lines)."""
    profile = feeds.get(spec.feed)
    data = raw_bytes(path)
    if profile.format == "adf":
        return len(ElementTree.fromstring(data).findall("prospect"))
    text = decode(data)
    if profile.format == "jsonl":
        return len(text.splitlines())
    lines = text.splitlines()
    header_at = next(i for i, line in enumerate(lines) if feeds.match_headers(profile, _cells(line)))
    rows = list(
        csv.reader(io.StringIO("\n".join(lines[header_at + 1 :])), delimiter=_delimiter(lines[header_at]))
    )
    return len(rows)


def _delimiter(line: str) -> str:
    return max(",\t|", key=line.count)


def _cells(line: str) -> list[str]:
    return next(csv.reader([line], delimiter=_delimiter(line)))


def check_digit_ok(number: str) -> bool:
    total = sum(VIN_VALUES[char] * weight for char, weight in zip(number, VIN_WEIGHTS, strict=True))
    return number[8] == ("X" if total % 11 == 10 else str(total % 11))


def test_same_seed_writes_the_same_bytes(tmp_path: Path) -> None:
    first = generate_network(tmp_path / "a", seed=3, leads=300, today=TODAY)
    second = generate_network(tmp_path / "b", seed=3, leads=300, today=TODAY)
    assert first.files == second.files
    for spec in first.files:
        assert (tmp_path / "a" / spec.path).read_bytes() == (tmp_path / "b" / spec.path).read_bytes(), (
            spec.path
        )


def test_another_seed_writes_other_people(tmp_path: Path) -> None:
    first = generate_network(tmp_path / "a", seed=3, leads=300, today=TODAY)
    generate_network(tmp_path / "b", seed=4, leads=300, today=TODAY)
    vinsolutions = next(f.path for f in first.files if f.feed == "vinsolutions-leads")
    assert (tmp_path / "a" / vinsolutions).read_bytes() != (tmp_path / "b" / vinsolutions).read_bytes()


def test_network_has_dealers_with_their_feeds_and_the_oem(network: tuple[Path, NetworkSpec]) -> None:
    _, spec = network
    assert len(spec.dealers) >= 6
    assert len({d.dealer_id for d in spec.dealers}) == len(spec.dealers)
    written = defaultdict(set)
    for file in spec.files:
        written[file.dealer_id].add(file.feed)
    for dealer in spec.dealers:
        assert dealer.country == "US" and dealer.timezone.startswith("America/") and len(dealer.zip) == 5
        assert written[dealer.dealer_id] == set(dealer.feeds), dealer.dealer_id
    assert set(spec.oem_feeds) == {
        "google-ads-spend",
        "meta-ads-spend",
        "google-ads-campaigns",
        "meta-ads-campaigns",
    }
    webhook_only = {"lead-events"}  # CRMs post their events to the HTTP API, not in files
    assert {f for d in spec.dealers for f in d.feeds} | set(spec.oem_feeds) == set(
        feeds.load_all()
    ) - webhook_only


def test_lead_files_hold_exactly_the_leads_asked_for(network: tuple[Path, NetworkSpec]) -> None:
    _, spec = network
    assert spec.records("leads") == LEADS
    assert spec.records("sales") > LEADS * 0.05
    assert spec.records("visits") > LEADS * 0.2
    assert spec.records("campaign_spend") > 0 and spec.records("campaigns") > 0


def test_every_file_holds_the_records_its_spec_counts(network: tuple[Path, NetworkSpec]) -> None:
    out, spec = network
    for file in spec.files:
        if not file.unreadable:
            assert count_records(out / file.path, file) == file.records, file.path


def test_every_readable_file_is_detected_as_its_own_feed(network: tuple[Path, NetworkSpec]) -> None:
    out, spec = network
    for file in spec.files:
        if not file.unreadable:
            assert detected_feed(out / file.path, feeds.get(file.feed).format) == file.feed, file.path


def test_exactly_one_file_is_unreadable(network: tuple[Path, NetworkSpec]) -> None:
    out, spec = network
    broken = [f for f in spec.files if f.unreadable]
    assert len(broken) == 1
    with pytest.raises(EOFError):
        gzip.decompress((out / broken[0].path).read_bytes())


def test_a_few_percent_of_records_fail_the_contract(network: tuple[Path, NetworkSpec]) -> None:
    _, spec = network
    leads = [f for f in spec.files if f.dataset == "leads"]
    failures = sum(f.contract_failures for f in leads)
    assert 0.01 * LEADS <= failures <= 0.06 * LEADS
    assert sum(f.summary_rows for f in spec.files) >= 2


def _csv_rows(out: Path, spec: NetworkSpec, datasets: set[str]) -> Iterator[tuple[str, str, dict[str, str]]]:
    """(dealer, feed, row) of every row of the dealers' readable CSV files of ``datasets``."""
    for file in spec.files:
        if file.dealer_id == "oem" or file.unreadable or file.dataset not in datasets:
            continue
        if feeds.get(file.feed).format == "csv":
            text = decode(raw_bytes(out / file.path))
            for row in csv.DictReader(io.StringIO(text), delimiter=_delimiter(text.splitlines()[0])):
                yield file.dealer_id, file.feed, row


def _phones(row: dict[str, str]) -> set[str]:
    """Last ten digits of the row's phone cells."""
    found = {
        re.sub(r"\D", "", value or "")[-10:] for column, value in row.items() if "phone" in column.lower()
    }
    return {digits for digits in found if len(digits) == 10}


def _emails(row: dict[str, str]) -> set[str]:
    return {v.strip().lower() for k, v in row.items() if "mail" in k.lower() and "@" in (v or "")}


def test_people_shop_at_several_dealers(network: tuple[Path, NetworkSpec]) -> None:
    out, spec = network
    dealers_of: dict[str, set[str]] = defaultdict(set)
    for dealer_id, _, row in _csv_rows(out, spec, {"leads", "sales", "visits"}):
        for phone in _phones(row):
            dealers_of[phone].add(dealer_id)
    shared = sum(1 for dealers in dealers_of.values() if len(dealers) > 1)
    assert shared > 0.05 * len(dealers_of)
    assert 0 < spec.cross_dealer_people < spec.people


def test_buyers_appear_in_crm_and_dms_with_different_contact_data(network: tuple[Path, NetworkSpec]) -> None:
    out, spec = network
    crm: dict[tuple[str, str], set[str]] = defaultdict(set)
    for dealer_id, _, row in _csv_rows(out, spec, {"leads"}):
        for phone in _phones(row):
            crm[dealer_id, phone] |= _emails(row)
    both = differing = 0
    for dealer_id, feed, row in _csv_rows(out, spec, {"sales"}):
        if feed == "cdk-sales":
            assert row["BuyerLastName"] == row["BuyerLastName"].upper()
        for phone in _phones(row):
            if (dealer_id, phone) in crm:
                both += 1
                differing += _emails(row) != crm[dealer_id, phone]
    assert both > 10
    assert 0 < differing < both


def test_files_carry_the_messy_values_real_exports_have(network: tuple[Path, NetworkSpec]) -> None:
    out, spec = network
    text = "".join(decode(raw_bytes(out / f.path)) for f in spec.files if not f.unreadable)
    assert "CHEVY" in text and ",VW," in text
    assert re.search(r"\b\d{5}-\d{4}\b", text), "zip+4"
    assert re.search(r"@@|@(gmail|yahoo|outlook|hotmail|icloud)[,\t|\"<]", text), "broken e-mails"
    assert re.search(r"\(\d{3}\) \d{3}-\d{4}", text) and re.search(r"\b\d{3}\.\d{3}\.\d{4}\b", text)


def test_generated_vins_carry_a_valid_check_digit(network: tuple[Path, NetworkSpec]) -> None:
    out, spec = network
    text = "".join(decode(raw_bytes(out / f.path)) for f in spec.files if f.feed == "dealertrack-sales")
    vins = set(re.findall(r"\|([A-HJ-NPR-Z0-9]{17})\|", text))
    assert len(vins) > 20
    assert all(check_digit_ok(number) for number in vins)
    made = vin("1HGCM826", 2024, 4352)
    assert made.startswith("1HGCM826") and made[9:] == "RA004352" and check_digit_ok(made)


def test_adf_and_jsonl_files_parse_and_say_what_they_are(network: tuple[Path, NetworkSpec]) -> None:
    out, spec = network
    adf = [out / f.path for f in spec.files if f.feed == "adf"]
    assert any(b'<?ADF VERSION "1.0"?>' in p.read_bytes() for p in adf)
    assert any(b'<?adf version="1.0"?>' in p.read_bytes() for p in adf)
    for path in (out / f.path for f in spec.files if f.feed == "jsonl-leads"):
        for line in path.read_text(encoding="utf-8").splitlines():
            assert isinstance(json.loads(line), dict)


def test_leads_csv_has_the_rows_and_bytes_it_reports(tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    written = generate_leads_csv(path, 5_000, seed=5)
    assert written == path.stat().st_size
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert rows[0] == list(HEADER) and len(HEADER) == 25
    assert len(rows) == 5_001 and all(len(row) == 25 for row in rows)
    assert 250 <= written / 5_000 <= 310
    assert len({row[0] for row in rows[1:]}) == 5_000


def test_leads_csv_is_a_vinsolutions_export_and_is_deterministic(tmp_path: Path) -> None:
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    generate_leads_csv(first, 3_000, seed=5)
    generate_leads_csv(second, 3_000, seed=5)
    assert first.read_bytes() == second.read_bytes()
    assert detected_feed(first, "csv") == "vinsolutions-leads"
    generate_leads_csv(second, 3_000, seed=7)
    assert first.read_bytes() != second.read_bytes()


def test_leads_csv_cut_from_disjoint_row_ranges_share_no_lead_and_join_into_the_whole(tmp_path: Path) -> None:
    whole, head, tail = tmp_path / "whole.csv", tmp_path / "head.csv", tmp_path / "tail.csv"
    generate_leads_csv(whole, 600, seed=5)
    generate_leads_csv(head, 250, seed=5)
    generate_leads_csv(tail, 350, seed=5, first_row=250)
    whole_rows = whole.read_bytes().split(b"\r\n")
    head_rows, tail_rows = head.read_bytes().split(b"\r\n"), tail.read_bytes().split(b"\r\n")
    assert head_rows[0] == tail_rows[0] == whole_rows[0]  # the header
    assert head_rows[1:-1] + tail_rows[1:] == whole_rows[1:]
    tail_ids = [row[0] for row in csv.reader(io.StringIO(tail.read_text(encoding="utf-8")))][1:]
    assert tail_ids[0] == "48000250" and tail_ids[-1] == "48000599"


def test_leads_csv_streams_in_chunks_that_join_seamlessly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole, small = tmp_path / "whole.csv", tmp_path / "small.csv"
    generate_leads_csv(whole, 1_000, seed=5)
    monkeypatch.setattr(bulk_leads, "CHUNK_ROWS", 128)
    generate_leads_csv(small, 1_000, seed=5)
    assert whole.read_bytes() == small.read_bytes()
