"""The names a CustomerJourney answers to, shared by the workflow and everything that calls it.

Running journeys and saved histories hold these strings: renaming one strands every journey
started before the rename, so they never change (tests/unit/test_names.py holds them fixed).
"""

from __future__ import annotations

from typing import Final

WORKFLOW: Final = "CustomerJourney"

# Signals: external events (each has a model in messages.SIGNALS) ...
USAGE_REPORTED: Final = "usage_reported"
INCIDENT_REPORTED: Final = "incident_reported"
HEALTH_MEASURED: Final = "health_measured"
KEY_CONTACT_CHANGED: Final = "key_contact_changed"
SUPPORT_ESCALATED: Final = "support_escalated"
# ... and the one a play sends when it ends.
PLAY_ENDED: Final = "play_ended"

# Updates
COMPLETE_MILESTONE: Final = "complete_milestone"
ADD_ROLLOUT_STAGE: Final = "add_rollout_stage"
RENEW_CONTRACT: Final = "renew_contract"
END_JOURNEY: Final = "end_journey"
CHANGE_POLICY: Final = "change_policy"

# Queries
STATE: Final = "state"
