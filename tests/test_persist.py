import json
import shutil
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
from complaint_triage.persist import TRUSTED, list_versions, load_model, promote, promoted_version


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
    (copy_dir / "manifest.json").write_text(json.dumps(m), encoding="utf-8")
    with pytest.raises(LabelSetMismatchError, match="retrain"):
        load_model(copy_dir)


def _set_signals_digest(d, digest):
    m = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
    if digest is None:
        m.pop("signals_sha256", None)
    else:
        m["signals_sha256"] = digest
    (d / "manifest.json").write_text(json.dumps(m), encoding="utf-8")


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
    (d / "manifest.json").write_text(json.dumps(m), encoding="utf-8")
