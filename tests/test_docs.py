"""The documentation: the site works opened from disk (every link and asset of every built page is a file of the
site), and its pages describe the software, not its history (no commit hashes, no load averages)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from tests.conftest import ROOT

# A commit hash as written in prose: 7 to 40 hexadecimal digits, at least one a-f letter and one digit, as a word
# of its own. Not a hex colour (#4c78a8), nor part of a longer run of letters, digits, '-' or '_' (a sha256 of 64
# digits, an id such as run-50701618dc57x); 'deadbeef' or '1234567' are no hashes.
COMMIT_HASH = re.compile(r"(?<![#\w-])(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{7,40}(?![\w-])")
# What a page says about a measurement's conditions, a machine's state at one moment, is no reference.
LOAD_AVERAGE = re.compile(r"load\s+averages?", re.IGNORECASE)


def docs_pages() -> list[Path]:
    """Every Markdown page of the site and every file a page includes (pymdownx.snippets' --8<-- lines)."""
    pages = sorted((ROOT / "docs").rglob("*.md"))
    included = [ROOT / name for page in pages
                for name in re.findall(r'^--8<-- "([^"]+)"', page.read_text(encoding="utf-8"), re.MULTILINE)]
    return pages + included


def history_in(text: str) -> list[str]:
    return [m.group(0) for m in COMMIT_HASH.finditer(text)] + [m.group(0) for m in LOAD_AVERAGE.finditer(text)]


def test_history_rules_catch_hashes_and_load_averages_but_not_colours_digests_or_numbers():
    assert history_in("the 522d53f tree, as of 1efca0daf079d62f9c25580dcf803667c35e4aa5 (load average 4-18)") == [
        "522d53f", "1efca0daf079d62f9c25580dcf803667c35e4aa5", "load average"]
    assert history_in("Load averages of 7") == ["Load averages"]
    sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert history_in(f'fill="#4c78a8" sha256 {sha256} 14,695,981,039 1234567 deadbeef cafe-babe1234567') == []


@pytest.mark.parametrize("page", docs_pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_docs_pages_hold_no_commit_hash_or_load_average(page):
    """A page describes the software as it is: a baseline is named by date (a ``git rev-list -1 --before=...``
    command), history is in git log, and a measurement says its command and date, not the machine's load."""
    found = history_in(page.read_text(encoding="utf-8"))
    assert not found, f"{page.relative_to(ROOT)}: {found}"


@pytest.mark.slow  # a whole MkDocs build (`make docs` builds it too)
def test_the_built_site_links_to_files_that_exist_and_searches_without_a_server(tmp_path):
    site = tmp_path / "site"
    mkdocs = Path(sys.executable).with_name("mkdocs")
    subprocess.run([str(mkdocs), "build", "--strict", "--quiet", "--site-dir", str(site)], cwd=ROOT, check=True,
                   timeout=600, env={"NO_MKDOCS_2_WARNING": "1", "PATH": ""})
    # (404.html is what a web server answers for any missing path: its links are absolute by design)
    pages = sorted(p for p in site.rglob("*.html") if p.name != "404.html")
    assert len(pages) > 20
    broken = []
    for page in pages:
        for link in re.findall(r'(?:href|src)="([^"]+)"', page.read_text(encoding="utf-8")):
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or not parts.path:  # another site, or an anchor on this page
                continue
            target = (page.parent / unquote(parts.path)).resolve()
            if not target.is_file():  # a folder link (``page/``) only works behind a web server
                broken.append(f"{page.relative_to(site)} -> {link}")
    assert not broken, broken[:20]
    assert (site / "search" / "search_index.js").is_file()  # the search index as a script: no fetch from file://
