"""People with known truth, for measuring identity resolution (``bench/identity_bench.py``, tests).

Every record carries ``true_person``. The world is built to be hard the way dealer data is hard:

- names follow Zipf laws shaped like the US census: 50,000 surnames with exponent 0.7 (the most
  common is about 1.2 % of people; Smith is 0.9 %) and 600 first names with exponent 0.6 (the most
  common about 3 %), so that a common name proves little and a rare one a lot;
- households: a share of people live with others who share their surname, street, home phone and
  sometimes an e-mail address, and are different persons;
- per record, the system that typed it: a nickname instead of the first name, an initial, typos
  (substitution, deletion, transposition) in names, e-mail and street, first and last name swapped,
  missing values (a web lead rarely has a birth date, a visit log often has no e-mail), the work
  e-mail instead of the personal one, the shared home phone instead of the mobile, a day and month
  swapped in the birth date;
- life: a married name on later records, a move to a new address and zip.

A pure function of the seed: the same arguments give the same table.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import pyarrow as pa

from forecourt.identity.features import PEOPLE_COLUMNS
from forecourt.local.population import (
    LAST_NAMES,
    METROS,
    NICKNAMES,
    OTHER_FIRST,
    STREET_NAMES,
    STREET_TYPES,
    ascii_fold,
    between,
    email_token,
    phone_number,
    pick,
)

_SYLLABLE_TEXT = (
    "an ber bran cal car chen da del dor el fer gar gold ha har hol ivan ja kel kow la lan lo mac mar "
    "mer mon na nel no o par pe ram ri ros sa san sch sel ski son stein ta ter to val ver wa wei wil ya zam"
)
_SYLLABLES = tuple(_SYLLABLE_TEXT.split())
_ENDINGS = ("", "s", "son", "er", "ez", "ski", "ov", "es", "ley", "man", "ton", "ing")
_WORK_DOMAINS = ("acme", "globex", "initech", "umbrella", "stark", "wayne", "hooli", "vandelay")
_PERSONAL_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "aol.com", "comcast.net")
COLUMNS = ("record_id", "true_person", *(c for c in PEOPLE_COLUMNS if c not in ("record_id", "vin")))
"""The people columns ``forecourt identity resolve`` reads (no VIN: people here buy nothing), plus
the truth."""


@dataclass(frozen=True)
class Noise:
    """How often each corruption happens, per record (or per person for ``moved`` / ``married``)."""

    nickname: float = 0.15
    initial: float = 0.02
    name_typo: float = 0.04
    swapped_names: float = 0.01
    email_missing: float = 0.30
    work_email: float = 0.10
    email_typo: float = 0.02
    phone_missing: float = 0.25
    home_phone: float = 0.15
    phone_typo: float = 0.01
    street_missing: float = 0.30
    street_typo: float = 0.05
    zip_missing: float = 0.10
    birth_missing: float = 0.70
    birth_swap: float = 0.03
    married: float = 0.04
    moved: float = 0.05
    household: float = 0.25
    """Share of people who live with one to three others of their surname."""


@dataclass(frozen=True)
class _Person:
    first: str
    nick: str
    last: str
    email: str
    work_email: str
    mobile: str
    home: str
    street: str
    city: str
    state: str
    zip: str
    birth: date
    new_last: str
    new_street: tuple[str, str, str] | None


def _zipf(rng: random.Random, options: tuple[str, ...], exponent: float = 1.1) -> str:
    """A Zipf-distributed pick: rank r is drawn with probability ∝ 1 / r^exponent."""
    # inverse transform of the continuous approximation; cheap and good enough for a benchmark
    n = len(options)
    u = rng.random()
    a = 1 - exponent
    rank = int(((n**a - 1) * u + 1) ** (1 / a)) - 1
    return options[min(max(rank, 0), n - 1)]


def _names(rng: random.Random, real: tuple[str, ...], count: int, syllables: int) -> tuple[str, ...]:
    """``real`` names first (the most common ranks), then made-up ones up to ``count``."""
    made = list(real)
    seen = set(made)
    while len(made) < count:
        parts = [pick(rng, _SYLLABLES) for _ in range(between(rng, 2, syllables))]
        name = ("".join(parts) + pick(rng, _ENDINGS)).capitalize()
        if name not in seen:
            seen.add(name)
            made.append(name)
    return tuple(made)


def _typo(rng: random.Random, text: str) -> str:
    """One keyboard slip: a letter replaced, dropped, doubled, or two neighbours swapped."""
    if len(text) < 3:
        return text
    i = between(rng, 1, len(text) - 2)
    kind = rng.random()
    if kind < 0.3:
        return text[:i] + pick(rng, "aeiourstnlm") + text[i + 1 :]
    if kind < 0.55:
        return text[:i] + text[i + 1 :]
    if kind < 0.7:
        return text[:i] + text[i] + text[i:]
    return text[:i] + text[i + 1] + text[i] + text[i + 2 :]


def _address(rng: random.Random, metro: str) -> tuple[str, str, str]:
    """A street address in one of the metro's zip3 areas, in any of its hundred zips (a network of
    dealers sees thousands of zips, not the dozen of each metro's list)."""
    _, _, zips, _ = METROS[metro]
    zip_code, city = pick(rng, zips)
    zip_code = f"{zip_code[:3]}{between(rng, 0, 99):02d}"
    return f"{between(rng, 1, 9999)} {pick(rng, STREET_NAMES)} {pick(rng, STREET_TYPES)}", city, zip_code


def _people(rng: random.Random, count: int, noise: Noise) -> list[_Person]:
    surnames = _names(rng, LAST_NAMES, 50_000, 3)
    firsts = _names(rng, tuple(NICKNAMES) + OTHER_FIRST, 600, 2)
    people: list[_Person] = []
    while len(people) < count:
        metro = pick(rng, tuple(METROS))
        _, state, _, area_codes = METROS[metro]
        last = _zipf(rng, surnames, 0.7)
        street, city, zip_code = _address(rng, metro)
        home = phone_number(rng, area_codes) if rng.random() < 0.5 else ""
        size = between(rng, 2, 4) if rng.random() < noise.household else 1
        shared_email = ""
        for member in range(size):
            first = _zipf(rng, firsts, 0.6)
            nick = pick(rng, NICKNAMES[first]) if first in NICKNAMES else ""
            fold = email_token(first)
            email = f"{fold}.{email_token(last)}{between(rng, 1, 99)}@{pick(rng, _PERSONAL_DOMAINS)}"
            if member and rng.random() < 0.3:
                shared_email = shared_email or people[-1].email
                email = shared_email
            moved = _address(rng, metro) if rng.random() < noise.moved else None
            people.append(
                _Person(
                    first=first,
                    nick=nick,
                    last=last,
                    email=email,
                    work_email=f"{fold[:1]}{email_token(last)}@{pick(rng, _WORK_DOMAINS)}.com",
                    mobile=phone_number(rng, area_codes),
                    home=home,
                    street=street,
                    city=city,
                    state=state,
                    zip=zip_code,
                    birth=date(1940, 1, 1) + timedelta(days=between(rng, 0, 365 * 65)),
                    new_last=_zipf(rng, surnames, 0.7) if rng.random() < noise.married else "",
                    new_street=moved,
                )
            )
    return people[:count]


def _record(rng: random.Random, person: _Person, later: bool, noise: Noise) -> dict[str, str]:
    r = rng.random
    first = person.first
    if person.nick and r() < noise.nickname:
        first = person.nick
    elif r() < noise.initial:
        first = first[0]
    if r() < noise.name_typo:
        first = _typo(rng, first)
    last = person.new_last if (later and person.new_last) else person.last
    if r() < noise.name_typo:
        last = _typo(rng, last)
    if r() < noise.swapped_names:
        first, last = last, first
    email = (
        "" if r() < noise.email_missing else (person.work_email if r() < noise.work_email else person.email)
    )
    if email and r() < noise.email_typo:
        email = _typo(rng, email)
    phone = (
        ""
        if r() < noise.phone_missing
        else (person.home if (person.home and r() < noise.home_phone) else person.mobile)
    )
    if phone and r() < noise.phone_typo:
        phone = phone[:-1] + str(between(rng, 0, 9))
    street, city, zip_code = (
        person.new_street if (later and person.new_street) else (person.street, person.city, person.zip)
    )
    if r() < noise.street_typo:
        street = _typo(rng, street)
    if r() < noise.street_missing:
        street = ""
    if r() < noise.zip_missing:
        zip_code = ""
    birth = ""
    if r() >= noise.birth_missing:
        b = person.birth
        birth = (
            f"{b.year}-{b.day:02d}-{b.month:02d}"
            if (b.day <= 12 and r() < noise.birth_swap)
            else b.isoformat()
        )
    if r() < 0.5:
        first, last = ascii_fold(first).upper(), ascii_fold(last).upper()
    return {
        "first_name": first,
        "last_name": last,
        "email": email,
        "phone": phone,
        "street": street,
        "city": city,
        "state": person.state,
        "zip": zip_code,
        "birth_date": birth,
    }


def generate(records: int, seed: int = 7, noise: Noise | None = None) -> pa.Table:
    """About ``records`` records (exactly that many) of people with known truth (``true_person``):
    each person has one to six records, two on average, in shuffled order."""
    noise = noise or Noise()
    rng = random.Random(seed)
    people = _people(rng, max(1, int(records / 1.5)), noise)
    rows: list[dict[str, str]] = []
    index = 0
    while len(rows) < records:
        if index == len(people):
            people += _people(rng, max(1, int((records - len(rows)) / 1.5) + 1), noise)
        person = people[index]
        count = min(1 + int(rng.expovariate(1.0)), 6, records - len(rows))
        for n in range(count):
            row = _record(rng, person, later=n > 0 and rng.random() < 0.5, noise=noise)
            row["true_person"] = f"T{index}"
            rows.append(row)
        index += 1
    rng.shuffle(rows)
    for number, row in enumerate(rows):
        row["record_id"] = f"R{number:08d}"
    return pa.Table.from_pylist([{c: row[c] for c in COLUMNS} for row in rows])


@dataclass(frozen=True)
class PairScores:
    """Pairwise quality of a clustering against the truth."""

    true_pairs: int
    predicted_pairs: int
    correct_pairs: int

    @property
    def precision(self) -> float:
        return self.correct_pairs / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.correct_pairs / self.true_pairs if self.true_pairs else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def _pairs(sizes: Iterable[int]) -> int:
    return sum(n * (n - 1) // 2 for n in sizes)


def pair_scores(truth: Sequence[str], predicted: Sequence[str]) -> PairScores:
    """Pairwise precision, recall and F1: of all record pairs put in one person, how many are one
    true person, and of all true pairs, how many were put together."""
    return PairScores(
        true_pairs=_pairs(Counter(truth).values()),
        predicted_pairs=_pairs(Counter(predicted).values()),
        correct_pairs=_pairs(Counter(zip(truth, predicted, strict=True)).values()),
    )


def pairs_completeness(truth: Mapping[str, str], candidates: Iterable[tuple[str, str]]) -> float:
    """Share of true pairs (records of one true person) that blocking proposed as candidates."""
    true_total = _pairs(Counter(truth.values()).values())
    found = sum(1 for left, right in set(candidates) if truth[left] == truth[right])
    return found / true_total if true_total else 1.0
