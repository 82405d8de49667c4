"""Chinese-aware BM25 search over knowledge-base entries and department records.

Text is folded with :func:`normalizer.text.fold_for_matching` (NFKC, so full-width ＩＤ becomes
``id``; case folding; traditional → simplified, so 身份證 finds 身份证), then segmented with
jieba in search mode (a long word also yields its dictionary sub-words: 社会保障卡 → 社会, 保障,
社会保障卡). Two kinds of terms are indexed:

* words (jieba tokens and lightly stemmed English words) — precise;
* single Han characters, at a lower weight — they let 丢了 match 丢失 and absorb segmentation
  differences between a paraphrase and the stored question.

Scoring is BM25 (Robertson & Zaragoza, "The Probabilistic Relevance Framework", 2009) over one
weighted bag of terms per document: title, questions and keywords count fully, the answer text
only a little (it is long and mentions many things in passing). ``confidence`` is the share of
the query's IDF mass the document contains (0..1): a high score with low confidence means the
document only shares some words with the question.

Building is synchronous CPU work (tens of milliseconds for a city's knowledge base, about a
second for 5,000 entries); callers run it in a worker thread.
"""

from __future__ import annotations

import heapq
import logging
import math
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from normalizer.text import fold_for_matching
from responder.kb_model import KnowledgeBase

if TYPE_CHECKING:
    import jieba

# Field weights: what citizens type resembles titles and stored questions, not answers.
TITLE_WEIGHT = 2.0
QUESTION_WEIGHT = 2.0
KEYWORD_WEIGHT = 2.0
NAME_WEIGHT = 2.0  # department name and aliases
ANSWER_WEIGHT = 0.3
# Weighted term frequency at which a document "really" contains a term (once in a strong field).
STRONG_FIELD_TF = min(TITLE_WEIGHT, QUESTION_WEIGHT, KEYWORD_WEIGHT, NAME_WEIGHT)
# A single Han character is weak evidence next to a whole word.
CHAR_WEIGHT = 0.35
# BM25 parameters: k1 as usual; b below the usual 0.75 because an entry with many stored
# questions is long on purpose and should not be penalised much for it.
BM25_K1 = 1.2
BM25_B = 0.5

_STOPWORDS_ZH = frozenset(
    """的 了 吗 呢 吧 啊 呀 么 嘛 哦 嗯 哈 是 在 我 你 您 他 她 它 我们 你们 他们 请问 请 问 一下 想 要
    想要 能 能否 可以 可不可以 怎么 怎么样 怎样 如何 什么 啥 哪里 哪儿 哪 哪个 多少 有 没有 和 与 及 或
    或者 把 被 给 让 去 到 从 也 都 就 还 又 这 那 这个 那个 个 您好 你好 谢谢 知道 告诉 一个 些 这样 那么
    应该 需要 得 地 着 过 吗 上 下 里 对 为 为什么 会 自己 现在 时候""".split()  # noqa: SIM905 - a word list reads best as text
)
_STOPWORDS_EN = frozenset(
    """a an the is are am was were be been do does did i you he she we they it my our your their me us
    to for of in on at by with from about as and or but if how what where when which who whom whose why
    can could would should will shall may might must this that these those there here please hi hello
    thanks thank get got have has had any some tell know want need""".split()  # noqa: SIM905
)
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_WORDLIKE = re.compile(r"[\w\u3400-\u4dbf\u4e00-\u9fff]")
_ASCII_WORD = re.compile(r"[a-z]+")
_CHAR_PREFIX = "\x01"  # marks single-character terms so they never collide with words


@lru_cache(maxsize=1)
def tokenizer() -> jieba.Tokenizer:
    """The process-wide jieba tokenizer, initialised once (loading its dictionary takes ~1 s)."""
    import jieba

    # jieba logs "Building prefix dict..." at DEBUG/INFO on its own logger; keep it quiet.
    logging.getLogger("jieba").setLevel(logging.WARNING)
    tok = jieba.Tokenizer()
    tok.initialize()
    return tok


def add_user_words(words: Iterable[str]) -> None:
    """Teach the shared tokenizer domain words (department names, keywords) it lacks.

    Adding a word only makes segmentation keep it whole; search mode still emits its
    dictionary sub-words, so recall for the parts is unchanged.
    """
    tok = tokenizer()
    for word in words:
        word = fold_for_matching(word)
        if len(word) >= 2 and _CJK.search(word) and not tok.FREQ.get(word) and " " not in word:
            tok.add_word(word)


def _stem(word: str) -> str:
    # Minimal English plural folding (permits → permit, fees → fee, policies → policy);
    # the knowledge base is Chinese, English only needs to match its own few questions.
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def analyze(text: str) -> dict[str, float]:
    """Return the weighted terms of ``text``: words (weight 1) and Han characters (CHAR_WEIGHT)."""
    folded = fold_for_matching(text)
    terms: dict[str, float] = defaultdict(float)
    # HMM off: its new-word guesses glue function words to content (我想, 办个, 金能领) and
    # such made-up words never match the knowledge base; single characters cover the rest.
    for token in tokenizer().cut_for_search(folded, HMM=False):
        token = token.strip()
        if not token or not _WORDLIKE.search(token):
            continue
        if _ASCII_WORD.fullmatch(token):
            if token in _STOPWORDS_EN or len(token) < 2:
                continue
            token = _stem(token)
        elif token in _STOPWORDS_ZH:
            continue
        terms[token] += 1.0
        # Characters come from content words only, so 什 and 么 of 什么 never count.
        for ch in _CJK.findall(token) if len(token) > 1 else ():
            if ch not in _STOPWORDS_ZH:
                terms[_CHAR_PREFIX + ch] += CHAR_WEIGHT
    return dict(terms)


@dataclass(frozen=True, slots=True)
class Hit:
    """One search result. ``kind``: faq | service | policy | department.

    score: BM25 score (unbounded, comparable only within one query).
    confidence: share of the query's IDF mass found in the document, 0..1.
    """

    doc_id: str
    kind: str
    score: float
    confidence: float


class SearchIndex:
    """An immutable inverted index over one :class:`KnowledgeBase`. Use :meth:`build`."""

    def __init__(
        self,
        doc_ids: list[str],
        kinds: list[str],
        postings: dict[str, list[tuple[int, float]]],
        lengths: list[float],
        department_names: list[tuple[str, str]],
    ) -> None:
        self.doc_ids = doc_ids
        self.kinds = kinds
        n = len(doc_ids)
        avg_length = (sum(lengths) / n) if n else 1.0
        # Lucene's BM25 IDF variant: always positive, even for terms in most documents.
        self.idf = {t: math.log(1 + (n - len(p) + 0.5) / (len(p) + 0.5)) for t, p in postings.items()}
        self.unknown_idf = math.log(1 + (n + 0.5) / 0.5)
        # Per posting, precompute the BM25 tf part and the coverage share (see search()), so a
        # query costs two multiply-adds per posting.
        self.postings: dict[str, list[tuple[int, float, float]]] = {}
        for term, plist in postings.items():
            is_char = term.startswith(_CHAR_PREFIX)
            entries = []
            for doc, tf in plist:
                norm = BM25_K1 * (1 - BM25_B + BM25_B * lengths[doc] / avg_length)
                # Coverage counts a term fully only when a strong field (title, question,
                # keyword, name) holds it; a mention in the answer text alone counts a little.
                strength = tf / (CHAR_WEIGHT if is_char else 1.0)
                entries.append((doc, tf * (BM25_K1 + 1) / (tf + norm), min(1.0, strength / STRONG_FIELD_TF)))
            self.postings[term] = entries
        # (folded name or alias, department id), longest first, for "which department is named".
        self.department_names = department_names
        # Compiled once here: departments_named runs on every question. Latin names must match
        # whole words ("police" is not in "policies").
        self._name_patterns = [
            (re.compile(rf"\b{re.escape(name)}\b" if name.isascii() else re.escape(name)), dep_id)
            for name, dep_id in department_names
        ]

    @classmethod
    def build(cls, kb: KnowledgeBase) -> SearchIndex:
        """Index every entry and department of ``kb`` (synchronous; run it in a thread)."""
        add_user_words(
            [d.name for d in kb.departments]
            + [a for d in kb.departments for a in d.aliases]
            + [k for e in kb.entries for k in e.keywords]
        )
        docs: list[tuple[str, str, list[tuple[float, str]]]] = []
        for e in kb.entries:
            fields = [
                (TITLE_WEIGHT, e.title),
                (KEYWORD_WEIGHT, " ".join(e.keywords)),
                (ANSWER_WEIGHT, e.answer),
            ]
            fields += [(QUESTION_WEIGHT, q) for q in e.questions]
            docs.append((e.id, e.kind, fields))
        for d in kb.departments:
            fields = [(NAME_WEIGHT, d.name), (ANSWER_WEIGHT, d.duties)]
            fields += [(NAME_WEIGHT, a) for a in d.aliases]
            docs.append((d.id, "department", fields))
        postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
        lengths: list[float] = []
        for i, (_, _, fields) in enumerate(docs):
            bag: dict[str, float] = defaultdict(float)
            for weight, text in fields:
                for term, count in analyze(text).items():
                    bag[term] += weight * count
            for term, tf in bag.items():
                postings[term].append((i, tf))
            lengths.append(sum(bag.values()) or 1.0)
        names = sorted(
            {(fold_for_matching(n), d.id) for d in kb.departments for n in [d.name, *d.aliases] if n.strip()},
            key=lambda pair: (-len(pair[0]), pair),
        )
        return cls([d[0] for d in docs], [d[1] for d in docs], dict(postings), lengths, names)

    def search(self, text: str, limit: int = 5) -> list[Hit]:
        """The best ``limit`` documents for ``text``, best first; empty when nothing matches."""
        query = analyze(text)
        if not query or not self.doc_ids:
            return []
        scores: dict[int, float] = {}
        matched: dict[int, float] = {}
        total = 0.0
        for term, qweight in query.items():
            # Repeating a word in the question should not multiply its weight.
            weight = min(qweight, CHAR_WEIGHT if term.startswith(_CHAR_PREFIX) else 1.0)
            weight *= self.idf.get(term, self.unknown_idf)
            total += weight
            for doc, tf_part, coverage in self.postings.get(term, ()):
                scores[doc] = scores.get(doc, 0.0) + weight * tf_part
                matched[doc] = matched.get(doc, 0.0) + weight * coverage
        # Ties go to the earlier document (entries by id, then departments): deterministic.
        best = heapq.nlargest(limit, scores, key=lambda d: (scores[d], -d))
        return [
            Hit(self.doc_ids[d], self.kinds[d], scores[d], min(1.0, matched[d] / total) if total else 0.0)
            for d in best
        ]

    def departments_named(self, text: str) -> list[str]:
        """Ids of departments whose name or alias occurs in ``text`` (longest names first)."""
        folded = fold_for_matching(text)
        found: list[str] = []
        for pattern, dep_id in self._name_patterns:
            if pattern.search(folded) and dep_id not in found:
                found.append(dep_id)
                folded = pattern.sub(" ", folded)
        return found
