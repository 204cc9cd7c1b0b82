"""How well a language check keeps Vietnamese news and keeps other text out, and what it costs.

Runs one or more checkers over three sets and reports, per checker, false positives (Vietnamese
quarantined), false negatives (foreign text or mojibake kept) and microseconds per article:

* Vietnamese: all of VNTC train (33,759 articles, field ``text``) and VietNews dev (``body``),
  cleaned as the normalize stage cleans them.
* Foreign: sentences written here (English, French, German, Spanish, Indonesian, Chinese,
  Russian), no download, each repeated into an article-sized text.
* Mojibake: Vietnamese articles re-encoded as VNI or TCVN3 and shown as Unicode (what an old
  file read as Windows-1252 looks like), and UTF-8 bytes decoded as cp1252 / latin-1.

Checkers: ``current`` (letter counts alone, the hand-written rule without an identifier),
``pipeline`` (what ``normalize.language_check`` runs), and each identifier alone on the whole
text: ``py3langid`` (as the pipeline calls it), ``lingua`` (restricted to the languages of the
foreign set), ``langdetect``, ``cld3``, ``cld2``. An identifier that is not installed is skipped.
The "doubtful" column counts the VNTC articles with few Vietnamese marks (those the pipeline hands
to its identifier) that a checker rejects: how each identifier would do in the pipeline's place.
All checkers in one run, interleaved on the same sample for the timing (``--repeats``), so their
speeds compare; the accuracy counts of ``--full`` checkers cover every article.

    .venv/bin/python benchmarks/language_check.py                          # all checkers, sample
    .venv/bin/python benchmarks/language_check.py --checkers current pipeline --full
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

from pipeline.text.language import (
    CLEARLY_VIETNAMESE,
    MAX_FOREIGN_SHARE,
    MIN_LATIN_SHARE,
    MIN_LETTERS_FOR_LANGUAGE_CHECK,
    language_verdicts,
)
from pipeline.text.normalize import clean_batch

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"

FOREIGN = {
    "en": "The city council approved the new budget on Tuesday after a long debate about public transport, "
          "schools and the repair of several bridges damaged by last year's floods.",
    "en-sport": "Roger Federer beat Rafael Nadal in the final of the Australian Open in Melbourne on Sunday, "
                "while Serena Williams withdrew from the tournament with a knee injury.",
    "fr": "Le conseil municipal a adopté mardi le nouveau budget après un long débat sur les transports "
          "publics, les écoles et la réparation de plusieurs ponts endommagés par les crues.",
    "de": "Der Stadtrat hat am Dienstag nach einer langen Debatte über den öffentlichen Verkehr, die Schulen "
          "und die Reparatur mehrerer Brücken den neuen Haushalt beschlossen.",
    "es": "El ayuntamiento aprobó el martes el nuevo presupuesto después de un largo debate sobre el "
          "transporte público, las escuelas y la reparación de varios puentes dañados.",
    "id": "Dewan kota menyetujui anggaran baru pada hari Selasa setelah perdebatan panjang tentang "
          "transportasi umum, sekolah dan perbaikan beberapa jembatan yang rusak akibat banjir.",
    "zh": "市议会周二在就公共交通、学校以及修复去年洪水损坏的几座桥梁进行长时间辩论后批准了新的预算。",
    "ru": "Городской совет во вторник утвердил новый бюджет после долгих дебатов об общественном транспорте, "
          "школах и ремонте нескольких мостов, повреждённых наводнением.",
}

# VNI (Windows): base letter, then a modifier byte per circumflex/breve and tone, shown as cp1252.
_VNI_TONE = {"\u0300": "ø", "\u0301": "ù", "\u0309": "û", "\u0303": "õ", "\u0323": "ï"}
_VNI_HAT_TONE = {"": "â", "\u0300": "à", "\u0301": "á", "\u0309": "å", "\u0303": "ã", "\u0323": "ä"}
_VNI_BREVE_TONE = {"": "ê", "\u0300": "è", "\u0301": "é", "\u0309": "ú", "\u0303": "ü", "\u0323": "ë"}
_VNI_I = {"\u0300": "ì", "\u0301": "í", "\u0309": "æ", "\u0303": "ó", "\u0323": "ò"}
# TCVN3 (ABC): one byte per lower-case precomposed letter, shown as cp1252.
_TCVN3 = dict(zip(
    "àáảãạăằắẳẵặâầấẩẫậđèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵĂÂĐÊÔƠƯ",
    "µ¸¶·¹¨»¾¼½Æ©ÇÊÈÉË®ÌÐÎÏÑªÒÕÓÔÖ×ÝØÜÞßãáâä«åèæçé¬êíëìîïóñòô\xadõøö÷ùúýûüþ¡¢§£¤¥¦", strict=True))


def to_vni(text: str) -> str:
    """Vietnamese text as VNI-encoded bytes read as cp1252 (``Tieáng Vieät``)."""
    import unicodedata

    out = []
    for ch in text:
        parts = unicodedata.normalize("NFD", ch)
        base, marks = parts[0], parts[1:]
        tone = next((m for m in marks if m in _VNI_TONE), "")
        upper = base.isupper()
        if ch in "đĐ":
            out.append("ñ" if ch == "đ" else "Ñ")
            continue
        if base.lower() == "i" and tone:
            piece = _VNI_I[tone]
        elif "\u0302" in marks:  # circumflex
            piece = base + _VNI_HAT_TONE[tone]
        elif "\u0306" in marks:  # breve
            piece = base + _VNI_BREVE_TONE[tone]
        elif "\u031b" in marks:  # horn: ơ is ô, ư is ö
            piece = ("ô" if base.lower() == "o" else "ö") + (_VNI_TONE[tone] if tone else "")
        elif tone:
            piece = base + _VNI_TONE[tone]
        else:
            piece = ch
        out.append(piece.upper() if upper else piece)
    return "".join(out)


def to_tcvn3(text: str) -> str:
    """Vietnamese text as TCVN3-encoded bytes read as cp1252 (``Hµ Néi``)."""
    return "".join(_TCVN3.get(ch, _TCVN3.get(ch.lower(), ch)) for ch in text)


def load_vietnamese(limit: int | None) -> dict[str, list[str]]:
    """VNTC train and VietNews dev bodies (every article unless ``limit``)."""
    sets = {}
    for name, path, field in (("vntc", DATA / "vntc" / "train.jsonl.gz", "text"),
                              ("vietnews", DATA / "vietnews" / "dev.jsonl.gz", "body")):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            texts = [json.loads(line)[field] for line in fh]
        if limit is not None and len(texts) > limit:
            texts = texts[:: len(texts) // limit][:limit]
        sets[name] = clean_batch(texts)[0]
    return sets


def build_foreign(vietnamese: list[str]) -> dict[str, list[str]]:
    """Foreign articles (each sentence repeated, with and without a short prefix) and mojibake."""
    foreign = [(sentence + " ") * reps for sentence in FOREIGN.values() for reps in (1, 3, 8)]
    sample = vietnamese[:: max(1, len(vietnamese) // 100)][:100]
    mojibake = [to_vni(t) for t in sample] + [to_tcvn3(t) for t in sample]
    mojibake += [t.encode("utf-8").decode("cp1252", errors="replace") for t in sample]
    mojibake += [t.encode("utf-8").decode("latin-1") for t in sample]
    return {"foreign": clean_batch(foreign)[0], "mojibake": clean_batch(mojibake)[0]}


def doubtful(vietnamese: dict[str, list[str]]) -> list[str]:
    """VNTC articles the letter counts leave to the identifier (judged, Latin, few marks)."""
    texts = vietnamese["vntc"]
    letters, latin, foreign, marked = clean_batch(texts)[1].astype(np.float64).T
    with np.errstate(divide="ignore", invalid="ignore"):
        keep = ((letters >= MIN_LETTERS_FOR_LANGUAGE_CHECK) & (latin / letters >= MIN_LATIN_SHARE)
                & (foreign / latin <= MAX_FOREIGN_SHARE) & (marked / latin < CLEARLY_VIETNAMESE))
    return [texts[i] for i in np.flatnonzero(keep)]


def identifier(name: str) -> Callable[[list[str]], list[str | None]] | None:
    """Reasons (None = Vietnamese) from one identifier run on every whole text, or None if missing."""
    try:
        if name == "py3langid":
            from pipeline.text.language import identify  # ISO 639-1 languages, first 2,000 characters

            detect = identify
        elif name == "lingua":
            from lingua import Language, LanguageDetectorBuilder

            languages = [Language.VIETNAMESE, Language.ENGLISH, Language.FRENCH, Language.GERMAN,
                         Language.SPANISH, Language.INDONESIAN, Language.CHINESE, Language.RUSSIAN]
            lingua = LanguageDetectorBuilder.from_languages(*languages).build()
            detect = lambda t: (lang.iso_code_639_1.name.lower()  # noqa: E731
                                if (lang := lingua.detect_language_of(t)) else "unknown")
        elif name == "langdetect":
            from langdetect import DetectorFactory
            from langdetect import detect as langdetect_detect

            DetectorFactory.seed = 0
            detect = langdetect_detect
        elif name == "cld3":
            import gcld3  # (the cld3-py wheel)

            cld3 = gcld3.NNetLanguageIdentifier(min_num_bytes=0, max_num_bytes=4000)
            detect = lambda t: cld3.FindLanguage(text=t).language  # noqa: E731
        elif name == "cld2":
            import pycld2

            detect = lambda t: pycld2.detect(t)[2][0][1]  # noqa: E731
        else:
            raise ValueError(name)
    except ImportError:
        return None

    def check(texts: list[str]) -> list[str | None]:
        out = []
        for text in texts:
            try:
                lang = detect(text)
            except Exception as exc:  # langdetect raises on text without features
                lang = type(exc).__name__
            out.append(None if lang == "vi" else f"detected {lang}")
        return out

    return check


def current(texts: list[str]) -> list[str | None]:
    """The letter-count rule the pipeline used before the identifier (thresholds as they were).

    It counted ``ð`` (the eth some Vietnamese fonts produce for ``đ``) as a foreign letter.
    """
    counts = clean_batch(texts)[1]
    eth = np.array([t.lower().count("ð") for t in texts], dtype=np.int64)
    counts[:, 2] += eth
    counts[:, 3] -= eth
    letters, latin, foreign, marked = counts.astype(np.float64).T
    with np.errstate(divide="ignore", invalid="ignore"):
        code = np.select([letters < 80, latin / letters < 0.5, foreign / latin > 0.01, marked / latin < 0.03],
                         [0, 1, 2, 3], default=0)
    return [(None, "non-Latin", "foreign letters", "no diacritics")[c] for c in code.tolist()]


def pipeline_check(texts: list[str]) -> list[str | None]:
    """What the normalize stage decides now (scan counts included, as the stage needs them)."""
    return language_verdicts(texts, clean_batch(texts)[1]).problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkers", nargs="+",
                        default=["current", "pipeline", "py3langid", "lingua", "langdetect", "cld3", "cld2"])
    parser.add_argument("--full", nargs="*", default=["current", "pipeline"],
                        help="checkers whose accuracy is counted over every VNTC/VietNews article")
    parser.add_argument("--sample", type=int, default=2000, help="Vietnamese articles per set otherwise")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    checkers = {"current": current, "pipeline": pipeline_check}
    checkers |= {n: c for n in args.checkers if n not in checkers and (c := identifier(n)) is not None}
    checkers = {n: c for n, c in checkers.items() if n in args.checkers}
    full = load_vietnamese(None) if set(args.full) & set(checkers) else None
    sample = load_vietnamese(args.sample)
    sets = sample | build_foreign(sample["vntc"]) | {"doubtful": doubtful(full or load_vietnamese(None))}
    timing_texts = sample["vntc"][:500] + sample["vietnews"][:200] + sets["foreign"] + sets["mojibake"][:100]

    for check in checkers.values():
        check(timing_texts[:20])  # load models, compile
    times: dict[str, list[float]] = {n: [] for n in checkers}
    for _ in range(args.repeats):  # interleaved: every checker once per round
        for name, check in checkers.items():
            started = time.perf_counter()
            check(timing_texts)
            times[name].append((time.perf_counter() - started) / len(timing_texts) * 1e6)

    print(f"{'checker':<11} {'VNTC FP':>14} {'VietNews FP':>14} {'foreign FN':>11} {'mojibake FN':>12} "
          f"{'doubtful':>9} {'us/article':>10}  examples")
    for name, check in checkers.items():
        vi_sets = full if name in args.full and full else sample
        row = [f"{name:<11}"]
        notes: Counter = Counter()
        for set_name in ("vntc", "vietnews"):
            verdicts = check(vi_sets[set_name])
            bad = [v for v in verdicts if v]
            notes.update(v.split(" (")[0] for v in bad)
            row.append(f"{len(bad):>6}/{len(verdicts):<7}")
        for set_name in ("foreign", "mojibake"):
            verdicts = check(sets[set_name])
            missed = sum(v is None for v in verdicts)
            row.append(f"{missed:>4}/{len(verdicts):<6}")
        rejected = sum(v is not None for v in check(sets["doubtful"]))
        row.append(f"{rejected:>4}/{len(sets['doubtful']):<4}")
        row.append(f"{min(times[name]):>10.0f}")
        print(" ".join(row), " ", dict(notes.most_common(3)))


if __name__ == "__main__":
    main()
