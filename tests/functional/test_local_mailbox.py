"""The local SMTP lead-intake mailbox: ADF e-mails sent with smtplib over loopback."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest
from forecourt.adf_mail import adf_email
from forecourt.adf_out import DealerRef, to_adf
from forecourt.local.mailbox import Mailbox

INTAKE = "leads@hcford.example"
SENDER = "leads@forecourt.example"
DEALER = DealerRef("D-1042", "Hill Country Ford")
LEAD = {
    "requested_at": datetime(2024, 5, 12, 14, 15, tzinfo=UTC),
    "vehicle_year": 2024,
    "vehicle_make": "Ford",
    "vehicle_model": "Bronco",
    "first_name": "Zoë",
    "last_name": "O'Brien <script>",
    "phone": "+15125550142",
}


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with Mailbox() as box:
        yield box


def adf(delivery_id: str = "dlv-1", comments: str | None = None) -> bytes:
    lead = {**LEAD, "comments": comments}
    return to_adf(
        lead,
        DEALER,
        delivery_id=delivery_id,
        lead_id="lead-1",
        provider_name="Ford Direct",
        routing_reason="territory",
    )


def send(box: Mailbox, message: EmailMessage) -> None:
    with smtplib.SMTP(box.host, box.port, timeout=10) as client:
        client.send_message(message)


def test_an_adf_email_is_accepted_and_recorded_with_its_subject_and_body(mailbox: Mailbox) -> None:
    send(mailbox, adf_email(adf(), to=INTAKE, sender=SENDER, dealer_name=DEALER.name))
    [receipt] = mailbox.received()
    assert (receipt.to, receipt.sender) == (INTAKE, SENDER)
    assert receipt.subject == "New lead for Hill Country Ford (ADF)"
    assert receipt.body == adf().decode("utf-8")
    assert (receipt.valid, receipt.reason, receipt.duplicate) == (True, None, False)
    assert (receipt.delivery_id, receipt.lead_id) == ("dlv-1", "lead-1")
    assert mailbox.unique_deliveries() == {"dlv-1"}


def test_the_same_delivery_mailed_again_is_recorded_as_a_duplicate(mailbox: Mailbox) -> None:
    for delivery in ("dlv-1", "dlv-1", "dlv-2"):
        send(mailbox, adf_email(adf(delivery), to=INTAKE, sender=SENDER, dealer_name=DEALER.name))
    assert [(r.delivery_id, r.duplicate) for r in mailbox.received(INTAKE)] == [
        ("dlv-1", False),
        ("dlv-1", True),
        ("dlv-2", False),
    ]
    assert mailbox.unique_deliveries(INTAKE) == {"dlv-1", "dlv-2"}


def test_a_long_comment_sent_quoted_printable_is_decoded_and_valid(mailbox: Mailbox) -> None:
    send(mailbox, adf_email(adf(comments="é" * 1000), to=INTAKE, sender=SENDER, dealer_name=DEALER.name))
    [receipt] = mailbox.received()
    assert receipt.valid and "é" * 1000 in receipt.body


def test_each_recipient_inbox_gets_its_own_receipt(mailbox: Mailbox) -> None:
    message = adf_email(adf(), to=f"{INTAKE}, BDC@hcford.example", sender=SENDER, dealer_name=DEALER.name)
    send(mailbox, message)
    assert sorted(r.to for r in mailbox.received()) == ["bdc@hcford.example", INTAKE]
    assert [r.duplicate for r in mailbox.received("bdc@hcford.example")] == [False]


def test_an_email_whose_body_misses_the_adf_minimum_is_refused_with_the_reason(mailbox: Mailbox) -> None:
    broken = adf().replace(b"<make>Ford</make>", b"")
    with pytest.raises(smtplib.SMTPDataError) as caught:
        send(mailbox, adf_email(broken, to=INTAKE, sender=SENDER, dealer_name=DEALER.name))
    assert caught.value.smtp_code == 554
    assert caught.value.smtp_error == b"5.6.0 ADF rejected: <vehicle> has no <make>"
    [receipt] = mailbox.received()
    assert (receipt.valid, receipt.reason) == (False, "<vehicle> has no <make>")
    assert mailbox.unique_deliveries() == set()


def test_adf_as_an_attachment_or_with_an_html_alternative_is_refused(mailbox: Mailbox) -> None:
    message = EmailMessage()
    message["Subject"], message["From"], message["To"] = "Lead", SENDER, INTAKE
    message.set_content("Please find the lead attached.")
    message.add_attachment(adf(), maintype="application", subtype="xml", filename="lead.xml")
    with pytest.raises(smtplib.SMTPDataError):
        send(mailbox, message)
    [receipt] = mailbox.received()
    assert receipt.reason == "the message is multipart/mixed: the ADF must be the whole text/plain body"


def test_text_around_the_document_is_not_adf(mailbox: Mailbox) -> None:
    message = adf_email(b"New lead below:\n" + adf(), to=INTAKE, sender=SENDER, dealer_name=DEALER.name)
    with pytest.raises(smtplib.SMTPDataError):
        send(mailbox, message)
    assert mailbox.received()[0].reason is not None
    assert mailbox.received()[0].reason.startswith("not well-formed XML")  # type: ignore[union-attr]


def test_the_port_is_only_known_while_running() -> None:
    box = Mailbox()
    with pytest.raises(RuntimeError):
        _ = box.port
    box.start()
    assert box.port > 0
    box.stop()
    with pytest.raises(RuntimeError):
        _ = box.port
