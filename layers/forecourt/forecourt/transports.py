"""The edges a lead leaves through (``delivery.deliver`` sends through a ``Transport``): HTTP POST to
a dealer endpoint, ADF e-mail by SMTP (locally) or SES (on AWS), a file in the lake bucket, and the
dealer's webhook secret.

HTTP is the standard library's ``http.client``, not a third-party client: one POST with separate
connect and read timeouts, no redirects followed (a 3xx is the dealer's misconfiguration, not
something to chase with a lead in the body), TLS verified with the system's CA bundle, and the
answer's body read (bounded) but never kept — it could echo the lead. Errors become ``SendFailed``
with a code from a closed set and no personal data: ``timeout``, ``connection_failed``,
``tls_error``, ``bad_endpoint``, ``smtp_<code>``, ``ses_<error code>``, ``s3_<error code>``,
``no_webhook_secret``, ``secret_unavailable``.
"""

from __future__ import annotations

import http.client
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from functools import cache
from typing import Protocol
from urllib.parse import urlsplit

from forecourt.config import Settings, settings
from forecourt.retry_policy import Verdict, smtp_verdict

MAX_ANSWER_BYTES = 64 * 1024
"""Most of an answer's body read before the connection is closed (it is not kept)."""
SES_PERMANENT_ERRORS = frozenset(
    {"MessageRejected", "MailFromDomainNotVerifiedException", "ConfigurationSetDoesNotExistException"}
)
"""SES refusals that another attempt of the same message will not change."""


@dataclass(frozen=True)
class HttpAnswer:
    """A dealer endpoint's answer: status and the raw ``Retry-After`` header (None when absent)."""

    status: int
    retry_after: str | None = None


class SendFailed(Exception):
    """A send that got no acknowledgement: ``code`` (closed set, e.g. ``timeout``, ``smtp_451``),
    ``detail`` (no personal data, no secrets), whether trying again may help, and the HTTP status or
    SMTP reply code when there was one."""

    def __init__(self, code: str, detail: str, *, retryable: bool, status: int | None = None) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.retryable = retryable
        self.status = status


class Transport(Protocol):
    """The edges ``deliver`` sends through; each raises SendFailed when it gets no acknowledgement
    (except ``post``, which returns every HTTP answer for ``deliver`` to judge). ``time_left`` bounds
    the connect and read timeouts."""

    @property
    def mail_from(self) -> str:
        """The From address of ADF e-mail."""
        ...

    def post(self, url: str, body: bytes, headers: Mapping[str, str], time_left: float) -> HttpAnswer:
        """POST ``body``; the answer, whatever its status."""
        ...

    def send_mail(self, message: EmailMessage, time_left: float) -> int:
        """Send an e-mail; the reply code it was accepted with."""
        ...

    def put_file(self, key: str, body: bytes, content_type: str) -> None:
        """Write an object of the lake bucket."""
        ...

    def webhook_secrets(self, dealer_id: str) -> list[str]:
        """Our secrets for the dealer's JSON webhook, current first (two during a rotation)."""
        ...


@cache
def _tls() -> ssl.SSLContext:
    """Certificate and host name verification on, the system's CA bundle; made once per process (a
    warm Lambda does not load the bundle again for every delivery)."""
    return ssl.create_default_context()


def _bounded(limit: float, time_left: float) -> float:
    return max(0.05, min(limit, time_left))


@dataclass
class Outbound:
    """The real transport: stdlib HTTP and SMTP, SES and S3 through ``forecourt.aws``, secrets through
    ``forecourt.dealer_secrets``. ``Outbound.from_settings()`` reads the settings."""

    connect_timeout: float = 3.0
    read_timeout: float = 10.0
    mail_transport: str = "smtp"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    mail_from: str = "leads@forecourt.example"
    lake_bucket: str = "forecourt-lake"

    @classmethod
    def from_settings(cls, conf: Settings | None = None) -> Outbound:
        """The transport the settings describe (timeouts, mail transport, SMTP server, bucket)."""
        conf = conf or settings()
        return cls(
            connect_timeout=conf.delivery_connect_timeout,
            read_timeout=conf.delivery_read_timeout,
            mail_transport=conf.mail_transport,
            smtp_host=conf.smtp_host,
            smtp_port=conf.smtp_port,
            mail_from=conf.mail_from,
            lake_bucket=conf.lake_bucket,
        )

    # --- HTTP ---------------------------------------------------------------------------------------

    def post(self, url: str, body: bytes, headers: Mapping[str, str], time_left: float) -> HttpAnswer:
        """POST ``body`` to ``url`` (http or https); raises SendFailed when no answer came back."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SendFailed("bad_endpoint", "the endpoint is not an http(s) URL", retryable=False)
        connect, read = _bounded(self.connect_timeout, time_left), _bounded(self.read_timeout, time_left)
        connection: http.client.HTTPConnection = (
            http.client.HTTPSConnection(parts.hostname, parts.port, timeout=connect, context=_tls())
            if parts.scheme == "https"
            else http.client.HTTPConnection(parts.hostname, parts.port, timeout=connect)
        )
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        phase = "connect"
        try:
            connection.connect()
            phase = "answer"
            if connection.sock is not None:
                connection.sock.settimeout(read)
            connection.request("POST", path, body=body, headers=dict(headers))
            response = connection.getresponse()
            response.read(MAX_ANSWER_BYTES)
            return HttpAnswer(response.status, response.getheader("Retry-After"))
        except TimeoutError as exc:
            waited = connect if phase == "connect" else read
            raise SendFailed("timeout", f"no {phase} within {waited:g} s", retryable=True) from exc
        except ssl.SSLError as exc:
            raise SendFailed("tls_error", f"TLS failed ({type(exc).__name__})", retryable=True) from exc
        except (OSError, http.client.HTTPException) as exc:
            detail = f"{phase} failed ({type(exc).__name__})"
            raise SendFailed("connection_failed", detail, retryable=True) from exc
        finally:
            connection.close()

    # --- e-mail -------------------------------------------------------------------------------------

    def send_mail(self, message: EmailMessage, time_left: float) -> int:
        """Send ``message`` by SES or SMTP (``mail_transport``); the reply code (250 from SES)."""
        if self.mail_transport == "ses":
            return self._send_ses(message)
        return self._send_smtp(message, time_left)

    def _send_smtp(self, message: EmailMessage, time_left: float) -> int:
        connect, read = _bounded(self.connect_timeout, time_left), _bounded(self.read_timeout, time_left)
        try:
            with smtplib.SMTP(self.smtp_host, self.smtp_port, timeout=connect) as smtp:
                if smtp.sock is not None:
                    smtp.sock.settimeout(read)
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            code = min((answer[0] for answer in exc.recipients.values()), default=550)
            raise _smtp_failure(code, "the recipient was refused") from exc
        except smtplib.SMTPResponseException as exc:
            raise _smtp_failure(exc.smtp_code, "the server refused the message") from exc
        except TimeoutError as exc:
            raise SendFailed("timeout", "the SMTP server did not answer in time", retryable=True) from exc
        except (OSError, smtplib.SMTPException) as exc:
            detail = f"SMTP session failed ({type(exc).__name__})"
            raise SendFailed("connection_failed", detail, retryable=True) from exc
        return 250

    def _send_ses(self, message: EmailMessage) -> int:
        from botocore.exceptions import BotoCoreError, ClientError

        from forecourt import aws

        try:
            aws.client("ses").send_raw_email(RawMessage={"Data": message.as_bytes()})
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", "Unknown"))
            retryable = code not in SES_PERMANENT_ERRORS
            raise SendFailed(f"ses_{code}", "SES did not take the message", retryable=retryable) from exc
        except BotoCoreError as exc:
            detail = f"SES unreachable ({type(exc).__name__})"
            raise SendFailed("connection_failed", detail, retryable=True) from exc
        return 250

    # --- files and secrets --------------------------------------------------------------------------

    def put_file(self, key: str, body: bytes, content_type: str) -> None:
        """Write ``key`` in the lake bucket (an overwrite by a retry writes the same bytes)."""
        from botocore.exceptions import BotoCoreError, ClientError

        from forecourt import aws

        try:
            aws.client("s3").put_object(Bucket=self.lake_bucket, Key=key, Body=body, ContentType=content_type)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", "Unknown"))
            raise SendFailed(f"s3_{code}", "the outbound file was not written", retryable=True) from exc
        except BotoCoreError as exc:
            detail = f"S3 unreachable ({type(exc).__name__})"
            raise SendFailed("connection_failed", detail, retryable=True) from exc

    def webhook_secrets(self, dealer_id: str) -> list[str]:
        """Our signing secrets for the dealer (``dealer_secrets.secrets_for``)."""
        from botocore.exceptions import BotoCoreError, ClientError

        from forecourt import dealer_secrets

        try:
            return dealer_secrets.secrets_for(dealer_id)
        except dealer_secrets.DealerSecretMissing as exc:
            detail = "the dealer has no webhook secret (forecourt dealers update --delivery json_webhook)"
            raise SendFailed("no_webhook_secret", detail, retryable=False) from exc
        except (ClientError, BotoCoreError) as exc:
            detail = f"Secrets Manager did not answer ({type(exc).__name__})"
            raise SendFailed("secret_unavailable", detail, retryable=True) from exc


def _smtp_failure(code: int, what: str) -> SendFailed:
    retryable = smtp_verdict(code) is Verdict.RETRY
    return SendFailed(f"smtp_{code}", f"{what} ({code})", retryable=retryable, status=code)
