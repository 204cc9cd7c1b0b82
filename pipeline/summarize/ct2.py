"""CTranslate2 backend: the same seq2seq summaries, several times faster on CPU (docs/abstractive.md).

CTranslate2 runs a converted copy of a Hugging Face model (``model.bin`` + vocabulary) with
fused kernels, int8 weights and no Python in the decoding loop. :func:`convert_model` makes
such a copy with the official ``ctranslate2.converters.TransformersConverter`` (T5/ViT5/mT5,
BART/mBART/BARTpho...), adds the tokenizer and generation config the summarizer needs, and
records the source in a model card. ``summarize.backend: ctranslate2`` accepts either a
converted directory or any Hugging Face model, which it converts once into
``summarize.ct2_cache_dir``.

transformers 5 dropped ``normalize_before`` from ``BartConfig``/``MBartConfig`` (it was a
constant of each architecture), and ctranslate2's BART loader still reads it; the converter
subclass below restores it from the architecture instead of pinning an old transformers.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from pipeline.config import SummarizeConfig
from pipeline.errors import ModelNotFoundError, OutputError, first_line
from pipeline.extras import is_ct2_dir, require
from pipeline.hub import check_local, load_source, local_dir, missing_model_message, resolve_device
from pipeline.modelfiles import BadModelFile, check_hf_folder, json_object
from pipeline.summarize.batched import EXTRACTIVE_HINT, BatchedSummarizer

log = logging.getLogger(__name__)

QUANTIZATIONS = ("float32", "int8", "int8_float32", "int8_float16", "int8_bfloat16", "int16", "float16", "bfloat16")
# Pre-norm (True) or post-norm (False) layers, for configs that no longer carry the flag.
_NORMALIZE_BEFORE = {"BartForConditionalGeneration": False, "MBartForConditionalGeneration": True}


def _converter_class() -> type:
    from ctranslate2.converters import TransformersConverter

    class CompatConverter(TransformersConverter):
        """The official converter, loading weights without remote code and with transformers 5 configs."""

        def load_model(self, model_class: Any, model_name_or_path: str, **kwargs: Any) -> Any:
            kwargs["use_safetensors"] = True  # never unpickle weights
            model = super().load_model(model_class, model_name_or_path, **kwargs)
            if not hasattr(model.config, "normalize_before") and model_class.__name__ in _NORMALIZE_BEFORE:
                model.config.normalize_before = _NORMALIZE_BEFORE[model_class.__name__]
            return model

    return CompatConverter


def _card(source: str, output: Path, quantization: str, seconds: float) -> dict[str, Any]:
    import ctranslate2
    import transformers

    local = local_dir(source)
    card: dict[str, Any] = {
        "format": "ctranslate2",
        "source": str(local.resolve()) if local is not None else source,
        "source_kind": "directory" if local is not None else "hub",
        "quantization": quantization,
        "ctranslate2_version": ctranslate2.__version__,
        "transformers_version": transformers.__version__,
        "converted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "convert_seconds": round(seconds, 2),
    }
    if local is not None:
        weights = sorted(local.glob("*.safetensors")) or sorted(local.glob("*.bin"))
        card["source_weights_sha256"] = {w.name: _sha256(w) for w in weights}
    card["source_config"] = json.loads((output / "source_config.json").read_text(encoding="utf-8"))
    return card


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _write_card(output: Path, name: str, card: dict[str, Any]) -> None:
    (output / "conversion.json").write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    arch = (card["source_config"].get("architectures") or ["?"])[0]
    (output / "README.md").write_text(
        f"# {name}\n\n"
        f"CTranslate2 conversion of `{card['source']}` ({arch}) for `summarize.backend: ctranslate2`.\n\n"
        f"- Source: `{card['source']}` ({card['source_kind']})\n"
        f"- Weights: {card['quantization']}\n"
        f"- Converted {card['converted_at']} with ctranslate2 {card['ctranslate2_version']}, "
        f"transformers {card['transformers_version']}\n"
        f"- Reproduce: `vnnews models convert {card['source']} {name} --quantization {card['quantization']}`\n\n"
        "Files: `model.bin`, `config.json` and `shared_vocabulary.json` (CTranslate2), the tokenizer files and\n"
        "`generation_config.json` (Hugging Face), `source_config.json` (the source model's config) and\n"
        "`conversion.json` (this card, machine-readable, with the source weights' SHA-256).\n",
        encoding="utf-8",
    )


def convert_model(source: str, output: str | Path, quantization: str = "int8", force: bool = False) -> Path:
    """Convert a Hugging Face seq2seq model (hub id or directory) into a CTranslate2 directory.

    The directory is complete for :class:`Ct2Summarizer`: weights, tokenizer, generation config
    and a model card naming the source. It is written to a temporary sibling and renamed, so an
    interrupted conversion never leaves a half-written model behind.
    """
    require("ct2", "vnnews models convert")
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"quantization must be one of {', '.join(QUANTIZATIONS)}; got {quantization!r}")
    output = Path(output).expanduser()
    if output.exists() and not force and any(output.iterdir()):
        raise OutputError(f"{output} already exists and is not empty; pass --force to overwrite it.")
    if is_ct2_dir(source):
        raise ModelNotFoundError(f"{source} is already a CTranslate2 model; point summarize.model at it directly.")
    load_from = load_source(source, "summarize.model")  # before transformers' import: an unreachable hub fails at once
    if (local := local_dir(load_from)) is not None:
        try:
            check_hf_folder(local)
        except BadModelFile as exc:
            raise ModelNotFoundError(missing_model_message(source, str(exc), "summarize.model") + EXTRACTIVE_HINT) \
                from None
    from transformers import AutoConfig, AutoTokenizer, GenerationConfig

    output.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix=f".{output.name}-", dir=output.parent))
    try:
        converter = _converter_class()(load_from, trust_remote_code=False)
        try:
            converter.convert(str(tmp), quantization=quantization, force=True)
            tokenizer = AutoTokenizer.from_pretrained(load_from, trust_remote_code=False)
        except Exception as exc:  # the converter reads a folder of any files: whatever it raises is that folder
            reason = f"{type(exc).__name__}: {first_line(exc)}"
            message = missing_model_message(source, reason, "summarize.model")
            raise ModelNotFoundError(message + EXTRACTIVE_HINT) from None
        tokenizer.save_pretrained(tmp)
        source_config = AutoConfig.from_pretrained(load_from, trust_remote_code=False).to_dict()
        (tmp / "source_config.json").write_text(json.dumps(source_config, indent=2) + "\n", encoding="utf-8")
        try:
            GenerationConfig.from_pretrained(load_from).save_pretrained(tmp)
        except OSError:
            log.info("%s has no generation_config.json; using the model config's defaults", source)
        _write_card(tmp, output.name, _card(source, tmp, quantization, time.perf_counter() - started))
        if output.exists():
            shutil.rmtree(output)
        os.replace(tmp, output)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    log.info("converted %s to %s (%s) in %.1fs", source, output, quantization, time.perf_counter() - started)
    return output


def cache_path(config: SummarizeConfig) -> Path:
    """Where ``config.model`` is converted on first use: one directory per source and quantization.

    For a local source the key includes the weights' sizes and modification times, so retraining
    into the same directory triggers a fresh conversion instead of serving stale weights.
    """
    quantization = _cache_quantization(config.compute_type)
    key = [config.model, quantization]
    local = local_dir(config.model)
    if local is not None:
        for f in sorted(local.iterdir()):
            if f.is_file():
                stat = f.stat()
                key.append(f"{f.name}:{stat.st_size}:{stat.st_mtime_ns}")
    digest = hashlib.sha256("\n".join(key).encode("utf-8")).hexdigest()[:12]
    name = (local.resolve().name if local is not None else config.model.replace("/", "--")) or "model"
    return config.ct2_cache_dir.expanduser() / f"{name}-{quantization}-{digest}"


def _cache_quantization(compute_type: str) -> str:
    # 'default'/'auto' keep full precision on disk; CTranslate2 can still lower it at load time.
    return "float32" if compute_type in ("default", "auto") else compute_type


def resolve_ct2_model(config: SummarizeConfig) -> Path:
    """The CTranslate2 directory for ``config.model``: itself if converted, else the (filled) cache."""
    if is_ct2_dir(config.model):
        return Path(config.model).expanduser()
    check_local(config.model, "summarize.model")
    target = cache_path(config)
    if not is_ct2_dir(target):
        log.info("converting %s for ctranslate2 into %s (once; later runs reuse it)", config.model, target)
        convert_model(config.model, target, _cache_quantization(config.compute_type), force=True)
    return target


class Ct2Summarizer(BatchedSummarizer):
    """Seq2seq summaries with ``ctranslate2.Translator``; same settings and outputs as the torch backend.

    Generation options map one to one onto ``translate_batch``. Hugging Face's
    ``forced_eos_token_id`` (BART) spends the last of ``max_new_tokens`` on the end token, so
    the decoding length is one shorter for such models: both backends then emit the same text.
    """

    def _load(self) -> None:
        import ctranslate2
        from transformers import AutoTokenizer

        cfg = self.config
        self.model_dir = resolve_ct2_model(cfg)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir, trust_remote_code=False)
        except (OSError, ValueError) as exc:
            raise ModelNotFoundError(
                f"{self.model_dir} has no tokenizer files ({exc}); convert it with `vnnews models convert`, "
                "which copies the tokenizer next to the CTranslate2 weights."
            ) from None
        generation = self.model_dir / "generation_config.json"
        forced_eos = None
        device = resolve_device(cfg.device, lambda: ctranslate2.get_cuda_device_count() > 0)
        self.device = device
        try:
            if generation.is_file():
                forced_eos = json_object(generation).get("forced_eos_token_id")
            self.translator = ctranslate2.Translator(
                str(self.model_dir),
                device=device,
                compute_type=cfg.compute_type,
                inter_threads=cfg.inter_threads,
                intra_threads=cfg.threads,
            )
        except (BadModelFile, RuntimeError, ValueError, OSError) as exc:
            raise ModelNotFoundError(
                f"Cannot load the CTranslate2 model in {self.model_dir}: {exc}. A CTranslate2 model folder holds "
                "model.bin, config.json and the vocabulary, with the tokenizer files beside them: convert it again "
                "with `vnnews models convert`."
            ) from None
        self._max_decoding = max(1, cfg.max_new_tokens - (forced_eos is not None))

    def describe(self) -> dict[str, Any]:
        return {
            "model": self.config.model,
            "converted": str(self.model_dir),
            "backend": "ctranslate2",
            "device": self.device,
            "compute_type": self.translator.compute_type,
            "num_beams": self.config.num_beams,
            "max_new_tokens": self.config.max_new_tokens,
        }

    def _run(self, texts: list[str]) -> list[str]:
        # One call: translate_batch sorts by length and splits into max_batch_size batches itself,
        # and can run inter_threads of them in parallel.
        return self._generate(texts)

    def _generate(self, texts: list[str]) -> list[str]:
        cfg = self.config
        ids = self.tokenizer([cfg.prefix + t for t in texts], max_length=cfg.max_input_tokens, truncation=True)
        tokens = [self.tokenizer.convert_ids_to_tokens(seq) for seq in ids["input_ids"]]
        results = self.translator.translate_batch(
            tokens,
            max_batch_size=cfg.batch_size,
            beam_size=cfg.num_beams,
            length_penalty=cfg.length_penalty,
            no_repeat_ngram_size=cfg.no_repeat_ngram_size,
            max_input_length=cfg.max_input_tokens,
            max_decoding_length=self._max_decoding,
            min_decoding_length=min(cfg.min_new_tokens, self._max_decoding),
        )
        out_ids = [self.tokenizer.convert_tokens_to_ids(r.hypotheses[0]) for r in results]
        return [s.strip() for s in self.tokenizer.batch_decode(out_ids, skip_special_tokens=True)]
