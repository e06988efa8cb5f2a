"""Every relative link in the README and docs/ resolves to a file or folder of the
repository (links to pages written by other work land with it; none may dangle)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
# Pages written on other branches at the same time as the pages that link to them: a
# link to one of these only xfails while the page is absent. Empty this once they land.
WRITTEN_ELSEWHERE = {"configuration.md", "gpu.md", "upstream.md"}


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def relative_links(path: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)  # code is not a link
    return [t for t in LINK.findall(text)
            if not re.match(r"[a-z][a-z0-9+.-]*:", t) and not t.startswith("#")]


@pytest.mark.parametrize("doc", documents(), ids=lambda p: p.name)
def test_relative_links_resolve(doc):
    broken = []
    for target in relative_links(doc):
        path = target.split("#", 1)[0]
        if not (doc.parent / path).exists():
            broken.append(target)
    if broken and all(Path(t).name in WRITTEN_ELSEWHERE for t in broken):
        pytest.xfail(f"pages from other branches not here yet: {sorted(set(broken))}")
    assert not broken, f"{doc.relative_to(ROOT)} links to missing {broken}"


def test_the_link_pattern_finds_links(tmp_path):
    page = tmp_path / "p.md"
    page.write_text("[a](docs/x.md) [b](https://e.org) [c](#top) `[d](no.md)`\n"
                    "```\n[e](code.md)\n```\n")
    assert relative_links(page) == ["docs/x.md", "no.md"]
