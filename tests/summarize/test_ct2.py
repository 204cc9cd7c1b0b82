"""The CTranslate2 backend against the torch backend, on the tiny T5 and BART fixtures.

Freshly initialised tiny models repeat one token forever, which would make "both backends agree"
trivially true; ``lively`` adds seeded noise to every weight so greedy outputs differ per article
and token-for-token agreement means something.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.config import SummarizeConfig
from pipeline.errors import ModelNotFoundError, OutputError
from pipeline.stages.summarize import SummarizeStage
from pipeline.summarize.abstractive import Seq2SeqSummarizer
from pipeline.summarize.ct2 import Ct2Summarizer, cache_path, convert_model, is_ct2_dir


def _lively(src: Path, dst: Path) -> Path:
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    model = AutoModelForSeq2SeqLM.from_pretrained(src)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn(param.shape, generator=generator) * 0.5)
    model.save_pretrained(dst)
    AutoTokenizer.from_pretrained(src).save_pretrained(dst)
    return dst


@pytest.fixture(scope="module")
def tiny_mbart(tmp_path_factory, tiny_tokenizer) -> Path:
    """A 1+1-layer mBART shaped like BARTpho (pre-norm layers, </s> starts decoding).

    transformers 5 no longer stores ``normalize_before``, which ctranslate2's converter reads;
    a wrong guess (post-norm) would still convert but decode differently, so parity tests it.
    """
    from transformers import MBartConfig, MBartForConditionalGeneration

    config = MBartConfig(
        vocab_size=len(tiny_tokenizer), d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=4,
        decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=256,
        pad_token_id=0, eos_token_id=1, bos_token_id=3, decoder_start_token_id=1, forced_eos_token_id=1,
        tokenizer_class="BartphoTokenizer",
    )
    path = tmp_path_factory.mktemp("tiny-mbart")
    MBartForConditionalGeneration(config).save_pretrained(path)
    tiny_tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module", params=["tiny_t5", "tiny_bart", "tiny_mbart"])
def lively_model(request, tmp_path_factory) -> Path:
    src = request.getfixturevalue(request.param)
    return _lively(src, tmp_path_factory.mktemp(f"lively-{request.param}"))


@pytest.fixture(scope="module")
def converted(lively_model, tmp_path_factory) -> Path:
    return convert_model(str(lively_model), tmp_path_factory.mktemp("ct2") / "model", quantization="float32")


def _config(model, tmp_path=None, **kw) -> SummarizeConfig:
    settings = dict(
        kind="abstractive", model=str(model), max_new_tokens=16, num_beams=1, batch_size=3, max_input_tokens=64,
        no_repeat_ngram_size=0, device="cpu", backend="ctranslate2", compute_type="float32",
    )
    if tmp_path is not None:
        settings["ct2_cache_dir"] = tmp_path / "cache"
    settings.update(kw)
    return SummarizeConfig(**settings)


def test_greedy_outputs_agree_token_for_token(lively_model, converted, sample_rows):
    import torch

    torch_sum = Seq2SeqSummarizer(_config(lively_model, backend="torch"))
    ct2_sum = Ct2Summarizer(_config(converted))
    texts = [r["text"] for r in sample_rows[:8]]
    tok = torch_sum.tokenizer
    encoded = tok(texts, max_length=64, truncation=True, padding=True, return_tensors="pt")
    with torch.inference_mode():
        hf = torch_sum.model.generate(**encoded, max_new_tokens=16, num_beams=1, do_sample=False)
    special = set(tok.all_special_ids)
    hf_ids = [[t for t in seq[1:] if t not in special] for seq in hf.tolist()]  # drop decoder start, eos, pad
    src = [tok.convert_ids_to_tokens(ids) for ids in tok(texts, max_length=64, truncation=True)["input_ids"]]
    results = ct2_sum.translator.translate_batch(
        src, beam_size=1, max_decoding_length=ct2_sum._max_decoding, min_decoding_length=0  # HF may stop at once
    )
    ct2_ids = [[t for t in tok.convert_tokens_to_ids(r.hypotheses[0]) if t not in special] for r in results]
    assert ct2_ids == hf_ids
    assert len({tuple(ids) for ids in hf_ids}) > 1  # the outputs are not all the same degenerate string
    assert ct2_sum.summarize(texts) == torch_sum.summarize(texts)  # and so are the pipeline's summaries


@pytest.mark.parametrize(
    "settings",
    [dict(num_beams=3, min_new_tokens=6), dict(num_beams=1, min_new_tokens=6, no_repeat_ngram_size=2)],
    ids=["beam-min-length", "greedy-no-repeat"],
)
def test_generation_settings_map_onto_ctranslate2(lively_model, converted, sample_rows, settings):
    # Beam search combined with no_repeat_ngram_size is not compared: the two libraries prune
    # banned n-grams at different points of the beam step, so their beams can legitimately part.
    texts = [r["text"] for r in sample_rows[:6]]
    ct2_out = Ct2Summarizer(_config(converted, **settings)).summarize(texts)
    torch_out = Seq2SeqSummarizer(_config(lively_model, backend="torch", **settings)).summarize(texts)
    assert ct2_out == torch_out
    assert all(len(s) > 0 for s in ct2_out)


def test_model_card_records_source(lively_model, converted):
    card = json.loads((converted / "conversion.json").read_text(encoding="utf-8"))
    assert card["source"] == str(lively_model.resolve())
    assert card["quantization"] == "float32"
    assert set(card["source_weights_sha256"]) == {"model.safetensors"}
    assert card["source_config"]["architectures"][0].endswith("ForConditionalGeneration")
    assert "vnnews models convert" in (converted / "README.md").read_text(encoding="utf-8")
    assert is_ct2_dir(converted) and not is_ct2_dir(lively_model)


def test_int8_conversion_runs_and_is_smaller(lively_model, converted, tmp_path, sample_rows):
    out = convert_model(str(lively_model), tmp_path / "int8", quantization="int8")
    assert (out / "model.bin").stat().st_size < (converted / "model.bin").stat().st_size
    summaries = Ct2Summarizer(_config(out, compute_type="int8")).summarize([r["text"] for r in sample_rows[:3]])
    assert len(summaries) == 3 and all(isinstance(s, str) for s in summaries)


def test_converts_on_first_use_into_cache_and_reuses_it(tiny_t5, tmp_path, sample_rows):
    config = _config(tiny_t5, tmp_path)
    first = Ct2Summarizer(config)
    assert first.model_dir == cache_path(config) and is_ct2_dir(first.model_dir)
    stamp = (first.model_dir / "model.bin").stat().st_mtime_ns
    second = Ct2Summarizer(config)
    assert (second.model_dir / "model.bin").stat().st_mtime_ns == stamp  # not converted again
    assert cache_path(_config(tiny_t5, tmp_path, compute_type="int8")) != cache_path(config)


def test_convert_refuses_to_overwrite_without_force(tiny_t5, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(OutputError, match="--force"):
        convert_model(str(tiny_t5), out, quantization="float32")
    assert (out / "keep.txt").exists()


def test_missing_source_is_a_model_error(tmp_path):
    with pytest.raises(ModelNotFoundError):
        convert_model(str(tmp_path / "nothing-here"), tmp_path / "out", quantization="float32")


def test_stage_switches_backend(tiny_bart, tmp_path, sample_rows):
    stage = SummarizeStage(_config(tiny_bart, tmp_path))
    records = stage([dict(r) for r in sample_rows[:2]])
    assert all(isinstance(r["summary"], str) for r in records)
    description = stage.describe()
    assert description["backend"] == "ctranslate2" and description["compute_type"] == "float32"
