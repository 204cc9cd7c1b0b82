"""What a user would write by hand for a topic-only job: read JSONL, underthesea's classifier, write JSONL.

    python benchmarks/byhand/topic.py MODEL.bin INPUT.jsonl OUTPUT.jsonl

MODEL.bin is an ``underthesea_core.TextClassifier`` saved with ``save`` (benchmarks/whole_process.py
trains one on VNTC train with underthesea's recipe). Every input field but the text is kept, and
``topic`` is added, like a vnnews topic job's output.
"""

import json
import sys

from underthesea_core import TextClassifier

model, source, target = sys.argv[1:4]
classifier = TextClassifier.load(model)
with open(source, encoding="utf-8") as fh:
    rows = [json.loads(line) for line in fh if line.strip()]
labels = classifier.predict_batch([row["text"] for row in rows])
with open(target, "w", encoding="utf-8") as out:
    for row, label in zip(rows, labels, strict=True):
        kept = {k: v for k, v in row.items() if k != "text"}
        kept["topic"] = label
        out.write(json.dumps(kept, ensure_ascii=False) + "\n")
