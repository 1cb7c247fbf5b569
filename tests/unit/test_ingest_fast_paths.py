"""The ingest core's fast paths give exactly what the plain paths give.

UTF-8 passed through to pyarrow instead of decoded and re-encoded, parsing in a worker thread,
columns normalized once per distinct value, ``date time`` feed formats parsed per half, and row
groups sorted and written by a worker thread.
"""

from __future__ import annotations

import codecs
import functools
import io
import random
import threading
from datetime import UTC, date, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from forecourt import lake, schemas
from forecourt.formats import open_source
from forecourt.formats.text import TextStream, Utf8Bytes, detect_encoding
from forecourt.normalize import Locale, _kernels, normalize_column
from forecourt.normalize import times as times_module
from forecourt.normalize._wallclock import strptime_halves, strptime_regex
from pyarrow.fs import LocalFileSystem

HEAD = 1 << 20


class Chunked:
    """A non-seekable stream that returns at most ``chunk`` bytes a read (an S3 body does that)."""

    def __init__(self, data: bytes, chunk: int) -> None:
        self._data = io.BytesIO(data)
        self._chunk = chunk

    def read(self, size: int = -1) -> bytes:
        return self._data.read(self._chunk if size < 0 else min(size, self._chunk))


def stream(data: bytes, chunk: int = 1 << 16) -> TextStream:
    head, rest = data[:HEAD], Chunked(data[HEAD:], chunk)
    return TextStream(rest, head, detect_encoding(head, complete=False), complete=False, notes=[])


def as_utf8(text: TextStream, size: int) -> bytes:
    data = Utf8Bytes(text)
    chunks = list(iter(lambda: data.read(size), b""))
    assert all(len(chunk) == size for chunk in chunks[:-1])  # exact blocks until the end
    return b"".join(chunks)


# --- UTF-8 pass-through --------------------------------------------------------------------------


@pytest.mark.parametrize("chunk", [1, 7, 4096, 1 << 16])
@pytest.mark.parametrize(
    "tail",
    [
        "plain ascii\n",
        "Zoë, Jürgen, 東京, 😀 and ’quotes’\n" * 500,
        "cut at the end: é",
    ],
)
def test_utf8_goes_through_unchanged(chunk: int, tail: str) -> None:
    data = ("a,b\n" + "x" * (HEAD - 5) + "é" + tail * 3).encode()
    text = stream(data, chunk)
    assert as_utf8(text, 4099) == data
    assert text.notes == []


@pytest.mark.parametrize("bad", [b"\xe9", b"\x92x\x81", b"\xed\xa0\x80", b"\xc3"])
def test_invalid_utf8_after_the_head_is_read_as_cp1252_with_the_same_note(bad: bytes) -> None:
    data = ("a,b\n" + "y" * HEAD + "Zoë\n").encode() + b"caf" + bad + "ok ë\n".encode()
    plain = stream(data)
    expected = b"".join(iter(lambda: plain.read().encode(), b""))
    passed = stream(data)
    assert as_utf8(passed, 65536) == expected
    assert passed.notes == plain.notes
    assert passed.notes[0].startswith(f"invalid UTF-8 from byte {data.index(b'caf') + 3} on")


def test_a_character_cut_at_the_end_of_the_file_is_invalid_too() -> None:
    data = ("a\n" + "z" * HEAD).encode() + "é".encode()[:1]
    plain = stream(data)
    expected = b"".join(iter(lambda: plain.read().encode(), b""))
    passed = stream(data)
    assert as_utf8(passed, 1000) == expected
    assert passed.notes == plain.notes != []


def test_cp1252_is_still_decoded() -> None:
    data = ("Name\n" + "Renée\n" * 300_000).encode("cp1252")
    text = stream(data)
    assert text.encoding == "cp1252"
    assert as_utf8(text, 65536) == codecs.decode(data, "cp1252").encode()


# --- parsing in a worker thread ------------------------------------------------------------------


def test_stopping_early_stops_the_reading_thread() -> None:
    data = b"A,B\n" + b"1,2\n" * 300_000
    before = threading.active_count()
    batches = open_source(io.BytesIO(data), "big.csv").records(batch_rows=1000)
    first = next(iter(batches))
    assert first.columns.num_rows == 1000
    batches.close()  # type: ignore[attr-defined]
    assert threading.active_count() == before


def test_a_parse_error_reaches_the_caller() -> None:
    data = b'A,B\n1,2\n3,"unclosed\n' + b"5,6\n" * 1_000_000
    with pytest.raises(Exception, match="unclosed quote"):
        list(open_source(io.BytesIO(data), "broken.csv").records())


# --- normalizing each distinct value once ----------------------------------------------------------

KINDS_AND_VALUES = [
    ("name", pa.string(), ["JOHN", "mary o'neil", "McDONALD", "  ", None, "R2D2", "van der berg"]),
    ("text", pa.string(), ["a\tb", " x  y ", None, "", "plain"]),
    ("phone", pa.string(), ["(312) 555-0134", "312.555.0134 x12", "+44 20 7946 0958", "0000000000", None]),
    ("email", pa.string(), ["A@B.COM", "Bob <bob@x.com>", "bad@", None]),
    ("zip", pa.string(), ["60614", "1234", "60614-1234", "K1A 0B1", "abc", None]),
    ("vin", pa.string(), ["1G1YB2D41RA313399", "1G1YB2D40RA313399", "WVWZZZ1JZXW000001", "bad", None]),
    ("flag", pa.bool_(), ["Y", "n", "x", "?", None]),
    ("model_year", pa.int32(), ["2024", "98", "1O99", None]),
    ("number", pa.decimal128(12, 2), ["$1,234.50", "(3)", "12.5%", "x", None]),
    ("state", pa.string(), ["IL", "new york", "Calif.", "XX", None]),
    ("make", pa.string(), ["chevy", "VW", "unknown make", None]),
]


@pytest.mark.parametrize(("kind", "target", "values"), KINDS_AND_VALUES)
def test_a_column_of_repeats_is_normalized_like_one_of_distinct_values(
    kind: str, target: pa.DataType, values: list[str | None], monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(3)
    column = pa.array([rng.choice(values) for _ in range(20_000)], pa.string())
    assert _kernels.few_distinct(column) is not None
    repeated = normalize_column(kind, column, target, Locale())
    monkeypatch.setattr("forecourt.normalize.few_distinct", lambda values: None)
    plain = normalize_column(kind, column, target, Locale())
    assert repeated.values.equals(plain.values)
    assert repeated.invalid.equals(plain.invalid)
    assert repeated.parts.keys() == plain.parts.keys()
    assert all(repeated.parts[name].equals(plain.parts[name]) for name in plain.parts)


def test_a_column_that_hardly_repeats_is_not_dictionary_encoded() -> None:
    assert _kernels.few_distinct(pa.array([f"lead-{i}" for i in range(20_000)])) is None


# --- date and time halves of a feed format -------------------------------------------------------


def messy_date_times(count: int) -> pa.Array:
    rng = random.Random(5)
    dates = ["4/14/2024", "04/14/2024", "2/30/2024", "13/1/2024", "4/14/24", "x/1/2024", "", "4\t14/2024"]
    dates += ["2024-04-14", "2024-02-30"]
    clocks = [
        "3:10 PM",
        "12:00 AM",
        "12:00 p.m.",
        "13:10 PM",
        "3:10",
        "23:59",
        "3:10:59 PM",
        "3:10 PM +05:00",
        "15:10:59",
    ]
    separators = [" ", "  ", "\t", " \t", "", "\n"]
    values = [rng.choice(dates) + rng.choice(separators) + rng.choice(clocks) for _ in range(count)]
    return pa.array([*values, None], pa.string())


def assert_same_parts(split: times_module.Parts, whole: times_module.Parts, label: str) -> None:
    assert split.days.equals(whole.days), label
    parsed = pc.is_valid(whole.days)
    for name in ("time_of_day", "offset"):
        assert pc.filter(getattr(split, name), parsed).equals(pc.filter(getattr(whole, name), parsed)), label


FORMATS = [
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %H:%M %z",
    "%m/%d/%y %I:%M:%S %p",
    "%Y-%m-%d %H:%M:%S",
]


def test_halves_of_a_format_match_exactly_what_the_whole_format_matches() -> None:
    strings = messy_date_times(20_000)
    for format_ in FORMATS:
        halves, pattern = strptime_halves(format_), strptime_regex(format_)
        assert halves is not None and pattern is not None
        whole = times_module._regex_parser(pattern, 2026, strings)
        split = times_module._halves_parser(((halves, pattern),), 2026, strings)
        assert_same_parts(split, whole, format_)


def test_formats_parsed_together_give_what_each_whole_format_gives_in_turn() -> None:
    strings = messy_date_times(20_000)
    for count in (2, len(FORMATS)):
        formats = [(strptime_halves(f), strptime_regex(f)) for f in FORMATS[-count:]]
        patterns = [pattern for _, pattern in formats]
        whole = times_module._chain(
            [functools.partial(times_module._regex_parser, p, 2026) for p in patterns], strings
        )
        together = times_module._halves_parser(tuple(formats), 2026, strings)  # type: ignore[arg-type]
        assert_same_parts(together, whole, f"last {count} formats")
        assert pc.sum(pc.is_valid(whole.days)).as_py() > len(strings) // 100  # not a vacuous match


@pytest.mark.parametrize(
    "format_", ["%m/%d/%Y", "%e/%m/%Y %H:%M", "%d %b %Y", "%Y-%m-%dT%H:%M", "%H:%M %m/%d/%Y"]
)
def test_formats_that_do_not_split_cleanly_keep_the_whole_pattern(format_: str) -> None:
    assert strptime_halves(format_) is None


# --- the data-file writer ------------------------------------------------------------------------

SCHEMA = pa.schema([("at", pa.int64()), ("name", pa.string()), ("nothing", pa.string())])


def writer(tmp_path: object, **options: int) -> lake.DataFileWriter:
    return lake.DataFileWriter(
        LocalFileSystem(),
        str(tmp_path),
        "t",
        SCHEMA,
        "up",
        date(2026, 11, 2),
        statistics=["at"],
        **options,
    )


def test_data_files_carry_statistics_only_for_columns_without_personal_data(tmp_path: object) -> None:
    schema = schemas.get("leads").arrow_schema()
    out = lake.DataFileWriter(LocalFileSystem(), str(tmp_path), "leads", schema, "up", date(2026, 11, 2))
    when = datetime(2026, 11, 2, 14, 5, tzinfo=UTC)
    row = {"requested_at": when, "email": "ann@example.com", "received_at": when}
    row |= {"record_id": "r1", "upload_id": "up", "dealer_id": "D1", "feed": "adf", "source_system": "crm"}
    out.write(pa.Table.from_pylist([row], schema))
    (path,) = out.close()
    group = pq.ParquetFile(path).metadata.row_group(0)
    stats = {group.column(i).path_in_schema: group.column(i).is_stats_set for i in range(group.num_columns)}
    assert stats["requested_at"] and stats["dealer_id"]
    assert not stats["email"] and not stats["first_name"] and not stats["phone"]


@pytest.mark.parametrize("dropping", [False, True])
def test_row_groups_hold_exactly_row_group_rows_in_the_order_written(
    tmp_path: object, dropping: bool
) -> None:
    rng = random.Random(1)
    out = writer(tmp_path, row_group_rows=100, file_rows=250)
    sent = []
    for _ in range(12):
        rows = [rng.randint(0, 10_000) for _ in range(rng.randint(1, 90))]
        keep = [not dropping or rng.random() < 0.7 for _ in rows]
        if dropping and rng.random() < 0.3:
            keep = [False] * len(rows)  # a batch with nothing to keep
        sent += [r for r, k in zip(rows, keep, strict=True) if k]
        table = pa.table({"at": rows, "name": [str(r) for r in rows], "nothing": [None] * len(rows)}, SCHEMA)
        out.write(table, keep=pa.array(keep) if dropping else None)
    files = out.close()
    assert out.rows_written == len(sent)
    groups = [pq.ParquetFile(path).metadata for path in files]
    sizes = [m.row_group(i).num_rows for m in groups for i in range(m.num_row_groups)]
    assert sizes[:-1] == [100] * (len(sizes) - 1) and 0 < sizes[-1] <= 100
    read = [pq.read_table(path) for path in files]
    offset = 0
    for table in read:
        for start in range(0, table.num_rows, 100):
            group = table.slice(start, 100)
            assert group.column("at").to_pylist() == sent[offset : offset + group.num_rows]
            assert group.column("name").to_pylist() == [str(v) for v in group.column("at").to_pylist()]
            assert group.column("nothing").null_count == group.num_rows
            offset += group.num_rows
    assert offset == len(sent)


def test_keep_flags_must_match_the_rows(tmp_path: object) -> None:
    out = writer(tmp_path)
    table = pa.table({"at": [1, 2], "name": ["a", "b"], "nothing": [None, None]}, SCHEMA)
    with pytest.raises(ValueError, match="1 keep flags for 2 rows"):
        out.write(table, keep=pa.array([True]))


def test_a_failed_write_is_raised_by_close(tmp_path: object) -> None:
    out = writer(tmp_path, row_group_rows=10)
    (tmp_path / "tables").write_text("a file where the lake's directory should be")  # type: ignore[operator]
    out.write(pa.table({"at": list(range(10)), "name": ["x"] * 10, "nothing": [None] * 10}, SCHEMA))
    with pytest.raises(OSError):
        out.close()
