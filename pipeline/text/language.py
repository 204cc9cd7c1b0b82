"""Is a text Vietnamese? Letter counts for the clear cases, a language identifier for the rest.

The normalize stage quarantines text that is not Vietnamese instead of feeding it to the models.
Letter counts alone ("no Vietnamese diacritics" = not Vietnamese) would reject real Vietnamese:
forum questions typed without accents and sports calendars full of foreign names
(docs/language.md has the numbers). So:

* Letter counts from the compiled scan (:func:`pipeline.text.scan.scan_texts`) still decide the
  clear cases, for free: too few letters to judge (accepted), mostly non-Latin script (Chinese,
  Russian...: rejected), Latin letters Vietnamese never uses (``ä ö ø``, what VNI/TCVN3 text
  read as Windows-1252 and UTF-8 read as latin-1 are full of: rejected; the identifiers compared
  in docs/language.md mostly call such mojibake Vietnamese), and many Vietnamese marked letters
  (accepted: almost every news article, so the identifier costs the daily job little).
* The doubtful rest (few marks: 57 of the 33,759 VNTC train articles) is kept when most of its
  words are Vietnamese syllables with their marks set aside (:func:`syllable_share`): Vietnamese
  typed without diacritics, in Telex or with a few marks, however short; other Latin-script
  languages write words of several syllables and score far lower. What that leaves goes to py3langid,
  a naive Bayes byte n-gram model shipped inside its wheel (no download at run time), limited to
  languages with a two-letter ISO 639-1 code (its regional and creole classes, e.g. Nigerian
  Pidgin, won over Vietnamese typed without accents). It recognises Vietnamese typed without
  accents; such texts are kept and flagged ``diacritics: false`` since the topic model reads them
  less well.
* A doubtful text the identifier calls foreign is still kept when enough of its letters are ones
  only Vietnamese writes (``ă đ ơ ư ạ ế ữ``...): a sports calendar or a table of foreign names
  with Vietnamese headings, or a Vietnamese question with an English answer. French, Spanish or
  Portuguese accents (``é à ô ã``) do not count there.
"""

from __future__ import annotations

import os
import re
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import numpy as np

MIN_LETTERS_FOR_LANGUAGE_CHECK = 80  # shorter texts carry too little evidence either way
MIN_LATIN_SHARE = 0.5  # below: mostly another script
MAX_FOREIGN_SHARE = 0.01  # above, of Latin letters: letters Vietnamese never uses (mojibake, German...)
CLEARLY_VIETNAMESE = 0.10  # marked share of Latin letters at or above which the identifier is skipped
MIN_DIACRITICS = 0.03  # marked share below which a text counts as typed without diacritics
MIN_VIETNAMESE_ONLY = 0.005  # share of Latin letters only Vietnamese writes that outvotes the identifier
MIN_SYLLABLE_SHARE = 0.70  # share of words that are Vietnamese syllables (marks set aside) that settles a text
IDENTIFIER_CHARS = 2_000  # characters of a doubtful text the identifier (and the syllable count) reads

NOT_LATIN = "text is not Vietnamese (mostly non-Latin script)"
NOT_UNICODE = (
    "text is not Vietnamese Unicode (letters like ä, ö, ø: mis-encoded VNI/TCVN3 text or another language)"
)

# A Vietnamese syllable with its marks set aside: an optional initial consonant, one of the vowel
# groups Vietnamese spells, an optional final consonant. Vietnamese writes every syllable as a word
# of its own, so nearly every word of Vietnamese typed without diacritics is one; other Latin-script
# languages write words of several syllables and consonant clusters (docs/language.md has the numbers).
_VOWEL_GROUPS = ("oai", "oay", "oeo", "uay", "uoi", "uou", "uya", "uye", "uyu", "ieu", "yeu", "ai", "ao", "au", "ay",
                 "eo", "eu", "ia", "ie", "iu", "oa", "oe", "oi", "oo", "ua", "ue", "ui", "uo", "uu", "uy", "ye", "a",
                 "e", "i", "o", "u", "y")  # longest first: the regex tries them in order
_SYLLABLE = re.compile(rf"(?:ngh|ng|nh|ch|gh|gi|kh|ph|th|tr|qu|[bcdghklmnprstvx])?(?:{'|'.join(_VOWEL_GROUPS)})"
                       r"(?:ch|nh|ng|[cmnpt])?")
# Telex, typed without an input method to turn it into marks: doubled letters (aa ee oo dd), w after
# a vowel (aw ow uw) and a tone key (s f r x j) after the syllable: "Vieetj Nam" for "Việt Nam".
_TELEX_LETTERS = re.compile("aa|ee|oo|dd|aw|ow|uw")
_WORD = re.compile(r"[^\W\d_]+")
# Latin letters to their base letter (ế -> e, đ -> d); what does not decompose to an ASCII letter stays.
_BASE_LETTERS = {
    ord(c): base for c in map(chr, range(0xC0, 0x250))
    if (base := unicodedata.normalize("NFD", c)[0]).isascii() and base.isalpha() and base != c
} | {ord("đ"): "d", ord("Đ"): "D", ord("ð"): "d"} | {
    ord(c): unicodedata.normalize("NFD", c)[0] for c in map(chr, range(0x1EA0, 0x1EFA))
}


def _is_syllable(word: str) -> bool:
    """Whether a lowercase word without marks is a Vietnamese syllable, as such or typed in Telex."""
    if _SYLLABLE.fullmatch(word):
        return True
    if word[-1] in "sfrxj":
        word = word[:-1]
    return _SYLLABLE.fullmatch(_TELEX_LETTERS.sub(lambda m: m[0][0], word)) is not None


def syllable_share(text: str) -> float:
    """Share of the words in (the start of) ``text`` that are Vietnamese syllables, marks set aside.

    Vietnamese typed without diacritics, in Telex or with some marks scores 0.9 and more (short
    texts full of foreign names 0.6 to 0.8); English, French, Indonesian and other Latin-script
    languages score under 0.5.
    """
    words = _WORD.findall(text[:IDENTIFIER_CHARS].lower().translate(_BASE_LETTERS))
    return sum(map(_is_syllable, words)) / len(words) if words else 0.0


# Letters no other Latin-script language writes: a with breve, d with stroke, i/u with tilde, o/u
# with horn, and every precomposed letter of Latin Extended Additional's Vietnamese block.
_VIETNAMESE_ONLY_RE = re.compile("[ăđĩũơưĂĐĨŨƠƯ\u1ea0-\u1ef9]")


class LanguageVerdicts(NamedTuple):
    """Per text why it is not Vietnamese (None when it is); which kept texts lack diacritics."""

    problems: list[str | None]
    no_diacritics: list[int]  # indices of texts kept as Vietnamese typed without diacritics


# The identifier's arrays as py3langid holds them once limited to ISO 639-1 languages (see _identifier).
_MODEL_ARRAYS = ("ptc", "pc", "classes", "nextmove", "row", "output")


@lru_cache(maxsize=1)
def _identifier():
    """py3langid's model limited to ISO 639-1 languages, loaded once when first needed.

    The model ships LZMA-compressed (4 MB, 68 MB unpacked): unpacking it took most of a second at
    the first doubtful text of every job. So the unpacked arrays, already limited to ISO 639-1, are
    kept as ``.npy`` files in the user's cache folder (:mod:`pipeline.text.cache`, as the scan
    tables are), under a key of the model file's bytes, the py3langid version and this file, and
    mapped from there: a job reads only the pages the identifier touches. The identifier is the
    same object py3langid builds (same arrays, same classes); a missing, stale or unreadable cache
    is rebuilt from the model, and a folder that cannot be written is no error.
    """
    from py3langid.langid import LanguageIdentifier

    cached = _cached_model()
    if cached is not None:
        ptc, pc, classes, nextmove, row, output = cached
        return LanguageIdentifier(ptc, pc, classes, nextmove, output, tk_row=row)
    import logging

    logging.getLogger(__name__).info("Unpacking the language identifier's model once (about a second); kept in %s",
                                     _model_cache())
    identifier = _identifier_from_package()
    _save_model(identifier)
    return identifier


def _identifier_from_package():
    """The identifier as py3langid loads it from its wheel, limited to two-letter (ISO 639-1) codes."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE)
    identifier.set_languages(sorted({lang for lang in identifier.nb_classes if len(lang) == 2}))
    return identifier


def _model_cache() -> Path | None:
    """Where the unpacked model lives: ``<cache folder>/langid.<key>``, or None without py3langid."""
    import hashlib
    from importlib.metadata import version

    import numpy as np
    from py3langid.langid import MODEL_DIR, MODEL_FILE

    model = Path(MODEL_DIR) / MODEL_FILE
    try:
        digest = hashlib.sha256(model.read_bytes())
    except OSError:
        return None
    digest.update(f"{version('py3langid')} {np.__version__}".encode())
    digest.update(Path(__file__).read_bytes())
    from pipeline.text.cache import cache_dir

    return cache_dir() / f"langid.{digest.hexdigest()[:16]}"


def _cached_model() -> tuple | None:
    import numpy as np

    folder = _model_cache()
    if folder is None:
        return None
    try:
        arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False) for name in _MODEL_ARRAYS}
    except (OSError, ValueError):
        return None
    plain = {name: np.asarray(value) for name, value in arrays.items()}  # ndarrays over the mapped files
    return (plain["ptc"], plain["pc"], plain["classes"].tolist(), plain["nextmove"], plain["row"].tolist(),
            plain["output"].tolist())


def _save_model(identifier) -> None:
    import numpy as np

    folder = _model_cache()
    if folder is None:
        return
    arrays = {"ptc": identifier.nb_ptc, "pc": identifier.nb_pc, "classes": np.array(identifier.nb_classes),
              "nextmove": np.frombuffer(identifier.tk_nextmove, dtype=f"u{identifier.tk_nextmove.itemsize}"),
              "row": np.array(identifier.tk_row, dtype=np.int64), "output": np.array(identifier.tk_output, np.int64)}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, value in arrays.items():  # each file atomic; the cache counts only when all are there
            tmp = folder / f".{name}.{os.getpid()}.tmp"
            with open(tmp, "wb") as fh:
                np.save(fh, np.ascontiguousarray(value), allow_pickle=False)
            os.replace(tmp, folder / f"{name}.npy")
    except OSError:
        pass



def identify(text: str) -> str:
    """ISO 639-1 code of the language of (the start of) ``text``, by py3langid."""
    return _identifier().classify(text[:IDENTIFIER_CHARS])[0]


def _not_vietnamese(lang: str, diacritics: bool) -> str:
    if diacritics:
        return f"text is not Vietnamese (identified as '{lang}')"
    return f"text is not Vietnamese (no Vietnamese diacritics, identified as '{lang}')"


def language_verdicts(texts: list[str], counts: np.ndarray | None = None) -> LanguageVerdicts:
    """:class:`LanguageVerdicts` of a batch, from letter counts and, for doubtful texts, py3langid.

    ``counts`` (letters, Latin, foreign, marked of ``text.lower()`` per text, from
    :func:`pipeline.text.scan.scan_texts`) may be passed when the caller already has them. Python
    runs only for texts that are rejected or doubtful: on real news, a few numpy operations.
    """
    import numpy as np

    if counts is None:
        from pipeline.text.scan import scan_texts

        counts = scan_texts(texts).counts
    problems: list[str | None] = [None] * len(texts)
    no_diacritics: list[int] = []
    if len(counts) == 0:
        return LanguageVerdicts(problems, no_diacritics)
    letters, latin, foreign, marked = np.asarray(counts, dtype=np.float64).T  # exact: counts < 2**53
    with np.errstate(divide="ignore", invalid="ignore"):
        code = np.select(
            [letters < MIN_LETTERS_FOR_LANGUAGE_CHECK, latin / letters < MIN_LATIN_SHARE,
             foreign / latin > MAX_FOREIGN_SHARE, marked / latin >= CLEARLY_VIETNAMESE],
            [0, 1, 2, 0],
            default=3,
        )
    for i in np.flatnonzero(code).tolist():
        if code[i] == 1:
            problems[i] = NOT_LATIN
        elif code[i] == 2:
            problems[i] = NOT_UNICODE
        else:
            text, diacritics = texts[i], marked[i] >= MIN_DIACRITICS * latin[i]
            if syllable_share(text) < MIN_SYLLABLE_SHARE and (lang := identify(text)) != "vi" \
                    and len(_VIETNAMESE_ONLY_RE.findall(text)) < MIN_VIETNAMESE_ONLY * latin[i]:
                problems[i] = _not_vietnamese(lang, diacritics)
            elif not diacritics:
                no_diacritics.append(i)
    return LanguageVerdicts(problems, no_diacritics)
