"""Training data selection with extra records (analysts' corrections) and the model card."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from complaint_triage.feedback import FeedbackStore
from complaint_triage.training import DEFAULT_MAX_FALSE_FLAG_RATE, _card, _data_identity, fit_records

MODELS = Path(__file__).resolve().parents[1] / "models"

COMPLAINT = {"verdict": "complaint", "categories": [], "grievance": True}
INQUIRY = {"verdict": "inquiry", "categories": [], "grievance": False}
THREAT = {"verdict": "harassment", "categories": ["threat"], "grievance": True}

GOMI = "ゴミが3回も回収されていません。\n至急対応してください。"
MADO = "窓口で聞くたびに説明が違います。案内を統一してください。"
TOSHO = "図書館で借りた本を汚してしまいました。弁償の手続きを教えてください。"


def _rec(id_, text, labels, split="train", source="handwritten", **kw):
    return {"id": id_, "text": text, **labels, "split": split, "source": source, **kw}


CORPUS = [
    _rec("b1-0001", GOMI, COMPLAINT),
    _rec("b1-0002", MADO, COMPLAINT, split="dev"),
    _rec("b1-0003", TOSHO, INQUIRY, split="test"),
    # a width copy is the same text after NFKC: still an augmented copy, kept or dropped with its source's label
    _rec("aug-width-b1-0001", GOMI.replace("3", "３"), COMPLAINT, source="augmented", augmented_from="b1-0001"),
    _rec("aug-insert_harassment-b1-0001", GOMI + "次は刺すぞ。", THREAT, source="augmented",
         augmented_from="b1-0001"),
]


def _extra(labels, text, original_id=None):
    return {"id": "correction:x", "text": text, **labels, "split": "train", "source": "correction",
            "original_id": original_id}


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        # no extra records: the train and dev records, as they are
        ([], [("b1-0001", "complaint"), ("b1-0002", "complaint"), ("aug-width-b1-0001", "complaint"),
              ("aug-insert_harassment-b1-0001", "harassment")]),
        # corrected by id: the corpus label and its label-preserving augmented copy go
        ([_extra(INQUIRY, GOMI, "b1-0001")],
         [("b1-0002", "complaint"), ("aug-insert_harassment-b1-0001", "harassment"), ("correction:x", "inquiry")]),
        # corrected by text only (as typed: CRLF, full-width space): matched all the same
        ([_extra(INQUIRY, GOMI.replace("\n", "\r\n") + "\u3000")],
         [("b1-0002", "complaint"), ("aug-insert_harassment-b1-0001", "harassment"), ("correction:x", "inquiry")]),
        # a correction that confirms the corpus label keeps the augmented copies
        ([_extra(COMPLAINT, MADO)],
         [("b1-0001", "complaint"), ("aug-width-b1-0001", "complaint"), ("aug-insert_harassment-b1-0001",
                                                                        "harassment"), ("correction:x", "complaint")]),
        # a new message: nothing replaced
        ([_extra(THREAT, "お前の顔をネットに晒してやる")],
         [("b1-0001", "complaint"), ("b1-0002", "complaint"), ("aug-width-b1-0001", "complaint"),
          ("aug-insert_harassment-b1-0001", "harassment"), ("correction:x", "harassment")]),
    ],
)
def test_fit_records_one_label_per_message(extra, expected):
    fit, _ = fit_records(CORPUS, extra)
    assert [(r["id"], r["verdict"]) for r in fit] == expected


def test_a_text_only_correction_replaces_the_corpus_label(tmp_path):
    """The acceptance case: a train-split message corrected by its text, with no message_id."""
    store = FeedbackStore(tmp_path / "c.sqlite3")
    store.add({"text": GOMI, "verdict": "inquiry", "corrected_by": "a", "corrected_at": "2025-10-01T00:00:00Z"})
    store.add({"message_id": "mail-7", "text": MADO, "verdict": "inquiry", "corrected_by": "a",
               "corrected_at": "2025-10-01T00:00:00Z"})
    store.add({"text": MADO, "verdict": "complaint", "corrected_by": "b", "corrected_at": "2025-10-02T00:00:00Z"})
    extra = store.to_training_records(CORPUS)
    fit, counts = fit_records(CORPUS, extra)
    labels = {}
    for r in fit:
        labels.setdefault(r["text"], []).append(r["verdict"])
    assert labels[GOMI] == ["inquiry"] and labels[MADO] == ["complaint"]
    assert counts == {"replaced": 2, "augmented_dropped": 1}


def test_data_identity_keeps_the_hash_and_records_the_extras():
    assert _data_identity("abc", []) == ("abc", {})
    extra = [_extra(INQUIRY, GOMI, "b1-0001") | {"corrected_at": "2025-10-02T00:00:00Z"},
             _extra(COMPLAINT, MADO) | {"corrected_at": "2025-10-01T00:00:00Z"}]
    dhash, info = _data_identity("abc", extra)
    blob = json.dumps(extra, ensure_ascii=False, sort_keys=True).encode()
    h = hashlib.sha256(b"abc")
    h.update(blob)
    assert dhash == h.hexdigest()  # the same hash (and so the same version names) as before
    assert info == {"corpus_sha256": "abc", "extra_records_sha256": hashlib.sha256(blob).hexdigest(),
                    "n_corrections": 2, "corrections_up_to": "2025-10-02T00:00:00Z"}


@pytest.fixture(scope="module")
def shipped_manifest() -> dict:
    version = (MODELS / "PROMOTED").read_text(encoding="utf-8").strip()
    return json.loads((MODELS / version / "manifest.json").read_text(encoding="utf-8"))


def test_card_of_a_corpus_only_model(shipped_manifest):
    card = _card(shipped_manifest)
    assert "Trained only on synthetic, hand-written messages" in card
    # the false-flag rates from their counts (finding 14, acceptance 2: 0.460% for 4 of 873, 0.740% for 26 of 3526)
    test, cv = shipped_manifest["metrics"]["test"], shipped_manifest["metrics"]["cross_validation"]
    flags, n = test["complaint_false_flags"], test["n_complaints"]
    assert f"| complaint false-flag rate | {flags / n:.3%} ({flags} of {n}) |" in card
    assert f"false-flag rate {cv['complaint_false_flags'] / cv['n_complaints']:.3%}." in card
    assert f"- sha256: `{shipped_manifest['training_data']['sha256']}`" in card
    assert "`complaint-triage train` (deterministic)" in card and "correction" not in card


@pytest.mark.parametrize(("rule", "doubt"), [("flat", False), ("doubt", True), (None, True)])
def test_the_card_states_the_bystander_rule_the_model_is_decided_under(shipped_manifest, rule, doubt):
    m = json.loads(json.dumps(shipped_manifest))
    m["thresholds"].pop("bystander_rule", None)
    if rule is not None:
        m["thresholds"]["bystander_rule"] = rule
    card = _card(m)
    assert f"\n{m['thresholds']['bystander_discount']:g} × its probability" in card
    assert ("(1 − the verdict head's harassment probability)" in card) == doubt


@pytest.mark.parametrize(
    ("n_extra", "n_corrections", "says"),
    [
        (1, 1, "1 analysts' correction"),
        (5, 5, "5 analysts' corrections"),
        (7, 5, "7 extra records (5 of them analysts' corrections)"),
    ],
)
def test_card_of_a_model_trained_with_corrections(shipped_manifest, n_extra, n_corrections, says):
    m = json.loads(json.dumps(shipped_manifest))
    m["params"]["max_features"] = 20_000
    m["thresholds"]["max_false_flag_rate"] = DEFAULT_MAX_FALSE_FLAG_RATE
    m["training_data"].update(n_extra_records=n_extra, n_corrections=n_corrections, corpus_sha256="c" * 64,
                              extra_records_sha256="e" * 64, corrections_up_to="2026-11-21T00:00:00Z",
                              n_replaced=2, n_augmented_dropped=3)
    card = _card(m)
    assert "Trained only on synthetic" not in card
    assert f"Trained on synthetic, hand-written messages and {says}" in card
    assert f"sha256 of these files alone: `{'c' * 64}`" in card
    assert f"sha256 of these records: `{'e' * 64}`" in card
    assert f"sha256 of the corpus files and the extra records together: `{m['training_data']['sha256']}`" in card
    assert "corrections recorded up to 2026-11-21T00:00:00Z" in card
    assert "2 corpus records" in card and "3 augmented copies" in card
    # how to reproduce it: not the CLI alone, but the corrections database through the library
    assert "`complaint-triage train` alone does **not** reproduce this model" in card
    assert "notebooks/05-corrections-and-retrain.ipynb" in card
    assert "FeedbackStore(DB).to_training_records(load_corpus(DATA_DIR))" in card
    assert 'train(data_dir=DATA_DIR, extra_records=extra, params={"max_features": 20000})' in card


class _StopFit(Exception):
    pass


def test_training_lets_only_the_corpus_hand_written_texts_decide_the_folds(tmp_path, monkeypatch):
    """Augmented copies and analysts' corrections are fitted, but only the corpus's hand-written
    texts vote in the fold split (one correction voting moved most writer batches)."""
    from complaint_triage import training

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    # (copies carry their source's near-duplicate group, as tools/augment.py writes them)
    recs = [dict(r, channel="email", topic="gomi", difficulty="easy", group=r.get("augmented_from") or r["id"])
            for r in CORPUS]
    for name, part in (("handwritten.jsonl", recs[:3]), ("augmented.jsonl", recs[3:])):
        (corpus / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in part),
                                   encoding="utf-8")
    seen = {}

    class Probe:
        def fit(self, texts, targets, **kw):
            seen["texts"] = list(texts)
            seen.update(kw)
            raise _StopFit

    monkeypatch.setattr(training, "build_classifier", lambda params, n_jobs=1: Probe())
    extra = [_extra(COMPLAINT, "公園のベンチが壊れています。直してください。")]
    with pytest.raises(_StopFit):
        training.train(data_dir=tmp_path, models_dir=tmp_path / "models", do_promote=False, extra_records=extra)
    texts = [GOMI, MADO, GOMI.replace("3", "３"), GOMI + "次は刺すぞ。", extra[0]["text"]]
    assert sorted(seen["texts"]) == sorted(texts)
    mask = dict(zip(seen["texts"], seen["split_mask"], strict=True))
    assert mask == {GOMI: True, MADO: True, GOMI.replace("3", "３"): False, GOMI + "次は刺すぞ。": False,
                    extra[0]["text"]: False}
    group = dict(zip(seen["texts"], seen["groups"], strict=True))
    assert group[GOMI + "次は刺すぞ。"] == group[GOMI]  # a copy follows its source


def test_the_shipped_name_is_the_data_and_the_corpus_only_policy(shipped_manifest):
    """A corpus-only model is named by its data and version_policy; corrections name it apart
    (they follow their group in the fold split since session 21, a rule of their own)."""
    from complaint_triage.training import version_policy

    params = shipped_manifest["params"]
    rate = shipped_manifest["thresholds"]["max_false_flag_rate"]
    dhash = shipped_manifest["training_data"]["sha256"]

    def name(policy):
        return "m-" + hashlib.sha256((dhash + json.dumps(policy, sort_keys=True)).encode()).hexdigest()[:10]

    assert name(version_policy(params, rate)) == shipped_manifest["model_version"]
    assert name(version_policy(params, rate, with_corrections=True)) != shipped_manifest["model_version"]
    assert "correction_folds" not in version_policy(params, rate)
