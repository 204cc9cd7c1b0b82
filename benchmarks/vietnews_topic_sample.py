"""Print VietNews dev articles (id, title, lead) in a fixed order, for labelling their topics by hand.

The order is a seeded hash of each id, so the first N articles are a random sample that does not
change between runs; ``benchmarks/data/vietnews_dev_topics.csv`` holds the labels (id,label) given
to the first of them by reading this output, following docs/topic-labelling.md. The text itself
stays in the shared data; only ids and labels are in the repository.

    .venv/bin/python benchmarks/vietnews_topic_sample.py --start 0 --count 50
"""

from __future__ import annotations

import gzip
import hashlib
import json

from common import SHARED_DATA, argument_parser

DEV = SHARED_DATA / "vietnews" / "dev.jsonl.gz"
SAMPLE_SALT = "vietnews-topic-sample"
SPLIT_SALT = "vietnews-topic-split"


def _hash(salt: str, article_id: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{salt}:{article_id}".encode()).digest()[:8], "big")


def sample_order(ids: list[str]) -> list[str]:
    """The ids in labelling order (seeded hash of the id)."""
    return sorted(ids, key=lambda i: _hash(SAMPLE_SALT, i))


def split_of(article_id: str) -> str:
    """``tuning`` for about a third of the ids (may be used to choose settings), else ``held_out``."""
    return "tuning" if _hash(SPLIT_SALT, article_id) % 3 == 0 else "held_out"


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--chars", type=int, default=400, help="print at most this much of the lead")
    args = parser.parse_args()
    with gzip.open(DEV, "rt", encoding="utf-8") as f:
        rows = {r["id"]: r for r in map(json.loads, f)}
    for article_id in sample_order(list(rows))[args.start : args.start + args.count]:
        row = rows[article_id]
        print(f"{article_id} | {row['title']} | {row['abstract'][: args.chars]}")


if __name__ == "__main__":
    main()
