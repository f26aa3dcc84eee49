"""Views for people: a goal's state at a glance, for the terminal board and the web dashboard."""

from callsheet.views.goals import GoalSummary, GoalsView, count_line, summary
from callsheet.views.panels import PANELS, Panel, Table, panel_needs

__all__ = [
    "PANELS",
    "GoalSummary",
    "GoalsView",
    "Panel",
    "Table",
    "count_line",
    "panel_needs",
    "summary",
]
