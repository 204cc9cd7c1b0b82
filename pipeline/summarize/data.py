"""Articles with reference summaries, read through the pipeline's own readers and cleaned like the job does."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from pipeline.config import InputConfig, SummaryDataConfig
from pipeline.errors import InputError
from pipeline.io.readers import counted_batches
from pipeline.progress import ProgressSettings
from pipeline.text.normalize import clean_text

log = logging.getLogger(__name__)


@dataclass
class SummaryPairs:
    """Parallel lists: ids, cleaned titles and bodies, reference summaries; ``skipped`` rows had no usable pair."""

    ids: list[str] = field(default_factory=list)
    titles: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    skipped: int = 0

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: list[int]) -> SummaryPairs:
        return SummaryPairs(
            [self.ids[i] for i in indices],
            [self.titles[i] for i in indices],
            [self.texts[i] for i in indices],
            [self.references[i] for i in indices],
        )


def load_pairs(config: SummaryDataConfig, tone_style: str = "keep",
               progress: ProgressSettings | None = None) -> SummaryPairs:
    """Read (title, body, reference) triples; rows without a body or a reference are counted, not fatal."""
    input_config = InputConfig(
        path=config.path,
        format=config.format,
        text_field=config.text_field,
        title_field=config.title_field,
        id_field="id",
        batch_size=4096,
        limit=config.limit,
    )
    pairs = SummaryPairs()
    for batch in counted_batches(input_config, progress or ProgressSettings(), f"read {config.path.name}"):
        pairs.skipped += len(batch.quarantined)
        for record in batch.records:
            reference = record.get(config.summary_field)
            if not isinstance(reference, str) or not reference.strip():
                pairs.skipped += 1
                continue
            pairs.ids.append(str(record["id"]))
            pairs.titles.append(clean_text(record.get("title") or "", tone_style))
            pairs.texts.append(clean_text(record["text"], tone_style))
            pairs.references.append(clean_text(reference, tone_style))
    if not pairs.texts:
        raise InputError(
            f"No (text, summary) pairs in {config.path}: check data.text_field='{config.text_field}' and "
            f"data.summary_field='{config.summary_field}'."
        )
    if pairs.skipped:
        log.warning("skipped %d rows of %s without a usable text or summary", pairs.skipped, config.path)
    return pairs
