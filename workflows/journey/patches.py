"""The patch ids a CustomerJourney branches on, each guarding one change of its commands.

A journey started before a change replays the old commands; `workflow.patched(id)` is what
tells the two apart. An id, once shipped, never changes (docs/operations.md says how one is
retired), and each has a saved history under tests/histories/ showing its new shape.
"""

from __future__ import annotations

from typing import Final

# Adoption, maturity and renewal run as branches beside onboarding, rollout stages and
# recurring items are watched, an overdue milestone raises a trigger, and times are journey
# times. Journeys started before it have only their onboarding milestones.
FORKING: Final = "forking-journey"

# Triggers start Playbook children (and count against the rules' play runs). Journeys started
# before it record their triggers only.
PLAYS: Final = "start-plays"

# A play hears only of the facts its conditions read. Journeys before it told every open play
# of every fact change; each signal saved is a billed action saved.
FACTS_WATCHED: Final = "facts-watched"

# A play_ended that comes before the journey sees its play start closes the play once it is
# open. Journeys before it dropped that signal and kept the play open forever.
EARLY_PLAY_END: Final = "play-ended-before-started"
