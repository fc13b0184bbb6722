package duework

import (
	"context"
	"fmt"
	"time"

	"github.com/kassahq/kassa/internal/store"
)

// ProbeKind is a canary: each run records which worker ran it, when, and
// the time it saw. `kassa work probe` schedules probes to check that the
// workers of a deployment drain the queue; the queue's own tests use it to
// count runs across processes.
const ProbeKind = "kassa.probe"

// Probe is the handler of ProbeKind.
func (q *Queue) Probe() Kind {
	return Kind{Name: ProbeKind, Tx: func(ctx context.Context, tx *store.Tx, it Item) (time.Time, error) {
		_, err := tx.ExecContext(ctx, `INSERT INTO work_probes (subject_id, due_at, worker, ran_at)
			VALUES ($1, $2, $3, $4)`, it.SubjectID, it.DueAt.Unix(), q.worker, q.wall.Now().Unix())
		if err != nil {
			return time.Time{}, fmt.Errorf("record probe %s: %w", it.SubjectID, err)
		}
		return time.Time{}, nil
	}}
}

// ProbeRun is one recorded run of a probe.
type ProbeRun struct {
	SubjectID string
	DueAt     time.Time
	Worker    string
	RanAt     time.Time
}

// ProbeRuns lists the recorded probe runs, oldest first.
func ProbeRuns(ctx context.Context, q store.Querier) ([]ProbeRun, error) {
	rows, err := q.QueryContext(ctx, `SELECT subject_id, due_at, worker, ran_at FROM work_probes ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("list probe runs: %w", err)
	}
	defer rows.Close()
	var out []ProbeRun
	for rows.Next() {
		var r ProbeRun
		var due, ran int64
		if err := rows.Scan(&r.SubjectID, &due, &r.Worker, &ran); err != nil {
			return nil, err
		}
		r.DueAt, r.RanAt = time.Unix(due, 0).UTC(), time.Unix(ran, 0).UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}
