"""Where things go on the journey picture: journey days onto x, lanes down y, and the few SVG
primitives the drawing is made of (every value escaped)."""

from __future__ import annotations

import html

LABEL_WIDTH = 230
ROW = 20
TICK_STEPS = (1, 2, 5, 7, 10, 14, 30, 60, 90, 180, 365, 730)


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def nice_step(span: float) -> int:
    return next((s for s in TICK_STEPS if span / s <= 10), TICK_STEPS[-1])


def attributes(**values: object) -> str:
    """SVG attributes from keywords (`class_` → class, `data_key` → data-key), escaped."""
    return " ".join(
        f'{k.rstrip("_").replace("_", "-")}="{esc(v)}"' for k, v in values.items() if v is not None
    )


def element(tag: str, title: str | None = None, children: str = "", /, **attrs: object) -> str:
    inner = (f"<title>{esc(title)}</title>" if title else "") + children
    return (
        f"<{tag} {attributes(**attrs)}>{inner}</{tag}>"
        if inner
        else f"<{tag} {attributes(**attrs)}/>"
    )


class Canvas:
    """Maps journey days onto x and collects the elements, lane by lane."""

    def __init__(self, hi: float, width: int) -> None:
        self.hi, self.width = hi, width
        self.y = 58.0
        self.parts: list[str] = []

    def x(self, day: float) -> float:
        plot = self.width - LABEL_WIDTH - 24
        return round(LABEL_WIDTH + min(max(day, 0.0), self.hi) / self.hi * plot, 1)

    def add(self, *elements: str) -> None:
        self.parts.extend(elements)

    def label(self, text: str, *, bold: bool = False) -> None:
        short = text if len(text) <= 34 else text[:33] + "…"
        weight = "600" if bold else None
        self.add(
            f"<text {attributes(x=8, y=self.y + 4, font_size=12, font_weight=weight)}>"
            f"<title>{esc(text)}</title>{esc(short)}</text>"
        )

    def heading(self, text: str) -> None:
        self.y += 6
        self.label(text, bold=True)
        self.y += ROW

    def line(self, d1: float, d2: float, colour: str, width: float = 1, **attrs: object) -> str:
        x1, x2 = self.x(d1), self.x(d2)
        return element(
            "line", x1=x1, y1=self.y, x2=x2, y2=self.y, stroke=colour, stroke_width=width, **attrs
        )
