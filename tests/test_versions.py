import json
import threading
import time

import pytest

from complaint_triage import versions
from complaint_triage.exceptions import ModelLoadError, ModelNotFoundError
from complaint_triage.persist import list_versions, load_model, promote, promoted_version, seal_manifest
from complaint_triage.scoring import Triager
from complaint_triage.versions import (
    ModelHolder,
    _thresholds_diff,
    compare_models,
    copy_version,
    evaluate_model,
    frozen_test_split,
    merge_thresholds,
    model_card,
    promote_if_not_worse,
    write_threshold_variant,
)

TEXTS = [
    "ゴミが3回も回収されていません。至急対応してください。",
    "お前みたいな無能はクビにしろ。殺すぞ",
    "図書館の開館時間を教えてください。",
]


@pytest.fixture(scope="module")
def test_records(small_data_dir):
    return frozen_test_split(small_data_dir)


@pytest.fixture
def registry(small_model_dir, tmp_path):
    """A scratch registry holding a promoted copy of the small model."""
    root = tmp_path / "models"
    copy_version(small_model_dir, root, make_promoted=True)
    return root


def _variant(registry, test_records, **thresholds):
    base = registry / promoted_version(registry)
    return write_threshold_variant(base, thresholds, registry, test_records=test_records)


# -- reload --------------------------------------------------------------------------------


def test_reload_swaps_atomically_under_load(registry, test_records):
    base = promoted_version(registry)
    other = _variant(registry, test_records, harassment=0.9).name
    holder = ModelHolder(root=registry)
    assert holder.get().version == base
    seen, errors, stop, swapped = [], [], threading.Event(), threading.Event()

    def reader():
        while not stop.is_set():
            try:
                after = swapped.is_set()
                t = holder.get()  # one model for the whole request
                out = t.score_many(TEXTS, with_evidence=False)
                assert {p.model_version for p in out} == {t.version}  # never a mix
                seen.append((after, t.version))
            except Exception as e:  # pragma: no cover - reported below
                errors.append(e)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for th in threads:
        th.start()
    try:
        while not seen:
            time.sleep(0.01)
        promote(other, registry)
        res = holder.reload()
        swapped.set()
        assert (res.previous_version, res.version, res.changed) == (base, other, True)
        while sum(after for after, _ in seen) < 3:
            time.sleep(0.01)
    finally:
        stop.set()
        for th in threads:
            th.join()
    assert not errors
    assert seen[0] == (False, base)
    # every request that started after the reload returned got the new model
    assert {v for after, v in seen if after} == {other}


def test_in_flight_requests_finish_on_the_old_model_while_a_reload_loads(registry, test_records, monkeypatch):
    base = promoted_version(registry)
    holder = ModelHolder(root=registry, warm_up=False)
    old = holder.get()
    promote(_variant(registry, test_records, harassment=0.9).name, registry)

    loading, release = threading.Event(), threading.Event()
    real_load = Triager.load

    def slow_load(*args, **kwargs):
        loading.set()
        assert release.wait(30)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(versions.Triager, "load", slow_load)
    results = {}
    reloader = threading.Thread(target=lambda: results.setdefault("r", holder.reload()))
    reloader.start()
    assert loading.wait(30)
    t0 = time.perf_counter()
    during = holder.get()  # does not wait for the reload
    assert time.perf_counter() - t0 < 0.5
    assert during is old and during.score(TEXTS[0]).model_version == base
    release.set()
    reloader.join(60)
    assert results["r"].changed
    assert holder.get() is not old and holder.version != base
    assert old.score(TEXTS[0]).model_version == base  # the old object still works for whoever holds it


def test_failed_reload_keeps_serving_the_old_model(registry):
    base = promoted_version(registry)
    holder = ModelHolder(root=registry)
    holder.get()
    broken = copy_version(registry / base, registry / "elsewhere")
    manifest = json.loads((broken / "manifest.json").read_text(encoding="utf-8"))
    manifest["model_version"] = "m-broken"
    target = registry / "m-broken"
    broken.rename(target)
    (target / "manifest.json").write_text(json.dumps(seal_manifest(manifest)), encoding="utf-8")
    with (target / "model.skops").open("r+b") as f:
        f.seek(100)
        f.write(b"garbage")
    # (a model that broke after it was promoted: promote itself refuses a broken version)
    (registry / "PROMOTED").write_text("m-broken\n", encoding="utf-8")
    with pytest.raises(ModelLoadError):
        holder.reload()
    assert holder.version == base and holder.get().version == base


def test_reload_is_a_no_op_when_nothing_changed(registry):
    holder = ModelHolder(root=registry)
    first = holder.get()
    res = holder.reload()
    assert not res.changed and holder.get() is first
    assert holder.reload(force=True).changed and holder.get() is not first


def test_holder_for_a_fixed_path(small_model_dir):
    holder = ModelHolder(small_model_dir, max_chars=50)
    assert holder.get().max_chars == 50
    assert holder.target() == small_model_dir
    wrapped = ModelHolder.from_triager(holder.get(), path=small_model_dir)
    assert not wrapped.reload().changed


# -- comparison and promotion ---------------------------------------------------------------


def test_compare_a_model_with_itself(small_model_dir, test_records):
    cmp = compare_models(small_model_dir, small_model_dir, test_records)
    assert cmp["n"] == len(test_records)
    assert cmp["old"]["metrics"] == cmp["new"]["metrics"]
    assert all(d["delta"] == 0 for k, d in cmp["diff"].items() if k != "per_category_f1")
    assert cmp["changed_verdicts"] == [] and cmp["thresholds_diff"] == {} and cmp["params_diff"] == {}


def test_promote_if_not_worse(registry, test_records):
    base = promoted_version(registry)
    worse = _variant(registry, test_records, harassment=0.001, review_low=0.0).name  # flags nearly everything
    better = _variant(registry, test_records, harassment=0.999).name  # flags less: never more complaints

    ok, cmp = promote_if_not_worse(worse, registry, test_records)
    assert not ok and promoted_version(registry) == base
    ffr = cmp["diff"]["complaint_false_flag_rate"]
    assert ffr["new"] > ffr["old"] and ffr["change"] == "worse"
    assert "worse" in cmp["decision"]["reason"]
    card = (registry / worse / "README.md").read_text(encoding="utf-8")
    assert f"Changes from the previous version (`{base}`)" in card and "not promoted" in card

    ok, cmp = promote_if_not_worse(better, registry, test_records)
    assert ok and promoted_version(registry) == better
    assert cmp["new"]["metrics"]["complaint_false_flag_rate"] <= cmp["old"]["metrics"]["complaint_false_flag_rate"]

    # an optional recall guard refuses a model that finds much less harassment
    ok, cmp = promote_if_not_worse(base, registry, test_records, max_recall_drop=0.0)
    assert promoted_version(registry) == (base if ok else better)

    # a tolerance lets a worse rate through
    ok, _ = promote_if_not_worse(worse, registry, test_records, max_false_flag_increase=1.0)
    assert ok and promoted_version(registry) == worse


def test_promote_if_not_worse_refuses_when_the_promoted_version_is_gone(registry, test_records):
    """Nothing to compare against is not a reason to promote outright: the check was asked for."""
    base = promoted_version(registry)
    worse = _variant(registry, test_records, harassment=0.001, review_low=0.0).name
    (registry / base / "manifest.json").rename(registry / "manifest.json.moved")
    with pytest.raises(ModelNotFoundError, match=rf"promoted version {base} .* without --if-not-worse"):
        promote_if_not_worse(worse, registry, test_records)
    assert promoted_version(registry) == base


def test_a_rewritten_card_keeps_the_reproduce_section(registry, test_records):
    # `train` writes how to rebuild the model; promote --if-not-worse rewrites the card with the
    # comparison and must not lose it
    v = _variant(registry, test_records, harassment=0.999).name
    card = registry / v / "README.md"
    recipe = "## Reproduce\n`complaint-triage train --feedback-db corrections.sqlite3` (the recipe)\n"
    card.write_text(card.read_text(encoding="utf-8").rstrip("\n") + "\n\n" + recipe, encoding="utf-8")
    promote_if_not_worse(v, registry, test_records)
    text = card.read_text(encoding="utf-8")
    assert "Promotion check: promoted" in text and text.count("## Reproduce") == 1
    assert text.endswith(recipe)


def test_promote_if_not_worse_without_a_promoted_model(small_model_dir, tmp_path, test_records):
    root = tmp_path / "models"
    v = copy_version(small_model_dir, root).name
    ok, cmp = promote_if_not_worse(v, root, test_records)
    assert ok and cmp["old"] is None and promoted_version(root) == v


# -- threshold variants ----------------------------------------------------------------------


def test_threshold_variant(registry, test_records):
    base_dir = registry / promoted_version(registry)
    base = load_model(base_dir)
    new_dir = write_threshold_variant(base_dir, {"harassment": 0.8, "categories": {"threat": 0.5}}, registry,
                                      test_records=test_records)
    assert new_dir.parent == registry and new_dir.name != base.version
    assert (new_dir / "model.skops").read_bytes() == (base_dir / "model.skops").read_bytes()
    new = load_model(new_dir)
    th = new.thresholds
    assert th["harassment"] == 0.8 and th["categories"]["threat"] == 0.5
    assert th["categories"]["violence"] == base.thresholds["categories"]["violence"]
    assert th["review_high"] == pytest.approx(0.9) and th["review_low"] <= 0.8
    assert th["max_false_flag_rate"] is None  # set by hand, not from a cap
    assert new.manifest["derived_from"]["model_version"] == base.version
    assert new.manifest["training_data"] == base.manifest["training_data"]
    assert new.manifest["metrics"]["test"] == evaluate_model(new, test_records)
    card = (new_dir / "README.md").read_text(encoding="utf-8")
    for piece in (base.manifest["training_data"]["sha256"], "## Thresholds", "## Metrics on the frozen test split",
                  f"Changes from the previous version (`{base.version}`)", "harassment 0.", "categories.threat"):
        assert piece in card
    # the same variant again is the same directory; no temporary folders are left behind
    assert write_threshold_variant(base_dir, {"harassment": 0.8, "categories": {"threat": 0.5}}, registry,
                                   test_records=test_records) == new_dir
    assert sorted(p.name for p in registry.iterdir()) == sorted(["PROMOTED", base.version, new_dir.name])
    assert {m["model_version"] for m in list_versions(registry)} == {base.version, new_dir.name}
    assert promoted_version(registry) == base.version  # nothing promoted


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"harassmnet": 0.5}, "unknown threshold"),
        ({"categories": {"rudeness": 0.5}}, "unknown categories"),
        ({"grievance": 1.5}, "outside"),
        ({"categories": {"threat": -0.1}}, "outside"),
        ({"harassment": 0.5, "review_low": 0.6}, "review band"),
        ({"bystander_rule": "gated"}, "bystander_rule 'gated' is not one of"),
    ],
)
def test_merge_thresholds_refuses_bad_values(small_model_dir, changes, match):
    with pytest.raises(ValueError, match=match):
        merge_thresholds(load_model(small_model_dir).thresholds, changes)


def test_card_without_previous_version(small_model_dir):
    manifest = load_model(small_model_dir).manifest
    card = model_card(manifest)
    assert card.startswith(f"# Model card: complaint-triage {manifest['model_version']}")
    assert manifest["training_data"]["sha256"] in card and "No previous version" in card


@pytest.mark.parametrize(("rate", "shown"), [(0.0075, "0.75%"), (0.02, "2%"), (0.005, "0.5%"), (0.0125, "1.25%")])
def test_card_shows_the_false_flag_cap_as_it_was_set(small_model_dir, rate, shown):
    manifest = load_model(small_model_dir).manifest
    manifest["thresholds"] = {**manifest["thresholds"], "max_false_flag_rate": rate}
    assert f"(cap on complaints flagged in validation: {shown})" in model_card(manifest)


def test_merge_thresholds_keeps_the_bystander_rule_and_drops_the_cap_when_the_score_moves(small_model_dir):
    base = load_model(small_model_dir).thresholds
    assert base["bystander_rule"] == "flat" and base["max_false_flag_rate"] is not None
    # the rule alone: the threshold was chosen on another score, so its validation cap no longer holds
    merged = merge_thresholds(base, {"bystander_rule": "doubt"})
    assert merged["bystander_rule"] == "doubt" and merged["max_false_flag_rate"] is None
    merged = merge_thresholds(base, {"bystander_discount": base["bystander_discount"] + 0.25})
    assert merged["max_false_flag_rate"] is None
    # a whole set chosen again (notebooks/03 passes everything choose_thresholds returns) keeps its cap
    whole = {**base, "bystander_rule": "flat", "max_false_flag_rate": 0.01}
    assert merge_thresholds(base, whole)["max_false_flag_rate"] == 0.01
    # the same rule and discount again change nothing
    assert merge_thresholds(base, {"bystander_rule": "flat"})["max_false_flag_rate"] == base["max_false_flag_rate"]
    # a legacy manifest (no rule) compared with its variant shows the rule it was decided under
    legacy = {k: v for k, v in base.items() if k != "bystander_rule"}
    assert _thresholds_diff(legacy, merge_thresholds(legacy, {"bystander_rule": "flat"}))["bystander_rule"] == {
        "old": "doubt", "new": "flat"}
