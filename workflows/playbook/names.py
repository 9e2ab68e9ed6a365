"""The names a Playbook answers to, shared by the workflow and everything that calls it.

Running plays and saved histories hold these strings: renaming one strands every play started
before the rename, so they never change (tests/unit/test_names.py holds them fixed).
"""

from __future__ import annotations

from typing import Final

WORKFLOW: Final = "Playbook"

# Signals
TASK_DONE: Final = "task_done"
JOURNEY_FACTS: Final = "journey_facts"
STOP: Final = "stop"

# Queries
STATE: Final = "state"
