"""The analysts' notebooks: committed without outputs, and each runs top to bottom in QUICK mode."""

import json
import shutil
from pathlib import Path

import pytest

from complaint_triage.versions import copy_version

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
EXPECTED = [
    "01-explore-corpus",
    "02-train-and-evaluate",
    "03-thresholds",
    "04-error-analysis",
    "05-corrections-and-retrain",
]
#: Appended to each notebook's parameters cell, as papermill would inject them.
QUICK_PARAMS = ("\n# injected by tests/test_notebooks.py\n"
                "QUICK = True\nSAMPLE_SIZE = 200\nN_JOBS = 1\nWORK_DIR = {work!r}\n")
#: Something each notebook must print or show when it reached its end.
LAST_WORDS = {
    "01-explore-corpus": "lawful_escalation",
    "02-train-and-evaluate": "Changes from the previous version",
    "03-thresholds": "new version m-",
    "04-error-analysis": "p_harassment",
    "05-corrections-and-retrain": "corrections exported to",
}


def _committed() -> list[Path]:
    return sorted(NOTEBOOK_DIR.glob("*.ipynb"))


def test_every_notebook_is_there():
    assert [p.stem for p in _committed()] == EXPECTED


@pytest.mark.parametrize("path", _committed(), ids=lambda p: p.stem)
def test_committed_notebook_has_no_outputs(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    dirty = [i for i, c in enumerate(nb["cells"])
             if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, f"{path.name}: cells {dirty} have outputs or execution counts; strip them before committing"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert "parameters" in code[0].get("metadata", {}).get("tags", []), "the first code cell must be the parameters"
    assert "QUICK = False" in "".join(code[0]["source"])


def kernel_env(monkeypatch, data: Path, registry: Path, feedback_db: Path) -> None:
    """The environment a notebook's kernel inherits: library defaults point at scratch copies."""
    monkeypatch.setenv("COMPLAINT_TRIAGE_DATA_DIR", str(data))
    monkeypatch.setenv("COMPLAINT_TRIAGE_MODELS_DIR", str(registry))
    monkeypatch.setenv("COMPLAINT_TRIAGE_FEEDBACK_DB", str(feedback_db))
    monkeypatch.delenv("COMPLAINT_TRIAGE_MODEL", raising=False)
    monkeypatch.setenv("MPLBACKEND", "agg")
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def defaults(small_data_dir, small_model_dir, tmp_path_factory):
    """Scratch copies standing in for the repository's data/ and models/ (the notebooks' defaults)."""
    base = tmp_path_factory.mktemp("notebook-defaults")
    data = base / "data"
    shutil.copytree(small_data_dir, data)
    registry = base / "models"
    copy_version(small_model_dir, registry, make_promoted=True)
    return data, registry


@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_runs(name, defaults, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("matplotlib")

    data, registry = defaults
    # the kernel inherits this environment: library defaults point at scratch copies, never the repository
    kernel_env(monkeypatch, data, registry, tmp_path / "default-feedback.sqlite3")
    before = {"data": _snapshot(data), "models": _snapshot(registry)}

    nb = nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    work = tmp_path / "work"
    params.source += QUICK_PARAMS.format(work=str(work))
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, with the traceback, if a cell fails

    outputs = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            assert out.output_type != "error"
            outputs.append(out.get("text", "") + "".join(str(v) for v in out.get("data", {}).values()))
    assert LAST_WORDS[name] in "\n".join(outputs)
    # nothing written to the defaults (the stand-ins for data/ and models/); everything went to WORK_DIR
    assert {"data": _snapshot(data), "models": _snapshot(registry)} == before
    assert work.is_dir()


def test_threshold_notebook_starts_from_the_models_own_validation_data(small_model_dir, small_data_dir):
    """Notebook 03's validation scores reproduce the model's thresholds at the model's own cap."""
    from complaint_triage import analysis
    from complaint_triage.persist import load_model

    model = load_model(small_model_dir)
    validation = analysis.validation_scores(model, data_dir=small_data_dir)
    cap = model.thresholds["max_false_flag_rate"]
    assert analysis.thresholds_for_cap(validation, cap) == model.thresholds
