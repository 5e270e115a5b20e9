import json
import os
import re
import shutil
import sys
import time
import warnings

import pytest
import skops.io as sio

from complaint_triage.exceptions import (
    LabelSetMismatchError,
    ModelLoadError,
    ModelNotFoundError,
    SignalsChangedWarning,
    UntrustedModelError,
)
from complaint_triage.persist import (
    TRUSTED,
    check_folder_name,
    list_versions,
    load_model,
    promote,
    promoted_version,
    save_model,
    seal_manifest,
)
from complaint_triage.versions import copy_version


def test_round_trip(small_model_dir):
    m = load_model(small_model_dir)
    assert m.version == m.manifest["model_version"]
    for key in ("thresholds", "training_data", "library_versions", "metrics", "label_set", "model_sha256"):
        assert key in m.manifest
    assert (small_model_dir / "README.md").read_text(encoding="utf-8").startswith("# Model card")
    p = m.classifier.predict_scores(["ゴミの日を教えてください"])
    assert p.shape[0] == 1


def test_untrusted_types_are_all_listed(small_model_dir):
    untrusted = sio.get_untrusted_types(file=small_model_dir / "model.skops")
    assert set(untrusted) <= set(TRUSTED)


def test_registry(small_registry):
    v = promoted_version(small_registry)
    assert [m["model_version"] for m in list_versions(small_registry)] == [v]
    with pytest.raises(ModelNotFoundError, match="known versions"):
        promote("nope", small_registry)


@pytest.fixture
def copy_dir(small_model_dir, tmp_path):
    d = tmp_path / "m"
    shutil.copytree(small_model_dir, d)
    return d


def test_missing(tmp_path):
    with pytest.raises(ModelNotFoundError, match="complaint-triage train"):
        load_model(tmp_path / "nothing")


def test_corrupt_file(copy_dir):
    data = bytearray((copy_dir / "model.skops").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy_dir / "model.skops").write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match="checksum"):
        load_model(copy_dir)


def test_corrupt_file_with_matching_checksum(copy_dir):
    (copy_dir / "model.skops").write_bytes(b"not a zip file at all")
    _rewrite_sha(copy_dir)
    with pytest.raises(ModelLoadError, match="skops"):
        load_model(copy_dir)


def test_corrupt_manifest(copy_dir):
    (copy_dir / "manifest.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelLoadError, match="not valid JSON"):
        load_model(copy_dir)


def test_other_label_set(copy_dir):
    m = json.loads((copy_dir / "manifest.json").read_text(encoding="utf-8"))
    m["label_set"] = "another-office:ok,ng"
    (copy_dir / "manifest.json").write_text(json.dumps(seal_manifest(m)), encoding="utf-8")
    with pytest.raises(LabelSetMismatchError, match="retrain"):
        load_model(copy_dir)


@pytest.mark.parametrize("rule", ["gated", None, 3])
def test_a_bystander_rule_this_version_does_not_know_is_refused(copy_dir, rule):
    m = json.loads((copy_dir / "manifest.json").read_text(encoding="utf-8"))
    m["thresholds"]["bystander_rule"] = rule
    (copy_dir / "manifest.json").write_text(json.dumps(seal_manifest(m)), encoding="utf-8")
    with pytest.raises(ModelLoadError, match="bystander_rule .* upgrade complaint-triage or retrain"):
        load_model(copy_dir)


@pytest.mark.parametrize("rule", ["flat", "doubt", "absent"])
def test_a_known_or_absent_bystander_rule_loads(copy_dir, rule):
    m = json.loads((copy_dir / "manifest.json").read_text(encoding="utf-8"))
    m["thresholds"].pop("bystander_rule", None)
    if rule != "absent":
        m["thresholds"]["bystander_rule"] = rule
    (copy_dir / "manifest.json").write_text(json.dumps(seal_manifest(m)), encoding="utf-8")
    assert load_model(copy_dir).thresholds.get("bystander_rule", "absent") == rule


def _set_signals_digest(d, digest):
    m = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
    if digest is None:
        m.pop("signals_sha256", None)
    else:
        m["signals_sha256"] = digest
    (d / "manifest.json").write_text(json.dumps(seal_manifest(m)), encoding="utf-8")


def test_current_signals_load_quietly(small_model_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_model(small_model_dir).signals_current


def test_other_signal_patterns_warn(copy_dir):
    # a model trained before the library's signal regexes changed still scores, but not as
    # its recorded metrics say: loading it says so, and what to do
    _set_signals_digest(copy_dir, "0123456789abcdef")
    with pytest.warns(SignalsChangedWarning, match="retrain"):
        m = load_model(copy_dir)
    assert not m.signals_current
    assert m.classifier.predict_scores(["ゴミの日を教えてください"]).shape[0] == 1


def test_manifest_without_signals_digest_counts_as_current(copy_dir):
    _set_signals_digest(copy_dir, None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_model(copy_dir).signals_current


class Evil:  # a type no model should contain
    def __init__(self):
        self.x = 1


def test_untrusted_type(copy_dir):
    sio.dump({"model": Evil()}, copy_dir / "model.skops")
    _rewrite_sha(copy_dir)
    with pytest.raises(UntrustedModelError, match="not trusted"):
        load_model(copy_dir)


def _rewrite_sha(d):
    import hashlib

    m = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
    m["model_sha256"] = hashlib.sha256((d / "model.skops").read_bytes()).hexdigest()
    (d / "manifest.json").write_text(json.dumps(seal_manifest(m)), encoding="utf-8")


# -- promotion verifies the version (acceptance defect: broken versions were promoted) ---------

#: Messages the served model must still score after a refused promotion.
STILL_SCORES = (
    "ゴミが3回も回収されていません。至急対応してください。",
    "窓口の職員に「殺すぞ」と怒鳴っていた人がいました。",
    "住民票の写しはどこで取れますか。",
)


def _zero_1000_bytes(d):
    data = bytearray((d / "model.skops").read_bytes())
    data[2000:3000] = bytes(1000)
    (d / "model.skops").write_bytes(bytes(data))


def _other_label_set(d):
    m = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
    m["label_set"] = "another-office:ok,ng"
    (d / "manifest.json").write_text(json.dumps(seal_manifest(m)), encoding="utf-8")


def _manifest_only(d):
    (d / "model.skops").unlink()


def _truncated_manifest(d):
    text = (d / "manifest.json").read_text(encoding="utf-8")
    (d / "manifest.json").write_text(text[: len(text) // 2], encoding="utf-8")


def _manifest_is_a_list(d):
    (d / "manifest.json").write_text("[]", encoding="utf-8")


def _other_version_inside(d):
    m = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
    m["model_version"] = "m-somethingelse"
    (d / "manifest.json").write_text(json.dumps(seal_manifest(m)), encoding="utf-8")


def _unreadable_model_with_matching_checksum(d):
    (d / "model.skops").write_bytes(b"PK\x03\x04 not really a zip")
    _rewrite_sha(d)


@pytest.fixture
def scratch_registry(small_model_dir, tmp_path):
    """A registry holding a promoted copy of the small model (the shared one stays untouched)."""
    root = tmp_path / "models"
    copy_version(small_model_dir, root, make_promoted=True)
    return root


def _broken_copy(root, name, damage):
    d = root / name
    shutil.copytree(root / promoted_version(root), d)
    m = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
    m["model_version"] = name
    (d / "manifest.json").write_text(json.dumps(seal_manifest(m)), encoding="utf-8")
    damage(d)
    return d


@pytest.mark.parametrize(
    ("damage", "error", "match"),
    [
        (_zero_1000_bytes, ModelLoadError, "checksum"),
        (_other_label_set, LabelSetMismatchError, "label set"),
        (_manifest_only, ModelNotFoundError, "needs manifest.json and model.skops"),
        (_truncated_manifest, ModelLoadError, "not valid JSON"),
        (_manifest_is_a_list, ModelLoadError, "not a JSON object"),
        (_other_version_inside, ModelLoadError, "names version 'm-somethingelse'"),
        (_unreadable_model_with_matching_checksum, ModelLoadError, "skops"),
    ],
)
def test_promote_refuses_a_broken_version(scratch_registry, damage, error, match):
    root = scratch_registry
    before = (root / "PROMOTED").read_bytes()
    _broken_copy(root, "m-broken0001", damage)
    with pytest.raises(error, match=match) as info:
        promote("m-broken0001", root)
    assert "PROMOTED was not changed" in str(info.value)
    assert (root / "PROMOTED").read_bytes() == before
    assert sorted(p.name for p in root.iterdir()) == sorted(["PROMOTED", before.decode().strip(), "m-broken0001"])
    served = load_model(root / promoted_version(root))
    assert served.classifier.predict_scores(list(STILL_SCORES)).shape[0] == len(STILL_SCORES)


@pytest.mark.parametrize(
    "name",
    ["../outside/m-c9788c67dd", "..", ".", "", "/tmp", "m-a/../m-b", ".hidden", "m-a\\..\\m-b", "m-a\x00"],
)
def test_promote_refuses_names_outside_the_registry(scratch_registry, name):
    root = scratch_registry
    outside = root.parent / "outside"
    shutil.copytree(root / promoted_version(root), outside / "m-c9788c67dd")  # a valid model, elsewhere
    before = (root / "PROMOTED").read_bytes()
    with pytest.raises(ModelNotFoundError, match="no model version"):
        promote(name, root)
    assert (root / "PROMOTED").read_bytes() == before


def test_promote_writes_the_marker_atomically(scratch_registry, monkeypatch):
    root = scratch_registry
    v = promoted_version(root)
    other = _broken_copy(root, "m-good0001", lambda d: None)
    assert promote("m-good0001", root) == other
    assert (root / "PROMOTED").read_text(encoding="utf-8") == "m-good0001\n"

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("complaint_triage.persist.os.replace", fail)
    with pytest.raises(OSError, match="No space"):
        promote(v, root)
    assert (root / "PROMOTED").read_text(encoding="utf-8") == "m-good0001\n"
    assert sorted(p.name for p in root.iterdir()) == sorted(["PROMOTED", v, "m-good0001"])  # no temporary file left


@pytest.mark.parametrize("content", ["../outside/m-c9788c67dd\n", "\n", "m-a/m-b\n"])
def test_promoted_marker_naming_no_version_folder(scratch_registry, content):
    (scratch_registry / "PROMOTED").write_text(content, encoding="utf-8")
    with pytest.raises(ModelNotFoundError, match="models promote VERSION"):
        promoted_version(scratch_registry)


# -- one unreadable manifest does not break the registry --------------------------------------


@pytest.mark.parametrize("promoted", ["original", "copy"])
def test_list_versions_marks_a_renamed_or_copied_folder_under_its_own_name(scratch_registry, promoted):
    """Acceptance 2b, finding 4: a copied folder was listed as a second row of the version its manifest
    names (promoted twice), and `models show` printed that version's card under the copy's name."""
    root = scratch_registry
    v = promoted_version(root)
    shutil.copytree(root / v, root / "m-renamed")
    if promoted == "copy":
        (root / "PROMOTED").write_text("m-renamed\n", encoding="utf-8")
    rows = list_versions(root)
    assert sorted(m["model_version"] for m in rows) == sorted([v, "m-renamed"])
    [copy] = [m for m in rows if m["model_version"] == "m-renamed"]
    assert copy["_dir"] == str(root / "m-renamed") and copy["_manifest_version"] == v
    assert copy["_unreadable"] == (f"manifest.json names version {v!r}, not 'm-renamed' (a renamed or copied "
                                   "folder); give the folder its manifest's name or retrain")
    assert "_unreadable" not in next(m for m in rows if m["model_version"] == v)
    with pytest.raises(ModelLoadError, match=f"names version '{v}', not 'm-renamed'"):
        check_folder_name(root / "m-renamed")
    check_folder_name(root / v)  # its own folder: nothing to say
    (root / "m-badjson0001").mkdir()
    (root / "m-badjson0001" / "manifest.json").write_bytes(b"{")
    check_folder_name(root / "m-badjson0001")  # unreadable: list_versions and load_model say why


@pytest.mark.parametrize(
    ("manifest", "reason"),
    [
        (b'{"model_version": "m-badjson0001", ', "not valid JSON"),
        (b"", "not valid JSON"),
        ('{"model_version": "壊れた"}'.encode("cp932"), "not UTF-8"),
        (b'["m-badjson0001"]', "not a JSON object"),
        (b'{"created": "2025-10-01T09:00:00Z"}', "no model_version"),
    ],
)
def test_list_versions_marks_an_unreadable_manifest(scratch_registry, manifest, reason):
    root = scratch_registry
    v = promoted_version(root)
    (root / "m-badjson0001").mkdir()
    (root / "m-badjson0001" / "manifest.json").write_bytes(manifest)
    rows = list_versions(root)
    assert [m["model_version"] for m in rows] == ["m-badjson0001", v]
    bad, good = rows
    assert reason in bad["_unreadable"] and bad["_dir"] == str(root / "m-badjson0001")
    assert "_unreadable" not in good and good["thresholds"]
    # the other registry operations are unaffected by the broken sibling
    with pytest.raises(ModelNotFoundError, match=f"no model version 'm-missing9999'.*{v}"):
        promote("m-missing9999", root)
    assert promote(v, root) == root / v


def test_list_versions_marks_a_missing_manifest_and_a_missing_promoted_folder(scratch_registry):
    """A model folder that lost its manifest, and a PROMOTED file naming a folder that is gone,
    are listed as unreadable rather than left out (the listing is where an analyst looks)."""
    root = scratch_registry
    v = promoted_version(root)
    shutil.copytree(root / v, root / "m-nomanifest1")
    (root / "m-nomanifest1" / "manifest.json").unlink()
    rows = {m["model_version"]: m for m in list_versions(root)}
    assert rows["m-nomanifest1"]["_unreadable"] == "manifest.json is missing" and "_unreadable" not in rows[v]
    (root / "PROMOTED").write_text("m-0000000000\n", encoding="utf-8")
    rows = {m["model_version"]: m for m in list_versions(root)}
    assert set(rows) == {v, "m-nomanifest1", "m-0000000000"}
    assert rows["m-0000000000"]["_unreadable"].startswith("named in PROMOTED, but")
    assert rows["m-0000000000"]["_unreadable"].endswith("does not exist")
    (root / "m-0000000000").mkdir()  # there, but empty
    rows = {m["model_version"]: m for m in list_versions(root)}
    assert rows["m-0000000000"]["_unreadable"].endswith("has no manifest.json")


@pytest.mark.parametrize(
    "edit",
    [
        lambda m: m["thresholds"].update(harassment=0.05),  # flags far more, under the same name
        lambda m: m["metrics"]["test"].update(complaint_false_flag_rate=0.0),  # a claimed figure
        lambda m: m.update(model_version=m["model_version"]),  # rewritten, nothing changed: still fine
    ],
    ids=["threshold", "metric", "same content"],
)
def test_a_manifest_edited_after_saving_is_refused(scratch_registry, edit):
    """A version's thresholds and metrics are fixed: a hand edit would be served, listed and
    promoted under the old version's name (acceptance defect)."""
    root = scratch_registry
    v = promoted_version(root)
    path = root / v / "manifest.json"
    m = json.loads(path.read_text(encoding="utf-8"))
    assert m["manifest_sha256"]  # save_model seals it
    before = json.dumps(m, sort_keys=True)
    edit(m)
    path.write_text(json.dumps(m, ensure_ascii=False, indent=2), encoding="utf-8")
    if json.dumps(m, sort_keys=True) == before:
        assert load_model(root / v).version == v
        return
    with pytest.raises(ModelLoadError, match="was changed after it was saved.*write_threshold_variant"):
        load_model(root / v)
    [row] = [r for r in list_versions(root) if r["model_version"] == v]
    assert "was changed after it was saved" in row["_unreadable"]
    with pytest.raises(ModelLoadError, match="was changed after it was saved"):
        promote(v, root)


def test_a_manifest_without_its_digest_is_refused(scratch_registry):
    """Deleting the digest let a hand-edited threshold load under the old name (acceptance defect)."""
    v = promoted_version(scratch_registry)
    path = scratch_registry / v / "manifest.json"
    m = json.loads(path.read_text(encoding="utf-8"))
    del m["manifest_sha256"]
    m["thresholds"]["harassment"] = 0.0001
    path.write_text(json.dumps(m), encoding="utf-8")
    with pytest.raises(ModelLoadError, match="has no manifest_sha256.*restore the file, or retrain"):
        load_model(scratch_registry / v)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: m["thresholds"].pop("categories"), "lacks thresholds.categories"),
        (lambda m: m["thresholds"]["categories"].pop("threat"), "thresholds.categories.threat None, not a number"),
        (lambda m: m["thresholds"].update(harassment="high"), "thresholds.harassment 'high', not a number"),
        (lambda m: m["thresholds"].update(review_low=True), "thresholds.review_low True, not a number"),
        (lambda m: m["thresholds"].update(bystander_discount=None), "thresholds.bystander_discount None"),
        (lambda m: m.update(thresholds=[0.5]), "thresholds of type list"),
        (lambda m: m.update(model_version=None), "model_version None, not a version name"),
        (lambda m: m.update(model_version=" "), "model_version ' ', not a version name"),
    ],
    ids=["no-categories", "a-category-missing", "a-string", "a-bool", "null-discount", "a-list", "null-version",
         "blank-version"],
)
def test_a_resealed_manifest_with_unusable_thresholds_is_refused_with_a_message(scratch_registry, edit, message):
    v = promoted_version(scratch_registry)
    path = scratch_registry / v / "manifest.json"
    m = json.loads(path.read_text(encoding="utf-8"))
    edit(m)
    path.write_text(json.dumps(seal_manifest(m)), encoding="utf-8")
    with pytest.raises(ModelLoadError, match=re.escape(message)):
        load_model(scratch_registry / v)


# -- saving is atomic and leaves an intact version alone (acceptance defect: retraining rewrote
#    the promoted version in place; a kill part-way left it failing its checksum) ---------------


def _user_manifest(m):
    generated = {"format", "label_set", "verdicts", "categories", "score_names", "model_file", "model_sha256",
                 "model_bytes", "library_versions"}
    return {k: v for k, v in m.manifest.items() if k not in generated}


def _snapshot(d):
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(d.iterdir())}


def test_saving_an_intact_version_again_leaves_it_alone(scratch_registry):
    root = scratch_registry
    d = root / promoted_version(root)
    before = _snapshot(d)
    m = load_model(d)
    said = []
    assert save_model(m.classifier, d, {**_user_manifest(m), "created": "2099-01-01T00:00:00Z"}, "card",
                      log=said.append) == d
    assert _snapshot(d) == before
    assert len(said) == 1 and m.version in said[0] and "left unchanged" in said[0]
    assert sorted(p.name for p in root.iterdir()) == sorted(["PROMOTED", d.name])


@pytest.mark.parametrize("damage", [_zero_1000_bytes, _truncated_manifest, _manifest_only])
def test_saving_over_a_damaged_version_replaces_it(scratch_registry, damage):
    root = scratch_registry
    v = promoted_version(root)
    m = load_model(root / v)
    damage(root / v)
    said = []
    assert save_model(m.classifier, root / v, _user_manifest(m), "# Model card\n", log=said.append) == root / v
    again = load_model(root / v)
    assert again.version == v and (root / v / "README.md").read_text(encoding="utf-8") == "# Model card\n"
    assert again.classifier.predict_scores(list(STILL_SCORES)).shape[0] == len(STILL_SCORES)
    assert sorted(p.name for p in root.iterdir()) == sorted(["PROMOTED", v])
    assert any("replac" in s for s in said)


def test_save_refuses_a_folder_that_is_not_a_model_version(small_model_dir, tmp_path):
    m = load_model(small_model_dir)
    d = tmp_path / "notes"
    d.mkdir()
    (d / "メモ.txt").write_text("大切なメモ", encoding="utf-8")
    with pytest.raises(FileExistsError, match="not a model version"):
        save_model(m.classifier, d, _user_manifest(m), "card")
    assert [p.name for p in d.iterdir()] == ["メモ.txt"]


def test_a_failed_save_leaves_nothing_behind(scratch_registry, monkeypatch):
    root = scratch_registry
    v = promoted_version(root)
    m = load_model(root / v)

    def disk_full(obj, file, **kwargs):
        with open(file, "wb") as f:
            f.write(b"PK\x03\x04partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sio, "dump", disk_full)
    _zero_1000_bytes(root / v)  # damaged, so it would be replaced
    before = _snapshot(root / v)
    with pytest.raises(OSError, match="No space"):
        save_model(m.classifier, root / v, _user_manifest(m), "card")
    with pytest.raises(OSError, match="No space"):
        save_model(m.classifier, root / "m-new0000001", {**_user_manifest(m), "model_version": "m-new0000001"}, "card")
    assert _snapshot(root / v) == before
    assert sorted(p.name for p in root.iterdir()) == sorted(["PROMOTED", v])


_KILLED_SAVE = """
import os, signal, sys
from pathlib import Path
import skops.io as sio
from complaint_triage.persist import load_model, save_model

src, target = Path(sys.argv[1]), Path(sys.argv[2])
m = load_model(src)
real_dump = sio.dump

def dump_then_die(obj, file, **kwargs):
    real_dump(obj, file, **kwargs)
    data = Path(file).read_bytes()
    Path(file).write_bytes(data[: len(data) * 2 // 3])  # part-way through the file
    os.kill(os.getpid(), signal.SIGKILL)

sio.dump = dump_then_die
generated = {"format", "label_set", "verdicts", "categories", "score_names", "model_file", "model_sha256",
             "model_bytes", "library_versions"}
manifest = {k: v for k, v in m.manifest.items() if k not in generated}
manifest["model_version"] = target.name
save_model(m.classifier, target, manifest, "card")
"""


def test_a_save_killed_part_way_leaves_the_registry_intact(scratch_registry, tmp_path):
    import os
    import signal
    import subprocess
    import sys

    root = scratch_registry
    v = promoted_version(root)
    script = tmp_path / "killed_save.py"
    script.write_text(_KILLED_SAVE, encoding="utf-8")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    for target in (root / "m-new0000001", root / v):
        before = _snapshot(root / v)
        r = subprocess.run([sys.executable, str(script), str(root / v), str(target)], env=env, cwd=tmp_path,
                           capture_output=True, timeout=300)
        if target.name != v:  # a new version: killed while writing
            assert r.returncode == -signal.SIGKILL, r.stderr.decode(errors="replace")
        else:  # the promoted version again: intact, so nothing is written
            assert r.returncode == 0, r.stderr.decode(errors="replace")
        assert _snapshot(root / v) == before
        assert load_model(root / v).version == v
        assert [m["model_version"] for m in list_versions(root)] == [v]
        assert not (root / "m-new0000001").exists()
    # the next save clears what the killed process left and publishes a complete version
    m = load_model(root / v)
    new = save_model(m.classifier, root / "m-new0000001", {**_user_manifest(m), "model_version": "m-new0000001"},
                     "card")
    assert load_model(new).version == "m-new0000001"
    assert sorted(p.name for p in root.iterdir()) == sorted(["PROMOTED", v, "m-new0000001"])


def test_another_writer_publishing_while_a_damaged_version_is_replaced(scratch_registry, monkeypatch):
    """Two saves of one version over a damaged folder: the one that loses the race must not fail
    (after all the fitting) nor leave the damaged folder behind."""
    import complaint_triage.persist as persist

    root = scratch_registry
    v = promoted_version(root)
    m = load_model(root / v)
    intact = root.parent / "intact-copy"
    shutil.copytree(root / v, intact)
    _zero_1000_bytes(root / v)
    real_rename = os.rename

    def rename(src, dst):
        real_rename(src, dst)
        if str(src) == str(root / v) and ".replaced-" in str(dst):
            shutil.copytree(intact, root / v)  # the other writer publishes right now

    monkeypatch.setattr(persist.os, "rename", rename)
    said = []
    assert save_model(m.classifier, root / v, _user_manifest(m), "# Model card\n", log=said.append) == root / v
    assert load_model(root / v).version == v
    assert sorted(p.name for p in root.iterdir()) == sorted(["PROMOTED", v])
    assert any("meanwhile" in s for s in said)


def test_a_killed_save_of_one_version_is_cleared_by_any_later_write(scratch_registry):
    import subprocess

    root = scratch_registry
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    leftovers = [root / f".m-killed0001.tmp-{gone.pid}-0123abcd", root / f".m-other0002.replaced-{gone.pid}-89abcdef",
                 root / f".PROMOTED.tmp-{gone.pid}-deadbeef"]
    leftovers[0].mkdir()
    (leftovers[0] / "model.skops").write_bytes(b"half a model")
    leftovers[1].mkdir()
    leftovers[2].write_text("m-killed0001\n", encoding="utf-8")
    hours_ago = time.time() - 7200
    for p in leftovers:
        os.utime(p, (hours_ago, hours_ago))
    live = root / f".m-busy0003.tmp-{os.getpid()}-00000000"  # (this process: a write in progress)
    live.mkdir()
    # a pid this process cannot see may be a writer in another container: kept while recent
    elsewhere = root / f".m-remote0004.tmp-{gone.pid}-00c0ffee"
    elsewhere.mkdir()
    stray = root / ".notes.txt.tmp-9999999999-abcdef01"  # (no such pid can exist: never a crash)
    stray.write_text("x", encoding="utf-8")
    os.utime(stray, (hours_ago, hours_ago))
    promote(promoted_version(root), root)
    assert not any(p.exists() for p in leftovers)
    assert live.exists() and elsewhere.exists() and stray.exists()
