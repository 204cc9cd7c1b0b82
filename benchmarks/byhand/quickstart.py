"""What a user would write by hand for the quickstart job: read JSONL, split sentences with underthesea,
take the first two as the summary (Lead-2), classify with underthesea's classifier, write JSONL.

    python benchmarks/byhand/quickstart.py MODEL.bin INPUT.jsonl OUTPUT.jsonl

Input rows have ``id``, ``title`` and ``text``; MODEL.bin is an ``underthesea_core.TextClassifier``
saved with ``save``.
"""

import json
import sys

from underthesea import sent_tokenize
from underthesea_core import TextClassifier

model, source, target = sys.argv[1:4]
classifier = TextClassifier.load(model)
with open(source, encoding="utf-8") as fh:
    rows = [json.loads(line) for line in fh if line.strip()]
labels = classifier.predict_batch([f"{row['title']}\n{row['text']}" for row in rows])
with open(target, "w", encoding="utf-8") as out:
    for row, label in zip(rows, labels, strict=True):
        sentences = [s for line in row["text"].split("\n") if line.strip() for s in sent_tokenize(line)]
        kept = {k: v for k, v in row.items() if k != "text"}
        kept["topic"] = label
        kept["summary"] = " ".join(sentences[:2])
        out.write(json.dumps(kept, ensure_ascii=False) + "\n")
