"""How fast a topic-only job could be if texts never became Python strings: a lower bound, not a job.

    .venv/bin/python benchmarks/columnar_floor.py --repeats 5       # against the by-hand script, then vnnews
    .venv/bin/python benchmarks/columnar_floor.py --job INPUT.jsonl OUTPUT.jsonl   # the floor itself, one process

Its UTF-8 decoder is a numba kernel: `.venv/bin/pip install numba` first (vnnews itself does not need numba).

The job reads JSONL into Python objects (orjson), hashes each text's UTF-8 (``str.encode``) and
encodes it again to UTF-16 for the kernels: all of it holds the GIL, which is what bounds a
topic-only run on 2 cores (docs/throughput.md, "Where the floor is"). This script does the same
model work the other way round: pyarrow's multithreaded JSON reader (no GIL) gives each block's
texts as one UTF-8 buffer, a numba kernel decodes it to the UTF-16 code units the project's kernels
read, the content hash is sha1 over slices of that buffer (no ``str`` made), and only the small
fields become Python objects. Same features, scores, top 3 and hashes as ``vnnews run`` with
``summarize.enabled=false`` on a clean, keyed, title-less input; no clean-up of dirty text, no
language check, no quarantine, no run state, manifest or report. So it is a floor: what the
kernels and the libraries cost, with the job's bookkeeping taken out.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
from common import ROOT, argument_parser
from numba import njit, prange

MODEL = ROOT / "models" / "topic-tfidf-vntc"


@njit(cache=True, parallel=True, nogil=True)
def _utf16_lengths(data, offsets, lengths):
    for d in prange(offsets.shape[0] - 1):
        n = 0
        for i in range(offsets[d], offsets[d + 1]):
            b = data[i]
            if b & 0xC0 != 0x80:  # a lead byte starts a code point; 4-byte ones take a surrogate pair
                n += 2 if b >= 0xF0 else 1
        lengths[d] = n


@njit(cache=True, parallel=True, nogil=True)
def _utf16(data, offsets, out_offsets, out):
    for d in prange(offsets.shape[0] - 1):
        o = out_offsets[d]
        i = offsets[d]
        end = offsets[d + 1]
        while i < end:
            b = np.uint32(data[i])
            if b < 0x80:
                c = b
                i += 1
            elif b < 0xE0:
                c = ((b & 0x1F) << 6) | (data[i + 1] & 0x3F)
                i += 2
            elif b < 0xF0:
                c = ((b & 0x0F) << 12) | ((data[i + 1] & 0x3F) << 6) | (data[i + 2] & 0x3F)
                i += 3
            else:
                c = (((b & 0x07) << 18) | ((data[i + 1] & 0x3F) << 12) | ((data[i + 2] & 0x3F) << 6)
                     | (data[i + 3] & 0x3F))
                i += 4
            if c >= 0x10000:
                c -= 0x10000
                out[o] = 0xD800 | (c >> 10)
                o += 1
                c = 0xDC00 | (c & 0x3FF)
            out[o] = c
            o += 1


def utf16_units(data: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Arrow UTF-8 strings (buffer + offsets) as UTF-16 code units + offsets, like ``encode_batch``."""
    lengths = np.empty(len(offsets) - 1, dtype=np.int64)
    _utf16_lengths(data, offsets, lengths)
    out_offsets = np.zeros(len(offsets), dtype=np.int64)
    np.cumsum(lengths, out=out_offsets[1:])
    out = np.empty(out_offsets[-1], dtype=np.uint16)
    _utf16(data, offsets, out_offsets, out)
    return out, out_offsets


def job(source: str, target: str) -> None:
    import orjson
    import pyarrow.json as pj

    from pipeline.io.records import input_hash
    from pipeline.stages.classify import round6
    from pipeline.text.scan import kernel_threads, scan, scan_tables
    from pipeline.topic import load_topic_model
    from pipeline.topic.tfidf_linear import _softmax

    model = load_topic_model(MODEL)
    body, title = model.vectorizer_, model.title_vectorizer_
    n_body = body.n_features
    classes = np.array(model.classes_, dtype=object)
    tables = scan_tables()
    table = pj.read_json(source)  # threads, no GIL; one chunk per block of the file
    others = [name for name in table.column_names if name != "text"]
    with open(target, "wb") as out:
        for batch in table.to_batches():
            text = batch.column(batch.schema.get_field_index("text"))
            offsets = np.frombuffer(text.buffers()[1], dtype=np.int32)[text.offset : text.offset + len(text) + 1]
            data = np.frombuffer(text.buffers()[2], dtype=np.uint8)
            cp, cp_offsets = utf16_units(data, offsets.astype(np.int64))
            status = np.empty(len(text), dtype=np.uint8)
            counts = np.empty((len(text), 4), dtype=np.int64)
            # (the job's clean-up and language verdicts read these)
            scan(cp, cp_offsets, *tables, status, counts, kernel_threads())
            scores = body.scores(cp, cp_offsets, model.coef_[:n_body], model.intercept_)
            scores += title.scores(cp, cp_offsets, model._title_coef(), model._zero_intercept(), first_line=True)
            proba = _softmax(scores.astype(np.float64) / model.temperature_)
            order = np.argsort(-proba, axis=1)[:, :3]
            top = round6(np.take_along_axis(proba, order, axis=1)).tolist()
            labels = classes[order].tolist()
            view = memoryview(data)
            starts, ends = offsets[:-1].tolist(), offsets[1:].tolist()
            columns = {name: batch.column(batch.schema.get_field_index(name)).to_pylist() for name in others}
            lines = []
            for i in range(len(text)):
                meta = {name: columns[name][i] for name in others}
                digest = hashlib.sha1(b"\n")
                digest.update(view[starts[i] : ends[i]])
                row = {"id": meta["id"], "title": "", **{k: v for k, v in meta.items() if k != "id"},
                       "input_hash": input_hash(meta), "content_hash": f"sha1-{digest.hexdigest()[:16]}",
                       "topic": labels[i][0], "topic_score": top[i][0],
                       "topic_top_k": [{"label": lab, "score": s} for lab, s in zip(labels[i], top[i], strict=True)]}
                lines.append(orjson.dumps(row))
            out.write(b"\n".join(lines) + b"\n")


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--work", type=Path, default=Path("/tmp/vnnews-whole-process"),
                        help="where the inputs and outputs go (shared with whole_process.py)")
    parser.add_argument("--job", nargs=2, metavar=("INPUT", "OUTPUT"), help="run the floor once and exit")
    args = parser.parse_args()
    if args.job:
        job(*args.job)
        return
    from whole_process import TOPIC_ONLY, ours, underthesea_model, vntc_jsonl
    from whole_process import compare as compare_sides

    args.work.mkdir(parents=True, exist_ok=True)
    data = vntc_jsonl(args.work)
    with open(data, "rb") as fh:
        rows = sum(1 for _ in fh)
    floor = [sys.executable, __file__, "--job", str(data), str(args.work / "columnar_floor.jsonl")]
    byhand = [sys.executable, str(ROOT / "benchmarks" / "byhand" / "topic.py"), str(underthesea_model(args.work)),
              str(data), str(args.work / "topic_byhand.jsonl")]
    compare_sides("columnar floor vs the by-hand script", floor, byhand, args.repeats, rows,
                  names=("floor", "by hand"))
    vnnews = ours(data, args.work / "topic" / "out.jsonl", *TOPIC_ONLY)
    compare_sides("vnnews topic-only job vs the columnar floor", vnnews, floor, args.repeats, rows,
                  names=("vnnews", "floor"))


if __name__ == "__main__":
    main()
