"""HTML news pages, one article each: the main text and metadata by trafilatura, plus two Vietnamese fixes.

`trafilatura <https://trafilatura.readthedocs.io>`_ finds the article body, drops menus, related-news
boxes and comments, and reads the metadata (canonical url, title, date via htmldate, site name).
Two things Vietnamese newspapers do that it handles poorly (measured in
``benchmarks/html_extraction.py``): the lead paragraph ("sapo") sits in its own element before the
body (``<h2 class="sapo">``, ``<p class="description">``) and is often dropped, and the byline is a
short bold or right-aligned line after the body (or a ``class="author"`` element) that is missed or
left in the text. Both are taken out of the page before trafilatura runs (:func:`pull_lead`,
:func:`pull_byline`): the lead is put back at the start of the text, the byline becomes ``author``.
"""

from __future__ import annotations

import codecs
import copy
import gzip
import re
import unicodedata
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

from pipeline.io.records import FileRow, Quarantined, shown_path

# <meta charset="..."> or <meta http-equiv="Content-Type" content="text/html; charset=...">, in the page's head.
_META_CHARSET = re.compile(rb"""<meta[^>]{0,300}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})""", re.I)
_SNIFF_BYTES = 8192  # browsers look for the charset declaration in the first 1,024 bytes; pages are sloppier
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_PAGE_SUFFIXES = (".html.gz", ".htm.gz", ".html", ".htm")

# Containers whose text is never the article's lead or byline: navigation, lists of other
# articles, comments, footers (matched against tag names, and class and id words).
_CHROME_TAGS = frozenset({"nav", "header", "footer", "aside", "li", "a", "form"})
_CHROME_WORDS = re.compile(r"relat|lien-?quan|comment|binh-?luan|footer|menu|nav|category|chuyen-?muc|"
                           r"tinkhac|other|most|list|item|box-?news|tags?\b", re.I)
# Boxes of other articles and reader comments that trafilatura's own list misses (``box-relate``,
# ``tinkhac``): removed before it runs when they do not hold the title.
_RELATED_BOX = re.compile(r"relat|lien-?quan|chuyen-?muc|tinkhac|comment|binh-?luan", re.I)
# Class words that mark a lead ("sapo" is the Vietnamese newsroom term) or a byline.
_LEAD_WORDS = frozenset({"sapo", "lead", "description", "summary", "chapeau", "excerpt"})
_AUTHOR_WORDS = frozenset({"author", "byline", "tacgia", "tac-gia"})
_WORD_SPLIT = re.compile(r"[\s_-]+")
# "(Dân trí) - " and the like: the paper's credit before its lead, not part of it.
_CREDIT_PREFIX = re.compile(r"^\s*\([^()]{1,40}\)\s*[-–—]\s*")
_BYLINE_PREFIX = re.compile(r"^(?:Bài và ảnh|Bài|Tác giả|PV)\s*:\s*", re.I)
_NAME_WORD = re.compile(r"^(?:[^\W\d_][\w'’]*|[^\W\d_]{1,2}\.)$")
_MIN_LEAD_WORDS = 8
_MAX_BYLINE_WORDS = 6
# A page whose text has no line this long (menus, index pages, login walls: link labels only) has no article.
_MIN_SENTENCE_WORDS = 10


def page_id(rel: str) -> str:
    """The id of a page without a url: its path relative to the input folder, without the extension."""
    lowered = rel.lower()
    suffix = next((s for s in _PAGE_SUFFIXES if lowered.endswith(s)), "")
    return rel[: len(rel) - len(suffix)]


def decode_page(raw: bytes, http_charset: str | None = None) -> str | None:
    """The page as text: by its byte-order mark, the HTTP charset, its declared charset, UTF-8, then a guess;
    None if binary.

    A saved page comes without HTTP headers, so the ``<meta>`` declaration is the page's own word on
    its encoding (Windows-1258 is still found on older Vietnamese sites); a page from a WARC file
    also has its server's ``Content-Type`` charset (``http_charset``), which browsers rank above
    the ``<meta>`` one. A page that decodes by neither nor as UTF-8 is decoded by trafilatura's
    guesser (charset detection). A NUL byte in a page with no UTF-16 mark means it is not text at
    all. The result is NFC, so Windows-1258's separate tone marks compare equal to the composed
    letters of UTF-8 pages.
    """
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            return unicodedata.normalize("NFC", raw.decode(encoding, "replace"))
    if b"\x00" in raw[:_SNIFF_BYTES]:
        return None
    tried = [http_charset] if http_charset else []
    if (match := _META_CHARSET.search(raw[:_SNIFF_BYTES])) is not None:
        tried.append(match.group(1).decode("ascii"))
    for encoding in (*tried, "utf-8"):
        try:
            return unicodedata.normalize("NFC", raw.decode(encoding))
        except (LookupError, UnicodeDecodeError):
            continue
    from trafilatura.utils import decode_file

    return unicodedata.normalize("NFC", decode_file(raw))


def _words(value: str | None) -> set[str]:
    return {w.lower() for w in _WORD_SPLIT.split(value or "") if w}


def _in_chrome(element) -> bool:
    """Whether ``element`` or a container above it is navigation, a list of other articles or comments."""
    for node in (element, *element.iterancestors()):
        if node.tag in _CHROME_TAGS:
            return True
        if _CHROME_WORDS.search(f"{node.get('class', '')} {node.get('id', '')}"):
            return True
    return False


def _text(element) -> str:
    return " ".join("".join(element.itertext()).split())


def _after_title(tree) -> list:
    """The page's elements after its first ``<h1>`` (all of them when it has none): where lead and byline are."""
    h1 = next(tree.iter("h1"), None)
    return h1.xpath("following::*") if h1 is not None else list(tree.iter())


def _drop(element) -> None:
    """Remove ``element`` and its content from the tree, keeping the text that follows it."""
    parent, previous = element.getparent(), element.getprevious()
    if element.tail:
        if previous is not None:
            previous.tail = (previous.tail or "") + element.tail
        else:
            parent.text = (parent.text or "") + element.tail
    parent.remove(element)


def looks_like_name(line: str) -> bool:
    """A byline: two to six capitalized words or initials (``Minh Anh``, ``N. Huyền``, ``Bài: Lan Hương``).

    One word is too often a label (``Video``, ``Ảnh``), and ``Theo Tuổi Trẻ`` credits a source, not an author.
    """
    line = _BYLINE_PREFIX.sub("", line.strip().strip("-–—").strip())
    words = [w for w in re.split(r"[\s,/–-]+", line) if w]
    return (2 <= len(words) <= _MAX_BYLINE_WORDS and words[0] != "Theo"
            and all(_NAME_WORD.match(w) and w[0].isupper() for w in words))


def pull_lead(tree) -> str | None:
    """Remove the lead element (a sapo/description class after the title) from ``tree`` and return its text."""
    for element in _after_title(tree):
        if not isinstance(element.tag, str) or not _LEAD_WORDS & _words(element.get("class")):
            continue
        text = _CREDIT_PREFIX.sub("", _text(element))
        if len(text.split()) >= _MIN_LEAD_WORDS and not _in_chrome(element):
            _drop(element)
            return text
    return None


def _bold_line(element) -> bool:
    """A paragraph whose whole text is one ``<strong>``/``<b>`` (the usual Vietnamese byline after the body)."""
    bold = [child for child in element if child.tag in ("strong", "b")]
    return len(bold) == 1 and _text(bold[0]) == _text(element)


def pull_byline(tree) -> str | None:
    """Remove the byline from ``tree`` and return it: the last name-shaped author element or bold line after the title.

    Candidates are elements with an author/byline class and paragraphs that are one bold run;
    comments, related-news lists and navigation are never searched, so a commenter's bold name is
    not taken for the author.
    """
    found = None
    for element in _after_title(tree):
        if not isinstance(element.tag, str):
            continue
        authorish = bool(_AUTHOR_WORDS & _words(element.get("class")))
        if not (authorish or (element.tag in ("p", "div") and _bold_line(element))):
            continue
        if looks_like_name(_text(element)) and not _in_chrome(element):
            found = element
    if found is None:
        return None
    byline = _BYLINE_PREFIX.sub("", _text(found))
    _drop(found)
    return byline


def drop_related_boxes(tree) -> None:
    """Remove related-news lists and comment sections (see ``_RELATED_BOX``) from ``tree``."""
    boxes = [e for e in tree.iter("div", "section", "ul", "ol", "aside")
             if _RELATED_BOX.search(f"{e.get('class', '')} {e.get('id', '')}") and next(e.iter("h1"), None) is None]
    inside = set(boxes)
    for box in boxes:
        if not any(a in inside for a in box.iterancestors()):  # (a box inside another goes with it)
            _drop(box)


# A copyright notice with a year: htmldate's last resort makes YEAR-01-01 of it, which is no publication date.
_COPYRIGHT = re.compile(r"(?:©|&copy;|\(c\)|copyright|bản quyền)[^<\n]{0,80}?\b(\d{4})\b", re.I)
_EMPTY_PAGE = "<html><body></body></html>"
_SELF_URL = "//link[@rel='canonical'] | //meta[@property='og:url' or @name='og:url' or @name='twitter:url']"


def published_date(tree, html: str, url: str | None) -> tuple[str | None, str | None]:
    """The page's publication date (ISO) and where it was found: "metadata" (meta tags, JSON-LD, ``<time>`` and
    date elements), else "url" (a date in the page's url), else "text" (a date in the page's text); (None, None)
    when there is none, rather than the year of a copyright notice (``html``: the whole page, footer included).

    ``tree`` is the page without its related-article boxes, whose dates are other articles'. htmldate
    also reads the url a page names for itself (canonical link, og:url) with its markup: the
    "metadata" search runs on a copy without them, so a date found only there counts as "url".
    """
    from htmldate import find_date

    today = date.today().isoformat()
    markup = copy.deepcopy(tree)
    for element in markup.xpath(_SELF_URL):
        element.getparent().remove(element)
    found = find_date(markup, extensive_search=False, original_date=True, max_date=today)
    if found:
        return found, "metadata"
    if url and (found := find_date(_EMPTY_PAGE, extensive_search=False, url=url, max_date=today)):
        return found, "url"
    found = find_date(tree, extensive_search=True, original_date=True, max_date=today)
    if found and found.endswith("-01-01") and found[:4] in {m.group(1) for m in _COPYRIGHT.finditer(html)}:
        return None, None
    return (found, "text") if found else (None, None)


def extract(html: str, favor: str = "balanced") -> dict[str, Any] | None:
    """The article of one page: url, title, author, published (and its source), site, text; None when it has no
    text.

    "No text" includes text without a single sentence-sized line: what trafilatura falls back to
    on a page of links (a section front, a menu-only error page).

    ``favor`` is trafilatura's trade-off: "precision" drops doubtful blocks, "recall" keeps them.
    """
    import trafilatura
    from trafilatura.utils import load_html

    tree = load_html(html)
    if tree is None:
        return None
    lead, byline = pull_lead(tree), pull_byline(tree)
    drop_related_boxes(tree)
    # include_tables=False: older sites lay the whole page out in <table>s, which would pull menus
    # and footers into the text; data tables inside articles are lost, which topic and summary
    # models do not read well anyway.
    # (the date is found by published_date, which says where; trafilatura's own search stays cheap)
    doc = trafilatura.bare_extraction(
        tree, with_metadata=True, include_comments=False, include_tables=False, deduplicate=False,
        favor_precision=favor == "precision", favor_recall=favor == "recall",
        date_extraction_params={"extensive_search": False, "original_date": True},
    )
    body = (doc.text or "").strip() if doc is not None else ""
    title = doc.title or "" if doc is not None else ""
    if title and body.split("\n", 1)[0].strip() == title:  # the headline, kept by some layouts: a field of its own
        body = body.split("\n", 1)[1].strip() if "\n" in body else ""
    if lead and not body.startswith(lead):
        body = f"{lead}\n{body}".strip()
    if not any(len(line.split()) >= _MIN_SENTENCE_WORDS for line in body.splitlines()):
        return None
    published, source = published_date(tree, html, doc.url)  # (trafilatura leaves the tree as it was)
    return {
        "url": doc.url,
        "title": title,
        "author": byline or doc.author,
        "published": published,
        "published_source": source,
        "site": doc.sitename or doc.hostname,
        "text": body,
    }


class HtmlReader:
    """``.html``/``.htm`` pages (gzipped or not), one row each; pages without article text are quarantined.

    The id is the page's url (canonical link or og:url) when it has one, else its path relative
    to the folder without extension, as for .txt files. A page larger than ``max_bytes`` is
    quarantined without being read whole.
    """

    def __init__(self, root: Path, files: list[Path], max_bytes: int = 20_000_000, favor: str = "balanced") -> None:
        self.root = root
        self.files = files
        self.max_bytes = max_bytes
        self.favor = favor
        self.where: str | None = None  # the page last read (see pipeline.io.readers.JsonlReader)

    def estimate_total(self) -> int | None:
        return len(self.files)

    def rows(self) -> Iterator[FileRow | Quarantined]:
        for file in self.files:
            rel = shown_path(file.relative_to(self.root).as_posix())
            self.where = rel
            yield self._row(file, rel, page_id(rel))

    def _row(self, file: Path, rel: str, rid: str) -> FileRow | Quarantined:
        try:
            with open(file, "rb") as probe:
                gzipped = probe.read(2) == b"\x1f\x8b"
            with (gzip.open if gzipped else open)(file, "rb") as fh:
                raw = fh.read(self.max_bytes + 1)
        except (OSError, EOFError) as exc:
            return Quarantined(f"cannot read page: {getattr(exc, 'strerror', None) or exc}", b"", rel, rid)
        page = parse_page(raw, self.max_bytes, self.favor, rel, rid)
        if isinstance(page, Quarantined):
            return page
        return FileRow(id=page["url"] or rid, path=shown_path(file.as_posix()), **page)


def parse_page(raw: bytes, max_bytes: int, favor: str, source: str, rid: str,
               http_charset: str | None = None) -> dict[str, Any] | Quarantined:
    """One page's bytes as :func:`extract`'s fields, or why it gives no article (``source``, ``rid``: the
    entry's where and id). Shared by saved pages and pages in WARC files, so both give the same rows.

    ``raw`` may be up to ``max_bytes + 1`` long: one byte more than allowed says the page is too long.
    """
    if len(raw) > max_bytes:
        return Quarantined(f"page is longer than input.max_line_bytes={max_bytes:,}", raw[:1000], source, rid)
    if not raw.strip():
        return Quarantined("page is empty", b"", source, rid)
    html = decode_page(raw, http_charset)
    if html is None:
        return Quarantined("page is binary, not HTML text", raw[:1000], source, rid)
    page = extract(html, favor)
    if page is None:
        return Quarantined("no article text found in page", raw[:10_000], source, rid)
    return page
