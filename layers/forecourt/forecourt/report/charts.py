"""Charts drawn server-side as inline SVG, for a report that opens with no network and no script.

Every label a reader needs is SVG ``<text>`` in the page (axis titles ``axis-title``, tick labels
``tick``, category labels ``category``, value labels ``value``, legend entries ``legend-label``),
so a browser renders it, a screen reader reads it and a test finds it in the rendered DOM; each bar
or cell also carries its exact figures in a ``<title>`` (the tooltip). Every piece of data is
escaped (``markupsafe``): a dealer id or a campaign name is text, never markup.

Three kinds: horizontal bars (``bar_chart``: one series, grouped series, or stacked series such as
shares of a whole), columns over time (``column_chart``, stacked) and a matrix (``heatmap``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 760
FONT_PX = 12
CHAR_PX = 7.6
"""Advance of a digit at ``FONT_PX`` in DejaVu Sans, the widest common sans-serif (for margins)."""
_NARROW, _WIDE = set("iIjlt.,:;'!|()[] f1"), set("MWmw<>%@—…&")
PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f")
"""Tableau 10's first eight: distinguishable, also for the common colour-vision deficiencies."""
OTHER_COLOUR = "#bab0ac"

Formatter = Callable[[float], str]


@dataclass(frozen=True)
class Series:
    """One named row of values, one per category (None: no value)."""

    name: str
    values: Sequence[float | None]


def count(value: float) -> str:
    """``12,345``."""
    return f"{value:,.0f}"


def percent(value: float) -> str:
    """``61.2 %`` (``value`` in per cent)."""
    return f"{value:,.1f} %"


def whole_percent(value: float) -> str:
    """``60 %`` (axis ticks of shares)."""
    return f"{value:,.0f} %"


def amount(value: float) -> str:
    """``1,234`` for large amounts, ``12.50`` below 100."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def nice_ticks(maximum: float, wanted: int = 5) -> list[float]:
    """Axis ticks from 0 to at least ``maximum`` in steps of 1, 2, 2.5 or 5 times a power of ten."""
    if maximum <= 0 or not math.isfinite(maximum):
        return [0.0, 1.0]
    raw = maximum / wanted
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    steps = math.ceil(maximum / step - 1e-9)
    return [i * step for i in range(steps + 1)]


def text_px(text: str) -> float:
    """About how wide ``text`` is at ``FONT_PX`` (on the wide side, so that labels are not clipped)."""
    return sum(3.8 if c in _NARROW else 11.0 if c in _WIDE else CHAR_PX for c in text)


def fit(label: str, room_px: float) -> str:
    """``label`` cut with an ellipsis to at most about ``room_px`` pixels."""
    if text_px(label) <= room_px:
        return label
    while len(label) > 3 and text_px(label + "…") > room_px:
        label = label[:-1]
    return label + "…"


def _text(x: float, y: float, content: str, css: str, anchor: str = "start", extra: str = "") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" class="{css}" text-anchor="{anchor}"{extra}>{escape(content)}</text>'
    )


def _svg(chart_id: str, title: str, height: float, body: list[str]) -> Markup:
    """The chart's caption (for the ``<figure>`` it goes in) and its SVG."""
    # every piece of ``body`` was built by this module with its text and attributes escaped
    return Markup(  # noqa: S704
        f"<figcaption>{escape(title)}</figcaption>"
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height:.0f}" '
        f'width="{WIDTH}" height="{height:.0f}" role="img" aria-labelledby="{escape(chart_id)}-title" '
        f'class="chart" data-chart="{escape(chart_id)}">'
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>{"".join(body)}</svg>'
    )


def _no_data(chart_id: str, title: str, message: str) -> Markup:
    return _svg(chart_id, title, 60, [_text(WIDTH / 2, 34, message, "no-data", "middle")])


def _legend(names: Sequence[str], colours: Sequence[str], y: float) -> tuple[list[str], float]:
    """Legend entries left to right, wrapping; returns the parts and the height used."""
    parts, x, line = ['<g class="legend">'], 0.0, 0
    for name, colour in zip(names, colours, strict=True):
        label = fit(name, 220)
        width = 18 + text_px(label) + 16
        if x + width > WIDTH and x > 0:
            x, line = 0.0, line + 1
        top = y + line * 18
        parts.append(f'<rect x="{x:.1f}" y="{top:.1f}" width="12" height="12" fill="{colour}"/>')
        parts.append(_text(x + 16, top + 10, label, "legend-label", extra=_full(name, label)))
        x += width
    parts.append("</g>")
    return parts, (line + 1) * 18 + 6


def _full(name: str, shown: str) -> str:
    """A ``data-full`` attribute with the whole label when it was cut."""
    return "" if name == shown else f' data-full="{escape(name)}"'


def bar_chart(
    chart_id: str,
    title: str,
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    value_title: str,
    category_title: str,
    fmt: Formatter = count,
    tick_fmt: Formatter | None = None,
    stacked: bool = False,
    maximum: float | None = None,
    value_labels: Sequence[Sequence[str | None]] | None = None,
    end_labels: Sequence[str] | None = None,
) -> Markup:
    """Horizontal bars, a category a row: one series, several side by side, or ``stacked``.

    ``maximum`` fixes the value axis (100 for shares); ``value_labels`` replaces the text shown at
    each bar (per series, per category; None shows nothing). A stacked segment shows its label only
    when it is wide enough to hold it; ``end_labels`` are written after each stacked bar.
    """
    values = [list(s.values) for s in series]
    if not categories or all(v is None for row in values for v in row):
        return _no_data(chart_id, title, "No data for this period.")
    colours = [PALETTE[i % len(PALETTE)] for i in range(len(series))]
    body: list[str] = []
    legend_h = 0.0
    if len(series) > 1:
        parts, legend_h = _legend([s.name for s in series], colours, 4)
        body += parts
    label_room = min(max(text_px(c) for c in categories), 230.0)
    labels = [
        [
            (fmt(v) if v is not None else None) if value_labels is None else value_labels[j][i]
            for i, v in enumerate(row)
        ]
        for j, row in enumerate(values)
    ]
    ends = list(end_labels or [])
    shown_at_end = ends if stacked else [label or "" for row in labels for label in row]
    longest = max((text_px(label) for label in shown_at_end), default=0.0)
    left, right, top = label_room + 32, max(longest + 12, 40), 10 + legend_h
    band = 16 * (1 if stacked else len(series)) + 10
    plot_h = band * len(categories)
    totals = [sum(row[i] or 0 for row in values) for i in range(len(categories))]
    peak = maximum or max(totals if stacked else [v or 0 for row in values for v in row])
    ticks = nice_ticks(peak) if maximum is None else nice_ticks(maximum, 5)
    scale = (WIDTH - left - right) / ticks[-1]
    body += _value_axis(ticks, scale, left, right, top, plot_h, tick_fmt or fmt, value_title)
    body.append('<g class="bars">')
    for i, category in enumerate(categories):
        y = top + i * band + 5
        label = fit(category, label_room)
        body.append(
            _text(left - 8, y + (band - 10) / 2 + 4, label, "category", "end", _full(category, label))
        )
        offset = 0.0
        for j, s in enumerate(series):
            value = values[j][i]
            if value is None or (stacked and value <= 0):
                continue
            shown = labels[j][i]
            bar_y = y if stacked else y + j * 16
            x, width = left + offset * scale, max(value * scale, 0.0)
            tip = f"{category} · {s.name}: {fmt(value)}" if len(series) > 1 else f"{category}: {fmt(value)}"
            body.append(
                f'<rect class="bar" x="{x:.1f}" y="{bar_y:.1f}" width="{width:.1f}" height="14" '
                f'fill="{colours[j]}" data-series="{escape(s.name)}" data-category="{escape(category)}" '
                f'data-value="{value}"><title>{escape(tip)}</title></rect>'
            )
            if shown and not stacked:
                body.append(_text(x + width + 4, bar_y + 11, shown, "value"))
            elif shown and width >= text_px(shown) + 6:
                body.append(_text(x + width / 2, bar_y + 11, shown, "value on-bar", "middle"))
            if stacked:
                offset += value
        if stacked and i < len(ends):
            body.append(_text(left + offset * scale + 4, y + 11, ends[i], "value total"))
    body.append("</g>")
    body.append(
        _text(12, top + plot_h / 2, category_title, "axis-title", "middle", _rotated(12, top + plot_h / 2))
    )
    return _svg(chart_id, title, top + plot_h + 44, body)


def _rotated(x: float, y: float) -> str:
    return f' transform="rotate(-90 {x:.1f} {y:.1f})"'


def _value_axis(
    ticks: Sequence[float],
    scale: float,
    left: float,
    right: float,
    top: float,
    plot_h: float,
    fmt: Formatter,
    title: str,
) -> list[str]:
    """Vertical grid lines with their tick labels under the plot, and the axis title."""
    parts = ['<g class="axis value-axis">']
    for tick in ticks:
        x = left + tick * scale
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top:.1f}" y2="{top + plot_h:.1f}" class="grid"/>')
        parts.append(_text(x, top + plot_h + 14, fmt(tick), "tick", "middle"))
    parts.append(_text(left + (WIDTH - left - right) / 2, top + plot_h + 34, title, "axis-title", "middle"))
    parts.append("</g>")
    return parts


def column_chart(
    chart_id: str,
    title: str,
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    value_title: str,
    category_title: str,
    fmt: Formatter = count,
) -> Markup:
    """Stacked columns, a category (a day, a week) each, left to right, with each column's total on
    top; category labels are thinned out so that they do not overlap."""
    values = [list(s.values) for s in series]
    if not categories or all(v is None for row in values for v in row):
        return _no_data(chart_id, title, "No data for this period.")
    colours = [OTHER_COLOUR if s.name == "other" else PALETTE[i % len(PALETTE)] for i, s in enumerate(series)]
    body, legend_h = _legend([s.name for s in series], colours, 4)
    totals = [sum(row[i] or 0 for row in values) for i in range(len(categories))]
    ticks = nice_ticks(max(totals))
    left, right, top, plot_h = 64, 16, legend_h + 18, 220
    slot = (WIDTH - left - right) / len(categories)
    scale = plot_h / ticks[-1]
    bottom = top + plot_h
    body.append('<g class="axis value-axis">')
    for tick in ticks:
        y = bottom - tick * scale
        body.append(f'<line x1="{left}" x2="{WIDTH - right}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        body.append(_text(left - 6, y + 4, fmt(tick), "tick", "end"))
    body.append(
        _text(14, top + plot_h / 2, value_title, "axis-title", "middle", _rotated(14, top + plot_h / 2))
    )
    body.append("</g>")
    every = max(1, math.ceil(len(categories) / max(int((WIDTH - left - right) / 70), 1)))
    body.append('<g class="bars">')
    for i, category in enumerate(categories):
        x, height_so_far = left + i * slot, 0.0
        width = max(slot * 0.8, 1.0)
        for j, s in enumerate(series):
            value = values[j][i]
            if not value:
                continue
            h = value * scale
            body.append(
                f'<rect class="bar" x="{x + slot * 0.1:.1f}" y="{bottom - height_so_far - h:.1f}" '
                f'width="{width:.1f}" height="{h:.1f}" fill="{colours[j]}" data-series="{escape(s.name)}" '
                f'data-category="{escape(category)}" data-value="{value}">'
                f"<title>{escape(f'{category} · {s.name}: {fmt(value)}')}</title></rect>"
            )
            height_so_far += h
        if totals[i] and (slot >= text_px(fmt(totals[i])) or totals[i] == max(totals)):
            body.append(_text(x + slot / 2, bottom - height_so_far - 4, fmt(totals[i]), "value", "middle"))
        if i % every == 0:
            body.append(_text(x + slot / 2, bottom + 14, category, "category", "middle"))
    body.append("</g>")
    body.append(_text(left + (WIDTH - left - right) / 2, bottom + 34, category_title, "axis-title", "middle"))
    return _svg(chart_id, title, bottom + 44, body)


def heatmap(
    chart_id: str,
    title: str,
    rows: Sequence[str],
    columns: Sequence[str],
    cells: Sequence[Sequence[float | None]],
    *,
    row_title: str,
    column_title: str,
    fmt: Formatter = count,
    shade: Sequence[Sequence[float | None]] | None = None,
) -> Markup:
    """A matrix of ``cells`` (a row per ``rows`` entry), each cell's value written in it and shaded
    by ``shade`` (0–1; by default the value over the largest value)."""
    flat = [v for row in cells for v in row if v is not None]
    if not rows or not columns or not flat:
        return _no_data(chart_id, title, "No data for this period.")
    peak = max(flat) or 1.0
    label_room = min(max(text_px(r) for r in rows), 160.0)
    left, top = label_room + 32, 44
    cell_w = min((WIDTH - left - 10) / len(columns), 90.0)
    cell_h = 26.0
    body = [_text(left + cell_w * len(columns) / 2, 12, column_title, "axis-title", "middle")]
    for j, column in enumerate(columns):
        label = fit(column, cell_w - 4)
        body.append(
            _text(
                left + j * cell_w + cell_w / 2,
                top - 8,
                label,
                "category column",
                "middle",
                _full(column, label),
            )
        )
    body.append('<g class="cells">')
    for i, row in enumerate(rows):
        y = top + i * cell_h
        label = fit(row, label_room)
        body.append(_text(left - 8, y + cell_h / 2 + 4, label, "category row", "end", _full(row, label)))
        for j, column in enumerate(columns):
            value = cells[i][j]
            if value is None:
                continue
            level = (shade[i][j] if shade is not None else value / peak) or 0.0
            fill = _blue(level)
            body.append(
                f'<rect class="cell" x="{left + j * cell_w:.1f}" y="{y:.1f}" width="{cell_w - 2:.1f}" '
                f'height="{cell_h - 2:.1f}" fill="{fill}" data-row="{escape(row)}" '
                f'data-column="{escape(column)}" data-value="{value}">'
                f"<title>{escape(f'{row} × {column}: {fmt(value)}')}</title></rect>"
            )
            ink = "value in-cell dark" if level > 0.55 else "value in-cell"
            body.append(
                _text(left + j * cell_w + cell_w / 2 - 1, y + cell_h / 2 + 3, fmt(value), ink, "middle")
            )
    body.append("</g>")
    middle = top + cell_h * len(rows) / 2
    body.append(_text(12, middle, row_title, "axis-title", "middle", _rotated(12, middle)))
    return _svg(chart_id, title, top + cell_h * len(rows) + 12, body)


def _blue(level: float) -> str:
    """White (0) to dark blue (1)."""
    level = min(max(level, 0.0), 1.0)
    low, high = (247, 251, 255), (8, 69, 148)
    r, g, b = (round(lo + (hi - lo) * level) for lo, hi in zip(low, high, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"
