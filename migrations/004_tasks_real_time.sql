-- One time base per table: `tasks` holds real instants only, like `plays` and `outbox`.
-- `due_at` was the journey-time copy of the deadline and `due_real_at` the deadline everything
-- compared against (overdue, escalation, metrics). Keep the real one under the plain name; a
-- page that shows a journey date converts it with the journey's clock. Existing rows keep
-- their deadline: nothing is computed, one column goes and one is renamed.
ALTER TABLE tasks DROP COLUMN due_at;
ALTER TABLE tasks RENAME COLUMN due_real_at TO due_at;
-- The index on (status, csm, due_real_at) follows the rename; its name already says what it is.
