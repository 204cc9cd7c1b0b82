"""Vietnamese text primitives: Unicode NFC, tone-mark placement, sentences, syllables.

Vietnamese has two conventions for where the tone mark goes in the open syllables oa, oe, uy:
the "old" style writes ``hoà, khoẻ, thuỷ`` and the "new" style ``hòa, khỏe, thủy``. Corpora and
pretrained models disagree (VNTC uses new, VietNews and BARTpho old), so the same word must be
written one way before any model or metric compares strings.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import TYPE_CHECKING

from pipeline.text.chars import _JUNK_RE, _OTHER_BLANKS_RE

if TYPE_CHECKING:
    import numpy as np

_TONES_A = "àáảãạ"
_TONES_E = "èéẻẽẹ"
_TONES_Y = "ỳýỷỹỵ"
_TONES_O = "òóỏõọ"
_TONES_U = "ùúủũụ"


def _pairs() -> dict[str, str]:
    """Lower-case old -> new spellings of the three ambiguous vowel pairs, one per tone."""
    pairs: dict[str, str] = {}
    for i in range(5):
        pairs["o" + _TONES_A[i]] = _TONES_O[i] + "a"
        pairs["o" + _TONES_E[i]] = _TONES_O[i] + "e"
        pairs["u" + _TONES_Y[i]] = _TONES_U[i] + "y"
    return pairs


def _with_case(pairs: dict[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for src, dst in pairs.items():
        out[src] = dst
        out[src.upper()] = dst.upper()
        out[src[0].upper() + src[1]] = dst[0].upper() + dst[1]
    return out


_OLD_TO_NEW = _with_case(_pairs())
_NEW_TO_OLD = {v: k for k, v in _OLD_TO_NEW.items()}


def _pattern(table: dict[str, str]) -> re.Pattern[str]:
    # Only an open syllable moves its mark: the pair must end the word (hoàng stays hoàng), and
    # after "q" the u belongs to the consonant (quý is written quý in both styles).
    alternatives = "|".join(sorted(map(re.escape, table), key=len, reverse=True))
    return re.compile(rf"(?<![qQ])(?:{alternatives})(?!\w)")


_OLD_TO_NEW_RE = _pattern(_OLD_TO_NEW)
_NEW_TO_OLD_RE = _pattern(_NEW_TO_OLD)


def nfc(text: str) -> str:
    """Unicode NFC: decomposed input (e.g. from macOS or some editors) becomes the composed form."""
    return unicodedata.normalize("NFC", text)


def set_tone_style(text: str, style: str) -> str:
    """Move tone marks to one convention: ``keep`` (unchanged), ``old`` (hoà) or ``new`` (hòa).

    Expects NFC input. Idempotent for every style.

    >>> set_tone_style("hoà thuỷ khoẻ quý hoàng", "new")
    'hòa thủy khỏe quý hoàng'
    >>> set_tone_style("hòa thủy", "old")
    'hoà thuỷ'
    """
    if style == "keep":
        return text
    if style == "new":
        return _OLD_TO_NEW_RE.sub(lambda m: _OLD_TO_NEW[m.group(0)], text)
    if style == "old":
        return _NEW_TO_OLD_RE.sub(lambda m: _NEW_TO_OLD[m.group(0)], text)
    raise ValueError(f"tone style must be 'keep', 'old' or 'new', got {style!r}")


# Runs of spaces become one (what is deleted or becomes a space: pipeline.text.chars).
_MULTISPACE_RE = re.compile(" {2,}")
_BLANK_LINES_RE = re.compile(r"\n{3,}")


def clean_text(text: str, tone_style: str = "keep") -> str:
    """NFC, unify line ends, drop invisible/control characters, squeeze spaces, set tone style.

    On the hot path of every job: steps that find nothing to do are skipped by cheap checks
    (about 33 us per VNTC article, from 102 us for the straightforward version).
    """
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _JUNK_RE.sub("", text)
    text = _OTHER_BLANKS_RE.sub(" ", text)
    if "  " in text:
        text = _MULTISPACE_RE.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    if "\n\n\n" in text:
        text = _BLANK_LINES_RE.sub("\n\n", text)
    return set_tone_style(text.strip(), tone_style)


def clean_texts(texts: list[str], tone_style: str = "keep") -> list[str]:
    """:func:`clean_text` of each text (same output); texts already clean skip it entirely."""
    return clean_batch(texts, tone_style)[0]


def clean_batch(texts: list[str], tone_style: str = "keep", html: bool = False) -> tuple[list[str], np.ndarray]:
    """:func:`clean_text` of each text, and the letter counts of each result for the language check.

    One compiled scan (:func:`pipeline.text.scan.scan_texts`) finds the texts that have nothing
    for ``clean_text`` to do (NFC included); only the others go through it, and only those
    whose text changed are scanned again for their counts. A clean text is returned as the same
    object, so callers can tell which counts still hold. With ``html``, texts that
    :func:`looks_like_html` go through :func:`html_to_text` first (the scan says which texts
    contain a ``<`` at all, so the others skip the check). Python runs only for texts that need
    work: on clean input this is the scan plus one list copy.
    """
    import numpy as np

    from pipeline.text.scan import scan_texts

    scan = scan_texts(texts)
    todo = ~scan.clean
    if html:
        todo |= scan.has_less_than
    out = list(texts) if tone_style == "keep" else [set_tone_style(text, tone_style) for text in texts]
    for i in np.flatnonzero(todo).tolist():
        text = texts[i]
        markup = html and looks_like_html(text)
        if markup:
            text = html_to_text(text)
        if markup or not scan.clean[i]:
            out[i] = clean_text(text, tone_style)
    changed = [i for i, (new, old) in enumerate(zip(out, texts, strict=True)) if new is not old]
    counts = scan.counts
    if changed:
        counts[changed] = scan_texts([out[i] for i in changed]).counts
    return out, counts


_WORD_RE = re.compile(r"\w+", re.UNICODE)


def syllables(text: str) -> list[str]:
    """Lower-cased Vietnamese syllables (Unicode word characters), the unit of our n-gram features."""
    return _WORD_RE.findall(text.lower())


_SENTENCE_END_RE = re.compile(r"[.?!]")


class _PunktSplitter:
    """underthesea 9.x's Punkt-style sentence rules: a ``.``, ``?`` or ``!`` ends a sentence unless it is a
    period between digits (``1.500``), after an abbreviation (``TP.``), or inside an ellipsis not
    followed by an upper-case letter; the sentence takes any ``.?!`` right after it."""

    def __init__(self, abbreviations: frozenset[str]) -> None:
        self.abbreviations = abbreviations

    def split(self, text: str) -> list[str]:
        if not text or not text.strip():
            return []
        sentences: list[str] = []
        n = len(text)
        start = i = 0
        search = _SENTENCE_END_RE.search
        while (match := search(text, i)) is not None:
            i = match.start()
            if text[i] == ".":
                dots = i
                while dots < n and text[dots] == ".":
                    dots += 1
                if dots - i >= 3:  # an ellipsis ends a sentence before an upper-case letter or the end
                    after = dots
                    while after < n and text[after] in " \t":
                        after += 1
                    if after >= n or text[after].isupper():
                        sentence = text[start:dots].strip()
                        if sentence:
                            sentences.append(sentence)
                        while dots < n and text[dots] in " \t\n\r":
                            dots += 1
                        start = dots
                    i = dots
                    continue
                if i > 0 and text[i - 1].isdigit() and i + 1 < n and text[i + 1].isdigit():
                    i += 1
                    continue
                word_start = i - 1
                while word_start >= 0 and (text[word_start].isalnum() or text[word_start] == "."):
                    word_start -= 1
                if i - word_start > 1 and text[word_start + 1 : i].lower() in self.abbreviations:
                    i += 1
                    continue
            end = i + 1
            while end < n and text[end] in ".?!":
                end += 1
            sentence = text[start:end].strip()
            if sentence:
                sentences.append(sentence)
            while end < n and text[end] in " \t\n\r":
                end += 1
            start = i = end
        final = text[start:].strip()
        if final:
            sentences.append(final)
        return sentences


@lru_cache(maxsize=1)
def _splitter() -> _PunktSplitter:
    from pipeline.text.abbreviations import ABBREVIATIONS

    return _PunktSplitter(ABBREVIATIONS)


def split_sentences(text: str) -> list[str]:
    """Sentences of an article: paragraphs (lines) first, then underthesea's sentence rules.

    The rules know Vietnamese abbreviations (``TP.HCM``), decimal commas (``10,5``) and bylines
    such as ``(NLĐ)-``, which a regex on full stops gets wrong. underthesea's own ``sent_tokenize``
    walks every character in Python, which made splitting the largest cost of a summarizing job;
    :class:`_PunktSplitter` runs the same rules with the same abbreviation list
    (:mod:`pipeline.text.abbreviations`) but jumps from one ``.?!`` to the next with a regex
    (``tests/text/test_normalize.py`` compares the two on VietNews articles and on generated text).
    """
    tokenize = _splitter().split
    sentences: list[str] = []
    for paragraph in text.split("\n"):
        paragraph = paragraph.strip()
        if paragraph:
            sentences.extend(s.strip() for s in tokenize(paragraph) if s.strip())
    return sentences


_HTML_TAG_RE = re.compile(
    r"</?(?:html|body|head|div|p|br|span|a|img|script|style|table|tr|td|ul|li|h[1-6]|article|section|meta|iframe)"
    r"\b[^>]*>",
    re.I,
)
_BLOCK_TAGS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "article", "section", "table", "ul"}


def looks_like_html(text: str) -> bool:
    """True when the text carries HTML markup (a few known tags), not just a stray ``<``."""
    return "<" in text and len(_HTML_TAG_RE.findall(text[:20_000])) >= 2


def html_to_text(markup: str) -> str:
    """Visible text of an HTML fragment: block tags become line breaks, scripts and styles vanish."""
    from html.parser import HTMLParser

    class _Extractor(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.parts: list[str] = []
            self.skip = 0

        def handle_starttag(self, tag: str, attrs) -> None:
            if tag in ("script", "style", "noscript", "template"):
                self.skip += 1
            elif tag in _BLOCK_TAGS:
                self.parts.append("\n")

        def handle_endtag(self, tag: str) -> None:
            if tag in ("script", "style", "noscript", "template"):
                self.skip = max(0, self.skip - 1)
            elif tag in _BLOCK_TAGS:
                self.parts.append("\n")

        def handle_data(self, data: str) -> None:
            if not self.skip:
                self.parts.append(data)

    parser = _Extractor()
    parser.feed(markup)
    parser.close()
    return "".join(parser.parts)
