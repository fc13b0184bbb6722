package duework_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/kassahq/kassa/internal/apitest"
	"github.com/kassahq/kassa/internal/duework"
	"github.com/kassahq/kassa/internal/store"
)

// seen is what a handler saw: which item, due when, and the account's time
// as its frozen scope reported it.
type seen struct {
	subject string
	due     time.Time
	now     time.Time
}

type recorder struct {
	mu   sync.Mutex
	runs []seen
}

func (r *recorder) add(s seen) {
	r.mu.Lock()
	r.runs = append(r.runs, s)
	r.mu.Unlock()
}

func (r *recorder) all() []seen {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]seen(nil), r.runs...)
}

func schedule(t *testing.T, env *apitest.Env, accountID, kind, subject string, due time.Time) {
	t.Helper()
	ctx := context.Background()
	if err := env.App.DB.InTx(ctx, func(tx *store.Tx) error {
		return duework.Schedule(ctx, tx, accountID, kind, subject, due)
	}); err != nil {
		t.Fatal(err)
	}
}

// Advancing a test clock by a year runs the work it schedules along the way
// in due order, each run seeing its own due time: a monthly kind anchored on
// Jan 31 and a weekly one, both rescheduling themselves.
func TestAdvanceRunsSelfReschedulingWorkInDueOrder(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		rec := &recorder{}
		periodic := func(name string, next func(anchor time.Time, k int) time.Time) {
			env.App.Queue.Register(duework.Kind{Name: name, Tx: func(ctx context.Context, tx *store.Tx, it duework.Item) (time.Time, error) {
				sc, err := env.App.Accounts.ScopeAt(ctx, it.AccountID, it.DueAt)
				if err != nil {
					return time.Time{}, err
				}
				rec.add(seen{subject: it.SubjectID, due: it.DueAt, now: sc.Now()})
				var k int
				for _, r := range rec.all() {
					if r.subject == it.SubjectID {
						k++
					}
				}
				return next(anchorOf(it.SubjectID), k), nil
			}})
		}
		// Periods come from the anchor, not from the previous run: Jan 31,
		// Feb 28, Mar 31 …
		monthlyAt := func(anchor time.Time, k int) time.Time {
			y, m, d := anchor.Date()
			first := time.Date(y, m+time.Month(k), 1, anchor.Hour(), 0, 0, 0, time.UTC)
			last := first.AddDate(0, 1, -1).Day()
			return first.AddDate(0, 0, min(d, last)-1)
		}
		periodic("test.monthly", monthlyAt)
		periodic("test.weekly", func(anchor time.Time, k int) time.Time { return anchor.AddDate(0, 0, 7*k) })

		// Move the clock to just before Jan 31 of next year.
		now := env.ScopeOf(env.AccountID).Now()
		jan31 := time.Date(now.Year()+1, 1, 31, 12, 0, 0, 0, time.UTC)
		env.Post("/v1/test-clock/advance", map[string]any{"to": jan31.Unix() - 60}).Want(t, 200)
		anchors[monthlySubject] = jan31
		anchors[weeklySubject] = jan31.Add(time.Hour)
		schedule(t, env, env.AccountID, "test.monthly", monthlySubject, jan31)
		schedule(t, env, env.AccountID, "test.weekly", weeklySubject, jan31.Add(time.Hour))

		res := env.Post("/v1/test-clock/advance", map[string]any{"seconds": 366 * 86400}).Want(t, 200).Map(t)
		if res["status"] != "ready" || res["work_remaining"].(float64) != 0 {
			t.Fatalf("advance: %v", res)
		}
		runs := rec.all()
		end := time.Unix(int64(res["now"].(float64)), 0)
		var monthly []time.Time
		for i, r := range runs {
			if !r.now.Equal(r.due) {
				t.Errorf("run %d of %s saw %s, due %s", i, r.subject, r.now, r.due)
			}
			if i > 0 && r.due.Before(runs[i-1].due) {
				t.Errorf("run %d (%s due %s) ran after one due later (%s)", i, r.subject, r.due, runs[i-1].due)
			}
			if r.due.After(end) {
				t.Errorf("run %d is due %s, after the new time %s", i, r.due, end)
			}
			if r.subject == monthlySubject {
				monthly = append(monthly, r.due)
			}
		}
		var want []time.Time
		for k := 0; !monthlyAt(jan31, k).After(end); k++ {
			want = append(want, monthlyAt(jan31, k))
		}
		if len(monthly) != len(want) || len(want) < 12 {
			t.Fatalf("monthly runs %v, want %v", monthly, want)
		}
		for k := range want {
			if !monthly[k].Equal(want[k]) {
				t.Fatalf("monthly run %d due %s, want %s", k, monthly[k], want[k])
			}
		}
		if got := monthly[2]; got.Month() != time.March || got.Day() != 31 {
			t.Errorf("third monthly run %s, want Mar 31 (from the anchor, not Feb 28 + 1 month)", got)
		}
		if int(res["work_ran"].(float64)) != len(runs) {
			t.Errorf("work_ran %v, recorded %d", res["work_ran"], len(runs))
		}
		// Both keep their next run scheduled, after the new time.
		items, err := duework.List(context.Background(), env.App.DB.Read(), env.AccountID, 10)
		if err != nil || len(items) != 2 || !items[0].DueAt.After(end) {
			t.Fatalf("scheduled after the advance: %+v, %v", items, err)
		}
	})
}

const (
	monthlySubject = "sub_monthly"
	weeklySubject  = "sub_weekly"
)

var anchors = map[string]time.Time{}

func anchorOf(subject string) time.Time { return anchors[subject] }

// One account's failing item does not delay another account's items: it is
// retried later with backoff, and the rest of the batch commits.
func TestFailingItemDoesNotDelayOthers(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		ctx := context.Background()
		other, _ := env.NewAccount("Other")
		rec := &recorder{}
		env.App.Queue.Register(duework.Kind{Name: "test.fails", Tx: func(ctx context.Context, tx *store.Tx, it duework.Item) (time.Time, error) {
			if _, err := tx.ExecContext(ctx, `INSERT INTO work_probes (subject_id, due_at, worker, ran_at) VALUES ('rolled back', 0, 'x', 0)`); err != nil {
				return time.Time{}, err
			}
			return time.Time{}, errors.New("the gateway is down")
		}})
		env.App.Queue.Register(duework.Kind{Name: "test.panics", Tx: func(ctx context.Context, tx *store.Tx, it duework.Item) (time.Time, error) {
			panic("bad item")
		}})
		env.App.Queue.Register(duework.Kind{Name: "test.ok", Tx: func(ctx context.Context, tx *store.Tx, it duework.Item) (time.Time, error) {
			rec.add(seen{subject: it.SubjectID, due: it.DueAt})
			return time.Time{}, nil
		}})
		env.App.Queue.Register(duework.Kind{Name: "test.call_fails", Call: func(ctx context.Context, it duework.Item) (time.Time, error) {
			return time.Time{}, errors.New("smtp refused")
		}})
		past := time.Now().Add(-time.Hour)
		// The failing ones come first in run order.
		schedule(t, env, env.AccountID, "test.fails", "bad-1", past.Add(-time.Minute))
		schedule(t, env, env.AccountID, "test.panics", "bad-2", past.Add(-time.Minute))
		schedule(t, env, env.AccountID, "test.call_fails", "bad-3", past.Add(-time.Minute))
		for _, s := range []string{"ok-1", "ok-2", "ok-3"} {
			schedule(t, env, other, "test.ok", s, past)
		}
		n, err := env.App.Queue.RunDue(ctx)
		env.App.Queue.Wait()
		if err != nil || n != 6 {
			t.Fatalf("claimed %d, %v", n, err)
		}
		if got := rec.all(); len(got) != 3 {
			t.Fatalf("other account's items run: %v", got)
		}
		var probes int
		if err := env.App.DB.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM work_probes`).Scan(&probes); err != nil || probes != 0 {
			t.Fatalf("the failed item's writes were kept: %d, %v", probes, err)
		}
		items, err := duework.List(ctx, env.App.DB.Read(), "", 10)
		if err != nil || len(items) != 3 {
			t.Fatalf("left: %+v, %v", items, err)
		}
		for _, it := range items {
			if it.Attempts != 1 || it.LastError == "" || !it.RunAt.After(time.Now()) || it.LeasedUntil != nil {
				t.Errorf("failed item %s: %+v", it.SubjectID, it)
			}
		}
		// Nothing is runnable now: the next pass claims nothing.
		if n, err := env.App.Queue.RunDue(ctx); err != nil || n != 0 {
			t.Fatalf("second pass claimed %d, %v", n, err)
		}
	})
}
