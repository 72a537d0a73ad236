"""The window's plots (pyqtgraph): the three dimensions against time, and the valence-activation plane."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph
from PySide6.QtGui import QColor

from app.engine.categories import CATEGORIES
from app.engine.streaming import DIMENSIONS, Prediction

pyqtgraph.setConfigOptions(background="w", foreground="k", antialias=False)
COLOURS = {"activation": "#d62728", "valence": "#2ca02c", "dominance": "#1f77b4"}
TRAIL_COLOUR = (31, 119, 180)
# Opaque lines at these levels instead of pyqtgraph's grid, whose translucent lines were replayed on every
# repaint: a third of the time plots' painting live (benchmarks/desktop_app.py --profile)
REFERENCE_LEVELS = (-0.5, 0.0, 0.5)


def _columns(predictions: Sequence[Prediction]) -> np.ndarray:
    """(4, n) array: time and the three dimensions."""
    return np.array(predictions, np.float64).reshape(-1, 4).T


class TimePlots(pyqtgraph.GraphicsLayoutWidget):
    """Activation, valence and dominance against time, one plot each; gated hops (NaN) are gaps."""

    def __init__(self):
        super().__init__()
        self.curves: dict[str, pyqtgraph.PlotDataItem] = {}
        for row, name in enumerate(DIMENSIONS):
            plot = self.addPlot(row=row, col=0)
            plot.setYRange(-1, 1, padding=0.05)
            plot.setLabel("left", name)
            for level in REFERENCE_LEVELS:
                plot.addItem(pyqtgraph.InfiniteLine(level, angle=0, pen=pyqtgraph.mkPen("#dddddd")))
            plot.setMouseEnabled(x=False, y=False)
            plot.hideButtons()
            if row:
                plot.setXLink(self.getItem(0, 0))
            self.curves[name] = plot.plot(pen=pyqtgraph.mkPen(COLOURS[name], width=2))
        plot.setLabel("bottom", "time (s)")

    def set_trajectory(self, predictions: Sequence[Prediction], span: float | None = None) -> None:
        """Plots `predictions` (time order); the x axis shows the last `span` seconds, or all of them."""
        columns = _columns(predictions)
        for name, values in zip(DIMENSIONS, columns[1:]):
            self.curves[name].setData(columns[0], values, connect="finite")
        end = float(columns[0, -1]) if len(predictions) else 0.0
        start = max(0.0, end - span) if span else 0.0
        self.getItem(0, 0).setXRange(start, max(end, start + (span or 1.0)), padding=0)

    def points(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """The (times, values) plotted for one dimension."""
        times, values = self.curves[name].getData()
        return (np.zeros(0), np.zeros(0)) if times is None else (times, values)


class PlanePlot(pyqtgraph.PlotWidget):
    """Valence (x) against activation (y): the categories of the table, the newest estimate and a
    trail of the previous ones that fades with age."""

    def __init__(self):
        super().__init__()
        self.setRange(xRange=(-1, 1), yRange=(-1, 1), padding=0.05)
        self.setAspectLocked(True)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        self.setLabel("bottom", "valence")
        self.setLabel("left", "activation")
        self.showGrid(x=True, y=True, alpha=0.3)
        anchors = [(valence, activation) for valence, activation, _ in CATEGORIES.values()]
        self.addItem(pyqtgraph.ScatterPlotItem(pos=anchors, size=7, brush="#999999", pen=None))
        for name, (x, y) in zip(CATEGORIES, anchors):
            label = pyqtgraph.TextItem(name, color="#666666", anchor=(0.5, 1.2))
            label.setPos(x, y)
            self.addItem(label)
        self.trail = pyqtgraph.ScatterPlotItem(size=8, pen=None)
        self.current = pyqtgraph.ScatterPlotItem(size=18, brush="#d62728", pen=pyqtgraph.mkPen("k"))
        self.addItem(self.trail)
        self.addItem(self.current)

    def set_trajectory(self, predictions: Sequence[Prediction]) -> None:
        """The last of `predictions` as the current point, the others as the trail (oldest faintest);
        gated hops are left out, and there is no current point while the newest is gated."""
        columns = _columns(predictions)
        alphas = np.linspace(20, 200, columns.shape[1])
        keep = ~np.isnan(columns[1])
        keep_trail = keep.copy()
        keep_trail[-1:] = False
        self.trail.setData(x=columns[2, keep_trail], y=columns[1, keep_trail],
                           brush=[QColor(*TRAIL_COLOUR, int(a)) for a in alphas[keep_trail]])
        newest = keep[-1:].any()
        self.current.setData(x=columns[2, -1:] if newest else [], y=columns[1, -1:] if newest else [])
