"""The labelled corpus (data/corpus): schema, label contract, mix, and clean splits."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from complaint_triage.corpus import REQUIRED_FIELDS, load_corpus
from complaint_triage.labels import CATEGORIES

from .conftest import load_tool

DATA = Path(__file__).resolve().parents[1] / "data"
HARD_NEGATIVE_KINDS = {
    "angry", "lawful_escalation", "own_experience_online", "compensation", "bystander", "staff_rudeness",
    "institution_criticism", "accommodation", "innocent_word", "hyperbole",
}
CHANNELS = {"email", "web_form", "phone_note", "counter_note", "letter", "chat", "sns", "voicemail"}


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return load_corpus(DATA)  # validates JSON, required fields, label contract, splits, unique ids


@pytest.fixture(scope="module")
def hand(records) -> list[dict]:
    return [r for r in records if r["source"] == "handwritten"]


def test_schema(records):
    for r in records:
        for f in REQUIRED_FIELDS:
            assert f in r, (r["id"], f)
        assert r["channel"] in CHANNELS
        assert r["difficulty"] in ("easy", "medium", "hard")
        assert r["source"] in ("handwritten", "augmented")
        assert isinstance(r["text"], str) and r["text"].strip()


def test_contract_consistency(records):
    for r in records:
        assert bool(r["categories"]) == (r["verdict"] == "harassment"), r["id"]
        if r["verdict"] == "complaint":
            assert r["grievance"] is True, r["id"]
        if r["verdict"] == "inquiry":
            assert r["grievance"] is False, r["id"]


def test_size_and_verdict_mix(hand):
    v = Counter(r["verdict"] for r in hand)
    assert len(hand) >= 3000
    assert v["harassment"] >= 900 and v["complaint"] >= 1100 and v["inquiry"] >= 600


def test_every_category_has_120(hand):
    c = Counter(cat for r in hand for cat in r["categories"])
    for cat in CATEGORIES:
        assert c[cat] >= 120, (cat, c[cat])


def test_harassment_with_and_without_grievance(hand):
    h = [r for r in hand if r["verdict"] == "harassment"]
    assert sum(r["grievance"] for r in h) >= 300
    assert sum(not r["grievance"] for r in h) >= 300


def test_hard_negatives(hand):
    hn = [r for r in hand if r["verdict"] == "complaint" and r["kind"] in HARD_NEGATIVE_KINDS]
    assert len(hn) >= 600
    kinds = Counter(r["kind"] for r in hn)
    assert set(kinds) == HARD_NEGATIVE_KINDS, HARD_NEGATIVE_KINDS - set(kinds)


def test_channel_mix(hand):
    c = Counter(r["channel"] for r in hand)
    n = len(hand)
    for ch in CHANNELS:
        floor = 0.04 if ch in ("letter", "voicemail") else 0.10
        assert c[ch] / n >= floor, (ch, c[ch] / n)


def test_topics_and_lengths(hand):
    assert len({r["topic"] for r in hand}) >= 20
    lengths = [len(r["text"]) for r in hand]
    assert min(lengths) < 15
    assert max(lengths) > 1000


def test_test_split_is_large_and_handwritten(records):
    test = [r for r in records if r["split"] == "test"]
    assert len(test) >= 600
    assert all(r["source"] == "handwritten" for r in test)


def test_augmented_only_in_train(records):
    for r in records:
        if r["source"] == "augmented":
            assert r["split"] == "train", r["id"]


def _grams(text: str) -> set[str]:
    t = "".join(text.split())
    return {t[i : i + 5] for i in range(max(1, len(t) - 4))}


def test_no_near_duplicates_across_splits(hand):
    """No pair with character 5-gram Jaccard >= 0.8 sits in two different splits."""
    sets = [_grams(r["text"]) for r in hand]
    index: dict[str, list[int]] = {}
    for i, s in enumerate(sets):
        for g in s:
            index.setdefault(g, []).append(i)
    bad = []
    for i, s in enumerate(sets):
        shared: Counter[int] = Counter()
        for g in s:
            shared.update(j for j in index[g] if j > i)
        for j, k in shared.items():
            if hand[i]["split"] != hand[j]["split"] and k / (len(s) + len(sets[j]) - k) >= 0.8:
                bad.append((hand[i]["id"], hand[j]["id"]))
    assert not bad, bad[:5]


def test_augmented_items_point_to_train_sources(records):
    by_id = {r["id"]: r for r in records}
    for r in records:
        if r["source"] == "augmented":
            src = by_id[r["augmented_from"]]
            assert src["split"] == "train" and src["source"] == "handwritten"


def test_guideline_and_data_card_exist():
    for name in ("GUIDELINES.md", "README.md"):
        text = (DATA / name).read_text(encoding="utf-8")
        assert len(text) > 2000, name


def test_raw_batches_are_valid_json():
    for f in sorted((DATA / "raw").glob("*/*.jsonl")):
        for _n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                json.loads(line)


def test_held_out_batches_never_enter_the_corpus(hand):
    """data/holdout measures writers no model was trained on: none of its ids or texts may be in the corpus
    (an item its reviewer dropped, e.g. as a copy of a corpus text, is never scored and may be)."""
    def lines(path):
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

    reviews = sorted((DATA / "holdout").glob("*/review.jsonl"))
    dropped = {r["id"] for p in reviews for r in lines(p) if r.get("drop")}
    held = [r for p in sorted((DATA / "holdout").glob("*/part*.jsonl")) for r in lines(p) if r["id"] not in dropped]
    assert len(held) > 200
    ids = {r["id"] for r in hand}
    texts = {"".join(r["text"].split()) for r in hand}
    assert not [r["id"] for r in held if r["id"] in ids]
    assert not [r["id"] for r in held if "".join(r["text"].split()) in texts]
    assert all(not r["id"].startswith("b") for r in held)  # batch ids (b1…) belong to data/raw


def test_evidence_gold_marks_test_split_harassment_only(records) -> None:
    """data/evidence: hand-marked evidence spans, on harassment messages of the test split only."""
    items = [json.loads(x) for x in (DATA / "evidence" / "items.jsonl").read_text(encoding="utf-8").splitlines()]
    gold = [json.loads(x) for x in (DATA / "evidence" / "gold.jsonl").read_text(encoding="utf-8").splitlines()]
    by_id = {r["id"]: r for r in records}
    for it in items:
        r = by_id[it["id"]]
        assert (r["split"], r["verdict"], r["text"], r["categories"]) == ("test", "harassment", it["text"],
                                                                         it["categories"])
    texts = {it["id"]: it for it in items}
    pairs = {(g["id"], g["category"]) for g in gold}
    assert pairs == {(i, c) for i, it in texts.items() for c in it["categories"]} and len(pairs) == len(gold)
    for g in gold:
        assert 1 <= len(g["spans"]) <= 3 and all(s and s in texts[g["id"]]["text"] for s in g["spans"])


def test_augmented_file_is_what_the_tool_writes(hand):
    """data/corpus/augmented.jsonl is tools/augment.py's output for the committed train split
    (a stale file would train the shipped model on copies of a corpus that no longer exists)."""
    expected = load_tool("augment").augment(hand)
    lines = (DATA / "corpus" / "augmented.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(x) for x in lines if x.strip()] == expected


def test_adding_records_changes_no_other_records_copies(hand):
    """Each record's copies come from its own generator: a new batch adds copies of its own and
    leaves every other record's copies as they were (one generator for the whole corpus used to
    reshuffle them all, which moved the retrained model as much as the batch did)."""
    tool = load_tool("augment")
    train = [r for r in hand if r["split"] == "train"][:400]
    new = [dict(r, id=f"zz-{i:04d}", batch="zz") for i, r in enumerate(train[:60])]
    before = tool.augment(train)
    after = tool.augment(new[:30] + train + new[30:])
    assert [a for a in after if not a["augmented_from"].startswith("zz-")] == before
    assert any(a["augmented_from"].startswith("zz-") for a in after)
    # and another seed is another draw; only the train split is copied
    assert tool.augment(train, seed=tool.SEED + 1) != before
    assert tool.augment([dict(r, split="test") for r in train]) == []
    assert tool.augment([dict(r, source="augmented") for r in train]) == []  # copies are not copied

