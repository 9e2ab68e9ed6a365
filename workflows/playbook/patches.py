"""The patch ids a Playbook branches on, each guarding one change of its commands.

A play started before a change replays the old commands; `workflow.patched(id)` is what tells
the two apart. An id, once shipped, never changes (docs/operations.md says how one is retired).
"""

from __future__ import annotations

from typing import Final

# A task_done that comes before create_task's result is kept and applied once the task is
# known. Plays before it dropped that signal and then waited for the task forever.
EARLY_DONE: Final = "task-done-before-created"

# The play's start, its end and the tasks its exit resolves are one activity each (one
# transaction, one billed action). Plays before it wrote them as separate activities.
MERGED_EFFECTS: Final = "play-effects-merged"
