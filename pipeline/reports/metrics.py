"""Classification metrics, the per-class table and the confusion-matrix picture."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def classification_metrics(y_true: list[str], y_pred: list[str], known_labels: list[str]) -> dict[str, Any]:
    """Accuracy, macro-F1 and per-class precision/recall/F1/support.

    Labels present in the data that the model never saw are listed under ``unseen_labels``: they
    count as errors in accuracy and get a row (F1 0) instead of crashing the evaluation.
    """
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    labels = list(known_labels) + sorted(set(y_true) - set(known_labels))
    present = [lab for lab in labels if lab in set(y_true)]
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=present, zero_division=0)
    per_class = {
        lab: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
        for i, lab in enumerate(present)
    }
    return {
        "n": len(y_true),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(np.mean(f)) if len(f) else 0.0,
        "per_class": per_class,
        "unseen_labels": sorted(set(y_true) - set(known_labels)),
        "labels": labels,
    }


def format_table(metrics: dict[str, Any]) -> str:
    """A plain-text per-class table with the headline numbers."""
    width = max([len(lab) for lab in metrics["per_class"]] + [9])
    lines = [f"{'label':<{width}}  precision  recall     f1  support"]
    for lab, m in metrics["per_class"].items():
        flag = "  (unseen by the model)" if lab in metrics["unseen_labels"] else ""
        lines.append(
            f"{lab:<{width}}  {m['precision']:9.3f}  {m['recall']:6.3f}  {m['f1']:5.3f}  {m['support']:7d}{flag}"
        )
    lines.append(
        f"{'overall':<{width}}  accuracy {metrics['accuracy']:.4f}  macro-F1 {metrics['macro_f1']:.4f}"
        f"  n={metrics['n']}"
    )
    lines.extend(f"WARNING: {warning}" for warning in metrics.get("warnings", []))
    return "\n".join(lines)


def plot_confusion_matrix(y_true: list[str], y_pred: list[str], labels: list[str], path: Path, title: str) -> Path:
    """Row-normalized confusion matrix (recall per true class) with counts, saved as PNG."""
    from matplotlib.figure import Figure  # no pyplot: no backend switch, notebooks keep inline plots
    from sklearn.metrics import confusion_matrix

    matrix = confusion_matrix(y_true, y_pred, labels=labels)
    rows = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, rows, out=np.zeros(matrix.shape, dtype=float), where=rows > 0)
    size = max(6.0, 0.7 * len(labels) + 2)
    fig = Figure(figsize=(size, size * 0.85))
    ax = fig.subplots()
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for i in range(len(labels)):
        for j in range(len(labels)):
            if matrix[i, j]:
                color = "white" if share[i, j] > 0.5 else "black"
                ax.text(j, i, f"{matrix[i, j]}", ha="center", va="center", fontsize=8, color=color)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def calibration_metrics(proba: np.ndarray, y_true: list[str], classes: list[str], bins: int = 15) -> dict[str, Any]:
    """Expected calibration error of the top probability, and log loss, over rows with a known label.

    ECE: rows are binned by their top probability; the gap between mean confidence and accuracy in
    each bin, weighted by the bin's share. 0 means a score of 0.8 is right 80 % of the time.
    """
    index = {label: i for i, label in enumerate(classes)}
    known = np.array([label in index for label in y_true], dtype=bool)
    if not known.any():
        return {}
    proba = np.asarray(proba, dtype=np.float64)[known]
    truth = np.array([index[label] for label in y_true if label in index])
    confidence = proba.max(axis=1)
    correct = proba.argmax(axis=1) == truth
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        in_bin = which == b
        if in_bin.any():
            ece += in_bin.mean() * abs(confidence[in_bin].mean() - correct[in_bin].mean())
    log_loss = float(-np.mean(np.log(np.clip(proba[np.arange(len(truth)), truth], 1e-12, 1.0))))
    return {"ece": float(ece), "log_loss": log_loss, "n": int(known.sum())}
