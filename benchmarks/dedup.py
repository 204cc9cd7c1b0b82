"""Near-duplicate detection: precision and recall on constructed copies of real articles, cost, and scale.

Quality (default): the articles of a VietNews split (``--split``; text = lead + body) are read in
order, and after each of ``--originals`` randomly chosen articles come, at random later places,
copies of it made here with one kind of edit each:

* ``credit``: a wire credit added ("Hà Nội (TTXVN) - " before the lead, "Theo TTXVN" after the body)
* ``tone``: the other tone-mark style (hoà / hòa) and the credit
* ``drop1``: one body sentence left out
* ``words10``: ten syllables replaced by other syllables of the corpus
* ``republish``: credit, one sentence left out and five syllables replaced
* ``heavy``: three sentences left out and twenty syllables replaced (beyond what the stage is for)

The stream goes through the dedup stage exactly as a run would (batches of 64). A flagged copy
whose ``duplicate_of`` is its original (or an identical twin of it in the corpus) is a true
positive; a flagged real article is a false positive unless its text equals an earlier one's
(the corpus holds a few identical copies: counted apart, as "corpus twins"). Recall is given per
edit kind; "exact" is the recall of the same threshold on the copy's exact Jaccard similarity with
its original (what MinHash + LSH approximates: the gap is what they miss). The reference is exact
deduplication by content hash (what the key filter's ``content_hash`` would catch). The closest
pair of distinct articles (highest estimated similarity) shows the margin to the threshold.

Cost: microseconds per article of the dedup stage beside the topic stage (the shipped model) on the
same texts (the stage's token cache warmed by one untimed pass, as it is after a run's first
thousands of rows; an empty index each repeat), and of the whole default job (normalize, classify,
learned summary) with and without dedup on ``--job-articles`` of them, each interleaved over
``--repeats``, median of per-repeat ratios; and the signatures alone beside datasketch's own
``update_batch`` (SHA-1 per shingle).

Real pairs (``--real vietnews|vntc``): the stage over a real corpus alone (VietNews train, 105,259
articles, or VNTC train, 33,759): how many rows it flags, how many of them have exactly the text of
the row they are flagged against, and the others by similarity band, with the labels of those
labelled by reading in ``benchmarks/dedup_labels.json`` (ids and labels only).

Scale (``--scale N``): VietNews train articles plus constructed copies up to N rows through the
stage (no store): seconds and resident memory at each doubling, to show near-linear growth.

    .venv/bin/python benchmarks/dedup.py --split dev --shingles 3 5 --thresholds 0.4 0.5 0.6 0.7 0.8
    .venv/bin/python benchmarks/dedup.py --split train_sample --shingles 3 --thresholds 0.5
    .venv/bin/python benchmarks/dedup.py --real vietnews --thresholds 0.5
    .venv/bin/python benchmarks/dedup.py --scale 200000
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import statistics
import time
from itertools import pairwise
from pathlib import Path

import numpy as np
from common import SHARED_DATA, argument_parser
from datasketch import MinHash

from pipeline.config import ClassifyConfig, DedupConfig
from pipeline.run.pipeline import Pipeline
from pipeline.stages.classify import ClassifyStage
from pipeline.stages.dedup import DUPLICATE_OF, SIMILARITY, DedupStage, NearDuplicateIndex
from pipeline.text.minhash import canonical_syllables, syllable_shingles
from pipeline.text.normalize import set_tone_style

EDITS = ("credit", "tone", "drop1", "words10", "republish", "heavy")


def load(split: str, limit: int | None = None) -> list[dict]:
    rows = []
    with gzip.open(SHARED_DATA / "vietnews" / f"{split}.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            rows.append({"id": row["id"], "lead": row["abstract"], "body": row["body"].split("\n")})
            if limit and len(rows) >= limit:
                break
    return rows


def text_of(lead: str, body: list[str]) -> str:
    return lead + "\n" + "\n".join(body)


def replace_syllables(text: str, count: int, vocabulary: list[str], rng: random.Random) -> str:
    words = text.split(" ")
    for _ in range(count):
        i = rng.randrange(len(words))
        words[i] = rng.choice(vocabulary)
    return " ".join(words)


def drop_sentences(body: list[str], count: int, rng: random.Random) -> list[str]:
    body = list(body)
    for _ in range(min(count, len(body) - 1)):
        body.pop(rng.randrange(len(body)))
    return body


def edited(row: dict, kind: str, vocabulary: list[str], rng: random.Random) -> str:
    lead, body = row["lead"], row["body"]
    credited = text_of("Hà Nội (TTXVN) - " + lead, [*body, "Theo TTXVN"])
    if kind == "credit":
        return credited
    if kind == "tone":
        styled = set_tone_style(credited, "old")
        return styled if styled != credited else set_tone_style(credited, "new")
    if kind == "drop1":
        return text_of(lead, drop_sentences(body, 1, rng))
    if kind == "words10":
        return replace_syllables(text_of(lead, body), 10, vocabulary, rng)
    if kind == "republish":
        text = text_of("Hà Nội (TTXVN) - " + lead, [*drop_sentences(body, 1, rng), "Theo TTXVN"])
        return replace_syllables(text, 5, vocabulary, rng)
    if kind == "heavy":
        return replace_syllables(text_of(lead, drop_sentences(body, 3, rng)), 20, vocabulary, rng)
    raise ValueError(kind)


def build_stream(rows: list[dict], originals: int, seed: int) -> tuple[list[dict], dict[str, tuple[str, str]]]:
    """The articles in order with copies inserted after their originals; copy id -> (original id, edit kind)."""
    rng = random.Random(seed)
    vocabulary = sorted({w for row in rows[:200] for w in row["lead"].split(" ") if w.isalpha()})
    stream = [{"id": row["id"], "text": text_of(row["lead"], row["body"])} for row in rows]
    chosen = sorted(rng.sample(range(len(rows)), originals))
    inserts: list[tuple[int, dict]] = []
    copies: dict[str, tuple[str, str]] = {}
    for index in chosen:
        for kind in EDITS:
            copy_id = f"copy-{kind}-{rows[index]['id']}"
            copies[copy_id] = (rows[index]["id"], kind)
            inserts.append((rng.randint(index + 1, len(rows)), {"id": copy_id,
                                                                "text": edited(rows[index], kind, vocabulary, rng)}))
    for position, row in sorted(inserts, key=lambda item: -item[0]):
        stream.insert(position, row)
    return stream, copies


def run_stage(stream: list[dict], config: DedupConfig, batch: int = 64) -> tuple[list[dict], float]:
    stage = DedupStage(config)
    out = []
    started = time.perf_counter()
    for i in range(0, len(stream), batch):
        records = [{**row, "content_hash": ""} for row in stream[i : i + batch]]
        out.extend(stage(records))
    return out, time.perf_counter() - started


def quality(args) -> None:
    rows = load(args.split, args.limit)
    stream, copies = build_stream(rows, args.originals, args.seed)
    first_by_text: dict[str, str] = {}
    twin_of: dict[str, str] = {}  # a real article whose text equals an earlier one's -> that one
    for row in stream:
        if row["id"] not in copies:
            digest = hashlib.sha1(row["text"].encode()).hexdigest()
            if digest in first_by_text:
                twin_of[row["id"]] = first_by_text[digest]
            else:
                first_by_text[digest] = row["id"]
    family = {row["id"]: twin_of.get(row["id"], row["id"]) for row in stream if row["id"] not in copies}
    family.update({copy_id: family[original] for copy_id, (original, _) in copies.items()})
    texts = {row["id"]: row["text"] for row in stream}
    print(f"{args.split}: {len(rows):,} articles, {len(copies):,} copies of {args.originals} of them, "
          f"{len(twin_of)} corpus twins; {len(stream):,} rows")
    exact_hash = {kind: 0 for kind in EDITS}
    for copy_id, (original, kind) in copies.items():
        exact_hash[kind] += texts[copy_id] == texts[original]
    print("reference, exact content hash: recall " + ", ".join(f"{k} {exact_hash[k] / args.originals:.2f}"
                                                               for k in EDITS) + "; false positives 0")
    header = "| shingle | threshold | precision | false pos. | twins found | " + " | ".join(EDITS) + " | all |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for size in args.shingles:
        exact_sim = {}
        for copy_id, (original, _) in copies.items():
            a = syllable_shingles(canonical_syllables(texts[copy_id]), size)
            b = syllable_shingles(canonical_syllables(texts[original]), size)
            exact_sim[copy_id] = len(a & b) / len(a | b)
        for threshold in args.thresholds:
            out, _ = run_stage(stream, DedupConfig(enabled=True, threshold=threshold, shingle_size=size))
            found = {kind: 0 for kind in EDITS}
            exact = {kind: 0 for kind in EDITS}
            false_positives, twins = [], 0
            for row in out:
                rid, dup = row["id"], row[DUPLICATE_OF]
                if rid in copies:
                    original, kind = copies[rid]
                    exact[kind] += exact_sim[rid] >= threshold
                    if dup is None:
                        continue
                    if family.get(dup) == family[original]:
                        found[kind] += 1
                    else:
                        false_positives.append((rid, dup, row[SIMILARITY]))
                elif dup is not None:
                    if rid in twin_of and family.get(dup) == family[rid]:
                        twins += 1
                    else:
                        false_positives.append((rid, dup, row[SIMILARITY]))
            flagged = sum(found.values()) + twins + len(false_positives)
            precision = (flagged - len(false_positives)) / flagged if flagged else 1.0
            cells = [f"{found[k] / args.originals:.2f} ({exact[k] / args.originals:.2f})" for k in EDITS]
            total = sum(found.values()) / len(copies)
            print(f"| {size} | {threshold} | {precision:.4f} | {len(false_positives)} | {twins}/{len(twin_of)} | "
                  + " | ".join(cells) + f" | {total:.3f} |")
            for rid, dup, sim in false_positives[:5]:
                print(f"    false positive: {rid} flagged as a copy of {dup} (similarity {sim})")
        # The margin: how close distinct real articles come (brute force on the signatures).
        stage = DedupStage(DedupConfig(enabled=True, shingle_size=size))
        real = [row for row in stream if row["id"] not in copies and row["id"] not in twin_of]
        sigs, _ = stage.signer.sign([row["text"] for row in real])
        best = np.zeros(len(real))
        for i in range(len(real)):
            sims = (sigs == sigs[i]).mean(axis=1)
            sims[i] = 0.0
            best[i] = sims.max()
        q = np.quantile(best, [0.5, 0.99, 1.0])
        print(f"    shingle {size}: closest distinct article, estimated similarity: median {q[0]:.3f}, "
              f"99th percentile {q[1]:.3f}, max {q[2]:.3f}")


def cost(args) -> None:
    rows = load(args.split, args.limit)
    texts = [{"id": row["id"], "title": "", "text": text_of(row["lead"], row["body"]), "content_hash": ""}
             for row in rows]
    classify = ClassifyStage(ClassifyConfig())
    ratios, dedup_us, classify_us = [], [], []
    stage = DedupStage(DedupConfig(enabled=True, threshold=args.thresholds[0], shingle_size=args.shingles[0]))
    stage.signer.sign([r["text"] for r in texts])  # a run's token cache is warm after its first thousands of rows
    for _ in range(args.repeats):
        stage.index = NearDuplicateIndex(stage.signer, stage.config.threshold)  # an empty index each repeat
        started = time.perf_counter()
        for i in range(0, len(texts), 64):
            stage([dict(r) for r in texts[i : i + 64]])
        d = (time.perf_counter() - started) / len(texts)
        started = time.perf_counter()
        for i in range(0, len(texts), 64):
            classify([dict(r) for r in texts[i : i + 64]])
        c = (time.perf_counter() - started) / len(texts)
        dedup_us.append(d * 1e6)
        classify_us.append(c * 1e6)
        ratios.append(d / c)
    # The whole job (normalize, classify, learned extractive summary) with and without dedup, interleaved.
    jobs = {name: Pipeline.from_dict({"input": {"path": "unused.jsonl"}, "output": {"path": "unused.jsonl"},
                                      "dedup": {"enabled": enabled}})
            for name, enabled in (("without", False), ("with", True))}
    job_texts = texts[: args.job_articles]
    job_ratios, job_us = [], {"without": [], "with": []}
    for _ in range(args.repeats):
        for name, pipe in jobs.items():
            for job_stage in pipe.stages:  # a fresh index each repeat
                if isinstance(job_stage, DedupStage):
                    job_stage.index = NearDuplicateIndex(job_stage.signer, job_stage.config.threshold)
            started = time.perf_counter()
            for i in range(0, len(job_texts), 64):
                pipe.process_batch([dict(r) for r in job_texts[i : i + 64]])
            job_us[name].append((time.perf_counter() - started) / len(job_texts) * 1e6)
        job_ratios.append(job_us["with"][-1] / job_us["without"][-1])
    print(f"whole job over {len(job_texts):,} articles (normalize, classify, learned summary): "
          f"{statistics.median(job_us['without']):.0f} us per article without dedup, "
          f"{statistics.median(job_us['with']):.0f} with; with / without = {statistics.median(job_ratios):.2f} "
          "(median of per-repeat ratios)")
    started = time.perf_counter()
    for row in texts:  # datasketch's own path: SHA-1 of every shingle's bytes, update_batch
        reference = MinHash(num_perm=128, seed=1)
        reference.update_batch([s.encode() for s in syllable_shingles(canonical_syllables(row["text"]),
                                                                       args.shingles[0])])
    sha1_us = (time.perf_counter() - started) / len(texts) * 1e6
    started = time.perf_counter()
    stage.signer.sign([row["text"] for row in texts])
    ours_us = (time.perf_counter() - started) / len(texts) * 1e6
    print(f"signatures alone: {ours_us:.0f} us per article (stage's kernel, warm token cache), datasketch "
          f"update_batch with SHA-1 per shingle {sha1_us:.0f} us (one pass each, after the repeats)")
    print(f"cost over {len(texts):,} articles, {args.repeats} repeats: dedup {statistics.median(dedup_us):.0f} us "
          f"per article, topic stage {statistics.median(classify_us):.0f} us; dedup / topic = "
          f"{statistics.median(ratios):.2f} (median of per-repeat ratios)")


def real(args) -> None:
    """Real articles only: which pairs the stage flags, by similarity band, with the labels of the labelled ones."""
    if args.real == "vietnews":
        rows = [{"id": row["id"], "text": text_of(row["lead"], row["body"])} for row in load("train", args.limit)]
    else:
        with gzip.open(SHARED_DATA / "vntc" / "train.jsonl.gz", "rt", encoding="utf-8") as fh:
            rows = [{"id": row["id"], "text": row["text"]} for row in map(json.loads, fh)][: args.limit]
    texts = {row["id"]: row["text"] for row in rows}
    labels = {frozenset((p["a"], p["b"])): p["label"]
              for p in json.loads((Path(__file__).parent / "dedup_labels.json").read_text(encoding="utf-8"))["pairs"]}
    out, seconds = run_stage(rows, DedupConfig(enabled=True, threshold=args.thresholds[0],
                                               shingle_size=args.shingles[0]))
    flagged = [(r["id"], r[DUPLICATE_OF], r[SIMILARITY]) for r in out if r[DUPLICATE_OF]]
    twins = [f for f in flagged if texts[f[0]].strip() == texts[f[1]].strip()]
    others = [f for f in flagged if texts[f[0]].strip() != texts[f[1]].strip()]
    print(f"{args.real} train: {len(rows):,} articles, threshold {args.thresholds[0]}, shingle {args.shingles[0]}: "
          f"{len(flagged):,} flagged in {seconds:.0f} s, {len(twins):,} of them with the very text of the row they "
          f"are flagged against; the others by estimated similarity:")
    print("| similarity | flagged | labelled: same article (C) | different article (D) | templated page (T) |")
    print("|---|---|---|---|---|")
    bands = [args.thresholds[0], *[b for b in (0.6, 0.7, 0.8, 0.9) if b > args.thresholds[0]], 1.01]
    for low, high in pairwise(bands):
        band = [f for f in others if low <= f[2] < high]
        found = [labels.get(frozenset(f[:2])) for f in band]
        print(f"| {low:.2f}-{min(high, 1.0):.2f} | {len(band)} | {found.count('C')} | {found.count('D')} | "
              f"{found.count('T')} |")


def rss_mib() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def scale(args) -> None:
    rng = random.Random(args.seed)
    rows = load("train", args.scale)
    vocabulary = sorted({w for row in rows[:200] for w in row["lead"].split(" ") if w.isalpha()})
    base = rss_mib()

    def stream():
        for i in range(args.scale):
            if i < len(rows):
                yield {"id": rows[i]["id"], "text": text_of(rows[i]["lead"], rows[i]["body"]), "content_hash": ""}
            else:  # past the corpus: an edited copy of an earlier article
                row = rows[rng.randrange(len(rows))]
                yield {"id": f"copy-{i}", "text": edited(row, rng.choice(EDITS), vocabulary, rng), "content_hash": ""}

    stage = DedupStage(DedupConfig(enabled=True, threshold=args.thresholds[0], shingle_size=args.shingles[0]))
    real_flags: list[tuple[str, str, float]] = []
    print(f"scale: {len(rows):,} VietNews train articles, then edited copies up to {args.scale:,} rows")
    print("| rows | seconds | CPU us per row (this step) | flagged | index rows | RSS growth MiB |")
    print("|---|---|---|---|---|---|")
    started = time.perf_counter()
    last_time = time.process_time()
    last_rows, batch, mark = 0, [], 25_000
    for n, record in enumerate(stream(), 1):
        batch.append(record)
        if len(batch) == 64 or n == args.scale:
            real_flags += [(r["id"], r[DUPLICATE_OF], r[SIMILARITY]) for r in stage(batch)
                           if r[DUPLICATE_OF] and not r["id"].startswith("copy-")]
            batch = []
        if n == mark or n == args.scale:
            now = time.process_time()
            per_row = (now - last_time) / (n - last_rows) * 1e6
            print(f"| {n:,} | {time.perf_counter() - started:.0f} | {per_row:.0f} | {stage.duplicates:,} | "
                  f"{len(stage.index):,} | {rss_mib() - base:.0f} |", flush=True)
            last_time, last_rows, mark = now, n, mark * 2
    texts = {row["id"]: text_of(row["lead"], row["body"]) for row in rows}
    twins = sum(1 for rid, dup, _ in real_flags if texts[rid] == texts.get(dup))
    sims = sorted(sim for rid, dup, sim in real_flags if texts[rid] != texts.get(dup))
    print(f"real articles flagged: {len(real_flags)}, of which {twins} have exactly the text of the row they are "
          f"flagged against; the other {len(sims)} have estimated similarity {sims[:3]} ... {sims[-3:]}")


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--split", default="dev", choices=["dev", "train_sample", "train"])
    parser.add_argument("--limit", type=int, default=None, help="read only this many articles of the split")
    parser.add_argument("--originals", type=int, default=300, help="articles that get copies")
    parser.add_argument("--shingles", type=int, nargs="+", default=[3])
    parser.add_argument("--thresholds", type=float, nargs="+", default=[DedupConfig().threshold])
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--repeats", type=int, default=3, help="cost: interleaved repeats")
    parser.add_argument("--no-cost", action="store_true", help="skip the cost comparison")
    parser.add_argument("--cost-only", action="store_true", help="only the cost comparison")
    parser.add_argument("--job-articles", type=int, default=1000, help="cost: articles for the whole-job comparison")
    parser.add_argument("--scale", type=int, default=None, help="run the scale test with this many rows instead")
    parser.add_argument("--real", choices=["vietnews", "vntc"], default=None,
                        help="run over a real corpus only (VietNews train or VNTC train) and report what is flagged")
    args = parser.parse_args()
    if args.scale:
        scale(args)
        return
    if args.real:
        real(args)
        return
    if not args.cost_only:
        quality(args)
    if not args.no_cost:
        cost(args)


if __name__ == "__main__":
    main()
