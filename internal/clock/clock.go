// Package clock is the only source of "now" in Kassa's domain code.
//
// Test-mode accounts run on a simulated clock: the real time shifted by an
// offset that POST /test-clock/advance increases. Everything that is due by an
// account's clock (renewals, retries, deliveries) asks that account's Clock.
package clock

import (
	"sync"
	"time"
)

// Clock tells the current time.
type Clock interface {
	Now() time.Time
}

// Real is the wall clock.
type Real struct{}

// Now returns the current UTC time.
func (Real) Now() time.Time { return time.Now().UTC() }

// Offset is a base clock shifted by a fixed duration; test-mode accounts use it.
type Offset struct {
	Base  Clock
	Shift time.Duration
}

// Now returns the base time plus the shift.
func (o Offset) Now() time.Time { return o.Base.Now().Add(o.Shift) }

// Manual is a clock that only moves when told to; tests use it.
type Manual struct {
	mu  sync.Mutex
	now time.Time
}

// NewManual returns a Manual clock reading t.
func NewManual(t time.Time) *Manual { return &Manual{now: t.UTC()} }

// Now returns the clock's current reading.
func (m *Manual) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

// Advance moves the clock forward by d.
func (m *Manual) Advance(d time.Duration) {
	m.mu.Lock()
	m.now = m.now.Add(d)
	m.mu.Unlock()
}

// Frozen always reads the same time: due work runs on it, at the time it
// was due, so that what it stamps reads as it would have on time.
type Frozen time.Time

// Now returns the frozen time.
func (f Frozen) Now() time.Time { return time.Time(f).UTC() }
