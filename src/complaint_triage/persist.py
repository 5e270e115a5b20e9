"""Saving and loading models: skops with an explicit trusted-type list, plus a manifest.

A model directory holds::

    model.skops     the fitted TriageClassifier (skops format, never pickle)
    manifest.json   version, label set, thresholds, data hash, library versions, metrics
    README.md       the model card

Model directories live in a registry folder (``models/`` in the repository) next to a
``PROMOTED`` file naming the version served by default.

Writes are atomic, so that a crash or ``kill -9`` at any moment leaves either the old
complete state or the new one:

* :func:`save_model` writes into a hidden temporary folder beside the version folder
  (``.<version>.tmp-<pid>-<random>``) and renames it into place.  A version folder that
  already holds an intact model of the same version is left alone (same version means
  same data and settings); a damaged one is replaced.
* :func:`promote` verifies the version completely before it rewrites ``PROMOTED``
  (through a temporary file and :func:`os.replace`), and leaves ``PROMOTED`` untouched
  when it refuses.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import platform
import re
import shutil
import time
import uuid
import warnings
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from complaint_triage.exceptions import (
    ComplaintTriageError,
    LabelSetMismatchError,
    ModelLoadError,
    ModelNotFoundError,
    SignalsChangedWarning,
    UntrustedModelError,
)
from complaint_triage.features import signals_digest
from complaint_triage.labels import CATEGORIES, LABEL_SET_ID, VERDICTS
from complaint_triage.model import BYSTANDER_RULES, SCORE_NAMES, TriageClassifier, bystander_rule

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
    "version_dir",
    "verify_version",
    "check_folder_name",
    "manifest_value",
    "library_versions",
    "MODEL_FILE",
    "MANIFEST_DIGEST",
    "seal_manifest",
    "MANIFEST_FILE",
    "CARD_FILE",
]

MODEL_FILE = "model.skops"
MANIFEST_FILE = "manifest.json"
CARD_FILE = "README.md"
PROMOTED_FILE = "PROMOTED"
MANIFEST_FORMAT = 1

_LOG = logging.getLogger("complaint_triage.persist")
#: Hidden names a write in progress uses (``.<version>.tmp-<pid>-<hex>``, ``.PROMOTED.tmp-...``)
#: or moves a damaged version to while replacing it; a killed writer's are cleared by the next write.
_TEMP = re.compile(r"\.(?P<name>.+)\.(?:tmp|replaced)-(?P<pid>\d{1,10})-[0-9a-f]{8}")
#: A dead writer's temporary entry for another name than the one being written is removed only
#: once it is this old: a pid this process cannot see may be a live writer in another container
#: sharing the registry (a save takes seconds; its files are written within them).
_STALE_AFTER_S = 3600.0


def _temp_path(root: Path, name: str, kind: str = "tmp") -> Path:
    """A hidden name in ``root`` for a write of ``name`` in progress (``tmp``) or a damaged
    version moved aside (``replaced``), of the form :data:`_TEMP` recognises."""
    return root / f".{name}.{kind}-{os.getpid()}-{uuid.uuid4().hex[:8]}"

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


def _check_version_name(version: str, root: Path) -> None:
    """Refuse a version name that is not one plain folder name inside ``root``."""
    if (not version or version.startswith(".") or any(c in version for c in ("/", "\\", "\0"))
            or Path(version).name != version):
        raise ModelNotFoundError(
            f"no model version {version!r} in {root}: a version is the name of a folder inside the registry "
            "(no '/', '\\' or leading '.'); see `complaint-triage models list`"
        )


def promoted_version(root: Path | None = None) -> str:
    """The version named by the registry's ``PROMOTED`` file.

    Raises
    ------
    ModelNotFoundError
        There is no ``PROMOTED`` file, or it does not name a folder of the registry.
    """
    root = models_root() if root is None else Path(root)
    marker = root / PROMOTED_FILE
    if not marker.is_file():
        raise ModelNotFoundError(
            f"no promoted model in {root}: run `complaint-triage train` or "
            "`complaint-triage models promote VERSION`"
        )
    version = marker.read_text(encoding="utf-8").strip()
    try:
        _check_version_name(version, root)
    except ModelNotFoundError as e:
        raise ModelNotFoundError(
            f"{marker} names {version!r}, which is not a version folder of the registry; "
            "run `complaint-triage models promote VERSION`"
        ) from e
    return version


class _ManifestError(ValueError):
    """Why a manifest file cannot be used (a short reason, without its path)."""


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise _ManifestError(f"is not UTF-8 text ({e.reason} at byte {e.start})") from e
    except json.JSONDecodeError as e:
        raise _ManifestError(f"is not valid JSON ({e})") from e
    except OSError as e:
        raise _ManifestError(f"could not be read ({e.strerror or type(e).__name__})") from e
    if not isinstance(manifest, dict):
        raise _ManifestError(f"is not a JSON object (it holds a {type(manifest).__name__})")
    return manifest


#: Manifest key of the manifest's own digest (see :func:`seal_manifest`).
MANIFEST_DIGEST = "manifest_sha256"


def _sealed_body(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """What the digest covers: every key but the digest itself and the ``_`` ones."""
    return {k: v for k, v in manifest.items() if k != MANIFEST_DIGEST and not k.startswith("_")}


def _manifest_digest(manifest: Mapping[str, Any]) -> str:
    text = json.dumps(_sealed_body(manifest), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def seal_manifest(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """``manifest`` with its own digest under :data:`MANIFEST_DIGEST` (keys starting with ``_``
    left out), so that loading can tell a manifest edited after it was saved: thresholds or
    metrics changed by hand would otherwise be served under the old version's name."""
    body = _sealed_body(manifest)
    return {**body, MANIFEST_DIGEST: _manifest_digest(body)}


def _check_seal(manifest: Mapping[str, Any]) -> None:
    """Raise :class:`_ManifestError` when a manifest has no digest or no longer matches it.  (One
    without a digest was once let through as saved before manifests were sealed; deleting the
    digest then let a hand-edited threshold load under the old version's name.)"""
    want = manifest.get(MANIFEST_DIGEST)
    if want is None:
        raise _ManifestError(
            f"has no {MANIFEST_DIGEST}, so whether it was changed after saving cannot be told (it was removed, "
            "or the file predates sealed manifests): restore the file, or retrain (complaint-triage train)"
        )
    if want != _manifest_digest(manifest):
        raise _ManifestError(
            f"was changed after it was saved (its {MANIFEST_DIGEST} no longer matches): a version's thresholds "
            "and metrics are fixed; restore the file, or save other thresholds as a new version "
            "(complaint_triage.versions.write_threshold_variant, notebooks/03-thresholds.ipynb)"
        )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _manifest_problem(manifest: Mapping[str, Any]) -> str | None:
    """What is wrong with the version name or the thresholds a model is scored with, or None."""
    version = manifest.get("model_version")
    if not isinstance(version, str) or not version.strip():
        return f"has model_version {version!r}, not a version name"
    th = manifest.get("thresholds")
    if not isinstance(th, dict):
        return f"has thresholds of type {type(th).__name__}, not an object"
    for key in ("harassment", "review_low", "review_high", "grievance"):
        if not _is_number(th.get(key)):
            return f"has thresholds.{key} {th.get(key)!r}, not a number" if key in th else f"lacks thresholds.{key}"
    for key in ("category_relative", "bystander_discount"):
        if key in th and not _is_number(th[key]):
            return f"has thresholds.{key} {th[key]!r}, not a number"
    cats = th.get("categories")
    if not isinstance(cats, dict):
        return "lacks thresholds.categories (an object with a threshold for each category)"
    for c in CATEGORIES:
        if not _is_number(cats.get(c)):
            return f"has thresholds.categories.{c} {cats.get(c)!r}, not a number"
    return None


def list_versions(root: Path | None = None) -> list[dict[str, Any]]:
    """Manifests of every model version in the registry, oldest first.

    Each manifest gets ``_dir``, its folder.  A folder whose manifest cannot be read (not
    UTF-8, not JSON, not an object, no ``model_version``) or is missing beside a model file
    is listed too, as ``{"model_version": <folder name>, "_dir": ..., "_unreadable": <reason>}``,
    and so is a folder whose manifest names another version (a renamed or copied folder, which
    cannot be served under its name; also ``"_manifest_version"``: the name its manifest gives)
    and a version that ``PROMOTED`` names but that has no folder: one damaged version
    neither hides the others nor stops the listing.  Model files are not checked here
    (:func:`verify_version` does that).
    """
    root = models_root() if root is None else Path(root)
    out = []
    dirs = ([p for p in root.iterdir() if not p.name.startswith(".")
             and ((p / MANIFEST_FILE).is_file() or (p / MODEL_FILE).is_file())]
            if root.is_dir() else [])
    for d in sorted(dirs):
        if not (d / MANIFEST_FILE).is_file():
            out.append({"model_version": d.name, "_dir": str(d), "_unreadable": f"{MANIFEST_FILE} is missing"})
            continue
        try:
            m = _read_manifest(d / MANIFEST_FILE)
            if not isinstance(m.get("model_version"), str) or not m["model_version"]:
                raise _ManifestError("has no model_version")
            _check_seal(m)
        except _ManifestError as e:
            out.append({"model_version": d.name, "_dir": str(d), "_unreadable": f"{MANIFEST_FILE} {e}"})
            continue
        if m["model_version"] != d.name:  # (a renamed or copied folder: it cannot be served under its name)
            out.append({"model_version": d.name, "_dir": str(d), "_manifest_version": m["model_version"],
                        "_unreadable": f"{MANIFEST_FILE} {_names_another(m['model_version'], d.name)}"})
            continue
        m["_dir"] = str(d)
        out.append(m)
    try:
        promoted = promoted_version(root)
    except (OSError, ValueError):  # none promoted, or a PROMOTED file that cannot be read or names no plain folder
        promoted = None
    if promoted is not None and not any(d.name == promoted for d in dirs):
        gone = "does not exist" if not (root / promoted).is_dir() else f"has no {MANIFEST_FILE}"
        out.append({"model_version": promoted, "_dir": str(root / promoted),
                    "_unreadable": f"named in {PROMOTED_FILE}, but {root / promoted} {gone}"})
    return sorted(out, key=lambda m: (str(m.get("created") or ""), m["model_version"]))


def _known(root: Path) -> str:
    return ", ".join(m["model_version"] + (" (unreadable)" if "_unreadable" in m else "")
                     for m in list_versions(root)) or "none"


def version_dir(version: str, root: Path | None = None) -> Path:
    """The folder of ``version`` in the registry (it has a manifest; nothing else is checked).

    Raises
    ------
    ModelNotFoundError
        ``version`` is not a plain folder name (``/``, ``\\``, ``..``, a leading ``.``) or
        has no manifest in the registry; the message lists the known versions.
    """
    root = models_root() if root is None else Path(root)
    try:
        _check_version_name(version, root)
    except ModelNotFoundError as e:
        raise ModelNotFoundError(f"{e}; known versions: {_known(root)}") from e
    d = root / version
    if not (d / MANIFEST_FILE).is_file():
        raise ModelNotFoundError(f"no model version {version!r} in {root}; known versions: {_known(root)}")
    return d


def verify_version(version: str, root: Path | None = None) -> LoadedModel:
    """Load ``version`` of the registry completely, as serving it would.

    Checks the name (:func:`version_dir`), the manifest (readable, this library's label
    set, naming this version), the model file (present, matching its checksum, only
    :data:`TRUSTED` types) and that it loads as a :class:`TriageClassifier`.

    Raises
    ------
    ModelNotFoundError, ModelLoadError, UntrustedModelError, LabelSetMismatchError
        As :func:`load_model`; also ``ModelLoadError`` when the manifest names another version.
    """
    return _verify_dir(version_dir(version, root), version)


def _names_another(named: str, version: str) -> str:
    """What is wrong with a manifest naming version ``named`` in the folder ``version`` (said after its path)."""
    return (f"names version {named!r}, not {version!r} (a renamed or copied folder); give the folder its "
            "manifest's name or retrain")


def _verify_dir(d: Path, version: str) -> LoadedModel:
    """:func:`verify_version` of the version folder ``d``, already resolved."""
    loaded = load_model(d)
    if loaded.version != version:
        raise ModelLoadError(f"{d / MANIFEST_FILE} {_names_another(loaded.version, version)}")
    return loaded


def check_folder_name(d: Path | str) -> None:
    """Raise :class:`ModelLoadError` when the version folder ``d`` holds a manifest naming another
    version (a renamed or copied folder: its card and thresholds are another version's).

    A manifest that cannot be read, or names no version, is left to the callers that read it
    (:func:`list_versions` says why, :func:`load_model` refuses it).
    """
    d = Path(d)
    try:
        named = _read_manifest(d / MANIFEST_FILE).get("model_version")
    except _ManifestError:
        return
    if isinstance(named, str) and named and named != d.name:
        raise ModelLoadError(f"{d / MANIFEST_FILE} {_names_another(named, d.name)}")


def manifest_value(manifest: Mapping[str, Any], dotted: str) -> Any:
    """``manifest["a"]["b"]`` for ``"a.b"``, or ``None`` where a level is missing or not an object."""
    cur: Any = manifest
    for part in dotted.split("."):
        if not isinstance(cur, Mapping) or part not in cur:
            return None
        cur = cur[part]
    return cur


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot sync a directory; the rename is still atomic
        pass
    finally:
        os.close(fd)


def promote(version: str, root: Path | None = None) -> Path:
    """Make ``version`` the default model of the registry, after verifying it completely.

    The version must pass :func:`verify_version`.  ``PROMOTED`` is then rewritten
    atomically (a temporary file renamed over it), so readers see the old name or the new
    one, never a partial file.  A refused promotion leaves ``PROMOTED`` untouched.

    Raises
    ------
    ModelNotFoundError
        No such version folder in the registry, or the name points outside it.
    ModelLoadError, UntrustedModelError, LabelSetMismatchError
        The version is damaged or not loadable by this library; nothing was changed.
    """
    root = models_root() if root is None else Path(root)
    d = version_dir(version, root)
    try:
        _verify_dir(d, version)
    except (ModelNotFoundError, ModelLoadError, UntrustedModelError, LabelSetMismatchError) as e:
        raise type(e)(f"refused to promote {version}: {e} ({PROMOTED_FILE} was not changed)") from e
    _clear_stale_temps(root, PROMOTED_FILE)
    tmp = _temp_path(root, PROMOTED_FILE)
    try:
        _write_file(tmp, version + "\n")
        os.replace(tmp, root / PROMOTED_FILE)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(root)
    return d


def _intact(directory: Path, version: Any) -> LoadedModel | None:
    """The model in ``directory`` if it loads and is ``version``, else ``None`` (damaged)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SignalsChangedWarning)
            loaded = load_model(directory)
    except ComplaintTriageError:
        return None
    return loaded if version is not None and loaded.version == version else None


def _clear_stale_temps(root: Path, name: str) -> None:
    """Remove the temporary files and folders left in ``root`` by writers that no longer run:
    those for ``name`` (being written now) at once, those for any other name once they are
    :data:`_STALE_AFTER_S` old (a killed save of one version is cleared by a later save or
    promotion of any other: versions come from the data, so the same one may never be saved
    again; the age keeps a writer in another container, whose pid is invisible here, safe)."""
    now = time.time()
    for p in root.iterdir():
        match = _TEMP.fullmatch(p.name)
        if match is None:
            continue
        pid = int(match["pid"])
        if pid == os.getpid():
            continue
        try:
            if match["name"] != name and now - p.lstat().st_mtime < _STALE_AFTER_S:
                continue
            os.kill(pid, 0)
        except ProcessLookupError:  # the writer is gone (killed part-way)
            _remove(p)
        except (OSError, OverflowError, ValueError):  # alive (another user's), vanished, or no pid
            continue


def _write_file(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def save_model(
    classifier: TriageClassifier,
    directory: Path,
    manifest: Mapping[str, Any],
    card: str,
    *,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Write ``model.skops``, ``manifest.json`` and the card as the version folder ``directory``.

    The files are written into a hidden temporary folder beside ``directory``, synced, and
    renamed into place, so a crash or ``kill -9`` at any moment leaves either the old
    folder or the new complete one (never a half-written model).

    If ``directory`` already holds an intact model of the same ``model_version`` (it loads
    and matches its checksum), it is left unchanged and returned: the version name is
    derived from the data and settings, so it is the same model, and rewriting it would
    change its file checksum and ``created`` under a server that may be using it.  A
    damaged folder of the same name (or one holding another version) is replaced; for the
    instant between moving it aside and renaming the new one in, neither is at
    ``directory`` (the damaged one could not be served anyway).

    Parameters
    ----------
    log : callable, default=None
        Called with one line when an intact version is left unchanged or a damaged one is
        replaced (also logged on the ``complaint_triage.persist`` logger).

    Raises
    ------
    FileExistsError
        ``directory`` exists but holds files other than a model version's; nothing is changed.
    """
    import skops.io as sio

    directory = Path(directory)
    version = manifest.get("model_version")

    def say(msg: str) -> None:
        _LOG.info(msg)
        if log is not None:
            log(msg)

    if directory.exists() or directory.is_symlink():
        if _intact(directory, version) is not None:
            say(f"model version {version} is already saved and intact in {directory}; left unchanged")
            return directory
        if not directory.is_dir():
            raise FileExistsError(f"{directory} exists and is not a model version folder; "
                                  "remove it or save the model elsewhere")
        extra = sorted(p.name for p in directory.iterdir() if p.name not in (MODEL_FILE, MANIFEST_FILE, CARD_FILE))
        if extra:
            raise FileExistsError(
                f"{directory} exists and is not a model version folder (it holds {len(extra)} other "
                f"file(s)); save the model into a new folder"
            )
    root = directory.parent
    root.mkdir(parents=True, exist_ok=True)
    _clear_stale_temps(root, directory.name)
    tmp = _temp_path(root, directory.name)
    tmp.mkdir()
    try:
        model_path = tmp / MODEL_FILE
        sio.dump(classifier, model_path, compression=zipfile.ZIP_DEFLATED, compresslevel=6)
        with model_path.open("rb") as f:
            os.fsync(f.fileno())
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
        _write_file(tmp / MANIFEST_FILE, json.dumps(seal_manifest(full), ensure_ascii=False, indent=2) + "\n")
        _write_file(tmp / CARD_FILE, card)
        _fsync_dir(tmp)
        _publish(tmp, directory, version, say)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_dir(root)
    return directory


def _publish(tmp: Path, final: Path, version: Any, say: Callable[[str], None]) -> None:
    """Rename the complete folder ``tmp`` to ``final``; a damaged ``final`` is moved aside first."""
    try:
        os.rename(tmp, final)  # atomic; refuses to replace a folder that is not empty
        return
    except OSError:
        if not (final.exists() or final.is_symlink()):
            raise
    if _intact(final, version) is not None:  # saved meanwhile by another process
        shutil.rmtree(tmp, ignore_errors=True)
        say(f"model version {version} was saved meanwhile in {final}; left unchanged")
        return
    aside: Path | None = _temp_path(final.parent, final.name, "replaced")
    try:
        os.rename(final, aside)
    except FileNotFoundError:  # another writer moved it aside meanwhile
        aside = None
    try:
        os.rename(tmp, final)
    except OSError:
        if _intact(final, version) is not None:  # another writer published it meanwhile
            shutil.rmtree(tmp, ignore_errors=True)
            _remove(aside)
            say(f"model version {version} was saved meanwhile in {final}; left unchanged")
            return
        if aside is not None and not final.exists():
            os.rename(aside, final)
        raise
    except BaseException:
        if aside is not None and not final.exists():
            os.rename(aside, final)
        raise
    say(f"replaced the damaged model folder {final}")
    _remove(aside)


def _remove(path: Path | None) -> None:
    if path is None:
        return
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


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
        manifest = _read_manifest(manifest_path)
    except _ManifestError as e:
        raise ModelLoadError(f"manifest {manifest_path} {e}; retrain or restore it") from e
    if manifest.get("label_set") != LABEL_SET_ID:
        raise LabelSetMismatchError(
            f"model at {d} was built for label set {manifest.get('label_set')!r}, but this library uses "
            f"{LABEL_SET_ID!r}; retrain it with `complaint-triage train`"
        )
    for key in ("thresholds", "model_version", "model_sha256"):
        if key not in manifest:
            raise ModelLoadError(f"manifest {manifest_path} lacks {key!r}; retrain the model")
    try:
        _check_seal(manifest)
    except _ManifestError as e:
        raise ModelLoadError(f"manifest {manifest_path} {e}") from e
    problem = _manifest_problem(manifest)
    if problem is not None:
        raise ModelLoadError(f"manifest {manifest_path} {problem}; retrain the model or restore the file")
    rule = bystander_rule(manifest["thresholds"])
    if rule not in BYSTANDER_RULES:
        raise ModelLoadError(
            f"manifest {manifest_path} has bystander_rule {rule!r}, which this version of complaint-triage "
            f"does not know (it knows {', '.join(BYSTANDER_RULES)}); upgrade complaint-triage or retrain the model"
        )
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
