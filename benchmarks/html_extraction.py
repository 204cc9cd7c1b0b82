"""HTML extraction on the project's own test pages: trafilatura's defaults against vnnews' reader.

    .venv/bin/python benchmarks/html_extraction.py [samples/pages] [--expected tests/fixtures/pages_expected.json]

Each page in the folder has its expected lead (sapo), body paragraphs, byline and a list of page
chrome snippets (menus, related news, comments, footer) in the expectations file. Per page and
extractor it reports:

- lead: whether the lead is in the text (vnnews also requires it to come first);
- body: the share of body paragraphs found in the text;
- precision: the share of the text's lines that are article (lead, body or a photo caption);
- chrome: chrome snippets found in the text (the byline counts as chrome: it belongs in ``author``);
- byline: whether ``author`` is the byline.

The pages are written by the project in realistic newspaper layouts; these numbers say how the
reader does on them, not on the web at large.
"""

from __future__ import annotations

import json
from pathlib import Path

import trafilatura
from common import ROOT, argument_parser

from pipeline.io.html import decode_page, extract

DEFAULT_FOLDER = ROOT / "samples" / "pages"
DEFAULT_EXPECTED = ROOT / "tests" / "fixtures" / "pages_expected.json"


def _defaults(html: str) -> dict:
    """trafilatura as its documentation shows it: metadata on, comments off, everything else default."""
    doc = trafilatura.bare_extraction(html, with_metadata=True, include_comments=False)
    return {"text": doc.text or "", "author": doc.author} if doc is not None else {"text": "", "author": None}


def score(page: dict, expected: dict) -> dict:
    """The measures above for one extraction (``page``: text and author) against its expectations."""
    text, lines = page["text"], [line.strip() for line in page["text"].splitlines() if line.strip()]
    article = [expected["lead"], *expected["body"], *expected["captions"]]
    content = [line for line in lines if any(line in part or part in line for part in article)]
    return {
        "lead": expected["lead"] in text,
        "lead_first": text.startswith(expected["lead"]),
        "body": sum(p in text for p in expected["body"]) / len(expected["body"]),
        "precision": len(content) / len(lines) if lines else 0.0,
        "chrome": [s for s in expected["boilerplate"] if s in text],
        "byline": (page["author"] or "") == expected["byline"],
    }


def main(folder: Path = DEFAULT_FOLDER, expected_file: Path = DEFAULT_EXPECTED) -> None:
    expected = json.loads(expected_file.read_text(encoding="utf-8"))
    print(f"{'page':<24} {'extractor':<20} {'lead':>5} {'body':>5} {'prec':>5} {'byline':>6}  chrome in text")
    for name, want in expected.items():
        if name.startswith("_"):
            continue
        html = decode_page((folder / name).read_bytes())
        for label, page in (("trafilatura defaults", _defaults(html)), ("vnnews", extract(html))):
            s = score(page, want)
            lead = ("yes" if s["lead_first"] else "late") if s["lead"] else "no"
            print(f"{name:<24} {label:<20} {lead:>5} {s['body']:>5.0%} {s['precision']:>5.0%} "
                  f"{'yes' if s['byline'] else 'no':>6}  {', '.join(s['chrome']) or '-'}")


if __name__ == "__main__":
    parser = argument_parser(__doc__)
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_FOLDER,
                        help="the pages (default: samples/pages)")
    parser.add_argument("--expected", type=Path, default=DEFAULT_EXPECTED,
                        help="what each page should give (default: tests/fixtures/pages_expected.json)")
    args = parser.parse_args()
    main(args.folder, args.expected)
