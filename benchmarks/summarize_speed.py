"""Abstractive summary speed on CPU: Hugging Face generate() vs CTranslate2, raw and through the pipeline.

Builds a T5 of ViT5-base's exact shape (vocab 36,096, d_model 768, 12+12 layers, relu FFN 3,072)
with random weights (speed does not depend on their values) and a 36,096-token BPE tokenizer
trained on VietNews train_sample, converts it to CTranslate2 (float32 and int8), then times
summarizing real-length VietNews dev articles with a forced output length. Every variant runs in
its own subprocess, so its peak RSS (model + runtime + activations) is its own.

    .venv/bin/python benchmarks/summarize_speed.py --articles 12 --batch-size 4
    .venv/bin/python benchmarks/summarize_speed.py --shape tiny --articles 8     # a quick smoke run

Variants: ``hf_generate`` (plain AutoModelForSeq2SeqLM.generate in input order), ``pipeline_torch``
(SummarizeStage, backend torch), ``ct2_raw_*`` (ctranslate2.Translator.translate_batch on the
tokenized articles) and ``pipeline_ct2_*`` (SummarizeStage, backend ctranslate2). Throughput
excludes model loading; a one-article warm-up runs first. Timings on a shared machine are noisy:
compare variants of the same run, not numbers across runs.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from common import SHARED_DATA, argument_parser

DATA = SHARED_DATA / "vietnews"
SHAPES = {
    "vit5-base": dict(vocab_size=36096, d_model=768, d_ff=3072, d_kv=64, num_heads=12, num_layers=12,
                      num_decoder_layers=12),
    "tiny": dict(vocab_size=4000, d_model=64, d_ff=128, d_kv=16, num_heads=4, num_layers=2, num_decoder_layers=2),
}
VARIANTS = ["hf_generate", "pipeline_torch", "ct2_raw_float32", "pipeline_ct2_float32", "ct2_raw_int8",
            "pipeline_ct2_int8"]


def _articles(n: int) -> list[str]:
    with gzip.open(DATA / "dev.jsonl.gz", "rt", encoding="utf-8") as fh:
        return [json.loads(line)["body"] for _, line in zip(range(n), fh, strict=False)]


def _build(workdir: Path, shape: str) -> None:
    """Tokenizer, random-weight T5 and its two CTranslate2 conversions (skipped when present)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from tokenizers.processors import TemplateProcessing
    from transformers import PreTrainedTokenizerFast, T5Config, T5ForConditionalGeneration

    from pipeline.summarize.ct2 import convert_model, is_ct2_dir

    hf_dir = workdir / "hf"
    if not (hf_dir / "model.safetensors").exists():
        dims = SHAPES[shape]
        with gzip.open(DATA / "train_sample.jsonl.gz", "rt", encoding="utf-8") as fh:
            texts = [(row := json.loads(line))["title"] + "\n" + row["body"] for line in fh]
        tok = Tokenizer(models.BPE(unk_token="<unk>"))
        tok.normalizer = normalizers.NFC()
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        tok.decoder = decoders.Metaspace()
        specials = ["<pad>", "</s>", "<unk>"]
        tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=dims["vocab_size"], special_tokens=specials))
        tok.post_processor = TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
        tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>",
                                            unk_token="<unk>")
        torch.manual_seed(0)
        config = T5Config(**dims, feed_forward_proj="relu", pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
        model = T5ForConditionalGeneration(config)
        model.save_pretrained(hf_dir)
        tokenizer.save_pretrained(hf_dir)
        print(f"built {shape} T5 ({sum(p.numel() for p in model.parameters()):,} parameters, tokenizer of "
              f"{len(tokenizer)} tokens) in {hf_dir}", flush=True)
    for quantization in ("float32", "int8"):
        out = workdir / f"ct2-{quantization}"
        if not is_ct2_dir(out):
            convert_model(str(hf_dir), out, quantization=quantization, force=True)


def _worker(args: argparse.Namespace) -> None:
    """Time one variant in this process; print one JSON line."""
    import torch

    from pipeline.config import SummarizeConfig
    from pipeline.stages.summarize import SummarizeStage

    threads = args.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    # CTranslate2 gets the same cores, split into inter_threads parallel batches of ct2_intra threads each
    ct2_intra = max(1, threads // args.inter_threads)
    texts = _articles(args.articles)
    variant, workdir = args.worker, args.workdir
    quantization = variant.rsplit("_", 1)[-1]
    gen = dict(beams=args.beams, new=args.new_tokens, window=args.max_input_tokens)

    if variant == "hf_generate":
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(workdir / "hf")
        model = AutoModelForSeq2SeqLM.from_pretrained(workdir / "hf").eval()

        def run(batch: list[str], new: int) -> None:
            for start in range(0, len(batch), args.batch_size):
                enc = tokenizer(batch[start : start + args.batch_size], max_length=gen["window"], truncation=True,
                                padding=True, return_tensors="pt")
                with torch.inference_mode():
                    model.generate(**enc, num_beams=gen["beams"], max_new_tokens=new, min_new_tokens=new,
                                   no_repeat_ngram_size=args.no_repeat_ngram, do_sample=False)
    elif variant.startswith("ct2_raw"):
        import ctranslate2
        from transformers import AutoTokenizer

        model_dir = workdir / f"ct2-{quantization}"
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        translator = ctranslate2.Translator(str(model_dir), compute_type=quantization, intra_threads=ct2_intra,
                                            inter_threads=args.inter_threads)

        def run(batch: list[str], new: int) -> None:
            ids = tokenizer(batch, max_length=gen["window"], truncation=True)["input_ids"]
            translator.translate_batch([tokenizer.convert_ids_to_tokens(x) for x in ids],
                                       max_batch_size=args.batch_size, beam_size=gen["beams"],
                                       max_decoding_length=new, min_decoding_length=new,
                                       no_repeat_ngram_size=args.no_repeat_ngram, max_input_length=gen["window"])
    else:
        backend = "torch" if variant == "pipeline_torch" else "ctranslate2"
        model = workdir / ("hf" if backend == "torch" else f"ct2-{quantization}")

        stage = SummarizeStage(SummarizeConfig(
            kind="abstractive", backend=backend, model=str(model), device="cpu", num_beams=gen["beams"],
            max_new_tokens=gen["new"], min_new_tokens=gen["new"], max_input_tokens=gen["window"],
            batch_size=args.batch_size, no_repeat_ngram_size=args.no_repeat_ngram, threads=ct2_intra,
            inter_threads=args.inter_threads,
            compute_type=quantization if backend == "ctranslate2" else "default"))

        def run(batch: list[str], new: int) -> None:
            stage([{"text": t} for t in batch])

    run(texts[:1], gen["new"])  # warm-up with the real settings: first-call allocations, thread pools
    seconds = float("inf")
    for _ in range(args.repeat):  # best of N: other processes on a shared machine only ever slow a pass down
        started = time.perf_counter()
        run(texts, gen["new"])
        seconds = min(seconds, time.perf_counter() - started)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"variant": variant, "seconds": seconds, "articles_per_s": len(texts) / seconds,
                      "peak_rss_mib": peak_mib}))


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--shape", choices=sorted(SHAPES), default="vit5-base")
    parser.add_argument("--articles", type=int, default=12, help="VietNews dev articles (the first N)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--beams", type=int, default=4)
    parser.add_argument("--new-tokens", type=int, default=64, help="forced output length (min = max)")
    parser.add_argument("--max-input-tokens", type=int, default=1024, help="the model's window; longer is cut")
    parser.add_argument("--no-repeat-ngram", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="0 = all cores")
    parser.add_argument("--inter-threads", type=int, default=1,
                        help="CTranslate2 variants: batches decoded in parallel, each with threads/inter-threads "
                             "threads (plain generate() always uses --threads intra-op threads)")
    parser.add_argument("--repeat", type=int, default=1, help="timed passes per variant; the best one counts")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=VARIANTS)
    parser.add_argument("--workdir", type=Path, default=None, help="default: /tmp/vnnews-speed-SHAPE")
    parser.add_argument("--worker", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--build", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.workdir = args.workdir or Path(f"/tmp/vnnews-speed-{args.shape}")

    if args.build:
        _build(args.workdir, args.shape)
        return
    if args.worker:
        _worker(args)
        return
    args.workdir.mkdir(parents=True, exist_ok=True)
    build = subprocess.run([sys.executable, __file__, "--shape", args.shape, "--workdir", str(args.workdir), "--build"])
    if build.returncode:
        sys.exit(build.returncode)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(args.workdir / "hf")
    lengths = [len(x) for x in tokenizer(_articles(args.articles))["input_ids"]]
    print(f"{args.shape} T5, {args.articles} VietNews dev articles (tokens: mean {sum(lengths) / len(lengths):.0f}, "
          f"max {max(lengths)}, {sum(n > args.max_input_tokens for n in lengths)} cut to {args.max_input_tokens}), "
          f"{args.new_tokens} forced output tokens, {args.beams} beams, batch {args.batch_size}, "
          f"{args.threads or os.cpu_count()} threads (CTranslate2: {args.inter_threads} parallel batches), "
          f"best of {args.repeat}", flush=True)
    results = {}
    for variant in args.variants:
        cmd = [sys.executable, __file__, *sys.argv[1:], "--workdir", str(args.workdir), "--worker", variant]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode:
            print(out.stderr[-3000:], file=sys.stderr)
            sys.exit(f"{variant} failed")
        results[variant] = json.loads(out.stdout.strip().splitlines()[-1])
        r = results[variant]
        print(f"  {variant:<22} {r['articles_per_s']:7.3f} articles/s  peak RSS {r['peak_rss_mib']:7.0f} MiB",
              flush=True)
    print()
    print("| variant | articles/s | x HF generate | peak RSS (MiB) | RSS / HF generate |")
    print("|---|---:|---:|---:|---:|")
    base = results.get("hf_generate")
    for variant, r in results.items():
        speed = f"{r['articles_per_s'] / base['articles_per_s']:.2f}" if base else "-"
        mem = f"{r['peak_rss_mib'] / base['peak_rss_mib']:.2f}" if base else "-"
        print(f"| {variant} | {r['articles_per_s']:.3f} | {speed} | {r['peak_rss_mib']:.0f} | {mem} |")
    for q in ("float32", "int8"):
        raw, pipe = results.get(f"ct2_raw_{q}"), results.get(f"pipeline_ct2_{q}")
        if raw and pipe:
            print(f"pipeline overhead vs raw CTranslate2 ({q}): "
                  f"{(1 - pipe['articles_per_s'] / raw['articles_per_s']) * 100:+.1f} % of throughput")
    if base and "pipeline_torch" in results:
        ratio = results["pipeline_torch"]["articles_per_s"] / base["articles_per_s"]
        print(f"pipeline torch vs HF generate: {ratio:.2f}x")


if __name__ == "__main__":
    main()
