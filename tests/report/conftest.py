"""The report tests' fixture: every figure the plot functions save, kept open."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest

from multisc.report import plots
from multisc.runroot import RunRoot


@pytest.fixture
def captured(monkeypatch, tmp_path):
    """Every figure the plot functions save, kept open for inspection: name -> figure."""
    figures: dict[str, object] = {}

    def keep(fig, root, folder, stem, dpi=150):
        fig.canvas.draw()
        figures[stem] = fig
        names = []
        for suffix in ("png",):
            root.save_figure(fig, f"{folder}/{stem}.{suffix}", dpi=dpi)
            names.append(f"{stem}.{suffix}")
        return names

    monkeypatch.setattr(plots, "save_figure", keep)
    yield figures, RunRoot(tmp_path)
    for fig in figures.values():
        plt.close(fig)
