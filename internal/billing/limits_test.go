package billing

import (
	"errors"
	"fmt"
	"math"
	"testing"
)

func TestBoundedLineAmount(t *testing.T) {
	tests := []struct {
		unit, qty int64
		want      int64
		field     string // the CeilingError's field, "" for none
		err       error
	}{
		{99_999_999, 1, 99_999_999, "", nil},
		{100_000_000, 1, 0, "unit_amount", ErrAboveCeiling},
		{1, 1_000_000, 1_000_000, "", nil},
		{1, 1_000_001, 0, "quantity", ErrAboveCeiling},
		{0, 1_000_000, 0, "", nil},
		{100, 999_999, 99_999_900, "", nil},
		{100, 1_000_000, 0, "amount", ErrAboveCeiling},                    // 10^8: one more than the line ceiling
		{99_999_999, 1_000_000, 0, "amount", ErrAboveCeiling},             // the report's line
		{math.MaxInt64, math.MaxInt64, 0, "unit_amount", ErrAboveCeiling}, // refused before multiplying
		{-1, 1, 0, "", ErrNegativeAmount},
		{1, -1, 0, "", ErrNegativeAmount},
	}
	for _, tt := range tests {
		got, err := BoundedLineAmount(tt.unit, tt.qty)
		if !errors.Is(err, tt.err) || got != tt.want {
			t.Errorf("BoundedLineAmount(%d, %d) = %d, %v; want %d, %v", tt.unit, tt.qty, got, err, tt.want, tt.err)
			continue
		}
		var ce *CeilingError
		if errors.As(err, &ce) != (tt.field != "") || tt.field != "" && ce.Field != tt.field {
			t.Errorf("BoundedLineAmount(%d, %d) error %v, want field %q", tt.unit, tt.qty, err, tt.field)
		}
	}
}

func TestCeilingChecks(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want bool // above the ceiling
	}{
		{"total at the ceiling", Totals{Total: MaxInvoiceTotal}.CheckTotal(), false},
		{"total above", Totals{Total: MaxInvoiceTotal + 1}.CheckTotal(), true},
		{"charge at the ceiling", CheckCharge(MaxChargeAmount), false},
		{"charge above", CheckCharge(MaxChargeAmount + 1), true},
		{"charge of MaxInt64", CheckCharge(math.MaxInt64), true},
	} {
		if errors.Is(tt.err, ErrAboveCeiling) != tt.want {
			t.Errorf("%s: %v", tt.name, tt.err)
		}
	}
}

// Within the ceilings nothing Kassa computes can overflow or pass 2^53:
// the largest line, taxed at 100 % five times over, a hundred times over.
func TestCeilingsKeepFiguresSafe(t *testing.T) {
	if MaxInvoiceTotal > MaxSafeAmount || MaxChargeAmount > MaxSafeAmount || MaxLineAmount > MaxSafeAmount {
		t.Fatal("a ceiling is beyond 2^53")
	}
	amount, err := BoundedLineAmount(MaxUnitAmount, 1)
	if err != nil {
		t.Fatal(err)
	}
	rates := []Rate{excl("a", "100"), excl("b", "100"), excl("c", "100"), excl("d", "100"), excl("e", "100")}
	line, err := ComputeLine(amount, rates)
	if err != nil {
		t.Fatal(err)
	}
	lines := make([]Line, 100)
	for i := range lines {
		lines[i] = line
	}
	totals := Sum(lines)
	if want := 100 * 6 * MaxLineAmount; totals.Total != want || totals.Total > MaxSafeAmount {
		t.Fatalf("total %d, want %d", totals.Total, want)
	}
	if !errors.Is(totals.CheckTotal(), ErrAboveCeiling) {
		t.Fatal("such an invoice must be refused")
	}
}

// sqlParts sums values the way the balance query does: high and low parts
// apart, with SQL's truncating division (Go's / and % truncate alike).
func sqlParts(values ...int64) (hi, lo int64) {
	for _, v := range values {
		hi += v / PartsDivisor
		lo += v % PartsDivisor
	}
	return hi, lo
}

func TestJoinParts(t *testing.T) {
	tests := []struct {
		name   string
		values []int64
		want   int64
	}{
		{"nothing", nil, 0},
		{"small", []int64{1912, -100, 5}, 1817},
		{"negative", []int64{-5, 3}, -2},
		{"around a part boundary", []int64{PartsDivisor - 1, 1, PartsDivisor + 1}, 2*PartsDivisor + 1},
		{"exactly 2^53 − 1", []int64{MaxSafeAmount - 10, 10}, MaxSafeAmount},
		{"one past 2^53 − 1 clamps", []int64{MaxSafeAmount, 1}, MaxSafeAmount},
		{"past int64 clamps", []int64{math.MaxInt64, math.MaxInt64, math.MaxInt64}, MaxSafeAmount},
		{"past int64 downwards clamps", []int64{math.MinInt64, math.MinInt64}, -MaxSafeAmount},
		{"huge rows cancelling out", []int64{math.MaxInt64, math.MaxInt64, -math.MaxInt64, -math.MaxInt64 + 7}, 7},
	}
	for _, tt := range tests {
		hi, lo := sqlParts(tt.values...)
		if got := JoinParts(hi, lo); got != tt.want {
			t.Errorf("%s: JoinParts(%d, %d) = %d, want %d", tt.name, hi, lo, got, tt.want)
		}
	}
}

func TestAddSafe(t *testing.T) {
	for _, tt := range []struct{ a, b, want int64 }{
		{1, 2, 3},
		{-1, -2, -3},
		{MaxSafeAmount, 0, MaxSafeAmount},
		{MaxSafeAmount, 1, MaxSafeAmount},
		{-MaxSafeAmount, -1, -MaxSafeAmount},
		{math.MaxInt64, math.MaxInt64, MaxSafeAmount},
		{MaxSafeAmount, -MaxSafeAmount, 0},
	} {
		if got := AddSafe(tt.a, tt.b); got != tt.want {
			t.Errorf("AddSafe(%d, %d) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

// rateList is n distinct rates of 100 %, all exclusive or all inclusive.
func rateList(n int, inclusive bool) []Rate {
	rates := make([]Rate, n)
	for i := range rates {
		rates[i] = Rate{ID: fmt.Sprintf("txr_%d", i), Percentage: pct("100"), Inclusive: inclusive}
	}
	return rates
}

func TestTaxRatesPerLine(t *testing.T) {
	for _, tt := range []struct {
		n         int
		inclusive bool
		err       error
	}{
		{MaxTaxRatesPerLine, false, nil},
		{MaxTaxRatesPerLine, true, nil},
		{MaxTaxRatesPerLine + 1, false, ErrTooManyRates},
		{MaxTaxRatesPerLine + 1, true, ErrTooManyRates},
	} {
		if _, err := ComputeLine(1000, rateList(tt.n, tt.inclusive)); !errors.Is(err, tt.err) {
			t.Errorf("%d rates (inclusive %t): error %v, want %v", tt.n, tt.inclusive, err, tt.err)
		}
	}
}
