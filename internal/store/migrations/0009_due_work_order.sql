-- The claim loop orders by (run_at, seq): with the index on both, many
-- items due in the same second are read in order instead of sorted.
DROP INDEX due_work_run;
CREATE INDEX due_work_run ON due_work (run_at, seq);
