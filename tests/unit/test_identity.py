"""Identity resolution: comparison fields, the SQL of queries/identity/, persons and their ids."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa
import pytest
import sqlglot
from click.testing import CliRunner
from forecourt.cli import main
from forecourt.identity.features import features, normalize_people
from forecourt.identity.resolve import QUERIES, ResolveConfig, resolve
from forecourt.local.identity_truth import generate, pair_scores, pairs_completeness
from forecourt.normalize import Locale
from forecourt.safe_csv import neutralize
from sqlglot import exp


def people(*rows: dict[str, str]) -> pa.Table:
    names = sorted({k for row in rows for k in row})
    return pa.Table.from_pylist([{n: row.get(n, "") for n in names} for row in rows])


def persons_of(table: pa.Table, config: ResolveConfig | None = None) -> dict[str, str]:
    result = resolve(features(normalize_people(table, Locale())), config)
    return dict(
        zip(result.links["record_id"].to_pylist(), result.links["person_id"].to_pylist(), strict=True)
    )


def test_comparison_fields_are_folded_names_canonical_first_names_zip5_and_street_keys() -> None:
    table = people(
        {"record_id": "a", "first_name": "Bill", "last_name": "Núñez", "zip": "60601-1234",
         "street": "1208 W. Oak Street Apt 4", "email": " Bill@Example.COM "},
        {"record_id": "b", "first_name": "WILLIAM J.", "last_name": "O'Brien", "zip": "606",
         "street": "Apt 4", "phone": "(312) 555-0199"},
    )  # fmt: skip
    rows = features(normalize_people(table, Locale())).to_pylist()
    assert [r["first_name"] for r in rows] == ["bill", "william"]
    assert [r["first_canon"] for r in rows] == ["william", "william"]
    assert [r["last_name"] for r in rows] == ["nunez", "obrien"]
    assert [r["zip5"] for r in rows] == ["60601", None]
    assert [r["street_key"] for r in rows] == ["1208 oak", None]
    assert [r["email"] for r in rows] == ["bill@example.com", None]
    assert [r["phone"] for r in rows] == [None, "+13125550199"]


def test_a_nickname_of_two_names_matches_both_but_does_not_make_them_one() -> None:
    shared = {"last_name": "Achterberg", "email": "t.achterberg@gmail.com", "phone": "312-555-0191"}
    shared |= {"street": "12 Dearborn St", "zip": "60601"}
    elsewhere = {"last_name": "Achterberg", "street": "9 Elm St", "zip": "10001"}
    table = people(
        {"record_id": "ted", "first_name": "Ted", **shared},
        {"record_id": "theodore", "first_name": "Theodore", **shared},
        {"record_id": "jon", "first_name": "Jon", **elsewhere, "email": "jon.a@yahoo.com"},
        {"record_id": "jonathan", "first_name": "Jonathan", **elsewhere, "email": "jon.a@yahoo.com"},
        # another Achterberg of the zip, whose name Ted could also be short for
        {"record_id": "edward", "first_name": "Edward", "last_name": "Achterberg", "zip": "60601",
         "street": "40 Wacker Dr", "email": "eddie.a@outlook.com"},
    )  # fmt: skip
    rows = {r["record_id"]: r for r in features(normalize_people(table, Locale())).to_pylist()}
    assert (rows["ted"]["first_canon"], rows["ted"]["first_canon_also"]) == ("edward", "theodore")
    assert (rows["jon"]["first_canon"], rows["jon"]["first_canon_also"]) == ("john", "jonathan")
    assert rows["theodore"]["first_canon_also"] is None

    found = persons_of(table)
    assert found["ted"] == found["theodore"]  # Ted is Theodore's nickname as much as Edward's
    assert found["jon"] == found["jonathan"]
    assert found["edward"] != found["theodore"]  # a shared nickname does not make Edward Theodore


@pytest.mark.parametrize(("one", "other"), [("Alex", "Sandra"), ("Jon", "Nathan"), ("Al", "Bert")])
def test_two_nicknames_that_could_both_be_short_for_one_name_stay_two_people_of_a_household(
    one: str, other: str
) -> None:
    home = {"last_name": "Okafor", "email": "okafors@gmail.com", "phone": "312-555-0144"}
    home |= {"street": "8 Elm St", "zip": "60601"}
    found = persons_of(
        people({"record_id": "a", "first_name": one, **home}, {"record_id": "b", "first_name": other, **home})
    )
    assert found["a"] != found["b"]  # Alex (Alexandra) and Sandra (Alexandra) share a home, not a name


def test_blocking_finds_a_first_name_with_a_mistyped_surname_or_a_surname_spelled_by_an_address() -> None:
    table = people(
        {"record_id": "a", "first_name": "Victoria", "last_name": "Nonelssoning", "zip": "80266"},
        {"record_id": "b", "first_name": "Victoria", "last_name": "Nonelsoning", "zip": "10001"},
        {"record_id": "c", "first_name": "Jonathan", "last_name": "Riweizamov", "zip": "85252"},
        {"record_id": "d", "first_name": "Jonathan", "last_name": "Dahaley",
         "email": "jonathan.riweizamov5@outlook.com"},
        {"record_id": "e", "first_name": "Victoria", "last_name": "Nolan", "zip": "80266"},
    )  # fmt: skip
    pairs = resolve(features(normalize_people(table, Locale()))).pairs
    proposed = {(r["left_id"], r["right_id"]): r["rules"] for r in pairs.to_pylist()}
    assert proposed[("a", "b")] == "first_last_typo"  # one letter apart, nothing else shared
    assert proposed[("c", "d")] == "email_name"  # d's address spells c's surname
    assert ("b", "e") not in proposed and ("c", "e") not in proposed


def test_on_lambda_duckdb_may_use_half_the_function_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    from forecourt.identity import resolve as resolving

    table = features(normalize_people(people({"record_id": "a", "first_name": "Ann"}), Locale()))
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "10240")
    with resolving._session(table, None, table, ResolveConfig(), None) as con:
        assert con.execute("SELECT current_setting('memory_limit')").fetchall() == [("5.0 GiB",)]
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
    from forecourt import analytics

    assert analytics.duckdb_memory_limit_mb() is None


HOUSEHOLD = (
    {"record_id": "r1", "first_name": "William", "last_name": "Smith", "email": "smiths@gmail.com",
     "phone": "312-555-0101", "street": "12 Oak St", "zip": "60601", "birth_date": "1980-04-05"},
    {"record_id": "r2", "first_name": "Bill", "last_name": "Smith", "phone": "(312) 555-0101",
     "street": "12 Oak Street", "zip": "60601"},
    {"record_id": "r3", "first_name": "Mary", "last_name": "Smith", "email": "smiths@gmail.com",
     "phone": "3125550101", "street": "12 Oak St", "zip": "60601", "birth_date": "1982-01-02"},
    {"record_id": "r4", "first_name": "Mary", "last_name": "Kowalczyk", "email": "mary.k@yahoo.com",
     "phone": "773-555-0123", "zip": "60614"},
    {"record_id": "r5", "first_name": "Mary", "last_name": "Smith", "email": "mary.k@yahoo.com",
     "phone": "7735550123", "street": "12 Oak St", "zip": "60601", "birth_date": "1982-01-02"},
    {"record_id": "r6", "first_name": "Ann", "last_name": "Lee", "email": "ann.lee@x.com", "zip": "10001"},
)  # fmt: skip


def test_a_household_sharing_phone_email_and_address_stays_apart_and_nicknames_and_married_names_join() -> (
    None
):
    found = persons_of(people(*HOUSEHOLD))
    assert found["r1"] == found["r2"]  # Bill is William: same phone, street and zip
    assert found["r3"] == found["r5"] == found["r4"]  # Mary Kowalczyk married: same e-mail and mobile
    assert found["r1"] != found["r3"]  # husband and wife share phone, e-mail and address
    assert len({found["r6"], found["r1"], found["r3"]}) == 3


def test_person_ids_are_the_same_on_every_run_and_in_any_order() -> None:
    table = generate(600, seed=3).drop_columns(["true_person"])
    first = persons_of(table)
    order = list(range(table.num_rows))
    random.Random(1).shuffle(order)
    assert persons_of(table.take(order)) == first
    assert persons_of(table) == first


def test_a_stricter_threshold_links_less() -> None:
    table = generate(600, seed=4).drop_columns(["true_person"])
    loose = len(set(persons_of(table, ResolveConfig(threshold=0.5)).values()))
    strict = len(set(persons_of(table, ResolveConfig(threshold=0.999999)).values()))
    assert strict > loose


def test_config_overrides_are_checked() -> None:
    config = ResolveConfig.from_json(
        '{"threshold": 0.95, "levels": {"email": {"exact": {"m": 0.8, "u": 0.001}}}}'
    )
    assert config.threshold == 0.95 and config.levels["email"]["exact"].m == 0.8
    assert config.levels["phone"] == ResolveConfig().levels["phone"]
    with pytest.raises(ValueError, match="unknown setting"):
        ResolveConfig.from_json('{"treshold": 0.9}')
    with pytest.raises(ValueError, match=r"unknown level email\.typo"):
        ResolveConfig.from_json('{"levels": {"email": {"typo": {"m": 0.1, "u": 0.1}}}}')
    with pytest.raises(ValueError, match=r"m and u must be in \(0, 1\]"):
        ResolveConfig.from_json('{"levels": {"zip": {"exact": {"m": 0, "u": 0.1}}}}')


def test_record_ids_must_be_there_and_unique() -> None:
    table = people({"record_id": "a", "first_name": "Ann"}, {"record_id": "a", "first_name": "Bob"})
    with pytest.raises(ValueError, match="not unique"):
        resolve(features(normalize_people(table, Locale())))


@pytest.mark.parametrize("path", sorted(QUERIES.glob("*.sql")), ids=lambda p: p.stem)
def test_identity_sql_is_trino_with_no_function_trino_lacks(path: Path) -> None:
    tree = sqlglot.parse_one(path.read_text(), read="trino")
    assert not [f.name for f in tree.find_all(exp.Anonymous)]


def test_on_labelled_people_precision_recall_and_blocking_completeness_hold() -> None:
    data = generate(4000, seed=21)
    result = resolve(features(normalize_people(data, Locale())))
    truth = dict(zip(data["record_id"].to_pylist(), data["true_person"].to_pylist(), strict=True))
    found = dict(
        zip(result.links["record_id"].to_pylist(), result.links["person_id"].to_pylist(), strict=True)
    )
    ids = sorted(truth)
    scores = pair_scores([truth[i] for i in ids], [found[i] for i in ids])
    assert scores.precision >= 0.97 and scores.recall >= 0.93 and scores.f1 >= 0.95
    candidates = zip(result.pairs["left_id"].to_pylist(), result.pairs["right_id"].to_pylist(), strict=True)
    assert pairs_completeness(truth, candidates) >= 0.99


def test_pair_scores_count_pairs() -> None:
    scores = pair_scores(["a", "a", "a", "b"], ["x", "x", "y", "y"])
    assert (scores.true_pairs, scores.predicted_pairs, scores.correct_pairs) == (3, 2, 1)
    assert scores.precision == 0.5 and scores.recall == pytest.approx(1 / 3)


def test_formula_cells_are_neutralized() -> None:
    cells = pa.array(
        ["=HYPERLINK(1)", "+1+cmd|' /C calc'!A0", "-2+3*A1", "@SUM(A1)", "\tx", "ok", None, "a=b"]
    )
    assert neutralize(cells).to_pylist() == [
        "'=HYPERLINK(1)",
        "'+1+cmd|' /C calc'!A0",
        "'-2+3*A1",
        "'@SUM(A1)",
        "'\tx",
        "ok",
        None,
        "a=b",
    ]
    numbers = pa.array(["+13125550181", "-12.50", "+1 (312) 555-0181", "+", "-"])
    assert neutralize(numbers).to_pylist() == ["+13125550181", "-12.50", "+1 (312) 555-0181", "'+", "'-"]


def _write(path: Path, table: pa.Table) -> None:
    import pyarrow.csv as pacsv

    pacsv.write_csv(table, str(path))


def test_cli_resolves_a_csv_and_explains_a_record(tmp_path: Path) -> None:
    source = tmp_path / "people.csv"
    _write(source, people(*HOUSEHOLD))
    out = tmp_path / "persons.csv"
    runner = CliRunner()
    done = runner.invoke(main, ["identity", "resolve", str(source), "--out", str(out), "--json"])
    assert done.exit_code == 0, done.output
    summary = json.loads(done.stdout)
    assert summary["records"] == 6 and summary["persons"] == 3
    lines = out.read_text().splitlines()
    assert (
        lines[0] == '"record_id","person_id","person_created","linked_to","match_weight"' and len(lines) == 7
    )
    explained = runner.invoke(main, ["identity", "explain", "r2", "--input", str(source), "--json"])
    assert explained.exit_code == 0, explained.output
    (answer,) = json.loads(explained.stdout)
    assert answer["records"] == ["r1", "r2"]
    best = answer["comparisons"][0]
    assert (
        best["other record"] == "r1"
        and best["same person"]
        and "first nickname" in best["evidence (level, bits)"]
    )


def test_cli_names_the_line_of_a_duplicate_or_missing_record_id(tmp_path: Path) -> None:
    source = tmp_path / "people.csv"
    source.write_text("record_id,first_name\na,Ann\nb,Bob\na,Cy\n")
    done = CliRunner().invoke(main, ["identity", "resolve", str(source), "--out", str(tmp_path / "o.csv")])
    assert done.exit_code == 1 and "line 4: record_id 'a' already on line 2" in " ".join(done.output.split())
    source.write_text("first_name\nAnn\n")
    done = CliRunner().invoke(main, ["identity", "resolve", str(source), "--out", str(tmp_path / "o.csv")])
    assert done.exit_code == 1 and "no record_id column" in " ".join(done.output.split())


def test_a_chain_of_links_never_puts_two_conflicting_records_in_one_person() -> None:
    chain = people(
        {"record_id": "a", "first_name": "William", "last_name": "Smith", "email": "will@x.com",
         "phone": "312-555-0101", "zip": "60601"},
        {"record_id": "b", "first_name": "W", "last_name": "Smith", "email": "will@x.com",
         "phone": "312-555-0101", "street": "12 Oak St", "zip": "60601"},
        {"record_id": "c", "first_name": "Wendy", "last_name": "Smith", "phone": "312-555-0101",
         "street": "12 Oak St", "zip": "60601"},
    )  # fmt: skip
    result = resolve(features(normalize_people(chain, Locale())))
    linked = {(p["left_id"], p["right_id"]) for p in result.pairs.to_pylist() if p["linked"]}
    assert {("a", "b"), ("b", "c")} <= linked  # both links hold on their own …
    found = dict(
        zip(result.links["record_id"].to_pylist(), result.links["person_id"].to_pylist(), strict=True)
    )
    assert found["a"] != found["c"]  # … but William and Wendy stay two persons
    assert found["b"] == found["a"]  # the initial goes with the stronger link (same e-mail)
    links = {r["record_id"]: r["linked_to"] for r in result.links.to_pylist()}
    assert links["c"] is None  # c's only link was cut


def test_new_data_keeps_existing_person_ids_and_the_older_id_survives_a_merge() -> None:
    from forecourt.identity.ids import name_components

    first = name_components(["a", "a", "c"], ["a", "b", "c"], {}, {}, "2026-01-01")
    pa_, pc_ = first.ids["a"], first.ids["c"]
    assert (first.kept, first.new, first.merged) == (0, 2, [])
    previous = {"a": pa_, "b": pa_, "c": pc_}
    created = {pa_: "2026-01-01", pc_: "2025-06-01"}  # c's person is the older one
    # a new record "0" joins everything into one component labelled by it (the smallest id)
    later = name_components(["0", "0", "0", "0"], ["0", "a", "b", "c"], previous, created, "2026-02-01")
    assert later.ids["0"] == pc_ and later.merged == [(pa_, pc_)]
    assert later.created[pc_] == "2025-06-01" and (later.kept, later.new) == (1, 0)
    # a person split in two: the part with most of its records keeps the id, the other is new
    split = name_components(["a", "b2", "c"], ["a", "b", "c"], {"a": pa_, "b": pa_, "c": pc_},
                            created, "2026-03-01")  # fmt: skip
    assert split.ids["c"] == pc_ and split.ids["a"] == pa_ and split.ids["b2"] not in (pa_, pc_)
    assert split.created[split.ids["b2"]] == "2026-03-01"


def test_cli_keeps_ids_across_runs_with_previous(tmp_path: Path) -> None:
    import pyarrow.csv as pacsv

    source = tmp_path / "people.csv"
    _write(source, people(*HOUSEHOLD[:3]))
    runner = CliRunner()
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    assert runner.invoke(main, ["identity", "resolve", str(source), "--out", str(first)]).exit_code == 0
    # more data arrives: a record older by id ("r0") that is William again
    _write(source, people({"record_id": "r0", "first_name": "Will", "last_name": "Smith",
                           "phone": "312-555-0101", "street": "12 Oak St", "zip": "60601"}, *HOUSEHOLD[:3]))  # fmt: skip
    done = runner.invoke(
        main, ["identity", "resolve", str(source), "--out", str(second), "--previous", str(first), "--json"]
    )
    assert done.exit_code == 0, done.output
    before = {r["record_id"]: r["person_id"] for r in pacsv.read_csv(first).to_pylist()}
    after = {r["record_id"]: r["person_id"] for r in pacsv.read_csv(second).to_pylist()}
    assert after["r0"] == after["r1"] == before["r1"]  # without --previous, r0 would rename William
    assert after["r3"] == before["r3"]
    assert json.loads(done.stdout)["person ids kept"] == 2


def test_a_placeholder_email_or_phone_on_many_names_links_nobody() -> None:
    names = ["Ann Lee", "Bob Ray", "Cy Tan", "Dee Moss", "Eve Kim", "Fay Orr"]
    rows = [
        {"record_id": f"p{i}", "first_name": n.split()[0], "last_name": n.split()[1], "zip": "60601",
         "email": "noemail@dealer.com", "phone": "312-555-0100"}
        for i, n in enumerate(names)
    ]  # fmt: skip
    rows.append({"record_id": "p9", "first_name": "Ann", "last_name": "Lee", "email": "noemail@dealer.com",
                 "phone": "312-555-0100", "zip": "10001"})  # fmt: skip
    result = resolve(features(normalize_people(people(*rows), Locale())))
    levels = {(p["email_level"], p["phone_level"]) for p in result.pairs.to_pylist()}
    assert levels == {("common", "common")}
    found = dict(
        zip(result.links["record_id"].to_pylist(), result.links["person_id"].to_pylist(), strict=True)
    )
    assert len(set(found.values())) == 7  # Ann Lee in 60601 and in 10001: a common name, no evidence


def test_cli_reads_headers_written_as_people_write_them(tmp_path: Path) -> None:
    source = tmp_path / "people.csv"
    source.write_text(
        "Record ID,First Name,LAST-NAME,Email\n"
        "a,Bill,Smith,bill@x.com\nb,William,Smith,bill@x.com\nc,Ann,Lee,ann@y.com\n"
    )
    out = tmp_path / "persons.csv"
    done = CliRunner().invoke(main, ["identity", "resolve", str(source), "--out", str(out), "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["persons"] == 2
