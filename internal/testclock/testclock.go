// Package testclock advances test accounts' clocks: it moves the clock,
// shifts the account's scheduled work with it, and runs the work that fell
// due, in due order, before it answers — so the caller sees a month of
// renewals, retries and deliveries happen in one call.
//
// Lock order: the account row (locked by account.AdvanceClockTx) is taken
// first, then the account's due_work rows (duework.Shift), in one
// transaction; the work then runs in transactions of its own.
package testclock

import (
	"context"
	"fmt"
	"time"

	"github.com/kassahq/kassa/internal/account"
	"github.com/kassahq/kassa/internal/clock"
	"github.com/kassahq/kassa/internal/duework"
	"github.com/kassahq/kassa/internal/store"
)

// MaxSteps caps the due-work items one advance runs before it answers. A
// larger jump answers "advancing" with what was done; the workers' claim
// loop runs the rest (the account's work is already runnable by the wall
// clock), as Stripe's test clocks finish advancing in the background.
const MaxSteps = 5000

// Statuses of a test clock after an advance.
const (
	StatusReady     = "ready"
	StatusAdvancing = "advancing"
)

// Result is what an advance did.
type Result struct {
	Now    int64  `json:"now"`
	Status string `json:"status"`
	// WorkRan counts the due-work items run before answering.
	WorkRan int `json:"work_ran"`
	// WorkRemaining counts the items due by the new time that are left to
	// the workers (past MaxSteps, or held by a worker right now).
	WorkRemaining int `json:"work_remaining"`
}

// Service advances test clocks.
type Service struct {
	db       *store.DB
	accounts *account.Service
	queue    *duework.Queue
	wall     clock.Clock
}

// New returns a Service; wall is the real clock the test clocks shift.
func New(db *store.DB, accounts *account.Service, queue *duework.Queue, wall clock.Clock) *Service {
	return &Service{db: db, accounts: accounts, queue: queue, wall: wall}
}

// Advance moves the account's clock as p says, then runs its work due by
// the new time. The clock only moves forward, within account.ClockAdvance's
// bounds; live accounts have no test clock.
func (s *Service) Advance(ctx context.Context, sc account.Scope, p account.ClockAdvance) (Result, error) {
	var now time.Time
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		delta, moved, err := s.accounts.AdvanceClockTx(ctx, tx, sc, p)
		if err != nil {
			return err
		}
		now = moved
		return duework.Shift(ctx, tx, sc.AccountID, delta, s.wall.Now())
	})
	s.accounts.ClockMoved()
	if err != nil {
		return Result{}, err
	}
	adv, err := s.queue.RunAccount(ctx, sc.AccountID, now, MaxSteps)
	if err != nil {
		// The clock moved; what did not run is runnable and the workers take it.
		return Result{}, fmt.Errorf("due work after the clock advance: %w", err)
	}
	res := Result{Now: now.Unix(), Status: StatusReady, WorkRan: adv.Ran, WorkRemaining: adv.Remaining}
	if adv.Remaining > 0 {
		res.Status = StatusAdvancing
	}
	return res, nil
}
