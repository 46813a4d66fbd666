"""The savings chart's geometry: bars for deletes per month, a line for the cumulative
monthly cost retired. Numbers only; the template draws them (and escapes every label)."""

from dataclasses import dataclass
from typing import Any

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 72, 16, 40  # room for the axes' labels


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    month: str
    deleted: int
    cumulative: float


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    line: str  # polyline points: the cumulative monthly cost retired
    max_deleted: int
    max_saved: float
    left: int
    right: int
    top: int
    bottom: int


def chart(months: list[dict[str, Any]]) -> Chart:
    """``months`` as in the report's JSON (``deleted``, ``cumulative_monthly_cost_retired``)."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    max_deleted = max((int(m["deleted"]) for m in months), default=0)
    max_saved = max((float(m["cumulative_monthly_cost_retired"] or 0) for m in months), default=0)
    slot = plot_w / max(len(months), 1)
    bars, points = [], []
    for index, month in enumerate(months):
        deleted = int(month["deleted"])
        saved = float(month["cumulative_monthly_cost_retired"] or 0)
        height = plot_h * deleted / max_deleted if max_deleted else 0.0
        x = LEFT + index * slot
        bars.append(
            Bar(
                round(x + slot * 0.15, 2),
                round(TOP + plot_h - height, 2),
                round(slot * 0.7, 2),
                round(height, 2),
                str(month["month"]),
                deleted,
                saved,
            )
        )
        y = TOP + plot_h - (plot_h * saved / max_saved if max_saved else 0.0)
        points.append(f"{x + slot / 2:.2f},{y:.2f}")
    return Chart(
        WIDTH,
        HEIGHT,
        bars,
        " ".join(points),
        max_deleted,
        max_saved,
        LEFT,
        WIDTH - RIGHT,
        TOP,
        HEIGHT - BOTTOM,
    )
