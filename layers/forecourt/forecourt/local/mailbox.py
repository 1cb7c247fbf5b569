"""A local SMTP lead-intake mailbox for tests and the demo (aiosmtpd on 127.0.0.1, a free port).

Each message is checked as a dealer CRM's intake address reads it: a single ``text/plain`` part
whose whole body is an ADF document meeting the ADF 1.0 minimum (``receipts.check_adf``). A valid
message is answered ``250``; an invalid one ``554 5.6.0`` with the reason, so the sender sees it.
A message is recorded once per recipient (each address is one dealer's inbox), with duplicate
detection by the ADF's delivery id per recipient, as ``DealerCrm`` does per dealer.

Given a ``directory``, every message taken is also kept there as ``<recipient>/<time>-<n>.eml`` (the
local stack keeps its dealers' inboxes under its state directory, to open and to count:
``stored_receipts``).
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any, cast

from aiosmtpd.controller import Controller

from forecourt.local.receipts import AdfCheck, DeliveryLedger, check_adf

_MAX_REPLY_CHARS = 400


@dataclass(frozen=True)
class MailReceipt:
    """One message as one recipient's inbox received it."""

    to: str
    sender: str
    subject: str
    body: str
    delivery_id: str | None
    lead_id: str | None
    received_at: datetime
    valid: bool
    reason: str | None
    duplicate: bool


def _read(content: bytes) -> tuple[str, str, AdfCheck]:
    """Subject, text body (line breaks as ``\\n``) and the ADF check of a raw message."""
    message = cast(EmailMessage, message_from_bytes(content, policy=policy.default))
    subject = str(message.get("Subject", ""))
    if message.is_multipart() or message.get_content_type() != "text/plain":
        reason = f"the message is {message.get_content_type()}: the ADF must be the whole text/plain body"
        return subject, "", AdfCheck(reason)
    raw = message.get_payload(decode=True)
    body = raw if isinstance(raw, bytes) else b""
    text = str(message.get_content()).replace("\r\n", "\n")
    return subject, text, check_adf(body.strip())


def _smtp_text(reason: str) -> str:
    """``reason`` fit for an SMTP reply line: ASCII, one line, bounded."""
    flat = " ".join(reason.split()).encode("ascii", "replace").decode("ascii")
    return flat[:_MAX_REPLY_CHARS]


class _LoopbackController(Controller):
    """aiosmtpd's threaded controller, able to listen on port 0: its start-up self-check connects to
    ``self.port``, so the port the OS chose is read back first."""

    def _trigger_server(self) -> None:
        server = cast(asyncio.Server | None, self.server)
        if server is not None and server.sockets:
            self.port = server.sockets[0].getsockname()[1]
        super()._trigger_server()


class _IntakeHandler:
    def __init__(self, mailbox: Mailbox) -> None:
        self._mailbox = mailbox

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """aiosmtpd hook: one complete message."""
        content = envelope.original_content or envelope.content
        data = content if isinstance(content, bytes) else str(content).encode("utf-8")
        return self._mailbox._take(str(envelope.mail_from), [str(r) for r in envelope.rcpt_tos], data)


class Mailbox:
    """The local SMTP receiver; ``with Mailbox() as box: smtplib.SMTP(box.host, box.port)…``."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory
        self._sequence = itertools.count(1)
        self._lock = threading.Lock()
        self._receipts: list[MailReceipt] = []
        self._ledger = DeliveryLedger()
        self._controller: _LoopbackController | None = None

    def start(self) -> Mailbox:
        """Listen on 127.0.0.1 on a free port, in a background thread. Raises RuntimeError when
        already started."""
        if self._controller is not None:
            raise RuntimeError("the mailbox is already running")
        controller = _LoopbackController(
            _IntakeHandler(self),
            hostname="127.0.0.1",
            port=0,
            server_hostname="localhost",
            enable_SMTPUTF8=True,
        )
        controller.start()
        self._controller = controller
        return self

    def stop(self) -> None:
        """Stop listening and release the port."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> Mailbox:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def host(self) -> str:
        """The address the mailbox listens on (127.0.0.1)."""
        return "127.0.0.1"

    @property
    def port(self) -> int:
        """The port the mailbox listens on. Raises RuntimeError when not running."""
        if self._controller is None:
            raise RuntimeError("the mailbox is not running: call start()")
        return int(self._controller.port)

    def received(self, to: str | None = None) -> list[MailReceipt]:
        """Receipts in arrival order (of one recipient address, or all)."""
        wanted = to.lower() if to is not None else None
        with self._lock:
            return [r for r in self._receipts if wanted is None or r.to == wanted]

    def unique_deliveries(self, to: str | None = None) -> set[str]:
        """Distinct delivery ids accepted (at one recipient address, or at any)."""
        return self._ledger.delivery_ids(to.lower() if to is not None else None)

    def _take(self, sender: str, recipients: list[str], content: bytes) -> str:
        """Check and record one message; the SMTP reply."""
        subject, body, check = _read(content)
        now = datetime.now(UTC)
        for recipient in (address.lower() for address in recipients):
            duplicate = check.valid and not self._ledger.first_receipt(recipient, check.delivery_id)
            receipt = MailReceipt(
                recipient,
                sender,
                subject,
                body,
                check.delivery_id,
                check.lead_id,
                now,
                check.valid,
                check.reason,
                duplicate,
            )
            with self._lock:
                self._receipts.append(receipt)
            if self.directory is not None:
                inbox = self.directory / recipient
                inbox.mkdir(parents=True, exist_ok=True)
                stamp = now.strftime("%Y%m%dT%H%M%S.%f")
                (inbox / f"{stamp}-{next(self._sequence)}.eml").write_bytes(content)
        if check.reason is not None:
            return f"554 5.6.0 ADF rejected: {_smtp_text(check.reason)}"
        return "250 OK"


def stored_receipts(directory: Path) -> list[MailReceipt]:
    """The messages a mailbox kept in ``directory`` (see ``Mailbox``), in arrival order per inbox,
    read and checked again; ``duplicate`` marks a delivery id seen before in the same inbox."""
    receipts = []
    for inbox in sorted(p for p in directory.glob("*") if p.is_dir()):
        seen: set[str] = set()
        for path in sorted(inbox.glob("*.eml")):
            subject, body, check = _read(path.read_bytes())
            at = datetime.strptime(path.name.split("-")[0], "%Y%m%dT%H%M%S.%f").replace(tzinfo=UTC)
            duplicate = check.delivery_id in seen
            if check.delivery_id:
                seen.add(check.delivery_id)
            receipts.append(
                MailReceipt(
                    inbox.name,
                    "",
                    subject,
                    body,
                    check.delivery_id,
                    check.lead_id,
                    at,
                    check.valid,
                    check.reason,
                    duplicate,
                )
            )
    return receipts
