"""The dashboard's colours: the journey picture's fills and the pages' (`colours` in templates).

Keyed by the words the journeys use (health colours, milestone statuses), typed so that a word
the journeys do not use fails mypy here rather than drawing grey.
"""

from __future__ import annotations

from workflows.journey.state import MilestoneStatus
from workflows.models import HealthLabel

_GREEN, _RED = "#2e9e5b", "#d64545"

HEALTH_FILLS: dict[HealthLabel, str] = {
    "green": _GREEN,
    "yellow": "#e3b200",
    "red": _RED,
    "unscored": "#b8bcc4",
}
# Done reads as healthy and overdue as red, on the picture and in the pages' status text.
STATUS_FILLS: dict[MilestoneStatus, str] = {"done": _GREEN, "overdue": _RED, "pending": "#8a8f98"}
# What the pages and the picture look up by name (`colours.overdue` in a template).
COLOURS: dict[str, str] = {
    "play": "#4a6fd1",
    "play_ended": "#9aa8d6",
    "axis": "#5b6170",
    "grid": "#e6e8ec",
    "today": "#222222",
}
COLOURS.update(HEALTH_FILLS.items())
COLOURS.update(STATUS_FILLS.items())
