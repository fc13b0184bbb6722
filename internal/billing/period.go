package billing

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// MaxIntervalCount bounds Interval.Count; it is the limit prices already
// accept for recurring.interval_count.
const MaxIntervalCount = 365

// ErrInvalidInterval reports an interval unit or count that prices cannot have.
var ErrInvalidInterval = errors.New("invalid interval")

// Interval is a price's billing interval: recurring.interval ("day", "week",
// "month" or "year") and recurring.interval_count.
type Interval struct {
	Unit  string
	Count int64
}

// Validate reports an unknown unit or a count outside 1–MaxIntervalCount.
func (i Interval) Validate() error {
	switch i.Unit {
	case "day", "week", "month", "year":
	default:
		return fmt.Errorf("%w: unit %q must be one of day, week, month, year", ErrInvalidInterval, i.Unit)
	}
	if i.Count < 1 || i.Count > MaxIntervalCount {
		return fmt.Errorf("%w: count %d must be between 1 and %d", ErrInvalidInterval, i.Count, MaxIntervalCount)
	}
	return nil
}

// step returns the interval as a number of days (day, week) or of months
// (month, year); exactly one is non-zero. It panics on an invalid interval:
// intervals come from prices, which were validated when they were created,
// so a bad one here is a programming error and a wrong date would be worse.
func (i Interval) step() (days, months int64) {
	if err := i.Validate(); err != nil {
		panic(fmt.Sprintf("billing: %v", err))
	}
	switch i.Unit {
	case "day":
		return i.Count, 0
	case "week":
		return 7 * i.Count, 0
	case "month":
		return 0, i.Count
	}
	return 0, 12 * i.Count
}

// PeriodStart returns the start of period k of a subscription anchored at
// anchor: anchor + k × iv, always computed from the anchor, never from the
// previous period, so that clamping never accumulates (a Jan 31 anchor gives
// Feb 28 or 29, then Mar 31, Apr 30…). Months and years keep the anchor's
// day of month, clamped to the last day of shorter months, and every period
// keeps the anchor's time of day. The result is in UTC, where a day is
// always 24 hours.
//
// k is normally ≥ 0; a negative k counts back from the anchor by the same
// rule. It panics on an invalid interval or on a k so large that the number
// of days or months overflows int64.
func PeriodStart(anchor time.Time, iv Interval, k int64) time.Time {
	a := anchor.UTC()
	days, months := iv.step()
	if days != 0 {
		return a.AddDate(0, 0, int(mulSteps(k, days)))
	}
	n := mulSteps(k, months)
	y, m, d := a.Date()
	// Month arithmetic on a zero-based month index, so that any n lands on
	// the right year and month without time.Date normalising the day.
	idx := int64(y)*12 + int64(m-1) + n
	ty, tm := floorDiv(idx, 12), time.Month(floorMod(idx, 12)+1)
	last := time.Date(int(ty), tm+1, 0, 0, 0, 0, 0, time.UTC).Day()
	return time.Date(int(ty), tm, min(d, last), a.Hour(), a.Minute(), a.Second(), a.Nanosecond(), time.UTC)
}

// PeriodAt returns the period of the subscription anchored at anchor that
// contains t: start ≤ t < end, with start = PeriodStart(anchor, iv, k) and
// end = PeriodStart(anchor, iv, k+1). k is found by division and corrected
// by at most one step either way, so it costs the same for any k. A t
// before the anchor gives a negative k.
func PeriodAt(anchor time.Time, iv Interval, t time.Time) (start, end time.Time, k int64) {
	a, u := anchor.UTC(), t.UTC()
	days, months := iv.step()
	if days != 0 {
		k = floorDiv(u.Unix()-a.Unix(), days*86400)
	} else {
		ay, am, _ := a.Date()
		uy, um, _ := u.Date()
		k = floorDiv((int64(uy)-int64(ay))*12+int64(um)-int64(am), months)
	}
	// The estimate counts whole days or calendar months and ignores the day
	// of month and the time of day, so it is off by at most one period.
	for PeriodStart(a, iv, k).After(u) {
		k--
	}
	for !PeriodStart(a, iv, k+1).After(u) {
		k++
	}
	return PeriodStart(a, iv, k), PeriodStart(a, iv, k+1), k
}

// AddInterval returns t + iv, one step, for one-off lines that cover a single
// period. Subscriptions must use PeriodStart from their anchor instead:
// chaining AddInterval drifts (Jan 31 → Feb 28 → Mar 28).
func AddInterval(t time.Time, iv Interval) time.Time {
	return PeriodStart(t, iv, 1)
}

// mulSteps returns k × step (step > 0), panicking rather than wrapping.
func mulSteps(k, step int64) int64 {
	if k > math.MaxInt64/step || k < math.MinInt64/step {
		panic(fmt.Sprintf("billing: period %d × %d overflows", k, step))
	}
	return k * step
}

// floorDiv and floorMod round towards −∞ (Go's / and % truncate), so that
// periods before the anchor are numbered consistently.
func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func floorMod(a, b int64) int64 {
	return a - floorDiv(a, b)*b
}
