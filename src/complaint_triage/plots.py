"""Matplotlib figures for the notebooks (``pip install complaint-triage[notebooks]``).

Each function draws on the ``ax`` it is given (or a new one) and returns it; the data come
from :mod:`complaint_triage.analysis`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

__all__ = ["plot_confusion", "plot_counts", "plot_lengths", "plot_pr_curves", "plot_reliability", "plot_slice",
           "plot_tradeoff"]


def _ax(ax: Any) -> Any:
    if ax is not None:
        return ax
    try:
        import matplotlib.pyplot as plt
    except ImportError as e:  # pragma: no cover - depends on the installation
        raise ImportError("plots need matplotlib: pip install 'complaint-triage[notebooks]'") from e
    return plt.subplots(figsize=(6, 4))[1]


def plot_counts(counts: pd.Series | pd.DataFrame, *, title: str = "", ax: Any = None) -> Any:
    """A horizontal bar chart of counts (a Series, or a DataFrame stacked by column)."""
    ax = _ax(ax)
    data = counts.drop(index="All", errors="ignore")
    if isinstance(data, pd.DataFrame):
        data = data.drop(columns="All", errors="ignore")
        data.plot.barh(stacked=True, ax=ax)
    else:
        data.plot.barh(ax=ax)
    ax.invert_yaxis()
    ax.set_title(title)
    return ax


def plot_confusion(confusion: pd.DataFrame, *, title: str = "verdict confusion (rows: gold)", ax: Any = None) -> Any:
    """A confusion matrix with counts written in each cell."""
    ax = _ax(ax)
    values = confusion.to_numpy()
    ax.imshow(values, cmap="Blues")
    ax.set_xticks(range(len(confusion.columns)), list(confusion.columns))
    ax.set_yticks(range(len(confusion.index)), list(confusion.index))
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    top = values.max() if values.size else 0
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            ax.text(j, i, str(values[i, j]), ha="center", va="center",
                    color="white" if values[i, j] > top / 2 else "black")
    ax.set_title(title)
    return ax


def plot_pr_curves(curves: Mapping[str, Mapping[str, Any]], *, names: Sequence[str] | None = None,
                   title: str = "precision-recall", ax: Any = None) -> Any:
    """Precision-recall curves; a dot marks the operating point of each threshold in use."""
    import numpy as np

    ax = _ax(ax)
    for name in (list(curves) if names is None else names):
        c = curves[name]
        (line,) = ax.plot(c["recall"], c["precision"], label=f"{name} (AP {c['average_precision']:.2f})")
        if c.get("threshold") is not None and len(c["thresholds"]):
            k = min(int(np.searchsorted(c["thresholds"], c["threshold"])), len(c["thresholds"]) - 1)
            ax.plot(c["recall"][k], c["precision"][k], "o", color=line.get_color())
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize="small", loc="lower left")
    ax.set_title(title)
    return ax


def plot_reliability(reliability: pd.DataFrame, *, names: Sequence[str] | None = None,
                     title: str = "reliability (calibration)", ax: Any = None) -> Any:
    """Observed frequency against mean predicted probability, per score; the diagonal is perfect."""
    ax = _ax(ax)
    ax.plot([0, 1], [0, 1], ":", color="grey")
    for name, g in reliability.groupby("score", sort=False):
        if names is None or name in names:
            ax.plot(g["mean_predicted"], g["observed"], "o-", label=str(name), markersize=3)
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed frequency")
    ax.legend(fontsize="small")
    ax.set_title(title)
    return ax


def plot_tradeoff(curve: pd.DataFrame, *, cap: float | None = None, chosen: float | None = None,
                  title: str = "harassment threshold trade-off", ax: Any = None) -> Any:
    """Harassment recall and the complaint false-flag rate as the harassment threshold moves."""
    ax = _ax(ax)
    ax.plot(curve["threshold"], curve["harassment_recall"], label="harassment recall")
    ax.plot(curve["threshold"], curve["complaint_false_flag_rate"], label="complaints flagged (false-flag rate)")
    ax.plot(curve["threshold"], curve["harassment_precision"], ":", label="harassment precision")
    if cap is not None:
        ax.axhline(cap, color="red", linewidth=0.8, linestyle="--", label=f"cap {cap:.0%}")
    if chosen is not None:
        ax.axvline(chosen, color="black", linewidth=0.8, label=f"threshold {chosen:.3f}")
    ax.set_xlabel("harassment threshold")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize="small")
    ax.set_title(title)
    return ax


def plot_lengths(frame: pd.DataFrame, *, by: str = "verdict", bins: int = 30,
                 title: str = "message length (characters)", ax: Any = None) -> Any:
    """Histograms of message length per value of ``by`` (a frame from ``analysis.corpus_frame``)."""
    ax = _ax(ax)
    top = float(frame["length"].quantile(0.99)) if len(frame) else 1.0
    for key, g in frame.groupby(by):
        ax.hist(g["length"].clip(upper=top), bins=bins, alpha=0.5, label=str(key))
    ax.set_xlabel("characters (clipped at the 99th percentile)")
    ax.set_ylabel("messages")
    ax.legend(fontsize="small")
    ax.set_title(title)
    return ax


def plot_slice(slices: pd.DataFrame, by: str, metric: str, *, ax: Any = None) -> Any:
    """One metric per slice (a frame from ``analysis.slice_metrics``) as horizontal bars."""
    ax = _ax(ax)
    data = slices.set_index(by)[metric].dropna()
    data.plot.barh(ax=ax)
    ax.invert_yaxis()
    ax.set_xlabel(metric)
    ax.set_title(f"{metric} by {by}")
    return ax
