"""ADF by e-mail: the message a dealer CRM's lead-intake address takes.

Dealer CRMs read the **whole plain-text body** as the ADF document, and some route on the dealer's
name in the subject (DOMAIN.md). So the message is a single ``text/plain; charset="utf-8"`` part,
no HTML alternative and no attachment. The body goes as 8bit (lines ≤ 998 octets, RFC 5322), which
even a CRM that reads the raw body without MIME decoding sees as the document itself; only a
document with a longer line (a long comment) is sent quoted-printable. ``Date`` and ``Message-ID``
are left to the transport (SES and smtplib's server add them), so this stays pure.
"""

from __future__ import annotations

from email.message import EmailMessage

MAX_LINE_OCTETS = 998


def lead_subject(dealer_name: str) -> str:
    """The subject line: names the dealer (whitespace, line breaks included, collapsed)."""
    return f"New lead for {' '.join(dealer_name.split())} (ADF)"


def adf_email(adf: bytes, *, to: str, sender: str, dealer_name: str) -> EmailMessage:
    """An e-mail whose whole ``text/plain`` body is the ADF document ``adf`` (UTF-8).

    Raises UnicodeDecodeError when ``adf`` is not UTF-8, ValueError when ``to`` or ``sender``
    contain line breaks (header injection).
    """
    text = adf.decode("utf-8")
    message = EmailMessage()
    message["Subject"] = lead_subject(dealer_name)
    message["From"] = sender
    message["To"] = to
    longest = max((len(line.encode("utf-8")) for line in text.splitlines()), default=0)
    cte = "8bit" if longest <= MAX_LINE_OCTETS else "quoted-printable"
    message.set_content(text, subtype="plain", charset="utf-8", cte=cte)
    return message
