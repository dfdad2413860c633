"""Small static SVG charts for `harness analyze` (no plotting dependency): line charts with interval bands,
overlaid histograms and labelled scatter plots. Every chart has a title, labelled axes with ticks and a legend;
all text is XML-escaped."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

W, H = 560, 340
LEFT, RIGHT, TOP, BOTTOM = 64, 150, 34, 50
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f")


@dataclass
class Series:
    label: str
    xs: Sequence[float]
    ys: Sequence[float]
    lo: Sequence[float] | None = None  # interval band (same length as ys), optional
    hi: Sequence[float] | None = None


def _finite(values: Sequence[float]) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if not hi > lo:
        return [lo]
    raw = (hi - lo) / n
    step = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * step:
            step *= m
            break
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def _fmt(v: float) -> str:
    return f"{v:.3g}" if abs(v) < 1e4 else f"{v:.2e}"


class _Frame:
    def __init__(self, title: str, xlabel: str, ylabel: str, xr: tuple[float, float], yr: tuple[float, float]):
        self.x0, self.x1 = xr if xr[1] > xr[0] else (xr[0] - 1, xr[1] + 1)
        self.y0, self.y1 = yr if yr[1] > yr[0] else (yr[0] - 1, yr[1] + 1)
        pad = (self.y1 - self.y0) * 0.05
        self.y0, self.y1 = self.y0 - pad, self.y1 + pad
        self.parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" '
                      f'font-family="sans-serif" font-size="11" role="img" aria-label="{escape(title, {chr(34): "&quot;"})}">',
                      f'<rect width="{W}" height="{H}" fill="white"/>',
                      f'<text x="{W / 2:.0f}" y="18" text-anchor="middle" font-size="12" '
                      f'class="title">{escape(title)}</text>']
        pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM
        self.parts.append(f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>')
        for t in _ticks(self.x0, self.x1):
            x = self.sx(t)
            self.parts.append(f'<line x1="{x:.1f}" y1="{TOP + ph}" x2="{x:.1f}" y2="{TOP + ph + 4}" stroke="#333"/>'
                              f'<text x="{x:.1f}" y="{TOP + ph + 16}" text-anchor="middle">{_fmt(t)}</text>')
        for t in _ticks(self.y0, self.y1):
            y = self.sy(t)
            self.parts.append(f'<line x1="{LEFT - 4}" y1="{y:.1f}" x2="{LEFT + pw}" y2="{y:.1f}" stroke="#ddd"/>'
                              f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_fmt(t)}</text>')
        self.parts.append(f'<text class="xlabel" x="{LEFT + pw / 2:.0f}" y="{H - 10}" text-anchor="middle">'
                          f'{escape(xlabel)}</text>')
        self.parts.append(f'<text class="ylabel" x="14" y="{TOP + ph / 2:.0f}" text-anchor="middle" '
                          f'transform="rotate(-90 14 {TOP + ph / 2:.0f})">{escape(ylabel)}</text>')
        self.legend_y = TOP + 4

    def sx(self, v: float) -> float:
        return LEFT + (v - self.x0) / (self.x1 - self.x0) * (W - LEFT - RIGHT)

    def sy(self, v: float) -> float:
        return TOP + (self.y1 - v) / (self.y1 - self.y0) * (H - TOP - BOTTOM)

    def legend(self, label: str, colour: str, marker: str = "line") -> None:
        x, y = W - RIGHT + 10, self.legend_y
        shape = (f'<line x1="{x}" y1="{y + 4}" x2="{x + 16}" y2="{y + 4}" stroke="{colour}" stroke-width="2"/>'
                 if marker == "line" else f'<rect x="{x + 4}" y="{y}" width="9" height="9" fill="{colour}"/>')
        self.parts.append(f'{shape}<text x="{x + 22}" y="{y + 8}">{escape(label)}</text>')
        self.legend_y += 16

    def svg(self) -> str:
        return "\n".join(self.parts + ["</svg>"]) + "\n"


def _range(values: Sequence[float]) -> tuple[float, float]:
    vals = _finite(values)
    return (min(vals), max(vals)) if vals else (0.0, 1.0)


def line_chart(title: str, xlabel: str, ylabel: str, series: Sequence[Series], *, hline: float | None = None) -> str:
    every = [v for s in series for v in (*s.ys, *(s.lo or ()), *(s.hi or ()))] + ([hline] if hline is not None else [])
    frame = _Frame(title, xlabel, ylabel, _range([x for s in series for x in s.xs]), _range(every))
    if hline is not None:
        y = frame.sy(hline)
        frame.parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{W - RIGHT}" y2="{y:.1f}" stroke="#888" '
                           'stroke-dasharray="4 3"/>')
    for i, s in enumerate(series):
        colour = COLOURS[i % len(COLOURS)]
        if s.lo is not None and s.hi is not None:
            band = [(x, lo, hi) for x, lo, hi in zip(s.xs, s.lo, s.hi) if math.isfinite(lo) and math.isfinite(hi)]
            if len(band) > 1:
                top = " ".join(f"{frame.sx(x):.1f},{frame.sy(hi):.1f}" for x, _, hi in band)
                bottom = " ".join(f"{frame.sx(x):.1f},{frame.sy(lo):.1f}" for x, lo, _ in reversed(band))
                frame.parts.append(f'<polygon points="{top} {bottom}" fill="{colour}" fill-opacity="0.15"/>')
        pts = [(x, y) for x, y in zip(s.xs, s.ys) if y is not None and math.isfinite(y)]
        if pts:
            path = " ".join(f"{frame.sx(x):.1f},{frame.sy(y):.1f}" for x, y in pts)
            frame.parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
            frame.parts.extend(f'<circle cx="{frame.sx(x):.1f}" cy="{frame.sy(y):.1f}" r="2.5" fill="{colour}"/>'
                               for x, y in pts)
        frame.legend(s.label, colour)
    return frame.svg()


def histogram_chart(title: str, xlabel: str, groups: Sequence[tuple[str, Sequence[float], Sequence[int]]],
                    *, vline: float | None = None) -> str:
    """Overlaid histograms (label, bin edges, counts per bin; under/overflow dropped), each as a density so groups
    with different bins compare."""
    dens = []
    for label, edges, counts in groups:
        n = max(sum(counts), 1)
        dens.append((label, edges, [c / n / max(hi - lo, 1e-300) for lo, hi, c in zip(edges[:-1], edges[1:], counts)]))
    top = max([v for _, _, d in dens for v in d] + [1e-9])
    xs = [e for _, edges, _ in dens for e in (edges[0], edges[-1])] + ([vline] if vline is not None else [])
    frame = _Frame(title, xlabel, "density of samples", _range(xs), (0.0, top))
    for i, (label, edges, d) in enumerate(dens):
        colour = COLOURS[i % len(COLOURS)]
        for lo, hi, v in zip(edges[:-1], edges[1:], d):
            if v > 0:
                y = frame.sy(v)
                frame.parts.append(f'<rect x="{frame.sx(lo):.1f}" y="{y:.1f}" width="{max(frame.sx(hi) - frame.sx(lo), 0.5):.1f}" '
                                   f'height="{frame.sy(0) - y:.1f}" fill="{colour}" fill-opacity="0.45"/>')
        frame.legend(label, colour, marker="box")
    if vline is not None:
        x = frame.sx(vline)
        frame.parts.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{H - BOTTOM}" stroke="#333" '
                           'stroke-dasharray="4 3"/>')
    return frame.svg()


def scatter_chart(title: str, xlabel: str, ylabel: str,
                  groups: Sequence[tuple[str, Sequence[tuple[float, float, str]]]]) -> str:
    """Points (x, y, point label) per group; each point carries its label as a tooltip and a small tag."""
    pts = [p for _, g in groups for p in g if math.isfinite(p[0]) and math.isfinite(p[1])]
    frame = _Frame(title, xlabel, ylabel, _range([p[0] for p in pts]), _range([p[1] for p in pts]))
    for i, (label, g) in enumerate(groups):
        colour = COLOURS[i % len(COLOURS)]
        for x, y, tag in g:
            if math.isfinite(x) and math.isfinite(y):
                frame.parts.append(f'<circle cx="{frame.sx(x):.1f}" cy="{frame.sy(y):.1f}" r="4" fill="{colour}">'
                                   f'<title>{escape(f"{label} {tag}: ({_fmt(x)}, {_fmt(y)})")}</title></circle>'
                                   f'<text x="{frame.sx(x) + 5:.1f}" y="{frame.sy(y) - 4:.1f}" font-size="9" '
                                   f'fill="{colour}">{escape(tag)}</text>')
        frame.legend(label, colour, marker="box")
    return frame.svg()
