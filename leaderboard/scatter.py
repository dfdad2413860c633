"""Geometry of the safety-utility scatter (inline SVG): ASR against benign acceptance or utility.

Only numbers are computed here; the template writes the SVG elements, so every label goes through autoescape.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from leaderboard.table import Entry

# Colour-blind-safe palette (Okabe-Ito), one colour per model.
PALETTE: tuple[str, ...] = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")


@dataclass(frozen=True)
class Point:
    label: str  # defense
    model: str
    colour: str
    cx: float
    cy: float
    x_err: tuple[float, float]  # pixel span of the x interval
    y_err: tuple[float, float]
    title: str  # tooltip text
    baseline: bool
    label_x: float
    label_y: float
    anchor: str  # text-anchor of the label, so labels near the right edge stay inside the plot


@dataclass(frozen=True)
class Scatter:
    x_metric: str  # "bar" or "utility"
    x_label: str
    width: int
    height: int
    left: int
    top: int
    plot_w: int
    plot_h: int
    points: list[Point]
    ticks: list[tuple[float, str]]  # fraction in [0, 1], label
    legend: list[tuple[str, str]]  # model, colour
    labelled: bool = True  # text labels next to points (off when there are too many to read)

    def x(self, frac: float) -> float:
        return self.left + frac * self.plot_w

    def y(self, frac: float) -> float:
        return self.top + (1 - frac) * self.plot_h


MAX_LABELLED = 12  # beyond this many points, labels overlap into a blot: tooltips only


def scatter(entries: Sequence[Entry], x_metric: str, x_label: str, *, width: int = 560,
            height: int = 380) -> Scatter | None:
    """None when no entry has both an ASR and the x metric."""
    left, top, right, bottom = 56, 16, 16, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    models = sorted({e.model for e in entries})
    colours = {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(models)}
    shell = Scatter(x_metric, x_label, width, height, left, top, plot_w, plot_h, [], [], [])
    points: list[Point] = []
    for e in entries:
        if e.overall is None:
            continue
        xr, yr = e.overall.metric(x_metric), e.overall.asr
        if xr.value is None or yr.value is None:
            continue
        cx, cy = shell.x(xr.value), shell.y(yr.value)
        right = cx > left + 0.75 * plot_w
        points.append(Point(
            label=e.defense, model=e.model, colour=colours[e.model], cx=cx, cy=cy,
            x_err=(shell.x(xr.low or 0.0), shell.x(xr.high or 0.0)),
            y_err=(shell.y(yr.low or 0.0), shell.y(yr.high or 0.0)),
            title=(f"{e.model} / {e.defense}: ASR {100 * yr.value:.1f}% [{100 * (yr.low or 0):.0f}-"
                   f"{100 * (yr.high or 0):.0f}], {x_label} {100 * xr.value:.1f}% [{100 * (xr.low or 0):.0f}-"
                   f"{100 * (xr.high or 0):.0f}]"),
            baseline=e.defense == "none",
            label_x=cx - 8 if right else cx + 8, label_y=cy + 16 if cy < top + 14 else cy - 7,
            anchor="end" if right else "start",
        ))
    if not points:
        return None
    used = sorted({p.model for p in points})
    ticks = [(f / 4, f"{25 * f}%") for f in range(5)]
    return Scatter(x_metric, x_label, width, height, left, top, plot_w, plot_h, points, ticks,
                   [(m, colours[m]) for m in used], labelled=len(points) <= MAX_LABELLED)
