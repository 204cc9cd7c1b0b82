"""The documentation site works opened from disk: every link and asset of every built page is a file of the site."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # a whole MkDocs build (`make docs` builds it too)


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
