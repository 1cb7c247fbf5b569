"""Outbound ADF 1.0 and the JSON webhook body: content, escaping, omissions, and a round trip
through our own inbound ADF reader and the leads curation."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from xml.etree.ElementTree import Element, fromstring

import pytest
from forecourt import feeds, schemas
from forecourt.adf_out import DealerRef, IncompleteLead, delivery_notes, to_adf, to_json_payload
from forecourt.curate import Curator, UploadMeta
from forecourt.local.receipts import check_adf
from forecourt.normalize import Locale
from format_files import open_named
from hypothesis import given, settings
from hypothesis import strategies as st

DEALER = DealerRef("D-1042", "Hill Country Ford", "America/Chicago")
REQUESTED = datetime(2024, 5, 12, 14, 15, 30, tzinfo=UTC)


def lead_row(**values: Any) -> dict[str, Any]:
    """A leads row: every column of schemas/leads.json, None unless given."""
    row: dict[str, Any] = dict.fromkeys(column.name for column in schemas.get("leads").columns)
    row.update(values)
    return row


MINIMAL = lead_row(
    requested_at=REQUESTED,
    vehicle_year=2024,
    vehicle_make="Ford",
    vehicle_model="Bronco",
    last_name="González",
    email="maria.g@example.com",
)

FULL = lead_row(
    requested_at=REQUESTED,
    provider_name="Ford Direct",
    first_name="María",
    middle_name="José",
    last_name="González",
    email="maria.g@example.com",
    phone="+15125550142",
    phone_ext="204",
    mobile_phone="+15125550143",
    street="100 Congress Ave, Apt 4",
    city="Austin",
    state="TX",
    zip="78701",
    zip4="2201",
    country="US",
    vehicle_interest="buy",
    vehicle_status="new",
    vehicle_vin="1M8GDM9AXKP042788",
    vehicle_year=2024,
    vehicle_make="Ford",
    vehicle_model="Bronco",
    vehicle_trim="Badlands",
    vehicle_stock="F24-118",
    trade_year=2015,
    trade_make="Honda",
    trade_model="Civic",
    trade_vin="1HGCR2F3XFA027534",
    trade_odometer=90211,
    comments="Is the Badlands in stock? Price & availability please.",
)

# The leads columns an ADF delivery carries and our ADF feed reads back.
DELIVERED_COLUMNS = (
    "requested_at",
    "provider_name",
    "first_name",
    "middle_name",
    "last_name",
    "email",
    "phone",
    "phone_ext",
    "mobile_phone",
    "street",
    "city",
    "state",
    "zip",
    "zip4",
    "country",
    "vehicle_interest",
    "vehicle_status",
    "vehicle_vin",
    "vehicle_year",
    "vehicle_make",
    "vehicle_model",
    "vehicle_trim",
    "vehicle_stock",
    "trade_year",
    "trade_make",
    "trade_model",
    "trade_vin",
    "trade_odometer",
    "comments",
)


def adf(lead: dict[str, Any], dealer: DealerRef = DEALER, **options: Any) -> bytes:
    arguments: dict[str, Any] = {
        "delivery_id": "dlv-7f3a",
        "lead_id": "lead-0001",
        "provider_name": "Ford Direct",
        "routing_reason": None,
    }
    return to_adf(lead, dealer, **{**arguments, **options})


def prospect_of(body: bytes) -> Element:
    return fromstring(body).find("prospect")  # type: ignore[return-value]


def parsed_fields(body: bytes) -> dict[str, str]:
    """The prospect as our inbound ADF reader flattens it (filled fields only)."""
    batches = list(open_named(body, "delivery.xml").records())
    rows = [row for batch in batches for row in batch.columns.to_pylist()]
    assert len(rows) == 1
    return {key: value for key, value in rows[0].items() if value is not None}


def curated_lead(body: bytes) -> dict[str, Any]:
    """The leads row our ingest makes of ``body`` with the ADF feed profile (US dealer)."""
    source = open_named(body, "delivery.xml")
    meta = UploadMeta("upload-1", DEALER.dealer_id, "raw/adf/delivery.xml", REQUESTED)
    curator = Curator(feeds.get("adf"), meta, Locale(country="US", timezone="America/Chicago"))
    curated = [curator.curate(batch) for batch in source.records()]
    assert [row for batch in curated for row in batch.quarantined] == []
    rows = [row for batch in curated for row in batch.tables["leads"].to_pylist()]
    assert len(rows) == 1
    return rows[0]


def test_the_document_starts_with_the_xml_declaration_and_the_adf_instruction() -> None:
    body = adf(MINIMAL)
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<?adf version="1.0"?>\n<adf>')
    root = fromstring(body)
    assert [child.tag for child in root] == ["prospect"]
    assert root[0].attrib == {"status": "new"}


def test_a_full_lead_carries_every_adf_element_in_dtd_order() -> None:
    prospect = prospect_of(adf(FULL, routing_reason="dealer_of_record"))
    assert [child.tag for child in prospect] == [
        "id",
        "id",
        "requestdate",
        "vehicle",
        "vehicle",
        "customer",
        "vendor",
        "provider",
    ]
    lead_id, delivery_id = prospect.findall("id")
    assert (lead_id.attrib, lead_id.text) == ({"sequence": "1", "source": "Forecourt"}, "lead-0001")
    assert (delivery_id.attrib, delivery_id.text) == ({"source": "Forecourt-Delivery"}, "dlv-7f3a")
    assert prospect.findtext("requestdate") == "2024-05-12T09:15:30-05:00"  # the dealer's zone, with offset
    wanted, trade = prospect.findall("vehicle")
    assert wanted.attrib == {"interest": "buy", "status": "new"}
    assert [(e.tag, e.text) for e in wanted] == [
        ("year", "2024"),
        ("make", "Ford"),
        ("model", "Bronco"),
        ("vin", "1M8GDM9AXKP042788"),
        ("stock", "F24-118"),
        ("trim", "Badlands"),
    ]
    assert trade.attrib == {"interest": "trade-in", "status": "used"}
    assert [e.tag for e in trade] == ["year", "make", "model", "vin", "odometer"]
    contact = prospect.find("customer/contact")
    assert contact is not None
    assert [(e.tag, e.attrib, e.text) for e in contact if e.tag != "address"] == [
        ("name", {"part": "first"}, "María"),
        ("name", {"part": "middle"}, "José"),
        ("name", {"part": "last"}, "González"),
        ("email", {}, "maria.g@example.com"),
        ("phone", {"type": "voice"}, "+15125550142 x204"),
        ("phone", {"type": "cellphone"}, "+15125550143"),
    ]
    assert [(e.tag, e.text) for e in contact.find("address")] == [  # type: ignore[union-attr]
        ("street", "100 Congress Ave, Apt 4"),
        ("city", "Austin"),
        ("regioncode", "TX"),
        ("postalcode", "78701-2201"),
        ("country", "US"),
    ]
    vendor = prospect.find("vendor")
    assert vendor is not None
    assert vendor.find("id").attrib == {"source": "Forecourt-Dealer"}  # type: ignore[union-attr]
    assert (vendor.findtext("id"), vendor.findtext("vendorname")) == ("D-1042", "Hill Country Ford")
    assert vendor.findtext("contact/name[@part='full']") == "Hill Country Ford"
    assert prospect.findtext("provider/name[@part='full']") == "Ford Direct"


def test_routing_reason_and_enrichment_follow_the_customers_own_comments() -> None:
    body = adf(
        FULL, routing_reason="dealer of record", enrichment={"tags": "trade_in, repeat", "score": "82"}
    )
    assert prospect_of(body).findtext("customer/comments") == (
        "Is the Badlands in stock? Price & availability please.\n"
        "\n"
        "Forecourt routing: dealer of record\n"
        "Forecourt score: 82\n"
        "Forecourt tags: trade_in, repeat"
    )


def test_notes_alone_make_the_comments_when_the_customer_wrote_none() -> None:
    body = adf(MINIMAL, routing_reason="territory 78701")
    assert prospect_of(body).findtext("customer/comments") == "Forecourt routing: territory 78701"
    assert delivery_notes(None, {"score": " "}) == []


def test_missing_optional_fields_are_left_out_not_written_empty() -> None:
    body = adf(lead_row(**{**MINIMAL, "first_name": "  ", "vehicle_vin": "", "city": None}))
    root = fromstring(body)
    for element in root.iter():
        assert len(element) or (element.text or "").strip(), f"<{element.tag}> is empty"
    prospect = root[0]
    assert [e.tag for e in prospect.find("vehicle")] == ["year", "make", "model"]  # type: ignore[union-attr]
    assert prospect.find("vehicle").attrib == {}  # type: ignore[union-attr]
    assert [e.tag for e in prospect.find("customer")] == ["contact"]  # type: ignore[union-attr]
    assert [(e.tag, e.attrib) for e in prospect.find("customer/contact")] == [  # type: ignore[union-attr]
        ("name", {"part": "last"}),
        ("email", {}),
    ]
    assert len(prospect.findall("vehicle")) == 1  # no trade-in


def test_vehicle_attributes_outside_the_adf_values_are_left_out() -> None:
    body = adf(lead_row(**{**MINIMAL, "vehicle_interest": "Purchase", "vehicle_status": "USED"}))
    assert prospect_of(body).find("vehicle").attrib == {"status": "used"}  # type: ignore[union-attr]


def test_a_naive_request_time_is_utc_and_no_dealer_zone_means_utc() -> None:
    naive = lead_row(**{**MINIMAL, "requested_at": datetime(2024, 5, 12, 14, 15, 30)})
    body = adf(naive, DealerRef("D-9", "Store"))
    assert prospect_of(body).findtext("requestdate") == "2024-05-12T14:15:30+00:00"


HOSTILE = [
    "<script>alert('x')</script>",
    "Smith & Sons",
    'O\'Brien "The Boss"',
    "]]><!-- --><?php ?>",
    "Zoë 🚗💨",
    "&amp; &#x3C; &lt;",
]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_text_is_escaped_by_the_library_and_read_back_verbatim(hostile: str) -> None:
    lead = lead_row(**{**MINIMAL, "first_name": hostile, "comments": hostile, "vehicle_model": hostile})
    body = adf(lead, DealerRef("D-1", hostile), provider_name=hostile, routing_reason=hostile)
    assert b"<script>" not in body and b"<!--" not in body and b"<?php" not in body
    fields = parsed_fields(body)
    assert fields["customer.contact.name.first"] == hostile
    assert fields["vehicle.model"] == hostile
    assert fields["provider.name"] == hostile
    assert fields["customer.comments"] == f"{hostile}\n\nForecourt routing: {hostile}"
    assert fields["vendor.vendorname"] == fields["vendor.contact.name.full"] == hostile
    assert check_adf(body).valid


def test_characters_xml_cannot_carry_are_dropped_so_the_document_stays_well_formed() -> None:
    lead = lead_row(
        **{**MINIMAL, "comments": "line\x00one\x0b\x1f\ufffe\ud800 done", "last_name": "Ba\x08ker"}
    )
    fields = parsed_fields(adf(lead))
    assert fields["customer.comments"] == "lineone done"
    assert fields["customer.contact.name.last"] == "Baker"


XML_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Cn")), max_size=40)


@settings(max_examples=60, deadline=None)
@given(first=XML_TEXT, comments=XML_TEXT)
def test_any_text_round_trips_through_our_reader(first: str, comments: str) -> None:
    lead = lead_row(**{**MINIMAL, "first_name": first, "comments": comments})
    fields = parsed_fields(adf(lead))
    assert fields.get("customer.contact.name.first") == (first.strip() or None)
    assert fields.get("customer.comments") == (comments.strip() or None)


def test_a_delivery_round_trips_through_our_adf_feed_to_the_same_lead() -> None:
    body = adf(FULL, provider_name="Ford Direct")
    assert check_adf(body).valid
    lead = curated_lead(body)
    assert {name: lead[name] for name in DELIVERED_COLUMNS} == {
        name: FULL[name] for name in DELIVERED_COLUMNS
    }
    assert lead["source_key"] == "lead-0001"  # the lead id is the prospect's first id
    assert not lead["field_issues"]  # nothing was nulled as unusable
    assert json.loads(lead["extras"])["id[2]"] == "dlv-7f3a"


def test_the_minimal_lead_round_trips_and_meets_the_spec_minimum() -> None:
    body = adf(MINIMAL)
    check = check_adf(body)
    assert (check.reason, check.delivery_id, check.lead_id) == (None, "dlv-7f3a", "lead-0001")
    lead = curated_lead(body)
    for name in ("requested_at", "vehicle_year", "vehicle_make", "vehicle_model", "last_name", "email"):
        assert lead[name] == MINIMAL[name]
    assert lead["first_name"] is None and lead["phone"] is None and lead["street"] is None


def test_a_lead_without_the_adf_minimum_is_refused_with_the_missing_columns() -> None:
    lead = lead_row(requested_at=REQUESTED, vehicle_make="Ford", vehicle_model=" ", first_name="Ann")
    with pytest.raises(IncompleteLead) as caught:
        adf(lead)
    assert caught.value.missing == [
        "vehicle_year",
        "vehicle_model",
        "email|phone|mobile_phone|alternate_phone",
    ]
    assert caught.value.lead_id == "lead-0001"
    with pytest.raises(IncompleteLead):
        to_json_payload(lead, DEALER, delivery_id="d", lead_id="l", provider_name="p", routing_reason=None)


def json_payload(lead: dict[str, Any], **options: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "delivery_id": "dlv-7f3a",
        "lead_id": "lead-0001",
        "provider_name": "Ford Direct",
        "routing_reason": "dealer_of_record",
    }
    body = to_json_payload(lead, DEALER, **{**arguments, **options})
    assert body == body.decode("utf-8").encode("utf-8")
    loaded: dict[str, Any] = json.loads(body)
    return loaded


def test_the_json_body_has_a_stable_shape_and_key_order() -> None:
    payload = json_payload(FULL, enrichment={"tags": "trade_in", "score": "82"})
    assert list(payload) == [
        "version",
        "lead_id",
        "delivery_id",
        "dealer_id",
        "requested_at",
        "provider",
        "routing_reason",
        "customer",
        "vehicle",
        "trade_in",
        "enrichment",
    ]
    assert payload["version"] == 1
    assert (payload["lead_id"], payload["delivery_id"], payload["dealer_id"]) == (
        "lead-0001",
        "dlv-7f3a",
        "D-1042",
    )
    assert payload["requested_at"] == "2024-05-12T14:15:30+00:00"
    assert (payload["provider"], payload["routing_reason"]) == ("Ford Direct", "dealer_of_record")
    assert list(payload["customer"]) == [
        "first_name",
        "middle_name",
        "last_name",
        "email",
        "phone",
        "phone_ext",
        "mobile_phone",
        "alternate_phone",
        "street",
        "city",
        "state",
        "zip",
        "zip4",
        "country",
        "comments",
        "do_not_call",
        "do_not_email",
        "do_not_text",
    ]
    assert payload["customer"]["first_name"] == "María"
    assert payload["customer"]["phone"] == "+15125550142"
    assert payload["customer"]["alternate_phone"] is None
    assert payload["vehicle"] == {
        "interest": "buy",
        "status": "new",
        "year": 2024,
        "make": "Ford",
        "model": "Bronco",
        "trim": "Badlands",
        "vin": "1M8GDM9AXKP042788",
        "stock": "F24-118",
    }
    assert payload["trade_in"] == {
        "year": 2015,
        "make": "Honda",
        "model": "Civic",
        "vin": "1HGCR2F3XFA027534",
        "odometer": 90211,
    }
    assert list(payload["enrichment"].items()) == [("score", "82"), ("tags", "trade_in")]


def test_the_json_body_keeps_every_key_with_null_for_what_the_lead_lacks() -> None:
    payload = json_payload(lead_row(**{**MINIMAL, "do_not_call": True}), routing_reason=None)
    assert payload["routing_reason"] is None
    assert payload["trade_in"] is None
    assert payload["enrichment"] == {}
    assert payload["customer"]["first_name"] is None
    assert payload["customer"]["do_not_call"] is True
    assert payload["vehicle"]["vin"] is None


def test_the_json_body_carries_hostile_text_as_data() -> None:
    hostile = "<script>\"x\" & 'y'</script> 🚗"
    payload = json_payload(lead_row(**{**MINIMAL, "first_name": hostile}), routing_reason=hostile)
    assert payload["customer"]["first_name"] == hostile
    assert payload["routing_reason"] == hostile
