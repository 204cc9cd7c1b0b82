"""How consistent are the hand labels of the VietNews dev topic sample? A second, blind reading.

``benchmarks/data/vietnews_dev_topics.csv`` gives VNTC topics to 600 VietNews dev articles (see
docs/topic-labelling.md). A seeded random 100 of them were labelled a second time, by reading title
and lead only and following the same rules, without looking at the first labels or at any model's
predictions; those labels are in ``benchmarks/data/vietnews_dev_topics_second.csv`` (``id,label``).
This script prints the articles of that sample to label (``--show``: id, title, lead; never the
first labels) and, without ``--show``, the agreement of the two readings: accuracy, Cohen's kappa
and the pairs of labels they disagree on. The agreement bounds what accuracy a model can be
expected to reach against either reading.

    .venv/bin/python benchmarks/topic_label_agreement.py --show --start 0 --count 25   # to label
    .venv/bin/python benchmarks/topic_label_agreement.py                                 # agreement
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
from collections import Counter

from common import ROOT, SHARED_DATA, argument_parser
from vietnews_topic_sample import split_of

FIRST = ROOT / "benchmarks" / "data" / "vietnews_dev_topics.csv"
SECOND = ROOT / "benchmarks" / "data" / "vietnews_dev_topics_second.csv"
SALT = "vietnews-topic-second-reading"
SIZE = 100


def second_sample() -> list[str]:
    """The ids read a second time: the first ``SIZE`` of the labelled ids in a seeded hash order."""
    with open(FIRST, encoding="utf-8") as fh:
        ids = [row["id"] for row in csv.DictReader(fh)]
    key = lambda i: hashlib.sha256(f"{SALT}:{i}".encode()).digest()  # noqa: E731
    return sorted(ids, key=key)[:SIZE]


def read_labels(path) -> dict[str, str]:
    with open(path, encoding="utf-8") as fh:
        return {row["id"]: row["label"] for row in csv.DictReader(fh)}


def cohen_kappa(a: list[str], b: list[str]) -> float:
    """Agreement beyond what two readers with these label frequencies would reach by chance."""
    n = len(a)
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    ca, cb = Counter(a), Counter(b)
    expected = sum(ca[k] * cb[k] for k in set(ca) | set(cb)) / (n * n)
    return (observed - expected) / (1 - expected)


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion (sound near 0 and 1, unlike the normal approximation)."""
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    return centre - half, centre + half


def show(start: int, count: int, chars: int) -> None:
    ids = second_sample()[start : start + count]
    wanted = set(ids)
    with gzip.open(SHARED_DATA / "vietnews" / "dev.jsonl.gz", "rt", encoding="utf-8") as fh:
        rows = {r["id"]: r for r in map(json.loads, fh) if r["id"] in wanted}
    for article_id in ids:
        row = rows[article_id]
        print(f"{article_id} | {row['title']} | {row['abstract'][:chars]}\n")


def agreement() -> None:
    first, second = read_labels(FIRST), read_labels(SECOND)
    ids = [i for i in second_sample() if i in second]
    print(f"{len(ids)} articles read twice (of {SIZE} sampled)")
    for part in ("all", "tuning", "held_out"):
        chosen = [i for i in ids if part == "all" or split_of(i) == part]
        a, b = [first[i] for i in chosen], [second[i] for i in chosen]
        agree = sum(x == y for x, y in zip(a, b, strict=True))
        low, high = wilson(agree, len(chosen))
        print(f"{part:<9} n={len(chosen):3d} agreement {agree / len(chosen):.3f} ({agree}/{len(chosen)}, 95 % "
              f"interval {low:.3f}-{high:.3f}), Cohen's kappa {cohen_kappa(a, b):.3f}")
    pairs = Counter((first[i], second[i]) for i in ids if first[i] != second[i])
    print("\ndisagreements (first reading -> second reading): count")
    for (x, y), n in pairs.most_common():
        print(f"  {x} -> {y}: {n}")
    print("\nlabels per reading (first / second)")
    c1, c2 = Counter(first[i] for i in ids), Counter(second[i] for i in ids)
    for label in sorted(set(c1) | set(c2), key=lambda k: -(c1[k] + c2[k])):
        print(f"  {label}: {c1[label]} / {c2[label]}")


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--show", action="store_true", help="print the sample's articles to label")
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--count", type=int, default=SIZE)
    parser.add_argument("--chars", type=int, default=400, help="print at most this much of the lead")
    args = parser.parse_args()
    if args.show:
        show(args.start, args.count, args.chars)
    else:
        agreement()


if __name__ == "__main__":
    main()
