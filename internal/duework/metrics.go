package duework

import (
	"context"
	"database/sql"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kassahq/kassa/internal/clock"
	"github.com/kassahq/kassa/internal/store"
)

type metrics struct {
	claimed, done, failed *prometheus.CounterVec
	lag                   prometheus.GaugeFunc
}

func newMetrics(db *store.DB, wall clock.Clock) *metrics {
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"kind"})
	}
	return &metrics{
		claimed: counter("kassa_due_work_claimed_total", "Due-work items claimed by this process, by kind."),
		done:    counter("kassa_due_work_done_total", "Due-work items run successfully by this process, by kind."),
		failed:  counter("kassa_due_work_failed_total", "Due-work runs that failed in this process (retried later), by kind."),
		lag: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "kassa_due_work_lag_seconds",
			Help: "How long the oldest runnable due-work item has waited past its run time (0 when none is waiting).",
		}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			now := wall.Now().Unix()
			var oldest sql.NullInt64
			if err := db.Read().QueryRowContext(ctx, `SELECT MIN(run_at) FROM due_work WHERE run_at <= $1`, now).Scan(&oldest); err != nil || !oldest.Valid {
				return 0
			}
			return float64(now - oldest.Int64)
		}),
	}
}

// Collectors are the queue's Prometheus metrics, for the /metrics registry.
func (q *Queue) Collectors() []prometheus.Collector {
	return []prometheus.Collector{q.metrics.claimed, q.metrics.done, q.metrics.failed, q.metrics.lag}
}
