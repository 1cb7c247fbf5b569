"""Identity resolution benchmark: prints figures, asserts nothing (issue 5).

On labelled people (``forecourt.local.identity_truth``: census-shaped names, households, nicknames,
typos, married names, moves, missing values), each run in its own process (fresh peak RSS):

  forecourt  our resolution: features + the SQL of queries/identity on DuckDB
  splink     Splink 5 (DuckDB backend) on the same folded fields, trained as its tutorials do:
             probability two random records match from deterministic rules, u by random sampling,
             m by expectation maximisation; predicted with the same blocking keys, clustered at
             the same match probability

and for each: pairwise precision, recall and F1 of the clusters against the truth, blocking
pairs-completeness (true pairs among the candidate pairs), records/s and peak RSS.

Usage: python bench/identity_bench.py [--records 100000] [--million] [--skip-splink]
Splink is a bench-only dependency: pip install -e '.[bench]' (``make bench-identity`` does it).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).parent / "out"
SEED = 7


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ensure_data(records: int) -> Path:
    """The labelled people as Parquet (generated once per size)."""
    import pyarrow.parquet as pq
    from forecourt.local.identity_truth import generate

    path = OUT / f"people_{records}.parquet"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        pq.write_table(generate(records, seed=SEED), path)
    return path


def _features(path: Path):  # type: ignore[no-untyped-def]
    import pyarrow.parquet as pq
    from forecourt.identity.features import features, normalize_people
    from forecourt.normalize import Locale

    data = pq.read_table(path)
    truth = dict(zip(data["record_id"].to_pylist(), data["true_person"].to_pylist(), strict=True))
    return truth, features(normalize_people(data.drop_columns(["true_person"]), Locale()))


def _quality(truth: dict[str, str], found: dict[str, str], candidates: list[tuple[str, str]]) -> dict:
    from forecourt.local.identity_truth import pair_scores, pairs_completeness

    ids = sorted(truth)
    scores = pair_scores([truth[i] for i in ids], [found[i] for i in ids])
    return {
        "precision": scores.precision,
        "recall": scores.recall,
        "f1": scores.f1,
        "pairs_completeness": pairs_completeness(truth, candidates),
        "candidate_pairs": len(candidates),
        "persons": len(set(found.values())),
        "true_persons": len(set(truth.values())),
    }


def child_forecourt(path: Path) -> dict:
    from forecourt.identity.resolve import ResolveConfig, resolve

    started = time.perf_counter()
    truth, prepared = _features(path)
    config = ResolveConfig()
    result = resolve(prepared, config)
    seconds = time.perf_counter() - started
    found = dict(
        zip(result.links["record_id"].to_pylist(), result.links["person_id"].to_pylist(), strict=True)
    )
    pairs = list(zip(result.pairs["left_id"].to_pylist(), result.pairs["right_id"].to_pylist(), strict=True))
    return {
        "seconds": seconds,
        "records": len(truth),
        "peak_rss_mb": peak_rss_mb(),
        "threshold": config.threshold,
    } | _quality(truth, found, pairs)


BLOCKING_KEYS = (
    ("email",),
    ("phone",),
    ("last_name", "zip5"),
    ("first_canon", "zip5"),
    ("street_key",),
    ("first_canon", "last_name"),
    ("birth_date",),
)
"""Splink's prediction blocking: our keys that Splink's block_on expresses directly."""


def child_splink(path: Path) -> dict:
    import splink.comparison_library as cl
    from forecourt.identity.resolve import ResolveConfig
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    started = time.perf_counter()
    truth, prepared = _features(path)
    prepared = prepared.rename_columns(["unique_id", *prepared.column_names[1:]])
    settings = SettingsCreator(
        link_type="dedupe_only",
        comparisons=[
            cl.NameComparison("first_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("last_name").configure(term_frequency_adjustments=True),
            cl.EmailComparison("email"),
            cl.ExactMatch("phone"),
            cl.ExactMatch("zip5").configure(term_frequency_adjustments=True),
            cl.LevenshteinAtThresholds("street_key", [2]),
            cl.LevenshteinAtThresholds("birth_date", [1]),
        ],
        blocking_rules_to_generate_predictions=[block_on(*key) for key in BLOCKING_KEYS],
        retain_intermediate_calculation_columns=False,
    )
    db_api = DuckDBAPI()
    linker = Linker(db_api.register(prepared), settings, log_level="WARNING")
    linker.training.estimate_probability_two_random_records_match(
        [block_on("email", "first_name"), block_on("phone", "first_name")], recall=0.6
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=SEED)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("first_name", "last_name"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("zip5", "street_key"))
    threshold = ResolveConfig().threshold
    predictions = linker.inference.predict(threshold_match_probability=0.0)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, threshold)
    seconds = time.perf_counter() - started
    table = clusters.as_duckdbpyrelation().select("unique_id, cluster_id").arrow().read_all()
    found = dict(
        zip(table["unique_id"].to_pylist(), [str(c) for c in table["cluster_id"].to_pylist()], strict=True)
    )
    candidates = predictions.as_duckdbpyrelation().select("unique_id_l, unique_id_r").fetchall()
    pairs = [(min(a, b), max(a, b)) for a, b in candidates]
    return {
        "seconds": seconds,
        "records": len(truth),
        "peak_rss_mb": peak_rss_mb(),
        "threshold": threshold,
    } | _quality(truth, found, pairs)


def run_child(kind: str, path: Path) -> dict:
    answer = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(path)], capture_output=True, text=True, check=False
    )
    if answer.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{answer.stderr[-4000:]}")
    return json.loads(answer.stdout.strip().splitlines()[-1])


def _line(name: str, r: dict) -> str:
    return (
        f"{name:10s} P {r['precision']:.4f}  R {r['recall']:.4f}  F1 {r['f1']:.4f}  "
        f"pairs-completeness {r['pairs_completeness']:.4f} ({r['candidate_pairs']:,} pairs)  "
        f"{r['records'] / r['seconds']:,.0f} records/s ({r['seconds']:.1f} s)  peak RSS {r['peak_rss_mb']:.0f} MB  "
        f"persons {r['persons']:,} (true {r['true_persons']:,})"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--million", action="store_true", help="Also our resolution alone on 1 M records.")
    parser.add_argument("--skip-splink", action="store_true")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, path = args.child
        result = {"forecourt": child_forecourt, "splink": child_splink}[kind](Path(path))
        print(json.dumps(result))
        return
    path = ensure_data(args.records)
    print(f"labelled people: {args.records:,} records (seed {SEED}); threshold: match probability")
    ours = run_child("forecourt", path)
    print(_line("forecourt", ours))
    if not args.skip_splink:
        theirs = run_child("splink", path)
        print(_line("splink", theirs))
        print(
            f"forecourt vs splink: F1 {ours['f1'] - theirs['f1']:+.4f}, "
            f"time {ours['seconds'] / theirs['seconds']:.2f}x of Splink's"
        )
    if args.million:
        big = run_child("forecourt", ensure_data(1_000_000))
        print(_line("forecourt", big) + "  [1 M records]")


if __name__ == "__main__":
    main()
