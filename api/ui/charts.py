"""Charts drawn on the server as SVG text (no script): the factor waterfall and the trajectory."""

from __future__ import annotations

import math
from dataclasses import dataclass

from markupsafe import Markup, escape

UP, DOWN, NEUTRAL = "#b3261e", "#1a5fb4", "#5e5c64"
LABEL_CHARS = 58  # longer labels are cut (the bar's tooltip has the whole text)


def sigmoid(x: float) -> float:
    """The probability of a log-odds value."""
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


@dataclass(frozen=True)
class Step:
    """One bar of the waterfall: the score moves from `start` to `end` (probabilities, 0-1)."""

    label: str
    value: str
    start: float
    end: float

    @property
    def points(self) -> float:
        """The change in probability points (percentage points, e.g. +12.3)."""
        return 100.0 * (self.end - self.start)


def waterfall_steps(base_value: float, factors: list[dict], other: float, other_label: str) -> list[Step]:
    """Each factor's log-odds step as the probability change it makes, walking from the base value in order.

    A log-odds step moves the probability by more near 0.5 than near 0 or 1, so a factor's points
    depend on where the walk stands when it is applied; the steps add up exactly to
    score - sigmoid(base_value)."""
    steps, z = [], float(base_value)
    parts = [(f["display_name"], f.get("value_text", ""), float(f["contribution"])) for f in factors]
    if other and abs(other) > 1e-12:
        parts.append((other_label, "", float(other)))
    for label, value, c in parts:
        steps.append(Step(label, value, sigmoid(z), sigmoid(z + c)))
        z += c
    return steps


def waterfall_svg(steps: list[Step], *, base_label: str, final_label: str, title: str) -> Markup:
    """A horizontal waterfall: base marker, one bar per step (red raises the score, blue lowers it), final marker."""
    row, label_w, plot_w, num_w, top = 26, 400, 320, 70, 26
    if not steps:
        return Markup("")
    start, end = steps[0].start, steps[-1].end
    lo = min([start, end] + [min(s.start, s.end) for s in steps])
    hi = max([start, end] + [max(s.start, s.end) for s in steps])
    pad = max(0.02, (hi - lo) * 0.08)
    lo, hi = max(0.0, lo - pad), min(1.0, hi + pad)

    def x(p: float) -> float:
        return label_w + (p - lo) / (hi - lo) * plot_w

    height = top + row * (len(steps) + 2) + 24
    width = label_w + plot_w + num_w
    out = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" class="chart waterfall" role="img" viewBox="0 0 {width} {height}"'
            f' width="{width}" height="{height}" aria-labelledby="wf-title">'
        ),
        f'<title id="wf-title">{escape(title)}</title>',
    ]
    y = top

    def text_row(label: str, p: float, y: float) -> None:
        out.append(f'<text x="{label_w - 8}" y="{y + 17}" text-anchor="end" class="lbl strong">{escape(label)}</text>')
        out.append(
            f'<line x1="{x(p):.1f}" x2="{x(p):.1f}" y1="{y + 3}" y2="{y + row - 3}" stroke="{NEUTRAL}" '
            f'stroke-width="3"/>'
        )
        out.append(f'<text x="{label_w + plot_w + 6}" y="{y + 17}" class="num strong">{100 * p:.1f}%</text>')

    text_row(base_label, start, y)
    for s in steps:
        y += row
        a, b = sorted((x(s.start), x(s.end)))
        colour = UP if s.end >= s.start else DOWN
        name = f"{s.label} = {s.value}" if s.value else s.label
        shown = name if len(name) <= LABEL_CHARS else name[: LABEL_CHARS - 1] + "…"
        out.append(f'<text x="{label_w - 8}" y="{y + 17}" text-anchor="end" class="lbl">{escape(shown)}</text>')
        out.append(
            f'<rect x="{a:.1f}" y="{y + 5}" width="{max(b - a, 1.5):.1f}" height="{row - 10}" '
            f'fill="{colour}"><title>{escape(name)}: {s.points:+.1f}</title></rect>'
        )
        out.append(f'<text x="{label_w + plot_w + 6}" y="{y + 17}" class="num" fill="{colour}">{s.points:+.1f}</text>')
    y += row
    text_row(final_label, end, y)
    # axis: a few probability ticks
    axis_y = y + row + 4
    out.append(f'<line x1="{label_w}" x2="{label_w + plot_w}" y1="{axis_y}" y2="{axis_y}" stroke="#999"/>')
    for t in _ticks(lo, hi):
        out.append(
            f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{top}" y2="{axis_y}" stroke="#ddd" stroke-dasharray="2,3"/>'
        )
        out.append(f'<text x="{x(t):.1f}" y="{axis_y + 14}" text-anchor="middle" class="tick">{100 * t:.0f}%</text>')
    out.append("</svg>")
    return Markup("".join(out))


def _ticks(lo: float, hi: float) -> list[float]:
    span = hi - lo
    step = next(s for s in (0.01, 0.02, 0.05, 0.1, 0.2, 0.25) if span / s <= 6) if span <= 1.5 else 0.25
    first = math.ceil(lo / step) * step
    return [round(first + i * step, 6) for i in range(int((hi - first) / step + 1e-9) + 1)]


def trajectory_svg(points: list[dict], *, labels: dict[str, str], title: str) -> Markup:
    """Monthly revenue (line) against target (dashed) over activities (bars, own scale), oldest first."""
    if not points:
        return Markup("")
    width, height, left, right, top, bottom = 640, 220, 70, 50, 20, 40
    n = len(points)
    money = [v for p in points for v in (p.get("revenue"), p.get("revenue_target")) if v is not None]
    acts = [p.get("activities") or 0 for p in points]
    m_hi = max(money + [1.0]) * 1.1
    a_hi = max(acts + [1]) * 1.1
    plot_w, plot_h = width - left - right, height - top - bottom
    slot = plot_w / n

    def cx(i: int) -> float:
        return left + slot * (i + 0.5)

    def my(v: float) -> float:
        return top + plot_h * (1 - v / m_hi)

    out = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" class="chart trajectory" role="img"'
            f' viewBox="0 0 {width} {height}" width="{width}" height="{height}" aria-labelledby="tr-title">'
            f'<title id="tr-title">{escape(title)}</title>'
        )
    ]
    for i, a in enumerate(acts):
        h = plot_h * a / a_hi
        out.append(
            f'<rect x="{cx(i) - slot * 0.3:.1f}" y="{top + plot_h - h:.1f}" width="{slot * 0.6:.1f}" '
            f'height="{h:.1f}" fill="#d7e3f4"><title>{escape(labels["activities"])}: {a:g}</title></rect>'
        )
    for key, dash, colour in (("revenue_target", ' stroke-dasharray="5,4"', NEUTRAL), ("revenue", "", UP)):
        pts = [(cx(i), my(p[key])) for i, p in enumerate(points) if p.get(key) is not None]
        if pts:
            out.append(
                f'<polyline fill="none" stroke="{colour}" stroke-width="2"{dash} points="'
                + " ".join(f"{a:.1f},{b:.1f}" for a, b in pts)
                + '"/>'
            )
            out += [f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3" fill="{colour}"/>' for a, b in pts]
    out.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="#999"/>')
    for i, p in enumerate(points):
        out.append(
            f'<text x="{cx(i):.1f}" y="{top + plot_h + 16}" text-anchor="middle" class="tick">'
            f"{escape(p['period'])}</text>"
        )
    for frac in (0, 0.5, 1):
        v = m_hi / 1.1 * frac
        out.append(f'<text x="{left - 6}" y="{my(v) + 4:.1f}" text-anchor="end" class="tick">{v:,.0f}</text>')
    ly = height - 8
    out.append(
        f'<rect x="{left}" y="{ly - 9}" width="12" height="10" fill="#d7e3f4"/>'
        f'<text x="{left + 16}" y="{ly}" class="tick">{escape(labels["activities"])}</text>'
        f'<line x1="{left + 150}" x2="{left + 170}" y1="{ly - 4}" y2="{ly - 4}" stroke="{UP}" stroke-width="2"/>'
        f'<text x="{left + 174}" y="{ly}" class="tick">{escape(labels["revenue"])}</text>'
        f'<line x1="{left + 300}" x2="{left + 320}" y1="{ly - 4}" y2="{ly - 4}" stroke="{NEUTRAL}" '
        f'stroke-width="2" stroke-dasharray="5,4"/>'
        f'<text x="{left + 324}" y="{ly}" class="tick">{escape(labels["revenue_target"])}</text>'
    )
    out.append("</svg>")
    return Markup("".join(out))


__all__ = ["Step", "sigmoid", "trajectory_svg", "waterfall_steps", "waterfall_svg"]
