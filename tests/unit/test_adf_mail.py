"""ADF by e-mail: the whole text/plain body is the document, the subject names the dealer."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import cast

import pytest
from forecourt.adf_mail import adf_email

ADF = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<?adf version="1.0"?>\n'
    "<adf><prospect><customer><contact><name>Zoë 🚗</name></contact></customer></prospect></adf>\n"
).encode()


def sent(message: EmailMessage) -> EmailMessage:
    """The message as a receiver parses it after transmission."""
    return cast(EmailMessage, message_from_bytes(message.as_bytes(), policy=policy.default))


def test_the_whole_plain_text_body_is_the_adf_document_in_utf8() -> None:
    message = adf_email(
        ADF, to="leads@hcford.example", sender="leads@forecourt.example", dealer_name="Hill Country Ford"
    )
    received = sent(message)
    assert not received.is_multipart()
    assert received.get_content_type() == "text/plain"
    assert received.get_content_charset() == "utf-8"
    assert received.get_payload(decode=True) == ADF
    assert received["Content-Transfer-Encoding"] == "8bit"  # readable even without MIME decoding
    assert (received["To"], received["From"]) == ("leads@hcford.example", "leads@forecourt.example")


def test_the_subject_names_the_dealer_on_one_line() -> None:
    message = adf_email(
        ADF, to="a@b.example", sender="c@d.example", dealer_name="Côté\r\nBcc: victim@example.com"
    )
    assert message["Subject"] == "New lead for Côté Bcc: victim@example.com (ADF)"
    assert sent(message)["Bcc"] is None


def test_a_line_longer_than_smtp_allows_is_sent_quoted_printable_and_decodes_to_the_same_document() -> None:
    long_adf = ADF.replace(b"Zo\xc3\xab", b"x" * 1200)
    received = sent(adf_email(long_adf, to="a@b.example", sender="c@d.example", dealer_name="D"))
    assert received["Content-Transfer-Encoding"] == "quoted-printable"
    assert received.get_payload(decode=True) == long_adf


def test_addresses_with_line_breaks_are_refused() -> None:
    with pytest.raises(ValueError):
        adf_email(ADF, to="a@b.example\r\nBcc: x@y.example", sender="c@d.example", dealer_name="D")
