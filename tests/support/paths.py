"""Where the repository, the demo knowledge base and the shared corpus are."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEMO_KB = [REPO / "config" / "kb" / name for name in ("departments.yaml", "services.yaml", "faq.yaml")]
CORPUS = REPO.parent / "shared" / "corpus"
CORPUS_MISSING = "../shared/corpus not found (CI always has it beside the clone)"


def corpus_path(*parts: str) -> Path:
    """A path inside the shared corpus; skips the calling test when the corpus is absent."""
    if not CORPUS.is_dir():
        pytest.skip(CORPUS_MISSING)
    return CORPUS.joinpath(*parts)
