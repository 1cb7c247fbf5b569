"""``delivery.deliver`` with a scripted transport and a fake clock: what is sent for each method,
how answers are judged, how long it waits, and the records it leaves."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from forecourt import signing
from forecourt.delivery import DeliveryMessage, Pacing, deliver
from forecourt.local.receipts import check_adf
from forecourt.registry import Dealer, Delivery
from forecourt.retry_policy import RetryPolicy
from forecourt.transports import HttpAnswer, SendFailed

RECEIVED = datetime(2026, 11, 2, 15, 0, 0, tzinfo=UTC)
NOW = RECEIVED + timedelta(seconds=2)
LEAD = {
    "record_id": "lead-1",
    "received_at": "2026-11-02T15:00:00+00:00",
    "requested_at": "2026-11-02T14:58:00",
    "provider_name": "Ford Direct",
    "first_name": "Ann",
    "last_name": "Lee",
    "email": "ann.lee@example.com",
    "vehicle_year": 2026,
    "vehicle_make": "Chevrolet",
    "vehicle_model": "Equinox",
}


def message(**changes: Any) -> DeliveryMessage:
    body = {
        "delivery_id": "dlv-1",
        "lead_id": "lead-1",
        "dealer_id": "D100",
        "action": "new",
        "duplicate_of": None,
        "routing": {
            "rule": "territory",
            "reason": "zip 60601 is in D100's territory",
            "distance_miles": None,
        },
        "received_at": RECEIVED.isoformat(),
        "routed_at": (RECEIVED + timedelta(seconds=1)).isoformat(),
        "lead": LEAD,
    }
    return DeliveryMessage.model_validate(body | changes)


def dealer(
    method: str = "adf_http", endpoint: str | None = "https://crm.example/adf", **changes: Any
) -> Dealer:
    return Dealer(
        dealer_id="D100",
        name="Lakeside Chevrolet",
        timezone="America/Chicago",
        delivery=Delivery(method=method, endpoint=endpoint),  # type: ignore[arg-type]
        **changes,
    )


@dataclass
class Clock:
    """A monotonic clock that only moves when slept on (or when an answer takes time)."""

    now: float = 100.0
    slept: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@dataclass
class Scripted:
    """A transport answering from a script: an int is an HTTP status, (status, retry-after) one with
    the header, a SendFailed is raised; each answer takes ``takes`` seconds on the clock."""

    clock: Clock
    script: list[Any] = field(default_factory=list)
    takes: float = 0.2
    secrets: list[str] = field(default_factory=lambda: ["whsec-current"])
    mail_from: str = "leads@forecourt.example"
    posts: list[tuple[str, bytes, dict[str, str], float]] = field(default_factory=list)
    mails: list[EmailMessage] = field(default_factory=list)
    files: list[tuple[str, bytes, str]] = field(default_factory=list)

    def _next(self) -> Any:
        self.clock.now += self.takes
        answer = self.script.pop(0) if self.script else 200
        if isinstance(answer, SendFailed):
            raise answer
        return answer

    def post(self, url: str, body: bytes, headers: Mapping[str, str], time_left: float) -> HttpAnswer:
        self.posts.append((url, body, dict(headers), time_left))
        answer = self._next()
        return HttpAnswer(*answer) if isinstance(answer, tuple) else HttpAnswer(answer)

    def send_mail(self, mail: EmailMessage, time_left: float) -> int:
        self.mails.append(mail)
        self._next()
        return 250

    def put_file(self, key: str, body: bytes, content_type: str) -> None:
        self.files.append((key, body, content_type))
        self._next()

    def webhook_secrets(self, dealer_id: str) -> list[str]:
        return list(self.secrets)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def pacing(clock: Clock, budget: float = 50.0, draw: float = 0.5) -> Pacing:
    return Pacing(budget_seconds=budget, clock=clock, sleep=clock.sleep, random=lambda: draw)


def run(clock: Clock, transport: Scripted, the_dealer: Dealer | None = None, **options: Any) -> Any:
    budget = options.pop("budget", 50.0)
    return deliver(
        options.pop("the_message", message()),
        the_dealer if the_dealer is not None else dealer(),
        now=NOW,
        transport=transport,
        policy=options.pop("policy", RetryPolicy()),
        pacing=pacing(clock, budget),
        **options,
    )


# --- what is sent ------------------------------------------------------------------------------------


def test_adf_is_posted_as_xml_with_the_delivery_id_as_idempotency_key(clock: Clock) -> None:
    transport = Scripted(clock)
    outcome = run(clock, transport)
    [(url, body, headers, _)] = transport.posts
    assert url == "https://crm.example/adf"
    assert headers["Idempotency-Key"] == "dlv-1"
    assert headers["Content-Type"] == "application/xml; charset=utf-8"
    check = check_adf(body)
    assert (check.valid, check.delivery_id, check.lead_id) == (True, "dlv-1", "lead-1")
    assert b"<vendorname>Lakeside Chevrolet</vendorname>" in body
    assert b"<requestdate>2026-11-02T08:58:00-06:00</requestdate>" in body  # dealer's zone
    assert b"Forecourt routing: zip 60601 is in D100's territory" in body
    assert b'<name part="full">Ford Direct</name>' in body  # the lead's provider
    assert (outcome.status, outcome.method, outcome.sends) == ("delivered", "adf_http", 1)


def test_json_is_signed_with_every_valid_secret_afresh_at_each_attempt(clock: Clock) -> None:
    transport = Scripted(clock, [503, 200], secrets=["whsec-new", "whsec-old"])
    run(clock, transport, dealer("json_webhook", "https://crm.example/hook"))
    first, second = transport.posts
    body = first[1]
    assert json.loads(body)["delivery_id"] == "dlv-1"
    assert first[2]["Content-Type"] == "application/json" and first[2]["Idempotency-Key"] == "dlv-1"
    for _, _, headers, _ in (first, second):
        signature = headers["Forecourt-Signature"]
        assert signature.count("v1=") == 2
        for secret in ("whsec-new", "whsec-old"):  # a CRM on either secret verifies
            signing.verify(signature, body, [secret], now=int(signature.split(",")[0][2:]))
    assert first[2]["Forecourt-Signature"].split(",")[0] == f"t={int(NOW.timestamp())}"
    assert second[2]["Forecourt-Signature"].split(",")[0] == f"t={int(NOW.timestamp() + 0.2 + 0.25)}"


def test_email_carries_the_adf_as_its_body_and_a_stable_message_id(clock: Clock) -> None:
    transport = Scripted(clock)
    outcome = run(clock, transport, dealer("adf_email", "leads@lakeside.example"))
    [mail] = transport.mails
    assert (mail["To"], mail["From"]) == ("leads@lakeside.example", "leads@forecourt.example")
    assert mail["Subject"] == "New lead for Lakeside Chevrolet (ADF)"
    assert mail["Message-ID"] == "<dlv-1@forecourt.example>"
    assert check_adf(mail.get_content().encode()).delivery_id == "dlv-1"
    assert outcome.attempts[-1].http_status == 250 and outcome.status == "delivered"  # the SMTP reply


def test_a_file_lands_in_the_dealers_outbound_prefix_under_the_day_received(clock: Clock) -> None:
    transport = Scripted(clock)
    run(clock, transport, dealer("file", None))
    [(key, body, content_type)] = transport.files
    assert key == "outbound/dealer=D100/dt=2026-11-02/dlv-1.xml"
    assert content_type == "application/xml" and check_adf(body).valid


def test_an_update_names_the_lead_it_repeats(clock: Clock) -> None:
    transport = Scripted(clock)
    run(clock, transport, the_message=message(action="update", duplicate_of="lead-0"))
    assert b"Forecourt update_of: lead-0" in transport.posts[0][1]


# --- retries ------------------------------------------------------------------------------------------


def test_two_server_errors_then_success_leave_three_records(clock: Clock) -> None:
    transport = Scripted(clock, [500, 500, 200])
    outcome = run(clock, transport)
    assert [(r.attempt, r.status, r.http_status) for r in outcome.attempts] == [
        (1, "retry", 500),
        (2, "retry", 500),
        (3, "delivered", 200),
    ]
    assert clock.slept == [0.25, 0.5]  # half of the 0.5 s and 1 s ceilings (random() = 0.5)
    assert outcome.attempts[0].error == "http_500: the endpoint answered 500"
    delivered = outcome.attempts[-1]
    assert delivered.acknowledged_at == NOW + timedelta(seconds=0.2 * 3 + 0.25 + 0.5)
    assert outcome.latency_ms == delivered.latency_ms == 2000 + 600 + 750
    assert delivered.duration_ms == 200
    assert [r.attempted_at - NOW for r in outcome.attempts] == [
        timedelta(0),
        timedelta(seconds=0.45),  # 0.2 s answer + 0.25 s wait
        timedelta(seconds=1.15),  # + 0.2 s answer + 0.5 s wait
    ]


def test_retry_after_seconds_on_429_is_waited_out(clock: Clock) -> None:
    transport = Scripted(clock, [(429, "7"), 200])
    assert run(clock, transport).status == "delivered"
    assert clock.slept == [7.0]


def test_retry_after_as_a_date_on_503_is_waited_out(clock: Clock) -> None:
    when = (NOW + timedelta(seconds=12)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    transport = Scripted(clock, [(503, when), 200])
    assert run(clock, transport).status == "delivered"
    assert clock.slept == [12.0]


def test_retry_after_on_a_500_is_not_a_promise(clock: Clock) -> None:
    transport = Scripted(clock, [(500, "30"), 200])
    run(clock, transport)
    assert clock.slept == [0.25]


def test_a_retry_after_beyond_the_budget_ends_the_invocations_attempts(clock: Clock) -> None:
    transport = Scripted(clock, [(429, "120"), 200])
    outcome = run(clock, transport)
    assert (outcome.status, outcome.sends, clock.slept) == ("retry", 1, [])
    assert outcome.attempts[0].error == "http_429: the endpoint answered 429"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 413, 422, 301])
def test_a_permanent_refusal_is_not_retried(clock: Clock, status: int) -> None:
    transport = Scripted(clock, [status])
    outcome = run(clock, transport)
    assert (outcome.status, outcome.sends, clock.slept) == ("failed", 1, [])
    assert outcome.attempts[0].status == "failed"


@pytest.mark.parametrize("status", [408, 409, 425])
def test_the_retryable_client_errors_are_retried(clock: Clock, status: int) -> None:
    assert run(clock, Scripted(clock, [status, 200])).sends == 2


def test_a_timeout_is_retried_and_recorded_as_such(clock: Clock) -> None:
    transport = Scripted(clock, [SendFailed("timeout", "no answer within 10 s", retryable=True), 200])
    outcome = run(clock, transport)
    assert [r.error for r in outcome.attempts] == ["timeout: no answer within 10 s", None]
    assert outcome.attempts[0].http_status is None


def test_when_the_attempts_run_out_the_delivery_is_left_for_a_later_receive(clock: Clock) -> None:
    transport = Scripted(clock, [503] * 10)
    outcome = run(clock, transport, attempts_before=4)
    assert outcome.status == "retry"
    assert [r.attempt for r in outcome.attempts] == [5, 6, 7, 8]  # numbering goes on across receives
    assert clock.slept == [0.25, 0.5, 1.0]  # no wait after the last


def test_no_attempt_starts_without_the_time_to_finish_it(clock: Clock) -> None:
    transport = Scripted(clock, [500, 500, 200], takes=3.0)
    outcome = run(clock, transport, budget=7.0)
    assert outcome.sends == 2  # 3 s + 0.25 + 3 s; the third would start with 0.75 s left
    outcome = run(clock, Scripted(clock), budget=0.5)
    assert outcome.status == "retry" and outcome.sends == 0
    assert outcome.error == "out_of_time: no time left in this invocation for an attempt"


def test_each_attempt_is_given_what_is_left_of_the_budget(clock: Clock) -> None:
    transport = Scripted(clock, [500, 200], takes=2.0)
    run(clock, transport, budget=20.0)
    assert [round(left, 2) for *_, left in transport.posts] == [20.0, 17.75]


# --- nothing to send ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("the_dealer", "reason"),
    [
        (Dealer(dealer_id="D100", name="Lakeside"), "no_delivery_configured"),
        (dealer(active=False), "dealer_inactive"),
        (None, "dealer_unknown"),
    ],
)
def test_a_dealer_that_cannot_take_leads_leaves_the_lead_waiting(
    clock: Clock, the_dealer: Dealer | None, reason: str
) -> None:
    transport = Scripted(clock)
    outcome = deliver(message(), the_dealer, now=NOW, transport=transport, pacing=pacing(clock))
    assert (outcome.status, outcome.waiting_reason, outcome.sends) == ("waiting", reason, 0)
    [record] = outcome.attempts
    assert (record.status, record.attempt, record.method) == ("waiting", None, None)
    assert record.error is not None and record.error.startswith(f"{reason}: ")
    assert transport.posts == []


def test_a_lead_adf_cannot_carry_fails_without_a_send(clock: Clock) -> None:
    lead = {k: v for k, v in LEAD.items() if k not in ("vehicle_model", "email")}
    transport = Scripted(clock)
    outcome = run(clock, transport, the_message=message(lead=lead))
    assert (outcome.status, outcome.sends, transport.posts) == ("failed", 0, [])
    assert outcome.error == "incomplete_lead: no vehicle_model, email|phone|mobile_phone|alternate_phone"


def test_a_missing_webhook_secret_fails_without_a_send(clock: Clock) -> None:
    class NoSecret(Scripted):
        def webhook_secrets(self, dealer_id: str) -> list[str]:
            raise SendFailed("no_webhook_secret", "the dealer has no webhook secret", retryable=False)

    outcome = run(clock, NoSecret(clock), dealer("json_webhook", "https://crm.example/hook"))
    assert (outcome.status, outcome.error) == (
        "failed",
        "no_webhook_secret: the dealer has no webhook secret",
    )


# --- the message ----------------------------------------------------------------------------------


def test_the_leads_timestamps_are_read_back_as_utc_datetimes() -> None:
    assert message(received_at="2026-11-02T15:00:00").received_at == RECEIVED  # naive means UTC
    assert message(received_at="2026-11-02T15:00:00Z").received_at == RECEIVED
    lead = message().lead
    assert lead["requested_at"] == datetime(2026, 11, 2, 14, 58, tzinfo=UTC)  # naive means UTC
    assert lead["received_at"] == RECEIVED
    assert lead["vehicle_year"] == 2026


@pytest.mark.parametrize(
    "changes",
    [{"delivery_id": "a/b"}, {"action": "resend"}, {"received_at": "yesterday"}, {"routing": {}}],
)
def test_a_message_that_is_not_a_delivery_is_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        message(**changes)
