"""Job configuration: YAML files validated by pydantic, overridable with dotted ``--set`` keys.

Every section owns its defaults, documented field by field, so ``vnnews config show`` prints a
complete, commented-by-name picture of what a job will do. Unknown keys are errors
(``extra="forbid"``): a misspelled key never silently falls back to a default.

Relative paths are resolved against the current working directory, like any command-line tool;
model paths additionally fall back to the project checkout (see :func:`resolve_model_path`).
"""

from __future__ import annotations

import codecs
import copy
import difflib
import logging
import math
import os
import re
import stat
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from pipeline.errors import ConfigError
from pipeline.redact import mask_url, password_holds_at, register_url

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent

InputFormat = Literal["auto", "jsonl", "csv", "parquet", "txt", "html", "warc", "hf_dataset"]
HtmlFavor = Literal["balanced", "precision", "recall"]
OutputFormat = Literal["auto", "jsonl", "csv", "parquet", "sqlite", "sql"]
ToneStyle = Literal["keep", "old", "new"]
Ct2ComputeType = Literal[
    "default", "auto", "float32", "int8", "int8_float32", "int16", "float16", "bfloat16", "int8_float16",
    "int8_bfloat16",
]


# Numbers beyond these are typos or attacks (`--set input.limit=1e20`), never settings: they would
# overflow C integers downstream (islice, numpy) long after validation. 2**53 is the largest integer
# a YAML/JSON float represents exactly.
MAX_INT = 2**53

_VARIABLE = re.compile(r"\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*)|\{[^}]*\}?)")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")  # scheme:// of s3://, gs://, https://, file://


def expand_path(value: Any) -> Any:
    """``$NAME``/``${NAME}`` and a leading ``~``/``~user`` of a path setting expanded, as a shell would.

    A variable that is not set, or a ``~user`` with no home folder, is an error naming it: left as
    it is, it would become a folder named ``$DATA`` or ``~`` in the working directory. ``$$`` is a
    literal ``$``. A URL (``s3://bucket/day/``) is refused by name: as a path it would be a local folder ``s3:``.
    """
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        return value

    def variable(match: re.Match) -> str:
        if match[1]:
            return "$"
        name = match[2] or match[3]
        if name is None:
            raise ValueError(f"holds {match[0]!r}, which is not a variable name (write $$ for a literal $)")
        if name not in os.environ:
            raise ValueError(f"names the environment variable ${name}, which is not set (write $$ for a literal $)")
        return os.environ[name]

    value = _VARIABLE.sub(variable, value)
    if scheme := _URL.match(value):  # (a Path would make s3://bucket/day a local folder s3:/bucket/day)
        raise ValueError(f"is a URL ({scheme[0]}...), not a path on this machine: vnnews reads and writes local files "
                         "and folders; copy the files to a local folder first (aws s3 sync, gcloud storage rsync) "
                         "and give that folder")
    if value.startswith("~"):
        expanded = os.path.expanduser(value)
        if expanded.startswith("~"):
            user = value[1:].split("/", 1)[0]
            raise ValueError(f"starts with ~{user}, but there is no user {user!r}" if user
                             else "starts with ~, but HOME is not set")
        value = expanded
    return value


def expand_model_source(value: Any) -> Any:
    """A "hub id or local directory" setting: expanded like a path when it starts with ~ or holds a $
    (a hub id never does)."""
    if isinstance(value, str) and (value.startswith("~") or "$" in value):
        return expand_path(value)
    return value


UserPath = Annotated[Path, BeforeValidator(expand_path)]
ModelSource = Annotated[str, BeforeValidator(expand_model_source)]


def _number(value: Any) -> Any:
    """Numbers are strict: a boolean or text where a number belongs is an error, not 1 or 3."""
    if isinstance(value, bool):
        raise ValueError(f"must be a number, not {str(value).lower()} (YAML also reads yes, no, on and off as true "
                         "and false)")
    if isinstance(value, str):
        raise ValueError("must be a number, not text (remove the quotes; YAML reads 1e3 as text: write 1000)")
    return value


# Every number setting is one of these (see Section).
Int = Annotated[int, BeforeValidator(_number)]
Float = Annotated[float, BeforeValidator(_number)]


class Section(BaseModel):
    """Base for every config section: unknown keys are errors, assignments are validated.

    Numbers are strict: a boolean (``true``, and YAML's ``yes``/``on``) or text (``"3"`` in quotes,
    ``1e3``, which YAML 1.1 reads as text) is refused where a number is expected, instead of being
    read as 1 or 3. A float with no fractional part (``2.0``) is accepted for an integer; ``2.7`` is
    refused.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    @field_validator("*", mode="after")
    @classmethod
    def _finite_numbers(cls, value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("must be a finite number")
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
            raise ValueError(f"must be at most {MAX_INT:,} in size")
        return value


class InputConfig(Section):
    """Where articles come from and how their fields are named."""

    path: UserPath = Field(
        description="File, folder of input files (read by extension), or saved Hugging Face dataset; ~ and $VAR "
        "are expanded."
    )
    format: InputFormat = Field(
        "auto", description="'auto' picks by extension (.jsonl[.gz], .csv, .parquet, .txt, .html/.htm[.gz], "
        ".warc[.gz], folder).",
    )
    text_field: str = Field("text", description="Field holding the article body.")
    title_field: str | None = Field("title", description="Field holding the title; null if there is none.")
    id_field: str | None = Field("id", description="Field holding a stable id; missing ids are content hashes.")
    renamed_field_prefix: str = Field(
        "input_", min_length=1, max_length=40,
        description="An input field named as a field vnnews writes (topic, topic_score, topic_top_k, summary, author, "
        "diacritics, duplicate_of, duplicate_similarity, content_hash, input_hash, config_hash, run_id, "
        "quarantine_reason; id, title, text when they are not the configured fields) is kept under this prefix + "
        "its name (input_topic), the prefix repeated while that name is taken: never overwritten or dropped.",
    )
    raw_pages: bool = Field(False, description="Text is a scraped page: recover title, author, body; drop boilerplate.")
    txt_first_line_title: bool = Field(True, description="For .txt folders: the first non-empty line is the title.")
    html_favor: HtmlFavor = Field(
        "balanced", description="For HTML pages and WARC files: trafilatura's trade-off; 'precision' drops doubtful "
        "blocks (less boilerplate, may lose paragraphs), 'recall' keeps them.",
    )
    follow_symlinks: bool = Field(
        False,
        description="For folders: also read symbolic links that lead outside the folder (links inside it are always "
        "read); when false they are skipped and counted in the manifest.",
    )
    split: str | None = Field(None, description="For a saved DatasetDict: which split to read.")
    encoding: str = Field("utf-8", description="Text encoding of txt/csv/jsonl inputs (a UTF-16 byte-order mark wins).")
    csv_delimiter: str = Field(
        "auto", description="CSV field separator: one character, or 'auto' to pick , ; tab or | from the header line."
    )
    batch_size: Int = Field(64, ge=1, le=100_000, description="Articles read and processed per batch.")
    limit: Int | None = Field(None, ge=1, description="Stop after this many input rows (for trials).")
    max_rows: Int = Field(
        10_000_000, ge=1, description="Refuse inputs with more rows than this (split bigger jobs or raise it)."
    )
    max_line_bytes: Int = Field(
        20_000_000, ge=1_000,
        description="Longest line/record accepted (a JSONL line, a CSV record, a whole .txt file); longer ones are "
        "quarantined without being read whole.",
    )

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown text encoding {value!r} (try utf-8, utf-16, cp1258 or latin-1)") from None
        return value

    @field_validator("csv_delimiter")
    @classmethod
    def _one_character(cls, value: str) -> str:
        if value != "auto" and (len(value) != 1 or value in "\"\r\n"):
            raise ValueError("must be 'auto' or one character other than a quote or a line break")
        return value


class NormalizeConfig(Section):
    """Text clean-up applied before any model sees the article."""

    enabled: bool = True
    tone_style: ToneStyle = Field(
        "keep", description="Tone-mark placement: keep as is, 'old' (hoà, thuỷ) or 'new' (hòa, thủy)."
    )
    max_chars: Int = Field(
        200_000, ge=100, description="Longer articles are quarantined (a typical article has 2-5k chars)."
    )
    max_title_chars: Int = Field(1_000, ge=10, description="Longer titles are quarantined (usually a scraping error).")
    strip_html: bool = Field(True, description="Text that is HTML markup is converted to plain text first.")
    language_check: bool = Field(
        True,
        description="Quarantine text that is not Vietnamese (other scripts, mis-encoded VNI/TCVN3, or another "
        "language per py3langid); Vietnamese typed without diacritics is kept with diacritics: false.",
    )


class ClassifyConfig(Section):
    """Topic classification with a trained model directory."""

    enabled: bool = True
    model: UserPath = Field(
        Path("models/topic-tfidf-vntc"), description="Topic model directory made by `vnnews train`."
    )
    top_k: Int = Field(0, ge=0, le=50, description="Add `topic_top_k` with this many (label, score) pairs; 0 = off.")
    min_score: Float | None = Field(
        None, ge=0.0, le=1.0, description="Below this probability `topic` is null (the score is kept)."
    )
    batch_size: Int = Field(512, ge=1, description="Articles per vectorize/predict call.")


class SummarizeConfig(Section):
    """Summaries: extractive (offline, no download) or abstractive (any HF seq2seq model)."""

    enabled: bool = True
    kind: Literal["extractive", "abstractive"] = "extractive"
    # extractive
    max_sentences: Int = Field(2, ge=1, le=20, description="Extractive: sentences kept, in article order.")
    method: Literal["learned", "lead_title"] = Field(
        "learned",
        description="Extractive: 'learned' (sentence scorer trained on VietNews, see extractive_model) or "
        "'lead_title' (position + similarity to the title, no model files).",
    )
    max_syllables: Int | None = Field(
        None,
        ge=5,
        description="Extractive, method 'learned': length budget; best-scored sentences are added while the "
        "summary stays within this many syllables (the best one is always kept). null = max_sentences only.",
    )
    extractive_model: UserPath = Field(
        Path("models/summary-extractive-vietnews"),
        description="Extractive, method 'learned': model directory made by "
        "`vnnews train configs/train_summary_extractive.yaml`.",
    )
    # abstractive
    model: ModelSource = Field(
        "VietAI/vit5-base-vietnews-summarization", description="Abstractive: hub id or local model directory."
    )
    prefix: str = Field("", description="Abstractive: text prepended to each input (T5 task prefix; '' for ViT5).")
    max_input_tokens: Int = Field(1024, ge=8, description="Abstractive: inputs are truncated to this many tokens.")
    max_new_tokens: Int = Field(256, ge=1, description="Abstractive: longest summary, in tokens.")
    min_new_tokens: Int = Field(0, ge=0, description="Abstractive: shortest summary, in tokens.")
    num_beams: Int = Field(4, ge=1, le=64, description="Abstractive: beam search width (1 = greedy).")
    length_penalty: Float = Field(1.0, description="Abstractive: >1 favours longer beams, <1 shorter.")
    no_repeat_ngram_size: Int = Field(3, ge=0, description="Abstractive: forbid repeating n-grams of this size.")
    batch_size: Int = Field(8, ge=1, description="Abstractive: articles per generate() call (length-sorted).")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="Abstractive: 'auto' uses CUDA when present.")
    # abstractive: inference backend (CTranslate2 is several times faster on CPU)
    backend: Literal["torch", "ctranslate2"] = Field(
        "torch", description="Abstractive: 'torch' runs HF generate(); 'ctranslate2' runs a converted model (faster)."
    )
    compute_type: Ct2ComputeType = Field(
        "default",
        description="ctranslate2: weight/compute precision; 'int8' is fastest on CPU, 'default' keeps the saved type.",
    )
    threads: Int = Field(
        0, ge=0, le=256, description="ctranslate2: threads per batch (0 = ctranslate2's default, up to 4)."
    )
    inter_threads: Int = Field(1, ge=1, le=64, description="ctranslate2: batches run in parallel (each uses threads).")
    ct2_cache_dir: UserPath = Field(
        Path("~/.cache/vnnews/ct2"),
        description="ctranslate2: where a non-converted summarize.model is converted on first use (then reused).",
    )
    # abstractive: articles longer than the model's window
    long_input: Literal["truncate", "chunk"] = Field(
        "truncate",
        description="Longer than max_input_tokens: 'truncate' cuts; 'chunk' summarizes sentence-aligned chunks.",
    )
    max_chunks: Int = Field(
        4, ge=1, le=64, description="chunk: at most this many windows per article (caps work; the rest is dropped)."
    )
    chunk_merge: Literal["summarize", "join"] = Field(
        "summarize",
        description="chunk: 'summarize' the joined chunk summaries once more, or 'join' them as they are.",
    )

    @model_validator(mode="after")
    def _lengths_consistent(self) -> SummarizeConfig:
        if self.min_new_tokens > self.max_new_tokens:
            raise ValueError(
                f"min_new_tokens ({self.min_new_tokens}) must not exceed max_new_tokens ({self.max_new_tokens})"
            )
        return self


class DedupConfig(Section):
    """Near-duplicates: MinHash + LSH over syllable shingles flags republished copies (docs/dedup.md)."""

    enabled: bool = Field(False, description="Compare each article with earlier ones and flag near-duplicates.")
    action: Literal["flag", "skip"] = Field(
        "flag",
        description="flag: process the row as usual and set duplicate_of; skip: keep the row with duplicate_of "
        "but run no model on it (no topic, no summary).",
    )
    threshold: Float = Field(
        0.8, ge=0.2, le=1.0,
        description="Estimated Jaccard similarity of the shingle sets from which a row is a near-duplicate of "
        "an earlier one; lower values also flag follow-up articles that reuse a story's background paragraphs "
        "(docs/dedup.md).",
    )
    shingle_size: Int = Field(3, ge=1, le=10, description="Consecutive syllables per shingle.")
    num_perm: Int = Field(
        128, ge=16, le=1024, description="MinHash permutations: more estimate similarity better, cost time and memory."
    )
    seed: Int = Field(1, ge=0, le=2**31 - 1, description="Seed of the MinHash permutations.")
    min_syllables: Int = Field(
        30, ge=1, description="Texts with fewer syllables are neither flagged nor compared (too short to judge)."
    )


class OutputConfig(Section):
    """Where results go. Side files (quarantine, manifest, resolved config) sit beside `path`."""

    path: UserPath = Field(
        description="Results file: .jsonl, .csv, .parquet, .db/.sqlite (with format sql: side files); ~ and $VAR "
        "are expanded."
    )
    format: OutputFormat = Field("auto", description="'auto' picks by extension.")
    include_text: bool = Field(False, description="Also write the normalized article text.")
    mode: Literal["overwrite", "append", "upsert"] = Field(
        "overwrite",
        description="overwrite: this run's rows; append: add to existing rows; upsert: replace rows with the same key.",
    )
    key: str = Field("id", description="Field identifying an article for upsert and duplicate detection.")
    table: str = Field("articles", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="SQL table name.")
    url: str | None = Field(
        None, description="format sql: SQLAlchemy URL, e.g. postgresql+psycopg://user@host:5432/news (path then "
        "only places the side files)."
    )
    report: bool = Field(
        True, description="Also write <stem>.report.html: counts, quarantine reasons, topics, throughput over time."
    )
    allow_empty: bool = Field(
        False, description="overwrite: let a run that read 0 rows replace an output that has rows (else exit 4)."
    )
    csv_formulas: Literal["escape", "keep"] = Field(
        "escape", description="CSV output: 'escape' writes a cell that a spreadsheet would run as a formula (it "
        "begins with =, +, -, @, a tab, CR or LF, after any spaces) behind a single quote and quotes every cell "
        "(OWASP's CSV injection rule; reading the file back with vnnews removes the quote); 'keep' writes cells as "
        "they are. JSONL, Parquet and SQL outputs always keep text as it is (docs/outputs.md)."
    )

    @field_validator("url")
    @classmethod
    def _url_is_read_and_its_secrets_remembered(cls, url: str | None) -> str | None:
        """A URL SQLAlchemy cannot read is a config error (never quoted: it may hold a password); the
        password of one it can is remembered, so that no message or log line shows it (pipeline.redact)."""
        if url is None:
            return url
        register_url(url)
        if password_holds_at(url):
            raise ValueError(
                "has a password with a raw '@', which ends a URL's password early (the rest would be taken for the "
                "host name): write each '@' of the password as %40"
            )
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            make_url(url)
        except (ArgumentError, ValueError, TypeError):
            scheme = url.partition("://")[0] if "://" in url else ""
            raise ValueError(
                "is not a SQLAlchemy URL (dialect+driver://user@host:port/database"
                + (f"; it begins with {scheme!r}" if scheme.isidentifier() or scheme.replace("+", "").isalnum()
                   else "") + ")"
            ) from None
        return url


def _yaml_off(value: Any) -> Any:
    # YAML 1.1 reads a bare `off` as false and `on` as true.
    return {False: "off", True: "auto"}.get(value, value) if isinstance(value, bool) else value


ProgressMode = Annotated[Literal["auto", "bar", "log", "off"], BeforeValidator(_yaml_off)]

class LocalRunnerConfig(Section):
    """Settings of the local runner (``runner.kind: local``): this process, streaming batches."""

    prefetch_batches: Int = Field(
        2, ge=0, le=64,
        description="Batches read ahead by a reader thread (parsing the next batches while the stages' compiled "
        "kernels run on the current one); 0 = read in the main thread.",
    )


class RayRunnerConfig(Section):
    """Settings of the Ray runner (``runner.kind: ray``): Ray Data ``map_batches`` over an actor pool."""

    address: str | None = Field(
        None, description="'auto' or 'ray://host:10001' joins a cluster; null starts Ray on this machine."
    )
    num_cpus: Int | None = Field(None, ge=1, description="Without address: CPUs of the local Ray (null: all).")
    actors: Int = Field(2, ge=1, description="Size of the actor pool; each actor loads the models once.")
    cpus_per_actor: Float = Field(1.0, gt=0, description="CPUs reserved per actor.")
    gpus_per_actor: Float = Field(0.0, ge=0, description="GPUs per actor (abstractive models on GPU nodes).")


# Keys that moved from ``runner`` into its runners' own sections: still read, with a warning naming the new key.
MOVED_RUNNER_KEYS = {"prefetch_batches": "local", **dict.fromkeys(RayRunnerConfig.model_fields, "ray")}
# Keys that no longer do anything: still accepted (a daily job's config keeps working), with a warning saying why.
REMOVED_RUNNER_KEYS = {"omp_wait_policy": "vnnews' compiled kernels use their own threads, not OpenMP; set "
                       "OMP_WAIT_POLICY in the environment for torch models"}


class RunnerConfig(Section):
    """How the job is driven: here (local) or on a Ray cluster (ray), and how a run saves and reports progress."""

    kind: Literal["local", "ray"] = Field("local", description="local: this process; ray: Ray Data map_batches.")
    local: LocalRunnerConfig = LocalRunnerConfig()
    ray: RayRunnerConfig = RayRunnerConfig()

    progress: ProgressMode = Field("auto", description="'auto': a bar on a terminal, periodic log lines otherwise.")
    log_every_seconds: Float = Field(10.0, gt=0, description="Interval of progress log lines when not a terminal.")
    resume: bool = Field(
        True, description="Continue a killed run of the same input and config; false starts it over."
    )
    checkpoint_seconds: Float = Field(
        2.0, ge=0.0, le=3600.0,
        description="Save finished batches to the run state (one fsynced part file) at most this often; a kill "
        "loses at most this much work, which the rerun computes again. 0 = after every batch.",
    )
    checkpoint_mb: Float = Field(
        32.0, gt=0.0, le=4096.0,
        description="Save finished batches sooner when their results reach this many MB in memory.",
    )
    max_quarantined_fraction: Float = Field(
        1.0, gt=0.0, le=1.0,
        description="Fail (exit 6, output kept) when this share of the rows read is quarantined; "
        "1.0 = only when every row is.",
    )

    @model_validator(mode="before")
    @classmethod
    def _moved_keys(cls, data: Any) -> Any:
        """``runner.address`` and the other keys of one runner now live in ``runner.ray`` / ``runner.local``:
        an old key is moved there with a warning; the same setting given in both places is an error."""
        if not isinstance(data, dict) or not (MOVED_RUNNER_KEYS.keys() | REMOVED_RUNNER_KEYS.keys()) & data.keys():
            return data
        data = dict(data)
        for key in REMOVED_RUNNER_KEYS.keys() & data.keys():
            data.pop(key)
            log.warning("runner.%s has no effect any more and will be refused in a later release: %s", key,
                        REMOVED_RUNNER_KEYS[key])
        for key in [k for k in data if k in MOVED_RUNNER_KEYS]:
            section = MOVED_RUNNER_KEYS[key]
            nested = data.get(section)
            nested = dict(nested) if isinstance(nested, dict) else {} if nested is None else nested
            if not isinstance(nested, dict) or key in nested:
                raise ValueError(f"runner.{key} is runner.{section}.{key} now, and both are set: remove "
                                 f"runner.{key}")
            nested[key] = data.pop(key)
            data[section] = nested
            log.warning("runner.%s is deprecated: write runner.%s.%s (the setting was applied)", key, section, key)
        return data

class JobConfig(Section):
    """A complete `vnnews run` job."""

    input: InputConfig
    normalize: NormalizeConfig = NormalizeConfig()
    dedup: DedupConfig = DedupConfig()
    classify: ClassifyConfig = ClassifyConfig()
    summarize: SummarizeConfig = SummarizeConfig()
    output: OutputConfig
    runner: RunnerConfig = RunnerConfig()

    @model_validator(mode="after")
    def _raw_pages_settings(self) -> JobConfig:
        if self.input.raw_pages and not self.normalize.enabled:
            raise ValueError("input.raw_pages needs normalize.enabled: true (the normalize stage parses pages)")
        if self.input.raw_pages and self.input.format in ("html", "warc"):
            raise ValueError("input.raw_pages is for scraped text; HTML pages are parsed by the reader: drop raw_pages")
        if self.dedup.enabled and self.runner.kind == "ray":
            raise ValueError(
                "dedup.enabled needs runner.kind: local: a row is compared with every earlier row in input order, "
                "and the Ray runner processes batches in parallel, out of order. Run the job locally, or set "
                "dedup.enabled: false"
            )
        return self


class LabelledDataConfig(Section):
    """A labelled file for training or evaluating the topic classifier."""

    path: UserPath
    format: InputFormat = "auto"
    text_field: str = "text"
    title_field: str | None = Field(None, description="Prepended to the text when set (VNTC has none).")
    label_field: str = "label"
    limit: Int | None = Field(None, ge=1, description="Use only the first N rows (for quick trials).")


class LabelsConfig(Section):
    """Rename, merge, drop or keep labels of the labelled file before training or evaluating.

    ``map`` applies first (several old labels may map to one new label: a merge); ``drop`` and
    ``keep`` then name labels as they are after mapping. Every label named here must occur in the
    data, or the job stops with an error naming it: a misspelled label would otherwise silently
    train a different taxonomy.
    """

    map: dict[str, str] = Field(
        default_factory=dict, description="Old label -> new label; several old labels may share a new one (merge)."
    )
    drop: list[str] = Field(default_factory=list, description="Labels (after mapping) whose rows are left out.")
    keep: list[str] | None = Field(
        None, description="Only rows with these labels (after mapping) are used; null = all labels."
    )

    @field_validator("map")
    @classmethod
    def _no_blank_labels(cls, value: dict[str, str]) -> dict[str, str]:
        for old, new in value.items():
            if not old.strip() or not new.strip():
                raise ValueError(f"labels must be non-empty (got {old!r} -> {new!r})")
        return value

    @model_validator(mode="after")
    def _drop_and_keep_agree(self) -> LabelsConfig:
        if self.keep is not None:
            both = sorted(set(self.keep) & set(self.drop))
            if both:
                raise ValueError(f"labels both kept and dropped: {', '.join(both)}")
            if not self.keep:
                raise ValueError("keep lists no label: leave it out (null) to keep every label")
        return self

    @property
    def active(self) -> bool:
        return bool(self.map or self.drop or self.keep is not None)


class UnlabeledDataConfig(Section):
    """Unlabeled articles (for example recent news) that domain adaptation learns from."""

    path: UserPath = Field(description="File or folder of articles, read like a job's input.")
    format: InputFormat = Field("auto", description="As input.format: 'auto' picks by extension.")
    text_field: str = Field("text", description="Field holding the article body.")
    title_field: str | None = Field("title", description="Field holding the title (read before the text); null = none.")
    lead_field: str | None = Field(
        None, description="Field holding a separate lead paragraph, read between title and text (VietNews: abstract)."
    )
    limit: Int | None = Field(None, ge=1, description="Use only the first N rows (for quick trials).")


class AdaptationConfig(Section):
    """Adapt the topic model to other newsrooms and years with unlabeled articles (tfidf_linear only).

    The vocabulary and idf are counted over the labelled and the unlabeled articles together, so
    n-grams that only recent news uses get features; then, for ``rounds`` rounds, the model labels
    the unlabeled articles, and those it labels with a calibrated probability of at least
    ``threshold`` join the training set (self-training) with weight ``weight``.
    """

    data: UnlabeledDataConfig = Field(description="The unlabeled articles.")
    vocabulary: bool = Field(True, description="Count vocabulary and idf over labelled + unlabeled articles.")
    rounds: Int = Field(1, ge=0, le=10, description="Self-training rounds; 0 = vocabulary and idf only.")
    threshold: Float = Field(
        0.9, gt=0.0, le=1.0, description="Lowest calibrated probability for a pseudo-labelled article to be used."
    )
    max_per_class: Int | None = Field(
        None, ge=1, description="At most this many pseudo-labelled articles per topic (the most confident); null = all."
    )
    weight: Float = Field(1.0, gt=0.0, le=1.0, description="Sample weight of a pseudo-labelled article (labelled: 1).")


class TfidfLinearConfig(Section):
    """TF-IDF over syllable n-grams + a linear SVM, probabilities by temperature scaling."""

    kind: Literal["tfidf_linear"] = "tfidf_linear"
    ngram_max: Int = Field(2, ge=1, le=4, description="Syllable n-grams 1..ngram_max (2 captures most compounds).")
    max_features: Int = Field(60_000, ge=10, description="Vocabulary size; ~60k keeps the model a few MB.")
    min_df: Int = Field(2, ge=1, description="Ignore n-grams seen in fewer documents.")
    max_df: Float = Field(0.5, gt=0.0, le=1.0, description="Ignore n-grams in more than this share of documents.")
    sublinear_tf: bool = Field(True, description="Use 1 + log(tf): long articles don't drown short ones.")
    C: Float = Field(0.5, gt=0.0, description="Inverse regularization strength of the linear SVM.")
    class_weight: Literal["balanced"] | None = "balanced"
    calibration_folds: Int = Field(3, ge=0, le=10, description="Out-of-fold margins for the temperature; 0/1 = off.")
    tone_style: ToneStyle = Field("new", description="Tone-mark style the model reads (applied to any input).")
    char_ngram_min: Int = Field(0, ge=0, le=8, description="Shortest character n-gram within syllables; 0 = none.")
    char_ngram_max: Int = Field(0, ge=0, le=8, description="Longest character n-gram within syllables.")
    drop_digits: bool = Field(False, description="Skip syllables with digits (dates, scores): they date a model.")
    stop_syllables: list[str] = Field(
        default_factory=list, description="Syllables to skip, e.g. bylines like 'nlđ' that name one newspaper."
    )
    title_weight: Float = Field(
        0.0, ge=0.0, le=2.0, description="Weight of separate features for the first line (the title); 0 = off."
    )
    title_max_features: Int = Field(20_000, ge=10, description="Vocabulary size of the first-line features.")

    @model_validator(mode="after")
    def _char_range(self) -> TfidfLinearConfig:
        if self.char_ngram_min and self.char_ngram_max < self.char_ngram_min:
            raise ValueError(f"char_ngram_max ({self.char_ngram_max}) must be >= char_ngram_min "
                             f"({self.char_ngram_min})")
        return self


class TransformerConfig(Section):
    """Fine-tune a Hugging Face encoder (PhoBERT-style) for topic classification."""

    kind: Literal["transformer"] = "transformer"
    model: ModelSource = Field(
        "vinai/phobert-base-v2", description="Encoder: hub id or local directory (from_pretrained)."
    )
    word_segment: bool = Field(
        False, description="Join words with '_' (underthesea) before tokenizing, as PhoBERT was pre-trained."
    )
    max_length: Int = Field(256, ge=8, le=4096, description="Tokens per article; longer ones are truncated.")
    learning_rate: Float = Field(3e-5, gt=0.0, description="Peak AdamW learning rate.")
    epochs: Float = Field(3.0, gt=0.0, description="Training epochs (fractions allowed).")
    batch_size: Int = Field(16, ge=1, description="Articles per training step.")
    weight_decay: Float = Field(0.01, ge=0.0, description="AdamW weight decay.")
    warmup_ratio: Float = Field(0.06, ge=0.0, lt=1.0, description="Share of steps with linear warm-up.")
    class_weight: Literal["balanced"] | None = Field(
        "balanced", description="'balanced' weighs the loss by inverse class frequency; null = unweighted."
    )
    early_stopping_patience: Int = Field(
        2, ge=0, description="Stop after this many evaluations without macro-F1 gain; 0 = train all epochs."
    )
    early_stopping_split: Float = Field(
        0.1, gt=0.0, lt=0.5, description="Share of the training split held out for early stopping and temperature."
    )
    eval_steps: Int | None = Field(None, ge=1, description="Evaluate every N steps; null = once per epoch.")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="'auto' uses CUDA when present.")


def _topic_model_kind(value: Any) -> str:
    """`model.kind` picks the section; configs written before there were kinds mean tfidf_linear."""
    if isinstance(value, dict):
        return value.get("kind", "tfidf_linear")
    return getattr(value, "kind", "tfidf_linear")


TopicModelConfig = Annotated[
    Annotated[TfidfLinearConfig, Tag("tfidf_linear")] | Annotated[TransformerConfig, Tag("transformer")],
    Discriminator(_topic_model_kind),
]


class TrainConfig(Section):
    """A `vnnews train` job for the topic classifier."""

    task: Literal["topic"] = "topic"
    data: LabelledDataConfig
    validation_split: Float = Field(0.1, gt=0.0, lt=0.9, description="Stratified share held out for metrics.")
    cv_folds: Int = Field(
        0, ge=0, le=20, description="Also report stratified k-fold cross-validation on all data (0 = off)."
    )
    seed: Int = 13
    model: TopicModelConfig = TfidfLinearConfig()
    labels: LabelsConfig = Field(default_factory=LabelsConfig, description="Rename, merge, drop or keep labels.")
    adaptation: AdaptationConfig | None = Field(
        None, description="Learn from unlabeled articles of other newsrooms and years (tfidf_linear only); null = off."
    )
    output_dir: UserPath
    name: str | None = Field(None, description="Model name for the card; defaults to the directory name.")
    progress: ProgressMode = Field(
        "auto", description="Progress of each phase: 'auto': a bar on a terminal, periodic log lines otherwise."
    )
    log_every_seconds: Float = Field(10.0, gt=0, description="Interval of progress log lines when not a terminal.")

    @model_validator(mode="after")
    def _adaptation_needs_tfidf(self) -> TrainConfig:
        if self.adaptation is not None and self.model.kind != "tfidf_linear":
            raise ValueError(
                f"adaptation works with model.kind tfidf_linear, not {self.model.kind}: set adaptation: null"
            )
        return self


class EvaluateConfig(Section):
    """A `vnnews evaluate` job: a labelled file against a model directory."""

    task: Literal["topic"] = "topic"
    model: UserPath
    data: LabelledDataConfig
    labels: LabelsConfig = Field(default_factory=LabelsConfig, description="Rename, merge, drop or keep labels.")
    output_dir: UserPath
    batch_size: Int = Field(512, ge=1)


ConfigT = TypeVar("ConfigT", bound=BaseModel)

# A job config is a few kilobytes; anything much larger is some other file given by mistake.
MAX_CONFIG_BYTES = 1 << 20
# What a config key looks like; other keys (a line of some other file read as a key) are never echoed.
_KEY_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
# Settings whose values may carry credentials: their values are never quoted in an error.
_SECRET_KEY = re.compile(r"url|password|passwd|secret|token|credential", re.IGNORECASE)


def parse_override(item: str) -> tuple[str, Any]:
    """Split ``KEY=VALUE``; the value is read as YAML so ``2``, ``true`` and ``null`` get their types."""
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"--set expects KEY=VALUE with a dotted key (e.g. summarize.num_beams=2), got {item!r}.")
    try:
        value = safe_load_yaml(raw, f"--set {key}") if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key, value


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``--set`` items as a dict; a key given twice is an error (which one was meant is anyone's guess)."""
    overrides: dict[str, Any] = {}
    for item in items:
        key, value = parse_override(item)
        if key in overrides:
            raise ConfigError(f"--set {key} is given more than once; give each key once.")
        overrides[key] = value
    return overrides


def apply_overrides(data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Set dotted keys in a nested dict (creating sections as needed); returns the same dict."""
    for dotted, value in overrides.items():
        parts = dotted.split(".")
        node = data
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                path = ".".join(parts[: i + 1])
                raise ConfigError(f"--set {dotted}: '{path}' is a value, not a section.")
            node = child
        node[parts[-1]] = value
    return data


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The config sections an annotation holds (a section, a union of sections, a list of them...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in typing.get_args(annotation) for model in _models_in(arg)]


def _keys_at(schema: type[BaseModel], loc: tuple) -> list[str]:
    """The keys a section at ``loc`` accepts (``model.tfidf_linear`` names one kind of a union)."""
    sections = [schema]
    for part in loc:
        inner = [m for s in sections if part in s.model_fields for m in _models_in(s.model_fields[part].annotation)]
        if not inner:  # a union's tag, or a list index
            inner = [s for s in sections if getattr(s.model_fields.get("kind"), "default", None) == part]
            inner = inner or (sections if isinstance(part, int) else [])
        sections = inner
    return sorted({key for section in sections for key in section.model_fields})


def _shown_key(key: Any) -> str | None:
    """A key as an error may name it, or None for one that is no key name (a secret's line, say)."""
    return key if isinstance(key, str) and _KEY_NAME.fullmatch(key) else None


def _shown_value(loc: tuple, value: Any) -> str:
    """How an error quotes a bad value: never under a key that may hold credentials, never whole text."""
    if any(isinstance(part, str) and _SECRET_KEY.search(part) for part in loc):
        return ""
    if isinstance(value, dict | list):
        return f", got a {'mapping' if isinstance(value, dict) else 'list'}"
    text = repr(value)
    return f", got {text[:60] + '...' if len(text) > 60 else text}"


def format_validation_error(
    err: ValidationError, source: str, schema: type[BaseModel] | None = None, lines: dict[tuple, int] | None = None
) -> str:
    """One line per problem, keyed by its dotted path, grouped by section (spaCy-style).

    An unknown key is named with the closest keys its section has ("did you mean"); a key that
    is no key name at all is pointed at by its line, never quoted. Values are quoted shortened, and
    never under keys that may hold credentials (``output.url``).
    """
    lines = lines or {}
    problems = []
    for problem in err.errors():
        loc = tuple(problem["loc"])
        if problem["type"] == "invalid_key" or (problem["type"] == "extra_forbidden" and _shown_key(loc[-1]) is None):
            where = f" (line {lines[tuple(map(str, loc))]})" if tuple(map(str, loc)) in lines else ""
            parent = ".".join(map(str, loc[:-1])) or "(top level)"
            problems.append((loc[:-1], f"{parent}: a key that is not a vnnews key name{where}"))
            continue
        name = ".".join(str(p) for p in loc) or "(top level)"
        msg = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            close = difflib.get_close_matches(loc[-1], _keys_at(schema, loc[:-1]) if schema else [], n=3, cutoff=0.6)
            hint = f"did you mean {' or '.join(repr(c) for c in close)}?" if close else "check the spelling;"
            msg = f"unknown key ({hint} `vnnews config show` lists every key)"
        elif problem["type"] == "missing":
            msg = "required, but missing"
        elif "input" in problem and problem["type"] not in ("model_type", "dict_type", "value_error") \
                and ", got " not in msg:
            msg += _shown_value(loc, problem["input"])
        problems.append((loc, f"{name}: {msg}"))
    problems.sort(key=lambda item: [str(p) for p in item[0]])
    return "\n".join([f"Invalid config {source}:", *(f"  {text}" for _, text in problems)])


# A config has a few hundred values. Anchors and aliases are fine, but nested aliases can make a
# small file expand to billions of values ("billion laughs"), which validation would walk for
# minutes and gigabytes; past this many values (counted with aliases expanded) a file is refused.
MAX_YAML_VALUES = 100_000


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """Values in ``node`` with every alias expanded, computed on the composed graph (aliases share
    nodes, so memoizing by node identity keeps this linear in the file's size)."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(child, sizes) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size += sum(_expanded_size(k, sizes) + _expanded_size(v, sizes) for k, v in node.value)
    sizes[id(node)] = min(size, MAX_YAML_VALUES + 1)
    return sizes[id(node)]


def _key_lines(loader: yaml.SafeLoader, node: yaml.Node, source: str) -> dict[tuple, int]:
    """The line of every mapping key in ``node`` by its key path; a key given twice in one mapping is an error.

    YAML says keys are unique, but PyYAML keeps the last of two silently: a setting written twice
    (one copy forgotten further down) would be overridden without a word. Keys merged in with
    ``<<: *anchor`` may be overridden: that is what merging is for.
    """
    lines: dict[tuple, int] = {}
    twice: list[str] = []
    stack: list[tuple[yaml.Node, tuple]] = [(node, ())]
    seen_nodes: set[int] = set()
    while stack:
        current, path = stack.pop()
        if id(current) in seen_nodes:  # an alias: its keys were checked where the anchor is
            continue
        seen_nodes.add(id(current))
        if isinstance(current, yaml.SequenceNode):
            stack.extend((child, (*path, str(i))) for i, child in enumerate(current.value))
        elif isinstance(current, yaml.MappingNode):
            first: dict[Any, int] = {}
            for key_node, value_node in current.value:
                if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
                    continue
                key = loader.construct_object(key_node)
                line = key_node.start_mark.line + 1
                if key in first:
                    name = ".".join((*path, str(key))) if _shown_key(key) is not None else None
                    where = f"lines {first[key]} and {line}"
                    twice.append(f"{name} ({where})" if name else f"a key in {'.'.join(path) or 'the top level'} "
                                 f"({where})")
                    continue
                first[key] = line
                lines[(*path, str(key))] = line
                stack.append((value_node, (*path, str(key))))
    if twice:
        raise ConfigError(f"{source} gives a key twice: {'; '.join(sorted(twice))}. YAML keys must be unique "
                          "(only the last would count): delete one of each pair.")
    return lines


def _safe_problem(problem: str) -> str:
    """A YAML syntax problem without the file's text: quoted fragments are masked, except YAML's own
    token names ('<block end>') and single characters."""
    return re.sub(r"'([^']*)'", lambda m: m[0] if re.fullmatch(r"<[a-z ]+>|\\?.{0,1}|\\x[0-9a-f]{2}|#x[0-9a-f]+",
                                                               m[1]) else "'...'", problem)


def _compose(text: str, source: str) -> tuple[yaml.SafeLoader, yaml.Node | None]:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
    except BaseException:
        loader.dispose()
        raise
    if node is not None and _expanded_size(node, {}) > MAX_YAML_VALUES:
        loader.dispose()
        raise ConfigError(
            f"{source} expands to more than {MAX_YAML_VALUES:,} values through YAML aliases; "
            "a job config never needs that many: remove the nested anchors (&name) and aliases (*name)."
        )
    return loader, node


def safe_load_yaml(text: str, source: str) -> Any:
    """``yaml.safe_load`` that refuses documents expanding past MAX_YAML_VALUES values."""
    loader, node = _compose(text, source)
    try:
        return None if node is None else loader.construct_document(node)
    finally:
        loader.dispose()


class ConfigFile(typing.NamedTuple):
    """A config file's mapping, and the line of each key (by key path) for error messages."""

    data: dict[str, Any]
    lines: dict[tuple, int]


def _not_a_config(path: Path, why: str) -> ConfigError:
    return ConfigError(
        f"Config file {path} is not a YAML mapping of vnnews config keys ({why}); check the path: a job config is a "
        "short YAML file of sections like configs/quickstart.yaml."
    )


def _read_bytes(path: Path) -> bytes:
    """The file's first MAX_CONFIG_BYTES + 1 bytes; a FIFO without a writer reads as empty instead of hanging."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise ConfigError(f"Config file {path} does not exist.") from None
    except OSError as exc:
        raise ConfigError(f"Config file {path} cannot be read: {exc.strerror}.") from None
    if stat.S_ISDIR(os.fstat(fd).st_mode):
        os.close(fd)
        raise ConfigError(f"Config file {path} is a folder; give the YAML file in it.")
    with os.fdopen(fd, "rb") as fh:
        os.set_blocking(fd, True)
        try:
            return fh.read(MAX_CONFIG_BYTES + 1)
        except OSError as exc:
            raise ConfigError(f"Config file {path} cannot be read: {exc.strerror}.") from None


def read_config_file(path: str | Path) -> ConfigFile:
    """Read a config file: a YAML mapping, or an error that names the file and never quotes its contents.

    Whatever file is given by mistake (a binary, a huge log, a password file, a list or a plain
    text), the error says what it is not; its contents are never printed back. YAML syntax errors
    give the line and column. A key given twice in one mapping is an error naming both lines.
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) > MAX_CONFIG_BYTES:
        raise _not_a_config(path, f"it is larger than {MAX_CONFIG_BYTES // 2**20} MiB")
    try:
        text = raw.decode("utf-16") if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _not_a_config(path, "it is not UTF-8 text") from None
    if "\x00" in text:
        raise _not_a_config(path, "it is binary")
    if not text.strip():
        raise ConfigError(f"Config file {path} is empty; a job config names at least its sections (see "
                          "configs/quickstart.yaml).")
    source = f"Config file {path}"
    try:
        loader, node = _compose(text, source)
        try:
            lines = _key_lines(loader, node, source) if node is not None else {}
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise _not_a_config(path, f"it is not valid YAML: {where}{_safe_problem(exc.problem or 'syntax error')}") \
            from None
    except (yaml.YAMLError, RecursionError):
        raise _not_a_config(path, "it is not valid YAML") from None
    if not isinstance(data, dict):
        what = {list: "a list", str: "text", bool: "a boolean", type(None): "nothing"}.get(type(data), "a number")
        raise _not_a_config(path, f"it holds {what}")
    return ConfigFile(data, lines)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A config file's mapping (see :func:`read_config_file`)."""
    return read_config_file(path).data


def _config_keys(schema: type[BaseModel], data: dict[str, Any]) -> int:
    """How many top-level keys of a mapping are keys of ``schema``, or close to one (a misspelled section)."""
    keys = list(schema.model_fields)
    return sum(isinstance(k, str) and (k in keys or bool(difflib.get_close_matches(k, keys, n=1, cutoff=0.75)))
               for k in data)


def load_config(
    schema: type[ConfigT],
    path: str | Path | None = None,
    overrides: dict[str, Any] | list[str] | None = None,
    data: dict[str, Any] | None = None,
) -> ConfigT:
    """Validate a config from a YAML file (or a dict) plus overrides; raise ConfigError naming keys."""
    lines: dict[tuple, int] = {}
    if path is not None:
        raw, lines = read_config_file(path)
        # A mapping most of whose keys are no sections is some other file (a password file whose
        # lines YAML reads as keys, a Kubernetes secret): its keys are not listed back.
        if 2 * (known := _config_keys(schema, raw)) < len(raw):
            raise _not_a_config(Path(path), f"{'only ' if known else ''}{known or 'none'} of its {len(raw)} "
                                f"top-level keys {'is' if known < 2 else 'are'} one of "
                                f"{', '.join(schema.model_fields)}")
    else:
        raw = copy.deepcopy(data or {})  # overrides are set in the sections: the caller's dict stays as it was
    if isinstance(overrides, list):
        overrides = parse_overrides(overrides)
    apply_overrides(raw, overrides or {})
    try:
        return schema.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, str(path) if path else "(in memory)", schema, lines)) from None


def _masked(data: Any, key: str = "") -> Any:
    """``data`` with every value under a key that may hold credentials (``url``...) shown by
    :func:`~pipeline.redact.mask_url` (its password as ``***``)."""
    if isinstance(data, dict):
        return {k: _masked(v, str(k)) for k, v in data.items()}
    if isinstance(data, list):
        return [_masked(v, key) for v in data]
    if isinstance(data, str) and _SECRET_KEY.search(key):
        return mask_url(data) if "://" in data else "***"
    return data


def dump_config(config: BaseModel) -> str:
    """The resolved config as YAML, every default filled in, passwords in URLs masked (parsed out of the URL,
    whatever characters they hold, before the YAML is written)."""
    return yaml.safe_dump(_masked(config.model_dump(mode="json")), sort_keys=False, allow_unicode=True)


def resolve_model_path(path: Path) -> Path:
    """A relative model path is looked up in the working directory, then in the project checkout.

    This lets `vnnews run` find the shipped `models/...` from any directory of a source checkout.
    """
    if path.is_absolute() or path.exists():
        return path
    candidate = PROJECT_ROOT / path
    return candidate if candidate.exists() else path


# --- summaries: `vnnews train` / `vnnews evaluate` with `task: summary` ---------------------------


class SummaryDataConfig(Section):
    """A file of articles with reference summaries (VietNews: title, body, abstract)."""

    path: UserPath = Field(
        description="Articles with reference summaries (.jsonl[.gz], .csv, .parquet, HF dataset)."
    )
    format: InputFormat = "auto"
    text_field: str = Field("body", description="Field holding the article body.")
    title_field: str | None = Field("title", description="Field holding the title; null if there is none.")
    summary_field: str = Field("abstract", description="Field holding the reference summary.")
    limit: Int | None = Field(None, ge=1, description="Use only the first N rows (for quick trials).")


class LearnedExtractiveConfig(Section):
    """Gradient-boosted trees that score sentences by their predicted ROUGE with the reference."""

    kind: Literal["learned_extractive"] = "learned_extractive"
    max_sentences: Int = Field(2, ge=1, le=20, description="Sentences kept for the held-out metrics.")
    max_syllables: Int | None = Field(None, ge=5, description="Length budget for the held-out metrics.")
    n_estimators: Int = Field(100, ge=1, le=5000, description="Boosting rounds (one tree each).")
    learning_rate: Float = Field(0.1, gt=0.0, le=1.0, description="Shrinkage of each tree.")
    max_depth: Int | None = Field(
        6,
        ge=1,
        le=32,
        description="Depth limit of each tree (null: max_leaf_nodes only); deeper trees cost more per article.",
    )
    max_leaf_nodes: Int = Field(31, ge=2, le=1024, description="Leaves per tree (feature interactions).")
    min_samples_leaf: Int = Field(100, ge=1, description="Fewest training candidates a leaf may hold.")
    min_sentence_syllables: Int = Field(6, ge=0, description="Shorter sentences (captions, datelines) rank last.")
    target: Literal["rouge_mean", "rouge1", "rouge2"] = Field(
        "rouge_mean", description="Training label of a sentence: its ROUGE F1 with the reference (mean = R1+R2 / 2)."
    )
    trim_clauses: bool = Field(
        True,
        description="Also score each sentence without its leading or trailing clause (', ' breaks) and keep the "
        "better-scored version.",
    )
    embedding_dim: Int = Field(
        64, ge=2, le=512, description="Dimensions of the LSA term vectors learned from the training articles."
    )
    embedding_terms: Int = Field(
        20000,
        ge=10,
        description="Vocabulary of the corpus vectors: the most frequent syllables and syllable pairs (size of the "
        "model on disk: terms x dim x 2 bytes).",
    )
    embedding_min_df: Int = Field(
        3, ge=1, description="A term enters the vocabulary when at least this many training articles contain it."
    )
    n_jobs: Int = Field(
        1, ge=1, le=64, description="Processes that split and featurize the training articles (any value: same model)."
    )


class Seq2SeqTrainConfig(Section):
    """Fine-tune any Hugging Face seq2seq model (T5/ViT5, BART/BARTpho, mT5) with Seq2SeqTrainer."""

    kind: Literal["seq2seq"] = "seq2seq"
    base_model: ModelSource = Field(
        description="Hub id or local directory to start from (loaded without remote code)."
    )
    prefix: str = Field("", description="Text prepended to every input (T5 task prefix; '' for ViT5 and BARTpho).")
    tone_style: ToneStyle = Field("keep", description="Tone-mark style of inputs and targets (BARTpho: old).")
    max_input_tokens: Int = Field(1024, ge=8, description="Inputs are truncated to this many tokens.")
    max_target_tokens: Int = Field(256, ge=4, description="Reference summaries are truncated to this many tokens.")
    epochs: Float = Field(3.0, gt=0.0, description="Passes over the training pairs.")
    max_steps: Int = Field(-1, ge=-1, description="Stop after this many optimizer steps (-1 = use epochs).")
    batch_size: Int = Field(8, ge=1, description="Pairs per device per step.")
    gradient_accumulation_steps: Int = Field(1, ge=1, description="Steps whose gradients add up before an update.")
    learning_rate: Float = Field(5e-5, gt=0.0, description="Peak AdamW learning rate.")
    weight_decay: Float = Field(0.01, ge=0.0)
    warmup_steps: Int = Field(0, ge=0, description="Optimizer steps with a linear warm-up.")
    label_smoothing: Float = Field(0.0, ge=0.0, lt=1.0)
    precision: Literal["fp32", "fp16", "bf16"] = Field("fp32", description="fp16/bf16 need a GPU (bf16: Ampere+).")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="'auto' uses CUDA when present.")
    num_beams: Int = Field(4, ge=1, le=64, description="Beams when generating validation summaries.")
    max_new_tokens: Int = Field(128, ge=1, description="Longest validation summary, in tokens.")
    logging_steps: Int = Field(50, ge=1, description="Log the training loss every N steps.")


class SummaryTrainConfig(Section):
    """A `vnnews train` job with `task: summary`: a learned extractive model or a fine-tuned seq2seq."""

    task: Literal["summary"] = "summary"
    data: SummaryDataConfig
    validation: SummaryDataConfig | None = Field(
        None, description="Held-out pairs for the metrics; without it, validation_split of data is held out."
    )
    validation_split: Float = Field(0.1, ge=0.0, lt=0.9, description="Share of data held out when no validation file.")
    seed: Int = 13
    model: LearnedExtractiveConfig | Seq2SeqTrainConfig = Field(discriminator="kind")
    output_dir: UserPath
    name: str | None = Field(None, description="Model name for the card; defaults to the directory name.")
    progress: ProgressMode = Field(
        "auto", description="Progress of each phase: 'auto': a bar on a terminal, periodic log lines otherwise."
    )
    log_every_seconds: Float = Field(10.0, gt=0, description="Interval of progress log lines when not a terminal.")


class SummaryEvaluateConfig(Section):
    """A `vnnews evaluate` job with `task: summary`: ROUGE of a summarizer against reference summaries."""

    task: Literal["summary"] = "summary"
    data: SummaryDataConfig
    tone_style: ToneStyle = Field("keep", description="Tone-mark style of titles and bodies before summarizing.")
    summarize: SummarizeConfig = SummarizeConfig()
    lead_baseline: Int = Field(2, ge=0, le=20, description="Also score Lead-k with this k, side by side; 0 = off.")
    examples: Int = Field(3, ge=0, le=50, description="Side-by-side examples (reference vs summary) in the report.")
    output_dir: UserPath = Field(description="Where metrics.json, rouge_distribution.png and examples go.")
