// Package worker runs the work that falls due by an account's clock:
// renewals, retries, reconciliations, deliveries. Each domain registers a
// Task; the Runner calls every task for every account periodically, and at
// once for one account when its test clock is advanced, so that all work due
// up to the new time has run when the advance returns.
//
// Tasks claim their work in the database (a due_at column, row locks on
// PostgreSQL, the single writer on SQLite), so several runners, or a runner
// and a clock advance, never do the same piece of work twice.
package worker

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/kassahq/kassa/internal/account"
)

// Task is one kind of due work.
type Task interface {
	Name() string
	// RunDue does all of this task's work due for the account at sc.Now().
	RunDue(ctx context.Context, sc account.Scope) error
}

// Runner runs the registered tasks.
type Runner struct {
	accounts *account.Service
	logger   *slog.Logger
	mu       sync.Mutex
	tasks    []Task
}

// NewRunner returns a Runner.
func NewRunner(accounts *account.Service, logger *slog.Logger) *Runner {
	return &Runner{accounts: accounts, logger: logger}
}

// Register adds a task.
func (r *Runner) Register(t Task) {
	r.mu.Lock()
	r.tasks = append(r.tasks, t)
	r.mu.Unlock()
}

func (r *Runner) snapshot() []Task {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Task(nil), r.tasks...)
}

// RunAccount runs every task for one account, in registration order.
func (r *Runner) RunAccount(ctx context.Context, sc account.Scope) error {
	for _, t := range r.snapshot() {
		if err := t.RunDue(ctx, sc); err != nil {
			return fmt.Errorf("%s for %s: %w", t.Name(), sc.AccountID, err)
		}
	}
	return nil
}

// RunOnce runs every task for every account.
func (r *Runner) RunOnce(ctx context.Context) error {
	accts, err := r.accounts.List(ctx)
	if err != nil {
		return err
	}
	for _, a := range accts {
		if err := r.RunAccount(ctx, r.accounts.ScopeOf(a)); err != nil {
			r.logger.Error("due work failed", "account", a.ID, "err", err)
		}
	}
	return nil
}

// Run loops until ctx ends, running due work every interval.
func (r *Runner) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := r.RunOnce(ctx); err != nil && ctx.Err() == nil {
			r.logger.Error("due work pass failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
