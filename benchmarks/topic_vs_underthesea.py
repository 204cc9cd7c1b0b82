"""Our default topic model against underthesea's classifier recipe, trained and scored in one run.

Both systems get the same stratified train/validation split of VNTC train (the split and seed of
configs/train_topic.yaml) and the same texts. Ours is built from the committed config's model
section; underthesea's is its own recipe, all in Rust: TF-IDF over syllable 1-2-grams, 20,000
features, LinearSVC (C=1). Speed is articles/s over the validation texts, best of ``--repeats``
alternating runs (the machine is shared; only the ratio in one run means anything).

Speed inputs are the raw validation articles as the reader yields them (accuracy uses the cleaned
texts both systems were trained on). Ours is timed as the model alone (it lower-cases and sets
the tone style itself) and as the real pipeline stages of ``--job`` (default the quickstart job:
NormalizeStage with its defaults, i.e. NFC, invisible characters, blanks, HTML check, language
check, then ClassifyStage with the shipped model and top-3), on fresh record dicts every repeat,
dropping quarantined records between stages as the runner does. Each stage is also timed alone,
which is the profile of where the time goes.

    .venv/bin/python benchmarks/topic_vs_underthesea.py            # about 2-3 minutes on 2 cores
    .venv/bin/python benchmarks/topic_vs_underthesea.py --limit 5000  # a quick smoke run
"""

from __future__ import annotations

import gc
import time

import numpy as np
from common import ROOT, argument_parser
from sklearn.model_selection import train_test_split

from pipeline.config import InputConfig, JobConfig, TrainConfig, load_config
from pipeline.io.readers import read_batches
from pipeline.reports.metrics import classification_metrics
from pipeline.stages import QUARANTINE_KEY
from pipeline.stages.classify import ClassifyStage, classifier_input
from pipeline.stages.normalize import NormalizeStage
from pipeline.topic import build_topic_model
from pipeline.topic.training import load_labelled


def timed(fn, n: int) -> tuple[float, float]:
    """Articles per second (wall clock) and CPU microseconds per article (all of the process's threads).

    CPU time is the steadier number on a shared machine: another process slows the wall clock of a
    call, much less the CPU the call itself needs. Both systems use both cores (underthesea's Rust
    thread pool, our numba kernels). A short pause first lets the previous call's worker threads,
    which spin a while after their work, go to sleep, so no system is timed against the other's.
    """
    time.sleep(0.3)
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return n / (time.perf_counter() - wall), (time.process_time() - cpu) / n * 1e6


def raw_records(config: TrainConfig, ids: list[str]) -> list[dict]:
    """The articles with these ids as the reader yields them (before any cleaning), in that order."""
    data = config.data
    input_config = InputConfig(path=data.path, format=data.format, text_field=data.text_field,
                               title_field=data.title_field, id_field="id", batch_size=4096, limit=data.limit)
    by_id = {r["id"]: r for batch in read_batches(input_config) for r in batch.records}
    return [{"id": i, "title": by_id[i]["title"], "text": by_id[i]["text"]} for i in ids]


def run_stages(normalize: NormalizeStage, classify: ClassifyStage, records: list[dict]) -> list[dict]:
    """What the runner does with a batch: normalize, drop the quarantined, classify."""
    return classify([r for r in normalize(records) if QUARANTINE_KEY not in r])


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--config", default=str(ROOT / "configs" / "train_topic.yaml"))
    parser.add_argument("--data", default=None, help="labelled JSONL (default: the config's data.path)")
    parser.add_argument("--limit", type=int, default=None,
                        help="use a stratified sample of N articles (VNTC's file is sorted by label)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--job", default=str(ROOT / "configs" / "quickstart.yaml"),
                        help="job config whose normalize and classify sections are timed")
    args = parser.parse_args()

    overrides = {}
    if args.data:
        overrides["data.path"] = args.data
    config = load_config(TrainConfig, args.config, overrides)
    data = load_labelled(config.data)
    pool = np.arange(len(data.texts))
    if args.limit and args.limit < len(pool):
        pool, _ = train_test_split(pool, train_size=args.limit, random_state=config.seed, stratify=data.labels)
        columns = (data.texts, data.labels, data.ids)
        data.texts, data.labels, data.ids = ([values[i] for i in pool] for values in columns)
    train_idx, val_idx = train_test_split(
        np.arange(len(data.texts)), test_size=config.validation_split, random_state=config.seed, stratify=data.labels
    )
    train_texts = [data.texts[i] for i in train_idx]
    train_labels = [data.labels[i] for i in train_idx]
    val_texts = [data.texts[i] for i in val_idx]
    val_labels = [data.labels[i] for i in val_idx]
    val_records = raw_records(config, [data.ids[i] for i in val_idx])
    speed_texts = [classifier_input(r) for r in val_records]  # raw: what a job's reader hands over
    print(f"VNTC: {len(train_texts)} training, {len(val_texts)} validation articles (seed {config.seed})")

    from underthesea_core import TextClassifier

    results = {}
    started = time.perf_counter()
    ours = build_topic_model(config.model.model_dump(), config.seed).fit(train_texts, train_labels)
    ours_train = time.perf_counter() - started
    ours.predict(val_texts[:64])  # compile the kernels once (cached on disk after the first run)
    job = load_config(JobConfig, args.job)
    normalize, classify = NormalizeStage(job.normalize), ClassifyStage(job.classify)
    run_stages(normalize, classify, [dict(r) for r in val_records[:64]])

    started = time.perf_counter()
    theirs = TextClassifier(max_features=20000, ngram_range=(1, 2), c=1.0)
    theirs.fit(train_texts, train_labels)
    theirs_train = time.perf_counter() - started

    n = len(speed_texts)
    # The training corpus and both fitted models stay in this process; a job's process holds only its
    # batch. Freezing them keeps Python's garbage collector from re-scanning them whenever a timed call
    # allocates (our stages create the output dicts, underthesea returns a list of strings).
    del data, train_texts, train_labels
    gc.collect()
    gc.freeze()
    normalized = [r for r in normalize([dict(r) for r in val_records]) if QUARANTINE_KEY not in r]
    runs = {
        "underthesea": lambda: theirs.predict_batch(speed_texts),
        "ours": lambda: ours.predict(speed_texts),
        "ours+stages": lambda records: run_stages(normalize, classify, records),
        "normalize stage": lambda records: normalize(records),
        "classify stage": lambda records: classify(records),
    }
    rates = {name: [] for name in runs}
    cpu_us = {name: [] for name in runs}
    for _ in range(args.repeats):  # alternate, so all see the same machine load
        for name, fn in runs.items():
            if name == "classify stage":  # on normalized records, as in the pipeline
                records = [dict(r) for r in normalized]
                rate, cpu = timed(lambda fn=fn, records=records: fn(records), len(records))
            elif name.startswith("ours+") or name.endswith("stage"):
                records = [dict(r) for r in val_records]  # fresh dicts each repeat, made outside the clock
                rate, cpu = timed(lambda fn=fn, records=records: fn(records), n)
            else:
                rate, cpu = timed(fn, n)
            rates[name].append(rate)
            cpu_us[name].append(cpu)
    speed = {name: max(values) for name, values in rates.items()}

    results["ours"] = (classification_metrics(val_labels, ours.predict(val_texts), ours.classes_), ours_train)
    results["underthesea"] = (
        classification_metrics(val_labels, list(theirs.predict_batch(val_texts)), list(theirs.classes)),
        theirs_train,
    )

    print(f"\n{'system':<34} {'accuracy':>8} {'macro-F1':>8} {'train s':>8} {'articles/s':>11}")
    labels = {"ours": f"ours ({config.output_dir.name})", "underthesea": "underthesea TextClassifier"}
    for name, (metrics, seconds) in results.items():
        print(f"{labels[name]:<34} {metrics['accuracy']:8.4f} {metrics['macro_f1']:8.4f} {seconds:8.1f} "
              f"{speed[name]:11.0f}")
    print(f"{'ours: normalize + classify stages':<34} {'':8} {'':8} {'':8} {speed['ours+stages']:11.0f}")
    print(f"{'  normalize stage alone':<34} {'':8} {'':8} {'':8} {speed['normalize stage']:11.0f}")
    print(f"{'  classify stage alone':<34} {'':8} {'':8} {'':8} {speed['classify stage']:11.0f}")
    print(f"\nspeed ratio ours / underthesea: model alone {speed['ours'] / speed['underthesea']:.2f}, "
          f"with the normalize and classify stages {speed['ours+stages'] / speed['underthesea']:.2f}; "
          f"training time ratio: {ours_train / theirs_train:.2f}")
    print(f"articles/s per repeat: {({k: [round(v) for v in vals] for k, vals in rates.items()})}")
    paired = {k: float(np.median(np.array(rates[k]) / np.array(rates["underthesea"]))) for k in ("ours", "ours+stages")}
    print(f"median of the per-repeat ratios (each pair timed seconds apart; steadier under load): model alone "
          f"{paired['ours']:.2f}, with the stages {paired['ours+stages']:.2f}")
    cpu = {name: min(values) for name, values in cpu_us.items()}
    print("CPU microseconds per article (least of the repeats, all threads of the process): "
          + ", ".join(f"{name} {value:.1f}" for name, value in cpu.items()))
    print(f"CPU time ratio underthesea / ours: model alone {cpu['underthesea'] / cpu['ours']:.2f}, "
          f"with the normalize and classify stages {cpu['underthesea'] / cpu['ours+stages']:.2f}")
    share = {k: speed["ours+stages"] / speed[k] for k in ("normalize stage", "classify stage")}
    print(f"time share of the stages run: normalize {share['normalize stage']:.0%}, "
          f"classify {share['classify stage']:.0%} (of which the model alone "
          f"{speed['ours+stages'] / speed['ours']:.0%})")
    print(f"\n{'per-class F1':<20} {'ours':>6} {'underthesea':>11}")
    for label in results["ours"][0]["per_class"]:
        theirs_f1 = results["underthesea"][0]["per_class"].get(label, {}).get("f1", float("nan"))
        print(f"{label:<20} {results['ours'][0]['per_class'][label]['f1']:6.3f} {theirs_f1:11.3f}")


if __name__ == "__main__":
    main()
