"""Plain-text tables for terminals; every cell is escaped (runner.text)."""

from collections.abc import Sequence

from runner.text import shown


def render(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    cells = [list(headers), *([shown(cell) for cell in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in cells
    )
