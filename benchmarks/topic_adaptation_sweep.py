"""Self-training settings for the topic model, scored on VNTC validation and the VietNews tuning part.

Vectorizes once with the config's features (vocabulary and idf over VNTC train + the unlabeled
VietNews articles, as ``adaptation.vocabulary: true`` does), caches the matrices under ``--cache``,
then runs each variant's self-training on them with the same steps as
``TfidfLinearClassifier.fit`` (LinearSVC, temperature from the labelled articles' out-of-fold
margins, pseudo-labels above a calibrated probability). Variants differ in rounds, threshold,
class weights and how pseudo-labels are chosen (for example with class priors re-estimated on the
unlabeled articles by EM, Saerens et al. 2002). The held-out part of the VietNews sample is only
scored with ``--held-out`` (once, for the variant chosen on the tuning part).

    .venv/bin/python benchmarks/topic_adaptation_sweep.py --variants base r3 em   # ~3 min to cache, ~2 min a variant
    .venv/bin/python benchmarks/topic_adaptation_sweep.py --variants base --few-shot 5 20   # ~10 min a weight
    .venv/bin/python benchmarks/topic_adaptation_sweep.py --list
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from common import ROOT, argument_parser
from topic_cross_era import vietnews_labelled

from pipeline.config import TrainConfig, load_config
from pipeline.topic.tfidf_linear import TfidfLinearClassifier, _as_2d, _softmax
from pipeline.topic.training import load_labelled, load_unlabeled

# name -> settings; keys: rounds, threshold, weight, cw ("all": balanced over labelled + pseudo,
# as fit does; "labelled": balanced weights counted on the labelled articles only; "none": no class
# weights in the self-training fits), em (pseudo-labels
# from posteriors adjusted to EM-estimated target priors), C
VARIANTS: dict[str, dict] = {
    "base": {},  # the shipped config: 2 rounds, threshold 0.9
    "r1": {"rounds": 1},
    "r3": {"rounds": 3},
    "r4": {"rounds": 4},
    "t08": {"threshold": 0.8},
    "t08r3": {"threshold": 0.8, "rounds": 3},
    "t07r3": {"threshold": 0.7, "rounds": 3},
    "cwlab": {"cw": "labelled"},
    "cwlab_r3": {"cw": "labelled", "rounds": 3},
    "em": {"em": True},
    "em_r3": {"em": True, "rounds": 3},
    "em_t08": {"em": True, "threshold": 0.8},
    "em_cwlab": {"em": True, "cw": "labelled"},
    "cwnone": {"cw": "none"},
    "cwnone_r3": {"cw": "none", "rounds": 3},
    "cwlab_t08": {"cw": "labelled", "threshold": 0.8},
    "em_cwnone": {"em": True, "cw": "none"},
    "tw06": {"tw": 0.6},
    "tw08": {"tw": 0.8},
    "tw10": {"tw": 1.0},
    "C05": {"C": 0.5},
    "C2": {"C": 2.0},
}
DEFAULTS = {"rounds": 2, "threshold": 0.9, "weight": 1.0, "cw": "all", "em": False, "C": None, "tw": None}


def with_title_weight(f: dict, config: TrainConfig, title_weight: float | None) -> dict:
    """The cached matrices with the first-line block rescaled: the same as training with another ``title_weight``."""
    if title_weight is None:
        return f
    n_body = config.model.max_features
    out = dict(f)
    for name in ("X", "XU", "Xval", "Xtune", "Xheld"):
        scale = np.ones(f[name].shape[1], dtype=np.float32)
        scale[n_body:] = title_weight / config.model.title_weight
        out[name] = sp.csr_matrix(f[name].multiply(scale[None, :]))
    return out


def em_priors(proba: np.ndarray, train_priors: np.ndarray, iterations: int = 100) -> np.ndarray:
    """Class priors of unlabeled data by EM on a classifier's posteriors (Saerens, Latinne & Decaestecker 2002)."""
    priors = train_priors.copy()
    for _ in range(iterations):
        adjusted = proba * (priors / train_priors)
        adjusted /= adjusted.sum(axis=1, keepdims=True)
        new = adjusted.mean(axis=0)
        if np.abs(new - priors).max() < 1e-6:
            return new
        priors = new
    return priors


def features(config: TrainConfig, cache: Path) -> dict:
    """X (labelled fit part), y, XU (unlabeled), validation and VietNews parts, vectorized once and cached."""
    from sklearn.model_selection import train_test_split

    cache.mkdir(parents=True, exist_ok=True)
    names = ["X", "XU", "Xval", "Xtune", "Xheld"]
    if all((cache / f"{n}.npz").exists() for n in names):
        out = {n: sp.load_npz(cache / f"{n}.npz").tocsr() for n in names}
        out.update(json.loads((cache / "labels.json").read_text(encoding="utf-8")))
        return out
    data = load_labelled(config.data)
    train_idx, val_idx = train_test_split(range(len(data.texts)), test_size=config.validation_split,
                                          random_state=config.seed, stratify=data.labels)
    unlabeled = load_unlabeled(config.adaptation.data)
    model = TfidfLinearClassifier(**config.model.model_dump(exclude={"kind"}), seed=config.seed)
    texts = [data.texts[i] for i in train_idx]
    model.fit(texts, [data.labels[i] for i in train_idx], unlabeled, vocabulary=True, rounds=0)
    tune_texts, tune_y, _ = vietnews_labelled("tuning")
    held_texts, held_y, _ = vietnews_labelled("held_out")
    out = {"X": model._features(texts), "XU": model._features(unlabeled),
           "Xval": model._features([data.texts[i] for i in val_idx]),
           "Xtune": model._features(tune_texts), "Xheld": model._features(held_texts)}
    for n in names:
        sp.save_npz(cache / f"{n}.npz", out[n])
    labels = {"y": [data.labels[i] for i in train_idx], "yval": [data.labels[i] for i in val_idx],
              "ytune": tune_y, "yheld": held_y}
    (cache / "labels.json").write_text(json.dumps(labels, ensure_ascii=False), encoding="utf-8")
    out.update(labels)
    return out


_INITIAL: dict = {}  # (C, title weight) -> (coef, intercept, classes, temperature) of the labelled-only model
LAST_FIT: dict = {}  # the last self-training fit's X, y and sample weights (for models fitted beside it)


def run_variant(config: TrainConfig, f: dict, settings: dict,
                extra: tuple | None = None) -> tuple[TfidfLinearClassifier, list[dict]]:
    """Self-training as ``TfidfLinearClassifier.fit`` does it, with the variant's changes.

    ``extra`` = (X, y, weight): labelled articles of the target kind that join every self-training
    fit (not the first, labelled-only model, so its pseudo-labels are shared across folds).
    """
    from sklearn.utils.class_weight import compute_class_weight

    s = DEFAULTS | settings
    params = config.model.model_dump(exclude={"kind"})
    if s["C"] is not None:
        params["C"] = s["C"]
    model = TfidfLinearClassifier(**params, seed=config.seed)
    X, XU, y = f["X"], f["XU"], np.asarray(f["y"])
    key = (model.C, s["tw"])
    if key not in _INITIAL:
        model._set_weights(model._make_svm().fit(X, y))
        model.temperature_ = model._fit_temperature(X, y)
        _INITIAL[key] = (model.coef_, model.intercept_, model.classes_, model.temperature_)
    model.coef_, model.intercept_, model.classes_, model.temperature_ = _INITIAL[key]
    if extra is not None:
        X = sp.vstack([X, extra[0]], format="csr")
        y = np.concatenate([y, np.asarray(extra[1])])
    classes = np.asarray(model.classes_)
    labelled_cw = compute_class_weight("balanced", classes=classes, y=y)
    log = []
    for round_no in range(1, s["rounds"] + 1):
        proba = _softmax(_as_2d(XU @ model.coef_ + model.intercept_).astype(np.float64) / model.temperature_)
        if s["em"]:
            # the SVM's classes are balanced (class_weight), so its implied training priors are uniform
            uniform = np.full(len(classes), 1.0 / len(classes))
            priors = em_priors(proba, uniform)
            proba = proba * (priors / uniform)
            proba /= proba.sum(axis=1, keepdims=True)
        confidence, guess = proba.max(axis=1), proba.argmax(axis=1)
        chosen = np.flatnonzero(confidence >= s["threshold"])
        X_all = sp.vstack([X, XU[chosen]], format="csr")
        y_all = np.concatenate([y, classes[guess[chosen]]])
        w_all = np.concatenate([np.ones(len(y)), np.full(len(chosen), s["weight"])])
        if extra is not None:
            w_all[len(f["y"]) : len(y)] = extra[2]
        svm = model._make_svm()
        if s["cw"] != "all":
            svm.set_params(class_weight=None)
        if s["cw"] == "labelled":
            w_all = w_all * labelled_cw[np.searchsorted(classes, y_all)]
        model._set_weights(svm.fit(X_all, y_all, sample_weight=w_all))
        LAST_FIT.update(X=X_all, y=y_all, w=w_all)
        counts = np.bincount(guess[chosen], minlength=len(classes))
        log.append({"round": round_no, "pseudo_labelled": len(chosen),
                    "per_class": dict(zip(classes.tolist(), counts.tolist(), strict=True))})
    return model, log


def few_shot_cv(config: TrainConfig, f: dict, settings: dict, weight: float, folds: int = 5) -> dict:
    """k-fold CV over the tuning part: each fold's other tuning articles join the self-training fits."""
    from sklearn.model_selection import KFold

    ytune = np.asarray(f["ytune"])
    predicted = np.empty(len(ytune), dtype=object)
    val = []
    for fit_idx, test_idx in KFold(folds, shuffle=True, random_state=config.seed).split(ytune):
        model, _ = run_variant(config, f, settings, extra=(f["Xtune"][fit_idx], ytune[fit_idx], weight))
        margins = f["Xtune"][test_idx] @ model.coef_ + model.intercept_
        predicted[test_idx] = np.asarray(model.classes_)[margins.argmax(axis=1)]
        val.append(accuracy(model, f["Xval"], f["yval"]))
    return {"weight": weight, "folds": folds, "tuning_cv_acc": round(float(np.mean(predicted == ytune)), 4),
            "vntc_val_acc_mean": round(float(np.mean(val)), 4)}


def accuracy(model: TfidfLinearClassifier, X, y) -> float:
    predicted = np.asarray(model.classes_)[(X @ model.coef_ + model.intercept_).argmax(axis=1)]
    return float(np.mean(predicted == np.asarray(y)))


def macro_f1(model: TfidfLinearClassifier, X, y) -> float:
    from sklearn.metrics import f1_score

    predicted = np.asarray(model.classes_)[(X @ model.coef_ + model.intercept_).argmax(axis=1)]
    return float(f1_score(y, predicted, average="macro"))


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--config", default=str(ROOT / "configs" / "train_topic.yaml"))
    parser.add_argument("--cache", default="/tmp/vnnews-topic-sweep-cache")
    parser.add_argument("--variants", nargs="*", default=["base"])
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--held-out", action="store_true", help="also score the held-out part (once, at the end)")
    parser.add_argument("--few-shot", type=float, nargs="*", default=[],
                        help="weights of tuning articles added as labelled data (5-fold CV over the tuning part)")
    args = parser.parse_args()
    if args.list:
        for name, settings in VARIANTS.items():
            print(name, DEFAULTS | settings)
        return
    config = load_config(TrainConfig, args.config, [])
    for section in (config.data, config.adaptation.data):
        if not section.path.is_absolute():
            section.path = ROOT / section.path
    started = time.perf_counter()
    f = features(config, Path(args.cache))
    print(f"features ready in {time.perf_counter() - started:.0f} s", flush=True)
    for weight in args.few_shot:
        for name in args.variants:
            started = time.perf_counter()
            row = {"variant": name, **few_shot_cv(config, f, VARIANTS[name], weight),
                   "seconds": round(time.perf_counter() - started)}
            print(json.dumps(row, ensure_ascii=False), flush=True)
    if args.few_shot:
        return
    for name in args.variants:
        started = time.perf_counter()
        fv = with_title_weight(f, config, (DEFAULTS | VARIANTS[name])["tw"])
        model, log = run_variant(config, fv, VARIANTS[name])
        row = {"variant": name, "settings": DEFAULTS | VARIANTS[name],
               "vntc_val_acc": round(accuracy(model, fv["Xval"], f["yval"]), 4),
               "vntc_val_f1": round(macro_f1(model, fv["Xval"], f["yval"]), 4),
               "tuning_acc": round(accuracy(model, fv["Xtune"], f["ytune"]), 4),
               "pseudo": [r["pseudo_labelled"] for r in log], "last_round": log[-1]["per_class"] if log else {},
               "seconds": round(time.perf_counter() - started)}
        if args.held_out:
            row["held_out_acc"] = round(accuracy(model, fv["Xheld"], f["yheld"]), 4)
        print(json.dumps(row, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
