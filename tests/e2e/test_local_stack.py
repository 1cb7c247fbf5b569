"""The local stack end to end, as a dealer's IT person and an OEM analyst use it: `forecourt local up`,
register a dealer, ingest files, query, `down`, `up` again — the lake is still there."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

FEEDS = Path(__file__).parents[1] / "data" / "feeds"


def forecourt(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FORECOURT_"))}
    env |= {"FORECOURT_HOME": str(home), "COLUMNS": "200"}
    answer = subprocess.run(
        [sys.executable, "-m", "forecourt", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if check and answer.returncode != 0:
        raise AssertionError(
            f"forecourt {' '.join(args)} failed ({answer.returncode}):\n{answer.stdout}\n{answer.stderr}"
        )
    return answer


def post_lead(api: str, sender: str, secret: str) -> str:
    from forecourt.local.http import post_signed

    lead = {
        "lead_id": "WEB-1",
        "dealer_id": "D1001",
        "created_at": "2026-11-02T10:00:00-05:00",
        "customer": {"first_name": "Ann", "last_name": "Lee", "email": "ann.lee@example.com"},
        "vehicle": {"year": "2026", "make": "Chevrolet", "model": "Equinox"},
    }
    status, answer = post_signed(api + "/v1/leads", sender, secret, json.dumps(lead).encode())
    assert status == 202, answer
    return str(answer["lead_id"])


# --- PII in logs ----------------------------------------------------------------------------------

_EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_PHONE = re.compile(r"(?<![\d.])(?:\+?1[ .-]?)?\(?(\d{3})\)?[ .-]?(\d{3})[ .-]?(\d{4})(?![\d.])")
_COMMON_WORDS = frozenset(
    re.findall(
        r"\w+",
        "young green white hill king park hall grace baker brooks martin wright scott carter foster cruz "
        "mitchell allen bennett campbell nelson adams roberts thomas taylor moore lewis walker rivera "
        "washington sullivan clark",
    )
)
"""Generated surnames and first names that are also ordinary words or parts of place, street and
company names: a log may say them without naming anyone (``Hill``, ``Park``, ``Washington``)."""


@dataclass(frozen=True)
class InputPii:
    emails: frozenset[str]
    """Lower case, as written."""
    phones: frozenset[tuple[str, ...]]
    """Each phone's spellings: as written, ten digits, E.164."""
    names: frozenset[str]


def input_pii(demo_dir: Path) -> InputPii:
    """Every e-mail, phone and person name in the files the demo generated (its outbound copies
    excluded: they are output). Phones: ten digits whose area code is one of the generated metros'.
    Names: the generator's first names, nicknames and surnames found in the files, ≥ 4 letters and
    not an ordinary word, a dealer's or a city's name (``_COMMON_WORDS``, ``DEALERS``, ``METROS``)."""
    from forecourt.local.population import DEALERS, LAST_NAMES, METROS, NICKNAMES, OTHER_FIRST

    area_codes = {code for metro in METROS.values() for code in metro[3]}
    places = {word.lower() for d in DEALERS for word in re.findall(r"\w+", d.name)}
    places |= {word.lower() for metro in METROS.values() for _, city in metro[2] for word in city.split()}
    vocabulary = {*NICKNAMES, *(n for nicks in NICKNAMES.values() for n in nicks), *OTHER_FIRST, *LAST_NAMES}
    text = "\n".join(
        path.read_text(errors="replace")
        for path in sorted(demo_dir.rglob("*"))
        if path.is_file() and "outbound" not in path.relative_to(demo_dir).parts
    )
    phones = {
        (match.group(0), digits, f"+1{digits}")
        for match in _PHONE.finditer(text)
        if match.group(1) in area_codes and (digits := "".join(match.groups()))
    }
    names = {
        name
        for name in vocabulary
        if len(re.sub(r"\W", "", name)) >= 4
        and name.lower() not in _COMMON_WORDS | places
        and re.search(rf"\b{re.escape(name)}\b", text, re.IGNORECASE)
    }
    emails = {email.lower() for email in _EMAIL.findall(text)}
    return InputPii(frozenset(emails), frozenset(phones), frozenset(names))


def pii_leaks(pii: InputPii, logs: str) -> dict[str, list[str]]:
    """The input's e-mails, phones (any spelling) and names that appear in ``logs``, by kind."""
    lowered = logs.lower()
    digits = set(re.findall(r"(?<!\d)\+?\d{10,11}(?!\d)", logs))
    leaks = {
        "emails": sorted(e for e in pii.emails if e in lowered),
        "phones": sorted(p[0] for p in pii.phones if p[0] in logs or {p[1], p[2], p[2][1:]} & digits),
        "names": sorted(n for n in pii.names if re.search(rf"\b{re.escape(n)}\b", logs, re.IGNORECASE)),
    }
    return {kind: found for kind, found in leaks.items() if found}


def test_the_pii_scan_finds_an_email_a_phone_in_any_spelling_and_a_name(tmp_path: Path) -> None:
    (tmp_path / "leads.csv").write_text(
        "first,last,email,phone\nBrianna,Okafor,b.okafor@gmail.com,(312) 555-0143\nWei,Young,w@x.io,\n"
    )
    pii = input_pii(tmp_path)
    assert pii.names == {"Brianna", "Okafor"}  # Wei is short, Young an ordinary word
    assert pii_leaks(pii, "INFO lead stored dealer_id=D1001 rows=1") == {}
    assert pii_leaks(pii, 'INFO {"to": "+13125550143"} for B.Okafor@Gmail.com') == {
        "emails": ["b.okafor@gmail.com"],
        "phones": ["(312) 555-0143"],
        "names": ["Okafor"],
    }
    assert pii_leaks(pii, "phone=3125550143 BRIANNA")["phones"] == ["(312) 555-0143"]


@pytest.fixture
def home(tmp_path: Path):
    yield tmp_path / "home"
    forecourt(tmp_path / "home", "local", "down", check=False)


def test_verbs_say_clearly_when_the_stack_is_not_running(home: Path):
    answer = forecourt(home, "dealers", "list", check=False)
    assert answer.returncode != 0
    assert "not running" in answer.stderr and "forecourt local up" in answer.stderr


@pytest.mark.slow  # ~45 s: the local stack's own persistence across down/up (make test-slow)
def test_ingest_query_and_state_that_survives_down_and_up(home: Path):
    forecourt(home, "local", "up")
    status = json.loads(forecourt(home, "local", "status", "--json").stdout)
    assert any(r["resource"] == "queue IngestQueue" for r in status)

    forecourt(
        home,
        "dealers",
        "add",
        "D1001",
        "--name",
        "Hudson Chevrolet",
        "--feed",
        "vinsolutions-leads",
        "--timezone",
        "America/New_York",
    )
    files = [
        str(FEEDS / "vinsolutions-leads" / "LeadExport_20240212.csv"),
        str(FEEDS / "adf" / "leads_20240212.xml"),
    ]
    reports = json.loads(forecourt(home, "ingest", *files, "--dealer", "D1001", "--json").stdout)
    assert [r["feed"] for r in reports] == ["vinsolutions-leads", "adf"]
    assert all(r["rows_in"] == r["rows_curated"] + r["rows_quarantined"] for r in reports)
    curated = sum(r["rows_curated"] for r in reports)

    stranger = json.loads(forecourt(home, "ingest", files[0], "--dealer", "D9999", "--json").stdout)
    assert stranger[0]["quarantine_reasons"] == {"unknown_dealer": 1}

    sql = "SELECT count(*) AS n FROM forecourt.leads WHERE dealer_id = 'D1001'"
    assert json.loads(forecourt(home, "query", sql, "--json").stdout) == [{"n": curated}]
    bad = forecourt(home, "query", "SELECT emial FROM leads", check=False)
    assert bad.returncode != 0 and "emial" in bad.stderr

    # the same file again is the same upload: nothing changes
    again = json.loads(forecourt(home, "ingest", files[0], "--dealer", "D1001", "--json").stdout)
    assert again[0]["upload_id"] == reports[0]["upload_id"]

    # a lead provider posts a signed lead to the local HTTP API: it lands in the same table
    added = json.loads(
        forecourt(
            home, "senders", "add", "leadhub", "--kind", "lead_provider", "--dealers", "D1001", "--json"
        ).stdout
    )
    api = next(r["name"] for r in status if r["resource"] == "http api")
    lead_id = post_lead(api, "leadhub", added["secret"])
    curated += 1
    by_id = f"SELECT count(*) AS n FROM leads WHERE record_id = '{lead_id}'"
    deadline = time.monotonic() + 120
    while json.loads(forecourt(home, "query", by_id, "--json").stdout) != [{"n": 1}]:
        assert time.monotonic() < deadline, "the webhook lead never reached the leads table"
        time.sleep(1)
    # the pump's route_lead decided where it goes: the chosen dealer, which has no delivery yet
    routed = f"SELECT rule, action, dealer_id FROM lead_routes WHERE lead_id = '{lead_id}'"
    while not (rows := json.loads(forecourt(home, "query", routed, "--json").stdout)):
        assert time.monotonic() < deadline, "the webhook lead was never routed"
        time.sleep(1)
    assert rows == [{"rule": "chosen", "action": "hold", "dealer_id": "D1001"}]

    forecourt(home, "local", "down")
    forecourt(home, "local", "up")
    assert json.loads(forecourt(home, "query", sql, "--json").stdout) == [{"n": curated}]
    dealers = json.loads(forecourt(home, "dealers", "list", "--json").stdout)
    assert [d["dealer_id"] for d in dealers] == ["D1001"]
    uploads = json.loads(forecourt(home, "uploads", "--json").stdout)
    assert len(uploads) == 4


def _demo_json(home: Path, *args: str, printed: list[str] | None = None) -> dict[str, Any]:
    answer = forecourt(home, "demo", "--json", *args)
    if printed is not None:
        printed += [answer.stdout, answer.stderr]
    document: dict[str, Any] = json.loads(answer.stdout)  # progress goes to stderr: stdout is the document
    return document


def _demo_runs(tmp_path: Path, runs: int) -> tuple[Path, list[str], list[dict[str, Any]]]:
    """The demo run ``runs`` times on one home (the stack then stopped): (home, what it printed,
    each run's JSON document)."""
    home = tmp_path / "home"
    printed: list[str] = []
    try:
        # a short read timeout keeps the injected CRM timeout short (the server inherits it)
        os.environ["FORECOURT_DELIVERY_READ_TIMEOUT"] = "2"
        documents = [
            _demo_json(home, "--leads", "1500", "--webhook-leads", "30", printed=printed) for _ in range(runs)
        ]
    finally:
        os.environ.pop("FORECOURT_DELIVERY_READ_TIMEOUT", None)
        forecourt(home, "local", "down", check=False)
    return home, printed, documents


def test_the_demo_delivers_every_webhook_lead_once_through_injected_faults(tmp_path: Path):
    home, printed, [first] = _demo_runs(tmp_path, 1)
    # no PII in logs (ARCHITECTURE §9): the stack's logs and what the demo printed name nobody
    logs = [path.read_text(errors="replace") for path in sorted(home.rglob("*.log"))]
    assert logs and sum(map(len, logs)) > 10_000  # the stack's server.log and jobs.log were written
    written = input_pii(next(home.glob("demo-seed*")))
    assert min(len(written.emails), len(written.phones), len(written.names)) > 100
    assert pii_leaks(written, "\n".join([*printed, *logs])) == {}
    live = first["realtime"]
    assert live["lead_answers"] == {"202": 28, "422": 2}  # two leads cannot be reached: quarantined
    assert live["delivered_once"] is True
    routes = live["routes"]
    assert routes["test_lead → suppress"] == 2
    routed = sum(n for route, n in routes.items() if route.endswith(("→ new", "→ update")))
    dealers = live["deliveries"]
    assert sum(d["routed"] for d in dealers) == routed > 0
    for dealer in dealers:  # every routed lead acknowledged and received exactly once
        assert dealer["acknowledged"] == dealer["received"] == dealer["routed"], dealer
        assert dealer["received_twice"] == 0
    faults = {d["dealer"]: d["faults_answered"] for d in dealers if d["faults_answered"]}
    assert sorted(faults.values()) == [1, 2, 3]  # a timeout, two 429s, three 500s
    assert set(live["event_answers"]) == {"202"}
    measures = {t["measure"] for t in live["timings"]}
    assert measures == {"delivery_latency", "speed_to_lead"}
    assert all(t["count"] > 0 and t["median_minutes"] >= 0 for t in live["timings"])
    # one view: persons across dealers, tags, and outbound files of what changed
    view = first["one_view"]
    assert 0 < view["persons"] < view["records"] and view["persons_at_several_dealers"] > 0
    assert all(p["dealers"] > 1 for p in view["top_cross_dealer_persons"])
    assert view["tags"]["in_market"] > 0 and view["tags"]["multi_dealer_shopper"] > 0
    assert 0 < sum(view["exported"].values()) <= view["leads_enriched"]  # first run: every lead is new
    assert all(k.startswith("outbound/dealer=D") for k in view["files"])


@pytest.mark.slow  # ~100 s: the whole demo twice (make test-slow); each run's own checks are above
def test_the_demo_run_again_changes_nothing(tmp_path: Path):
    _, _, (first, again) = _demo_runs(tmp_path, 2)
    # every post is a retry answered as the first time, nothing is delivered again (the CRMs of
    # this run received nothing), and the files are the same uploads
    live, rerun = first["realtime"], again["realtime"]
    assert rerun["lead_answers"] == live["lead_answers"] and rerun["routes"] == live["routes"]
    assert set(rerun["event_answers"]) == {"202"}
    assert sum(rerun["event_answers"].values()) <= sum(live["event_answers"].values())
    for before, after in zip(live["deliveries"], rerun["deliveries"], strict=True):
        assert after["acknowledged"] == after["routed"] == before["routed"]
        assert after["received_twice"] == 0 and after["faults_answered"] == 0
        if after["method"] in ("adf_http", "json_webhook"):
            assert after["received"] == 0
    assert again["dealers"] == first["dealers"]
    # outbound files of what changed: nothing the second time; the same persons
    view, view_again = first["one_view"], again["one_view"]
    assert view_again["exported"] == {} and view_again["files"] == []
    assert view_again["persons"] == view["persons"]
