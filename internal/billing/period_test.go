package billing

import (
	"errors"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func utc(y int, m time.Month, d, h, mi, s int) time.Time {
	return time.Date(y, m, d, h, mi, s, 0, time.UTC)
}

func date(y int, m time.Month, d int) time.Time { return utc(y, m, d, 0, 0, 0) }

var (
	monthly = Interval{Unit: "month", Count: 1}
	yearly  = Interval{Unit: "year", Count: 1}
)

func TestIntervalValidate(t *testing.T) {
	for _, tt := range []struct {
		iv Interval
		ok bool
	}{
		{Interval{"day", 1}, true},
		{Interval{"week", 52}, true},
		{Interval{"month", 3}, true},
		{Interval{"year", 1}, true},
		{Interval{"month", MaxIntervalCount}, true},
		{Interval{"month", MaxIntervalCount + 1}, false},
		{Interval{"month", 0}, false},
		{Interval{"month", -1}, false},
		{Interval{"Month", 1}, false},
		{Interval{"quarter", 1}, false},
		{Interval{"", 1}, false},
	} {
		err := tt.iv.Validate()
		if (err == nil) != tt.ok || err != nil && !errors.Is(err, ErrInvalidInterval) {
			t.Errorf("%+v.Validate() = %v, want ok=%v", tt.iv, err, tt.ok)
		}
	}
}

func TestPeriodStart(t *testing.T) {
	tests := []struct {
		name   string
		anchor time.Time
		iv     Interval
		want   []time.Time // PeriodStart for k = 0, 1, 2, …
	}{
		{"Jan 31 monthly, through leap Feb 29 2028", utc(2027, 1, 31, 9, 30, 15), monthly, []time.Time{
			utc(2027, 1, 31, 9, 30, 15), utc(2027, 2, 28, 9, 30, 15), utc(2027, 3, 31, 9, 30, 15),
			utc(2027, 4, 30, 9, 30, 15), utc(2027, 5, 31, 9, 30, 15), utc(2027, 6, 30, 9, 30, 15),
			utc(2027, 7, 31, 9, 30, 15), utc(2027, 8, 31, 9, 30, 15), utc(2027, 9, 30, 9, 30, 15),
			utc(2027, 10, 31, 9, 30, 15), utc(2027, 11, 30, 9, 30, 15), utc(2027, 12, 31, 9, 30, 15),
			utc(2028, 1, 31, 9, 30, 15), utc(2028, 2, 29, 9, 30, 15), utc(2028, 3, 31, 9, 30, 15),
		}},
		{"Jan 30 monthly", date(2027, 1, 30), monthly, []time.Time{
			date(2027, 1, 30), date(2027, 2, 28), date(2027, 3, 30), date(2027, 4, 30),
		}},
		{"Feb 29 yearly", date(2028, 2, 29), yearly, []time.Time{
			date(2028, 2, 29), date(2029, 2, 28), date(2030, 2, 28), date(2031, 2, 28), date(2032, 2, 29), date(2033, 2, 28),
		}},
		{"every 3 months from Nov 30", utc(2026, 11, 30, 10, 30, 0), Interval{"month", 3}, []time.Time{
			utc(2026, 11, 30, 10, 30, 0), utc(2027, 2, 28, 10, 30, 0), utc(2027, 5, 30, 10, 30, 0),
			utc(2027, 8, 30, 10, 30, 0), utc(2027, 11, 30, 10, 30, 0),
		}},
		{"every 2 years", date(2026, 3, 15), Interval{"year", 2}, []time.Time{
			date(2026, 3, 15), date(2028, 3, 15), date(2030, 3, 15),
		}},
		{"weekly across a year end", date(2026, 12, 24), Interval{"week", 1}, []time.Time{
			date(2026, 12, 24), date(2026, 12, 31), date(2027, 1, 7), date(2027, 1, 14),
		}},
		{"every 2 weeks", date(2028, 2, 15), Interval{"week", 2}, []time.Time{
			date(2028, 2, 15), date(2028, 2, 29), date(2028, 3, 14),
		}},
		{"daily across leap day", utc(2028, 2, 27, 23, 59, 59), Interval{"day", 1}, []time.Time{
			utc(2028, 2, 27, 23, 59, 59), utc(2028, 2, 28, 23, 59, 59), utc(2028, 2, 29, 23, 59, 59), utc(2028, 3, 1, 23, 59, 59),
		}},
		{"every 30 days", date(2026, 1, 31), Interval{"day", 30}, []time.Time{
			date(2026, 1, 31), date(2026, 3, 2), date(2026, 4, 1),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, want := range tt.want {
				if got := PeriodStart(tt.anchor, tt.iv, int64(k)); !got.Equal(want) || got.Location() != time.UTC {
					t.Errorf("k=%d: got %v, want %v", k, got, want)
				}
			}
		})
	}
}

func TestPeriodStartFarAndBefore(t *testing.T) {
	anchor := date(2027, 1, 31)
	for _, tt := range []struct {
		iv   Interval
		k    int64
		want time.Time
	}{
		{monthly, 1200, date(2127, 1, 31)},
		{monthly, 1201, date(2127, 2, 28)},
		{Interval{"day", 1}, 36524, date(2127, 1, 31)}, // 24 leap days: 2100 is not one
		{monthly, -1, date(2026, 12, 31)},
		{monthly, -2, date(2026, 11, 30)},
		{yearly, -1, date(2026, 1, 31)},
	} {
		if got := PeriodStart(anchor, tt.iv, tt.k); !got.Equal(tt.want) {
			t.Errorf("PeriodStart(%v, %+v, %d) = %v, want %v", anchor, tt.iv, tt.k, got, tt.want)
		}
	}
}

// The anchor's instant is kept and expressed in UTC: its UTC day of month
// is the one that repeats.
func TestPeriodStartZone(t *testing.T) {
	est := time.FixedZone("EST", -5*3600)
	anchor := time.Date(2026, 1, 31, 20, 0, 0, 0, est) // Feb 1, 01:00 UTC
	got := PeriodStart(anchor, monthly, 1)
	if want := utc(2026, 3, 1, 1, 0, 0); !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestPeriodStartInvalidPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic on an invalid interval")
		}
	}()
	PeriodStart(date(2026, 1, 1), Interval{"fortnight", 1}, 1)
}

func TestAddInterval(t *testing.T) {
	for _, tt := range []struct {
		t    time.Time
		iv   Interval
		want time.Time
	}{
		{date(2027, 1, 31), monthly, date(2027, 2, 28)},
		{date(2028, 1, 31), monthly, date(2028, 2, 29)},
		{date(2027, 2, 28), monthly, date(2027, 3, 28)}, // one step knows no anchor
		{date(2028, 2, 29), yearly, date(2029, 2, 28)},
		{date(2026, 5, 10), Interval{"week", 2}, date(2026, 5, 24)},
		{date(2026, 12, 31), Interval{"day", 1}, date(2027, 1, 1)},
	} {
		if got := AddInterval(tt.t, tt.iv); !got.Equal(tt.want) {
			t.Errorf("AddInterval(%v, %+v) = %v, want %v", tt.t, tt.iv, got, tt.want)
		}
	}
}

func TestPeriodAt(t *testing.T) {
	anchor := utc(2027, 1, 31, 12, 0, 0)
	tests := []struct {
		name       string
		iv         Interval
		t          time.Time
		start, end time.Time
		k          int64
	}{
		{"at the anchor", monthly, anchor, anchor, utc(2027, 2, 28, 12, 0, 0), 0},
		{"a second before the first boundary", monthly, utc(2027, 2, 28, 11, 59, 59), anchor, utc(2027, 2, 28, 12, 0, 0), 0},
		{"at the first boundary", monthly, utc(2027, 2, 28, 12, 0, 0), utc(2027, 2, 28, 12, 0, 0), utc(2027, 3, 31, 12, 0, 0), 1},
		{"a nanosecond before a boundary", monthly, utc(2027, 3, 31, 12, 0, 0).Add(-1), utc(2027, 2, 28, 12, 0, 0), utc(2027, 3, 31, 12, 0, 0), 1},
		{"same day of month, earlier clock", monthly, utc(2027, 3, 31, 11, 0, 0), utc(2027, 2, 28, 12, 0, 0), utc(2027, 3, 31, 12, 0, 0), 1},
		{"leap Feb 29 boundary", monthly, utc(2028, 2, 29, 12, 0, 0), utc(2028, 2, 29, 12, 0, 0), utc(2028, 3, 31, 12, 0, 0), 13},
		{"a second before leap Feb 29", monthly, utc(2028, 2, 29, 11, 59, 59), utc(2028, 1, 31, 12, 0, 0), utc(2028, 2, 29, 12, 0, 0), 12},
		{"a hundred years on", monthly, utc(2127, 2, 27, 0, 0, 0), utc(2127, 1, 31, 12, 0, 0), utc(2127, 2, 28, 12, 0, 0), 1200},
		{"yearly boundary", yearly, utc(2028, 1, 31, 12, 0, 0), utc(2028, 1, 31, 12, 0, 0), utc(2029, 1, 31, 12, 0, 0), 1},
		{"yearly a second before", yearly, utc(2028, 1, 31, 11, 59, 59), anchor, utc(2028, 1, 31, 12, 0, 0), 0},
		{"weekly boundary", Interval{"week", 1}, utc(2027, 2, 7, 12, 0, 0), utc(2027, 2, 7, 12, 0, 0), utc(2027, 2, 14, 12, 0, 0), 1},
		{"weekly a second before", Interval{"week", 1}, utc(2027, 2, 7, 11, 59, 59), anchor, utc(2027, 2, 7, 12, 0, 0), 0},
		{"daily, many periods on", Interval{"day", 1}, utc(2037, 1, 31, 11, 59, 59), utc(2037, 1, 30, 12, 0, 0), utc(2037, 1, 31, 12, 0, 0), 3652},
		{"before the anchor", monthly, utc(2027, 1, 31, 11, 0, 0), utc(2026, 12, 31, 12, 0, 0), anchor, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start, end, k := PeriodAt(anchor, tt.iv, tt.t)
			if !start.Equal(tt.start) || !end.Equal(tt.end) || k != tt.k {
				t.Errorf("got %v – %v (k=%d), want %v – %v (k=%d)", start, end, k, tt.start, tt.end, tt.k)
			}
		})
	}
}

func intervalGen() *rapid.Generator[Interval] {
	return rapid.Custom(func(t *rapid.T) Interval {
		unit := rapid.SampledFrom([]string{"day", "week", "month", "year"}).Draw(t, "unit")
		// Mostly small counts, like real prices, but up to the maximum.
		count := rapid.OneOf(rapid.Int64Range(1, 12), rapid.Int64Range(1, MaxIntervalCount)).Draw(t, "count")
		return Interval{Unit: unit, Count: count}
	})
}

// anchorGen draws instants from 1970 to 2100 with any clock and zone.
func anchorGen() *rapid.Generator[time.Time] {
	return rapid.Custom(func(t *rapid.T) time.Time {
		sec := rapid.Int64Range(0, date(2100, 1, 1).Unix()).Draw(t, "unix")
		nsec := rapid.OneOf(rapid.Just(int64(0)), rapid.Int64Range(0, 999_999_999)).Draw(t, "nsec")
		offset := rapid.IntRange(-12, 14).Draw(t, "zone hours")
		return time.Unix(sec, nsec).In(time.FixedZone("Z", offset*3600))
	})
}

func TestPropertyPeriodStartIncreasing(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		anchor, iv := anchorGen().Draw(t, "anchor"), intervalGen().Draw(t, "interval")
		k := rapid.Int64Range(-50, 2000).Draw(t, "k")
		a, b := PeriodStart(anchor, iv, k), PeriodStart(anchor, iv, k+1)
		if !a.Before(b) {
			t.Fatalf("PeriodStart(k=%d) = %v is not before PeriodStart(k+1) = %v", k, a, b)
		}
		if k == 0 && !a.Equal(anchor) {
			t.Fatalf("PeriodStart(k=0) = %v, want the anchor %v", a, anchor)
		}
	})
}

// directStart is PeriodStart written independently: one jump of k × count
// units from the anchor, clamped once.
func directStart(anchor time.Time, iv Interval, k int64) time.Time {
	a := anchor.UTC()
	n := int(k * iv.Count)
	switch iv.Unit {
	case "day":
		return time.Unix(a.Unix()+int64(n)*86400, int64(a.Nanosecond())).UTC()
	case "week":
		return time.Unix(a.Unix()+int64(n)*7*86400, int64(a.Nanosecond())).UTC()
	case "year":
		n *= 12
	}
	y, m, d := a.Date()
	first := time.Date(y, m+time.Month(n), 1, a.Hour(), a.Minute(), a.Second(), a.Nanosecond(), time.UTC)
	last := first.AddDate(0, 1, -1).Day()
	return first.AddDate(0, 0, min(d, last)-1)
}

func TestPropertyPeriodStartIsDirect(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		anchor, iv := anchorGen().Draw(t, "anchor"), intervalGen().Draw(t, "interval")
		k := rapid.Int64Range(0, 120).Draw(t, "k")
		got := PeriodStart(anchor, iv, k)
		if want := directStart(anchor, iv, k); !got.Equal(want) {
			t.Fatalf("PeriodStart(%v, %+v, %d) = %v, direct formula %v", anchor, iv, k, got, want)
		}
		// Every period keeps the anchor's clock, and months and years its
		// day of month (or the month's last day when shorter).
		a := anchor.UTC()
		if got.Hour() != a.Hour() || got.Minute() != a.Minute() || got.Second() != a.Second() || got.Nanosecond() != a.Nanosecond() {
			t.Fatalf("period %d starts at %v, not at the anchor's time of day %v", k, got, a)
		}
		if iv.Unit == "month" || iv.Unit == "year" {
			last := time.Date(got.Year(), got.Month()+1, 0, 0, 0, 0, 0, time.UTC).Day()
			if got.Day() != min(a.Day(), last) {
				t.Fatalf("period %d starts on day %d, want %d", k, got.Day(), min(a.Day(), last))
			}
		}
		// The same instant whatever the unit it is spelled in.
		var same Interval
		switch iv.Unit {
		case "week":
			same = Interval{"day", 7 * iv.Count}
		case "year":
			same = Interval{"month", 12 * iv.Count}
		default:
			same = Interval{iv.Unit, 1}
			k *= iv.Count
		}
		if same.Count <= MaxIntervalCount {
			if other := PeriodStart(anchor, same, k); !other.Equal(got) {
				t.Fatalf("%+v gives %v but %+v gives %v", iv, got, same, other)
			}
		}
	})
}

func TestPropertyPeriodAt(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		anchor, iv := anchorGen().Draw(t, "anchor"), intervalGen().Draw(t, "interval")
		var at time.Time
		if rapid.Bool().Draw(t, "on a boundary") {
			k := rapid.Int64Range(0, 500).Draw(t, "boundary")
			at = PeriodStart(anchor, iv, k).Add(time.Duration(rapid.Int64Range(-1, 1).Draw(t, "±1s")) * time.Second)
		} else {
			at = anchor.Add(time.Duration(rapid.Int64Range(0, 200*365*86400).Draw(t, "seconds later")) * time.Second)
		}
		start, end, k := PeriodAt(anchor, iv, at)
		if start.After(at) || !at.Before(end) {
			t.Fatalf("PeriodAt(%v) = %v – %v, does not contain it", at, start, end)
		}
		if !start.Equal(PeriodStart(anchor, iv, k)) || !end.Equal(PeriodStart(anchor, iv, k+1)) {
			t.Fatalf("PeriodAt gives %v – %v for k=%d, PeriodStart does not agree", start, end, k)
		}
		if !at.Before(anchor) && k < 0 {
			t.Fatalf("k=%d for %v, at or after the anchor %v", k, at, anchor)
		}
	})
}
