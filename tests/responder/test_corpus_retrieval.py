"""Retrieval quality on third-party Chinese Q/A data from ../shared/corpus/kb (read in place).

Measured with this index (first 500 usable rows of each file):
NCPPolicies self-retrieval top-1 = 0.998; SimCLUE paraphrase (query → title) top-1 = 0.79.
The floors below sit a little under those figures, so a real regression fails the test.
"""

from __future__ import annotations

import csv
import json
import time

import pytest

from responder.index import SearchIndex, tokenizer
from responder.kb_model import EntryRecord, KnowledgeBase
from tests.support.paths import corpus_path

pytestmark = pytest.mark.corpus

SAMPLE = 500
NCP_SELF_FLOOR = 0.9
SIMCLUE_PARAPHRASE_FLOOR = 0.72


def _faq(i: int, prefix: str, title: str, answer: str) -> EntryRecord:
    return EntryRecord(id=f"{prefix}-{i}", kind="faq", title=title, answer=answer)


def test_ncp_policy_questions_find_themselves() -> None:
    path = corpus_path("kb", "NCPPolicies_train_20200301.csv")
    with path.open(encoding="utf-8", newline="") as f:
        # Tab-separated without quoting (see the corpus README).
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    seen: set[str] = set()
    sample: list[tuple[str, str]] = []
    for row in rows:
        question, answer = row["question"].strip(), row["answer"].strip()
        if question and answer and question not in seen:
            seen.add(question)
            sample.append((question, answer))
        if len(sample) == SAMPLE:
            break
    kb = KnowledgeBase([], [_faq(i, "ncp", q, a) for i, (q, a) in enumerate(sample)])
    tokenizer()
    started = time.perf_counter()
    index = SearchIndex.build(kb)
    built = time.perf_counter() - started
    correct = sum(1 for i, (q, _) in enumerate(sample) if index.search(q, limit=1)[0].doc_id == f"ncp-{i}")
    accuracy = correct / len(sample)
    print(f"NCPPolicies self top-1 {accuracy:.3f} over {len(sample)} (build {built:.2f} s)")
    assert accuracy >= NCP_SELF_FLOOR


def test_simclue_paraphrases_find_their_title() -> None:
    path = corpus_path("kb", "simclue_train_pair_postive_1w.json")
    pairs: list[tuple[str, str]] = []
    titles: set[str] = set()
    with path.open(encoding="utf-8") as f:
        for line in f:
            pair = json.loads(line)
            query, title = pair["query"], pair["title"]
            # Identical pairs test nothing; repeated titles would make the target ambiguous.
            if query == title or title in titles:
                continue
            titles.add(title)
            pairs.append((query, title))
            if len(pairs) == SAMPLE:
                break
    index = SearchIndex.build(KnowledgeBase([], [_faq(i, "sim", t, "-") for i, (_, t) in enumerate(pairs)]))
    correct = 0
    for i, (query, _) in enumerate(pairs):
        hits = index.search(query, limit=1)
        correct += bool(hits) and hits[0].doc_id == f"sim-{i}"
    accuracy = correct / len(pairs)
    print(f"SimCLUE paraphrase top-1 {accuracy:.3f} over {len(pairs)}")
    assert accuracy >= SIMCLUE_PARAPHRASE_FLOOR
