"""The README's local links point at files that are in the repository."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_readme_local_links_exist():
    text = (REPO / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#\s]+)\)", text)
    local = [t for t in targets if "://" not in t and not t.startswith("mailto:")]
    assert local, "the README links no local file"
    missing = [t for t in local if not (REPO / t).exists()]
    assert not missing, f"README links missing files: {missing}"
