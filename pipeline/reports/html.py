"""Self-contained HTML reports: one file a person can open, mail or attach, with the PNGs inside.

Three reports share one page template:

- :func:`write_topic_report`: ``vnnews evaluate`` with ``task: topic`` (headline numbers, the
  per-class table, the confusion matrix, misclassified examples);
- :func:`write_summary_report`: ``task: summary`` (both ROUGE variants side by side, lengths,
  the score distributions, best and worst examples);
- :func:`write_run_report`: the end of ``vnnews run`` (counts, quarantine reasons, topic
  distribution, throughput over time), from the manifest and the committed rows.

Pictures are embedded as base64 ``data:`` URIs, so a report never points at files that moved.
Every value from data is escaped: article text can contain ``<`` and ``&``.
"""

from __future__ import annotations

import base64
import html
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

# DejaVu Sans (it ships with matplotlib) has every Vietnamese letter (ư, ơ, đ and the stacked tones).
FONT = "DejaVu Sans"

STYLE = """
body{font-family:"DejaVu Sans",system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:.25em .6em;text-align:left}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}th{background:#f4f4f4}
.cards{display:flex;flex-wrap:wrap;gap:.8em}.card{border:1px solid #ddd;border-radius:6px;padding:.5em 1em}
.card b{display:block;font-size:1.4em}img{max-width:100%}.muted{color:#666;font-size:.9em}
.example{border-left:3px solid #9bc;padding:.2em .8em;margin:.8em 0}
"""


def png_data_uri(path: Path) -> str:
    """A PNG file as a ``data:image/png;base64,...`` URI."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def cards(items: dict[str, Any]) -> str:
    """Headline numbers as a row of boxes."""
    body = "".join(f'<div class="card"><span class="muted">{esc(k)}</span><b>{esc(v)}</b></div>'
                   for k, v in items.items())
    return f'<div class="cards">{body}</div>'


def table(header: list[str], rows: Iterable[list[Any]], digits: int = 3) -> str:
    """An HTML table; numbers are right-aligned, floats shown with ``digits`` decimals."""
    def cell(value: Any, tag: str = "td") -> str:
        if isinstance(value, float):
            return f'<{tag} class="num">{value:.{digits}f}</{tag}>'
        if isinstance(value, int):
            return f'<{tag} class="num">{value:,}</{tag}>'
        return f"<{tag}>{esc(value)}</{tag}>"

    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def image(path: Path, alt: str) -> str:
    if not Path(path).is_file():
        return f'<p class="muted">({esc(alt)}: no picture)</p>'
    return f'<img src="{png_data_uri(path)}" alt="{esc(alt)}">'


def page(title: str, sections: list[tuple[str, str]], subtitle: str = "") -> str:
    """The whole document: ``sections`` are (heading, HTML body) pairs; an empty heading adds none."""
    parts = [f"<h2>{esc(h)}</h2>{body}" if h else body for h, body in sections]
    sub = f'<p class="muted">{esc(subtitle)}</p>' if subtitle else ""
    return (
        '<!DOCTYPE html>\n<html lang="vi"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head>"
        f"<body><h1>{esc(title)}</h1>{sub}{''.join(parts)}</body></html>\n"
    )


def _write(path: Path, document: str) -> Path:
    from pipeline.io.writers import write_text_atomic

    write_text_atomic(path, document)
    return path


def write_topic_report(directory: Path, metrics: dict[str, Any], examples: list[dict[str, Any]]) -> Path:
    """``report.html`` for a topic evaluation; ``examples``: misclassified rows (id, true, predicted, score, text)."""
    head = {"articles": f"{metrics['n']:,}", "accuracy": f"{metrics['accuracy']:.4f}",
            "macro-F1": f"{metrics['macro_f1']:.4f}"}
    calib = metrics.get("calibration") or {}
    if "ece" in calib:
        head["calibration error (ECE)"] = f"{calib['ece']:.4f}"
    if metrics.get("articles_per_second"):
        head["articles/s"] = metrics["articles_per_second"]
    unseen = set(metrics.get("unseen_labels", []))
    rows = [[lab + (" (unseen by the model)" if lab in unseen else ""), m["precision"], m["recall"], m["f1"],
             m["support"]] for lab, m in metrics["per_class"].items()]
    if examples:
        shown = "".join(
            f'<div class="example"><b>{esc(ex["id"])}</b>: true <b>{esc(ex["label"])}</b>, predicted '
            f'<b>{esc(ex["predicted"])}</b> ({ex["score"]:.2f})<br>{esc(ex["text"])}</div>' for ex in examples
        )
    else:
        shown = "<p>No misclassified articles.</p>"
    sections = [
        ("", cards(head)),
        ("Per class", table(["label", "precision", "recall", "F1", "support"], rows)),
        ("Confusion matrix", image(directory / "confusion_matrix.png", "confusion matrix")),
        (f"Misclassified examples (first {len(examples)})", shown),
    ]
    title = f"Topic evaluation: {Path(str(metrics.get('model', ''))).name}"
    return _write(directory / "report.html", page(title, sections, f"data: {metrics.get('data', '')}"))


def topic_examples(ids: list[str], texts: list[str], labels: list[str], predicted: list[str],
                   scores: list[float], n: int, chars: int = 300) -> list[dict[str, Any]]:
    """The first ``n`` misclassified rows, text cut to ``chars`` characters (reports stay small)."""
    out = []
    for i, (true, pred) in enumerate(zip(labels, predicted, strict=True)):
        if true != pred:
            text = texts[i] if len(texts[i]) <= chars else texts[i][:chars] + "…"
            out.append({"id": ids[i], "label": true, "predicted": pred, "score": float(scores[i]), "text": text})
            if len(out) >= n:
                break
    return out


def write_summary_report(directory: Path, metrics: dict[str, Any], best_worst: list[dict[str, Any]]) -> Path:
    """``report.html`` for a summary evaluation: ROUGE two ways, lengths, distribution, best/worst examples."""
    systems = metrics["systems"]
    first = next(iter(systems.values()))
    head = {"articles": f"{metrics['n']:,}"}
    head.update({f"{k} R2 (Vietnamese-aware)": f"{s['vietnamese']['rouge2']:.2f}" for k, s in systems.items()})
    if metrics.get("articles_per_second"):
        head["summarizer articles/s"] = metrics["articles_per_second"]
    rouge_rows = [
        [name, *(s["vietnamese"][k] for k in first["vietnamese"]), *(s["rouge_score_default"][k]
                                                                    for k in first["rouge_score_default"])]
        for name, s in systems.items()
    ]
    rouge_head = ["system", "R1 (vi)", "R2 (vi)", "RL (vi)", "R1 (default)", "R2 (default)", "RL (default)"]
    lengths = [[name, *s["length_syllables"].values()] for name, s in systems.items()]
    lengths.append(["reference", *metrics["reference_length_syllables"].values()])
    note = ('<p class="muted">ROUGE F1 ×100. "vi": Vietnamese-aware tokenizer (keeps ư, đ and tones); '
            '"default": rouge-score\'s ASCII-only tokenizer, comparable with published ViT5/BARTpho numbers.</p>')

    def block(ex: dict[str, Any]) -> str:
        lines = "".join(f"<br><b>{esc(name)}</b> (R2 {ex[name]['rouge2_vietnamese']:.1f}): {esc(ex[name]['summary'])}"
                        for name in systems if name in ex)
        tag = f"[{esc(ex['tag'])}] " if ex.get("tag") else ""
        return (f'<div class="example">{tag}<b>{esc(ex.get("title") or ex.get("id"))}</b>'
                f"<br><i>reference</i>: {esc(ex['reference'])}{lines}</div>")

    sections = [
        ("", cards(head)),
        ("ROUGE both ways", table(rouge_head, rouge_rows, digits=2) + note),
        ("Length (syllables)", table(["text", "mean", "median", "p10", "p90"],
                                     [[r[0], *(float(v) for v in r[1:])] for r in lengths], digits=1)),
        ("Score distribution", image(directory / "rouge_distribution.png", "ROUGE distribution")),
        ("Best and worst articles (summarizer R2)", "".join(block(ex) for ex in best_worst) or "<p>none</p>"),
        ("Articles spread over the file", "".join(block(ex) for ex in metrics.get("examples", [])) or "<p>none</p>"),
    ]
    described = ", ".join(f"{k}={v}" for k, v in (metrics.get("summarizer") or {}).items())
    return _write(directory / "report.html",
                  page("Summary evaluation", sections, f"data: {metrics.get('data', '')}; summarizer: {described}"))


def best_worst_examples(ids, titles, references, systems: dict[str, list[str]], per_article_r2: dict[str, list[float]],
                        n: int) -> list[dict[str, Any]]:
    """The ``n`` best and ``n`` worst articles by the first system's Vietnamese-aware ROUGE-2."""
    if n <= 0 or not references:
        return []
    main = next(iter(systems))
    order = sorted(range(len(references)), key=lambda i: per_article_r2[main][i])
    picks = [("best", i) for i in reversed(order[-n:])] + [("worst", i) for i in order[:n]]
    out = []
    for tag, i in picks:
        ex: dict[str, Any] = {"tag": tag, "id": ids[i], "title": titles[i], "reference": references[i]}
        for name, preds in systems.items():
            ex[name] = {"summary": preds[i], "rouge2_vietnamese": round(per_article_r2[name][i], 2)}
        out.append(ex)
    return out


_SVG_FONT = f'font-family="{FONT}, sans-serif" font-size="12"'


def svg_bars(counts: dict[str, int], title: str) -> str:
    """Horizontal bars as inline SVG: one per label, largest on top, with its count."""
    items = sorted(counts.items(), key=lambda kv: -kv[1])
    width, left, bar, top = 700, 190, 22, 30
    height = top + bar * len(items) + 10
    most = max((v for _, v in items), default=0) or 1
    parts = [f'<text x="{width / 2:.0f}" y="18" text-anchor="middle" font-weight="bold">{esc(title)}</text>']
    for i, (label, value) in enumerate(items):
        y = top + i * bar
        length = (width - left - 70) * value / most
        parts.append(f'<text x="{left - 6}" y="{y + 15}" text-anchor="end">{esc(label)}</text>'
                     f'<rect x="{left}" y="{y + 3}" width="{length:.1f}" height="{bar - 6}" fill="#4c78a8"/>'
                     f'<text x="{left + length + 4:.1f}" y="{y + 15}">{value:,}</text>')
    return (f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="{esc(title)}" {_SVG_FONT}>{"".join(parts)}</svg>')


def svg_throughput(points: list[list[float]]) -> str:
    """Rows done against seconds since the start (blue), and the rate between points (orange, right axis),
    as inline SVG."""
    width, height, left, right, top, bottom = 700, 300, 70, 70, 30, 40
    secs, done = [p[0] for p in points], [p[1] for p in points]
    rates = [(done[i] - done[i - 1]) / max(secs[i] - secs[i - 1], 1e-9) for i in range(1, len(points))]
    span_x, span_y = max(secs[-1] - secs[0], 1e-9), max(max(done) - min(done), 1)
    top_rate = max(rates, default=0) or 1

    def x(sec: float) -> float:
        return left + (width - left - right) * (sec - secs[0]) / span_x

    def y(value: float, span: float, low: float = 0) -> float:
        return height - bottom - (height - top - bottom) * (value - low) / span

    line = " ".join(f"{x(s):.1f},{y(d, span_y, min(done)):.1f}" for s, d in zip(secs, done, strict=True))
    steps = " ".join(f"{x(secs[i]):.1f},{y(r, top_rate):.1f} {x(secs[i + 1]):.1f},{y(r, top_rate):.1f}"
                     for i, r in enumerate(rates))
    axis = height - bottom
    parts = [
        f'<text x="{width / 2:.0f}" y="18" text-anchor="middle" font-weight="bold">Tốc độ xử lý (throughput)</text>',
        f'<line x1="{left}" y1="{axis}" x2="{width - right}" y2="{axis}" stroke="#888"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{axis}" stroke="#888"/>',
        f'<text x="{left - 6}" y="{top + 4}" text-anchor="end">{max(done):,.0f}</text>',
        f'<text x="{left - 6}" y="{axis}" text-anchor="end">{min(done):,.0f}</text>',
        f'<text x="{left}" y="{axis + 16}">{secs[0]:.1f} s</text>',
        f'<text x="{width - right}" y="{axis + 16}" text-anchor="end">{secs[-1]:.1f} s</text>',
        f'<text x="{width / 2:.0f}" y="{height - 6}" text-anchor="middle">giây từ lúc bắt đầu (seconds since start)'
        '</text>',
        f'<text x="14" y="{top + 40}" fill="#4c78a8" transform="rotate(-90 14 {top + 40})" text-anchor="end">'
        'số bài đã xử lý (rows done)</text>',
        f'<polyline points="{line}" fill="none" stroke="#4c78a8" stroke-width="2"/>',
    ]
    if rates:
        parts += [f'<polyline points="{steps}" fill="none" stroke="#f58518" stroke-opacity="0.8"/>',
                  f'<text x="{width - right + 6}" y="{top + 4}" fill="#f58518">{top_rate:,.0f}/s</text>',
                  f'<text x="{width - right + 6}" y="{top + 20}" fill="#f58518">bài/giây (rows/s)</text>']
    return (f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="throughput" {_SVG_FONT}>{"".join(parts)}</svg>')


def write_run_report(path: Path, manifest: dict[str, Any], rows: Iterable[dict[str, Any]] = (),
                     topics: dict[str, int] | None = None) -> Path:
    """``<stem>.report.html`` for a run: counts, quarantine reasons, input records skipped (WARC), near-duplicates
    flagged, topic distribution, throughput.

    The topic distribution is ``topics`` (articles per topic) when given, else counted over ``rows``.
    Its charts are inline SVG drawn here: matplotlib's import and rendering would cost every run
    about a second (the evaluation reports, made once per model, keep matplotlib's PNGs).
    """
    topics = Counter(topics) if topics is not None else Counter(
        str(r.get("topic")) for r in rows if r.get("topic") is not None)
    counts = manifest["counts"]
    head = {**{k: f"{v:,}" for k, v in counts.items()}, "seconds": manifest["seconds"],
            "articles/s": manifest["articles_per_second"]}
    reasons = manifest.get("quarantine_reasons") or {}
    reason_html = (table(["reason", "rows"], sorted(([k, v] for k, v in reasons.items()), key=lambda r: -r[1]))
                   if reasons else "<p>Nothing quarantined.</p>")
    skipped = manifest.get("skipped") or {}
    skipped_html = table(["reason", "records"], sorted(([k, v] for k, v in skipped.items()), key=lambda r: -r[1]))
    duplicates = (manifest.get("stages") or {}).get("dedup")
    step_rows = [[name, float(sec)] for name, sec in (manifest.get("seconds_by_step") or {}).items()]
    topic_html = (svg_bars(dict(topics), "Phân bố chủ đề (topics)")
                  + table(["topic", "articles"], topics.most_common())) if topics else "<p>No topics.</p>"
    points = manifest.get("throughput") or []
    speed_html = svg_throughput(points) if points else "<p>No batches were processed in this run.</p>"
    sections = [
        ("", cards(head)),
        ("Quarantine reasons", reason_html),
        *([(f"Skipped input records ({sum(skipped.values()):,}: not pages, not rows)", skipped_html)]
          if skipped else []),
        *([("Near-duplicates", cards({"flagged": f"{duplicates['duplicates']:,}", "action": duplicates["action"],
                                       "threshold": duplicates["threshold"]}))] if duplicates else []),
        ("Topic distribution (rows written by this run)", topic_html),
        ("Throughput over time", speed_html),
        (f"Where the {manifest['seconds']:,} seconds went (start-up to commit)", table(["step", "seconds"], step_rows)),
    ]
    document = page(f"Run {manifest['run_id']}", sections,
                    f"{manifest['input']} → {manifest['output']}; config {manifest['config_hash']}; "
                    f"started {manifest['started_at']}, finished {manifest['finished_at']}")
    return _write(path, document)
