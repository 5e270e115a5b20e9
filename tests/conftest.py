"""Shared fixtures: a small model trained on part of the corpus, in a temporary registry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "data" / "corpus" / "handwritten.jsonl"


def load_tool(name: str):
    """A script of tools/ (not a package) imported as a module, e.g. ``load_tool("augment")``."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "tools" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"tool_{name}", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def corpus_records() -> list[dict]:
    return [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="session")
def small_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder holding a deterministic ~400-item slice of the corpus."""
    recs = corpus_records()
    by_split: dict[str, list[dict]] = {}
    for r in recs:
        by_split.setdefault(r["split"], []).append(r)
    keep = by_split["train"][:300] + by_split["dev"][:40] + by_split["test"][:80]
    d = tmp_path_factory.mktemp("data")
    (d / "corpus").mkdir()
    with (d / "corpus" / "handwritten.jsonl").open("w", encoding="utf-8") as f:
        for r in keep:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return d


@pytest.fixture(scope="session")
def small_registry(small_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model registry with one small promoted model."""
    from complaint_triage.training import train

    root = tmp_path_factory.mktemp("models")
    train(data_dir=small_data_dir, models_dir=root, n_jobs=1, params={"max_features": 50_000})
    return root


@pytest.fixture(scope="session")
def small_model_dir(small_registry: Path) -> Path:
    from complaint_triage.persist import promoted_version

    return small_registry / promoted_version(small_registry)


@pytest.fixture(scope="session")
def small_triager(small_model_dir: Path):
    from complaint_triage.scoring import Triager

    return Triager.load(small_model_dir)
