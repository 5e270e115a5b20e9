"""Saving and loading models: skops with an explicit trusted-type list, plus a manifest.

A model directory holds::

    model.skops     the fitted TriageClassifier (skops format, never pickle)
    manifest.json   version, label set, thresholds, data hash, library versions, metrics
    README.md       the model card

Model directories live in a registry folder (``models/`` in the repository) next to a
``PROMOTED`` file naming the version served by default.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from complaint_triage.exceptions import (
    LabelSetMismatchError,
    ModelLoadError,
    ModelNotFoundError,
    SignalsChangedWarning,
    UntrustedModelError,
)
from complaint_triage.features import signals_digest
from complaint_triage.labels import CATEGORIES, LABEL_SET_ID, VERDICTS
from complaint_triage.model import SCORE_NAMES, TriageClassifier

__all__ = [
    "TRUSTED",
    "file_sha256",
    "LoadedModel",
    "save_model",
    "load_model",
    "models_root",
    "promoted_version",
    "list_versions",
    "promote",
    "library_versions",
    "MODEL_FILE",
    "MANIFEST_FILE",
    "CARD_FILE",
]

MODEL_FILE = "model.skops"
MANIFEST_FILE = "manifest.json"
CARD_FILE = "README.md"
PROMOTED_FILE = "PROMOTED"
MANIFEST_FORMAT = 1

#: Every non-builtin type a saved TriageClassifier contains.  Anything else is refused.
TRUSTED: list[str] = [
    "complaint_triage.model.TriageClassifier",
    "complaint_triage.features.TextFeaturizer",
    "complaint_triage.tokenizer.JapaneseTokenizer",
]


@dataclass(frozen=True)
class LoadedModel:
    """A classifier with the manifest it was saved with."""

    classifier: TriageClassifier
    manifest: dict[str, Any]
    path: Path

    @property
    def version(self) -> str:
        return str(self.manifest["model_version"])

    @property
    def thresholds(self) -> dict[str, Any]:
        return dict(self.manifest["thresholds"])

    @property
    def signals_current(self) -> bool:
        """Whether the model was trained with this library's signal patterns (``signals_sha256``
        in its manifest).  Manifests older than the digest count as current."""
        recorded = self.manifest.get("signals_sha256")
        return recorded is None or recorded == signals_digest()


def library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("complaint-triage", "scikit-learn", "numpy", "scipy", "fugashi", "unidic-lite", "skops"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "unknown"
    return out


def file_sha256(path: Path) -> str:
    """SHA-256 hex digest of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def models_root() -> Path:
    """The model registry folder.

    ``$COMPLAINT_TRIAGE_MODELS_DIR`` if set, else the repository's ``models/`` (editable
    installs), else the copy packaged inside the wheel.
    """
    env = os.environ.get("COMPLAINT_TRIAGE_MODELS_DIR")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[2]
    if (repo / "pyproject.toml").is_file() and (repo / "models").is_dir():
        return repo / "models"
    return Path(__file__).resolve().parent / "_models"


def promoted_version(root: Path | None = None) -> str:
    root = models_root() if root is None else Path(root)
    marker = root / PROMOTED_FILE
    if not marker.is_file():
        raise ModelNotFoundError(
            f"no promoted model in {root}: run `complaint-triage train` or "
            "`complaint-triage models promote VERSION`"
        )
    return marker.read_text(encoding="utf-8").strip()


def list_versions(root: Path | None = None) -> list[dict[str, Any]]:
    """Manifests of every model version in the registry, oldest first."""
    root = models_root() if root is None else Path(root)
    out = []
    dirs = ([p for p in root.iterdir() if not p.name.startswith(".") and (p / MANIFEST_FILE).is_file()]
            if root.is_dir() else [])
    for d in sorted(dirs):
        m = json.loads((d / MANIFEST_FILE).read_text(encoding="utf-8"))
        m["_dir"] = str(d)
        out.append(m)
    return sorted(out, key=lambda m: (m.get("created", ""), m["model_version"]))


def promote(version: str, root: Path | None = None) -> Path:
    """Make ``version`` the default model of the registry."""
    root = models_root() if root is None else Path(root)
    d = root / version
    if not (d / MANIFEST_FILE).is_file():
        known = ", ".join(m["model_version"] for m in list_versions(root)) or "none"
        raise ModelNotFoundError(f"no model version {version!r} in {root}; known versions: {known}")
    tmp = root / (PROMOTED_FILE + ".tmp")
    tmp.write_text(version + "\n", encoding="utf-8")
    os.replace(tmp, root / PROMOTED_FILE)
    return d


def save_model(classifier: TriageClassifier, directory: Path, manifest: Mapping[str, Any], card: str) -> Path:
    """Write ``model.skops``, ``manifest.json`` and the card into ``directory``."""
    import skops.io as sio

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model_path = directory / MODEL_FILE
    sio.dump(classifier, model_path, compression=zipfile.ZIP_DEFLATED, compresslevel=6)
    full = {
        "format": MANIFEST_FORMAT,
        "label_set": LABEL_SET_ID,
        "verdicts": list(VERDICTS),
        "categories": list(CATEGORIES),
        "score_names": list(SCORE_NAMES),
        **manifest,
        "model_file": MODEL_FILE,
        "model_sha256": file_sha256(model_path),
        "model_bytes": model_path.stat().st_size,
        "library_versions": library_versions(),
    }
    (directory / MANIFEST_FILE).write_text(json.dumps(full, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    (directory / CARD_FILE).write_text(card, encoding="utf-8")
    return directory


def _resolve(path: Path | str | None) -> Path:
    if path is None:
        env = os.environ.get("COMPLAINT_TRIAGE_MODEL") or os.environ.get("COMPLAINT_TRIAGE_MODEL_PATH")
        if env:
            path = env
        else:
            root = models_root()
            return root / promoted_version(root)
    p = Path(path)
    if p.is_file() and p.name == MODEL_FILE:
        p = p.parent
    return p


def load_model(path: Path | str | None = None) -> LoadedModel:
    """Load a model directory (default: the promoted version of the registry).

    Raises
    ------
    ModelNotFoundError
        The directory, its manifest or its model file is missing.
    ModelLoadError
        The manifest or model file is corrupt, or the file does not match the manifest.
    UntrustedModelError
        The file contains types outside :data:`TRUSTED`.
    LabelSetMismatchError
        The model was built for another label set.
    """
    import skops.io as sio

    d = _resolve(path)
    manifest_path, model_path = d / MANIFEST_FILE, d / MODEL_FILE
    if not manifest_path.is_file() or not model_path.is_file():
        raise ModelNotFoundError(
            f"no model at {d} (needs {MANIFEST_FILE} and {MODEL_FILE}); "
            "train one with `complaint-triage train` or pass an existing model directory"
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelLoadError(f"manifest {manifest_path} is not valid JSON ({e}); retrain or restore it") from e
    if manifest.get("label_set") != LABEL_SET_ID:
        raise LabelSetMismatchError(
            f"model at {d} was built for label set {manifest.get('label_set')!r}, but this library uses "
            f"{LABEL_SET_ID!r}; retrain it with `complaint-triage train`"
        )
    for key in ("thresholds", "model_version", "model_sha256"):
        if key not in manifest:
            raise ModelLoadError(f"manifest {manifest_path} lacks {key!r}; retrain the model")
    if file_sha256(model_path) != manifest["model_sha256"]:
        raise ModelLoadError(
            f"{model_path} does not match the checksum in its manifest (corrupt or replaced); "
            "restore the file or retrain"
        )
    try:
        untrusted = sio.get_untrusted_types(file=model_path)
    except (zipfile.BadZipFile, OSError, ValueError, KeyError, json.JSONDecodeError) as e:
        raise ModelLoadError(f"{model_path} is not a readable skops file ({e})") from e
    extra = sorted(set(untrusted) - set(TRUSTED))
    if extra:
        raise UntrustedModelError(
            f"{model_path} contains types that are not trusted: {', '.join(extra)}. "
            "Only load models built by complaint-triage; retrain from data if in doubt."
        )
    try:
        clf = sio.load(model_path, trusted=TRUSTED)
    except Exception as e:  # skops raises many kinds of errors for damaged files
        raise ModelLoadError(f"{model_path} could not be loaded ({type(e).__name__}: {e})") from e
    if not isinstance(clf, TriageClassifier):
        raise UntrustedModelError(f"{model_path} holds a {type(clf).__name__}, not a TriageClassifier")
    loaded = LoadedModel(clf, manifest, d)
    if not loaded.signals_current:
        warnings.warn(
            f"model {loaded.version} was trained with other signal patterns (digest "
            f"{manifest['signals_sha256']}) than this version of complaint-triage ({signals_digest()}): "
            "it scores, but not exactly as its recorded metrics say; retrain it (complaint-triage train) "
            "or use the library version it was trained with",
            SignalsChangedWarning,
            stacklevel=2,
        )
    return loaded
