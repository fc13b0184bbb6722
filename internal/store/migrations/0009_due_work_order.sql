-- The claim loop takes each kind's earliest runnable items: one index per
-- kind's run order, so that a backlog of one kind never makes claiming
-- another walk it, and items due in the same second are read in order.
DROP INDEX due_work_run;
CREATE INDEX due_work_run ON due_work (run_at, seq);
CREATE INDEX due_work_kind_run ON due_work (kind, run_at, seq);
