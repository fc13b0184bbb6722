package billing

import (
	"errors"
	"math"
	"testing"

	"github.com/govalues/decimal"
)

func pct(s string) decimal.Decimal { return decimal.MustParse(s) }

func excl(id, p string) Rate { return Rate{ID: id, Percentage: pct(p)} }
func incl(id, p string) Rate { return Rate{ID: id, Percentage: pct(p), Inclusive: true} }

func TestComputeLine(t *testing.T) {
	tests := []struct {
		name      string
		amount    int64
		rates     []Rate
		net, tax  int64
		total     int64
		perRate   []int64 // tax of each rate, in rate order
		inclusive bool
	}{
		{name: "no rates", amount: 1234, net: 1234, tax: 0, total: 1234},
		{name: "exclusive 7.25% on 1000: 72.5 rounds up", amount: 1000, rates: []Rate{excl("txr_a", "7.25")},
			net: 1000, tax: 73, total: 1073, perRate: []int64{73}},
		{name: "exclusive 10% on 1500 (documented example)", amount: 1500, rates: []Rate{excl("txr_a", "10")},
			net: 1500, tax: 150, total: 1650, perRate: []int64{150}},
		{name: "exclusive 8.875% on 333: 29.55375", amount: 333, rates: []Rate{excl("txr_nyc", "8.875")},
			net: 333, tax: 30, total: 363, perRate: []int64{30}},
		{name: "exclusive 50% on 5: half-up, not half-even", amount: 5, rates: []Rate{excl("txr_a", "50")},
			net: 5, tax: 3, total: 8, perRate: []int64{3}},
		{name: "exclusive 0%", amount: 999, rates: []Rate{excl("txr_zero", "0")},
			net: 999, tax: 0, total: 999, perRate: []int64{0}},
		{name: "exclusive 100%", amount: 999, rates: []Rate{excl("txr_all", "100")},
			net: 999, tax: 999, total: 1998, perRate: []int64{999}},
		{name: "exclusive state 6.25% + county 1.5% on 1000", amount: 1000, rates: []Rate{excl("txr_state", "6.25"), excl("txr_county", "1.5")},
			net: 1000, tax: 78, total: 1078, perRate: []int64{63, 15}},
		{name: "exclusive state 6.25% + county 1.5% on 1999", amount: 1999, rates: []Rate{excl("txr_state", "6.25"), excl("txr_county", "1.5")},
			net: 1999, tax: 155, total: 2154, perRate: []int64{125, 30}},
		{name: "inclusive 10% on 1000", amount: 1000, rates: []Rate{incl("txr_vat", "10")},
			net: 909, tax: 91, total: 1000, perRate: []int64{91}, inclusive: true},
		{name: "inclusive 10% on JPY 1000", amount: 1000, rates: []Rate{incl("txr_jct", "10")},
			net: 909, tax: 91, total: 1000, perRate: []int64{91}, inclusive: true},
		{name: "inclusive 4% on $10.00 (documented example)", amount: 1000, rates: []Rate{incl("txr_a", "4")},
			net: 962, tax: 38, total: 1000, perRate: []int64{38}, inclusive: true},
		{name: "inclusive 100% on 1: net 0.5 rounds up", amount: 1, rates: []Rate{incl("txr_a", "100")},
			net: 1, tax: 0, total: 1, perRate: []int64{0}, inclusive: true},
		{name: "inclusive 0%", amount: 1000, rates: []Rate{incl("txr_zero", "0")},
			net: 1000, tax: 0, total: 1000, perRate: []int64{0}, inclusive: true},
		{name: "inclusive 5% + 3%: leftover unit to the larger rate", amount: 1000,
			rates: []Rate{incl("txr_a", "5"), incl("txr_b", "3")},
			// net 1000/1.08 = 925.93 → 926, tax 74; 46.25 → 46, 27.75 → 27, +1 to 5%.
			net: 926, tax: 74, total: 1000, perRate: []int64{47, 27}, inclusive: true},
		{name: "inclusive 3% + 5%: larger rate listed second", amount: 1000, rates: []Rate{incl("txr_b", "3"), incl("txr_a", "5")},
			net: 926, tax: 74, total: 1000, perRate: []int64{27, 47}, inclusive: true},
		{name: "inclusive GST 5% + PST 7% split exactly", amount: 1120, rates: []Rate{incl("txr_gst", "5"), incl("txr_pst", "7")},
			net: 1000, tax: 120, total: 1120, perRate: []int64{50, 70}, inclusive: true},
		{name: "inclusive 5% + 5% tie: leftover to the first", amount: 1000,
			rates: []Rate{incl("txr_a", "5"), incl("txr_b", "5")},
			// net 1000/1.1 → 909, tax 91; 45.5 each → 45 + 45, +1 to the first.
			net: 909, tax: 91, total: 1000, perRate: []int64{46, 45}, inclusive: true},
		{name: "inclusive zero amount", amount: 0, rates: []Rate{incl("txr_a", "7.5")},
			net: 0, tax: 0, total: 0, perRate: []int64{0}, inclusive: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line, err := ComputeLine(tt.amount, tt.rates)
			if err != nil {
				t.Fatalf("ComputeLine: %v", err)
			}
			if line.Amount != tt.amount || line.Net != tt.net || line.Tax != tt.tax || line.Total != tt.total {
				t.Errorf("got amount %d net %d tax %d total %d, want %d %d %d %d",
					line.Amount, line.Net, line.Tax, line.Total, tt.amount, tt.net, tt.tax, tt.total)
			}
			if line.Inclusive != tt.inclusive {
				t.Errorf("Inclusive = %v, want %v", line.Inclusive, tt.inclusive)
			}
			if len(line.Taxes) != len(tt.perRate) {
				t.Fatalf("got %d line taxes, want %d", len(line.Taxes), len(tt.perRate))
			}
			for i, lt := range line.Taxes {
				if lt.RateID != tt.rates[i].ID || lt.Amount != tt.perRate[i] {
					t.Errorf("tax %d: got %s %d, want %s %d", i, lt.RateID, lt.Amount, tt.rates[i].ID, tt.perRate[i])
				}
				wantTaxable := tt.amount
				if tt.inclusive {
					wantTaxable = tt.net
				}
				if lt.TaxableAmount != wantTaxable {
					t.Errorf("tax %d: taxable amount %d, want %d", i, lt.TaxableAmount, wantTaxable)
				}
				if lt.Inclusive != tt.inclusive {
					t.Errorf("tax %d: Inclusive = %v, want %v", i, lt.Inclusive, tt.inclusive)
				}
			}
		})
	}
}

func TestComputeLineErrors(t *testing.T) {
	tests := []struct {
		name   string
		amount int64
		rates  []Rate
		want   error
	}{
		{"mixed behaviours", 1000, []Rate{excl("txr_a", "5"), incl("txr_b", "5")}, ErrMixedTaxBehavior},
		{"mixed behaviours, inclusive first", 1000, []Rate{incl("txr_a", "5"), excl("txr_b", "5")}, ErrMixedTaxBehavior},
		{"negative amount", -1, []Rate{excl("txr_a", "5")}, ErrNegativeAmount},
		{"negative amount without rates", -1, nil, ErrNegativeAmount},
		{"duplicate rate", 1000, []Rate{excl("txr_a", "5"), excl("txr_a", "5")}, ErrDuplicateRate},
		{"negative percentage", 1000, []Rate{excl("txr_a", "-1")}, ErrInvalidPercentage},
		{"percentage over 100", 1000, []Rate{incl("txr_a", "100.01")}, ErrInvalidPercentage},
		{"too many decimals", 1000, []Rate{excl("txr_a", "7.12345")}, ErrInvalidPercentage},
		{"beyond exact range", math.MaxInt64, []Rate{excl("txr_a", "99.9999")}, ErrOverflow},
		{"six exclusive rates", 1000, rateList(6, false), ErrTooManyRates},
		{"six inclusive rates", 1000, rateList(6, true), ErrTooManyRates},
		{"sixty rates of 100 % (the report)", 1000, rateList(60, false), ErrTooManyRates},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ComputeLine(tt.amount, tt.rates)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got error %v, want %v", err, tt.want)
			}
		})
	}
}

// Three lines of 333 at 8.875% are taxed per line (29.55375 → 30 each), so the
// invoice tax is 90, not round(999 × 8.875%) = 89.
func TestSumRoundsPerLineNotPerInvoice(t *testing.T) {
	rate := []Rate{excl("txr_nyc", "8.875")}
	var lines []Line
	for range 3 {
		line, err := ComputeLine(333, rate)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, line)
	}
	got := Sum(lines)
	want := Totals{
		Subtotal: 999, SubtotalExcludingTax: 999, Tax: 90, Total: 1089, TotalExcludingTax: 999,
		Rates: []RateTotal{{RateID: "txr_nyc", Percentage: pct("8.875"), Amount: 90, TaxableAmount: 999}},
	}
	assertTotals(t, got, want)
}

func TestSumMixedInvoice(t *testing.T) {
	mustLine := func(amount int64, rates ...Rate) Line {
		t.Helper()
		l, err := ComputeLine(amount, rates)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	lines := []Line{
		mustLine(1500, excl("txr_ex", "10")), // tax 150, total 1650
		mustLine(1000, incl("txr_in", "4")),  // net 962, tax 38, total 1000
		mustLine(500),                        // untaxed
		mustLine(250, excl("txr_ex", "10")),  // tax 25, total 275
	}
	got := Sum(lines)
	want := Totals{
		Subtotal:             3250,
		SubtotalExcludingTax: 3212, // 3250 − 38 inclusive tax
		Tax:                  213,
		Total:                3425, // 3250 + 175 exclusive tax
		TotalExcludingTax:    3212,
		Rates: []RateTotal{
			{RateID: "txr_ex", Percentage: pct("10"), Amount: 175, TaxableAmount: 1750},
			{RateID: "txr_in", Percentage: pct("4"), Inclusive: true, Amount: 38, TaxableAmount: 962},
		},
	}
	assertTotals(t, got, want)
}

func TestSumEmpty(t *testing.T) {
	got := Sum(nil)
	if got.Subtotal != 0 || got.Total != 0 || got.Tax != 0 || len(got.Rates) != 0 {
		t.Fatalf("Sum(nil) = %+v, want zero totals", got)
	}
}

func assertTotals(t *testing.T, got, want Totals) {
	t.Helper()
	if got.Subtotal != want.Subtotal || got.SubtotalExcludingTax != want.SubtotalExcludingTax ||
		got.Tax != want.Tax || got.Total != want.Total || got.TotalExcludingTax != want.TotalExcludingTax {
		t.Errorf("totals: got %+v, want %+v", got, want)
	}
	if len(got.Rates) != len(want.Rates) {
		t.Fatalf("rates: got %+v, want %+v", got.Rates, want.Rates)
	}
	for i := range want.Rates {
		g, w := got.Rates[i], want.Rates[i]
		if g.RateID != w.RateID || g.Percentage.Cmp(w.Percentage) != 0 || g.Inclusive != w.Inclusive ||
			g.Amount != w.Amount || g.TaxableAmount != w.TaxableAmount {
			t.Errorf("rate %d: got %+v, want %+v", i, g, w)
		}
	}
}

func TestLineAmount(t *testing.T) {
	tests := []struct {
		unit, qty int64
		want      int64
		err       error
	}{
		{1000, 3, 3000, nil},
		{333, 0, 0, nil},
		{0, math.MaxInt64, 0, nil},
		{math.MaxInt64, 1, math.MaxInt64, nil},
		{math.MaxInt64/2 + 1, 2, 0, ErrOverflow},
		{1 << 32, 1 << 31, 0, ErrOverflow}, // exactly 2^63
		{-1, 1, 0, ErrNegativeAmount},
		{1, -1, 0, ErrNegativeAmount},
	}
	for _, tt := range tests {
		got, err := LineAmount(tt.unit, tt.qty)
		if !errors.Is(err, tt.err) {
			t.Errorf("LineAmount(%d, %d) error = %v, want %v", tt.unit, tt.qty, err, tt.err)
			continue
		}
		if err == nil && got != tt.want {
			t.Errorf("LineAmount(%d, %d) = %d, want %d", tt.unit, tt.qty, got, tt.want)
		}
	}
}

func TestCheckBehavior(t *testing.T) {
	tests := []struct {
		name           string
		priceInclusive bool
		rates          []Rate
		want           error
	}{
		{"no rates, exclusive price", false, nil, nil},
		{"no rates, inclusive price", true, nil, nil},
		{"both exclusive", false, []Rate{excl("txr_a", "5")}, nil},
		{"both inclusive", true, []Rate{incl("txr_a", "5"), incl("txr_b", "2")}, nil},
		{"inclusive price, exclusive rate", true, []Rate{excl("txr_a", "5")}, ErrTaxBehaviorMismatch},
		{"exclusive price, inclusive rate", false, []Rate{incl("txr_a", "5")}, ErrTaxBehaviorMismatch},
		{"mixed rates", false, []Rate{excl("txr_a", "5"), incl("txr_b", "5")}, ErrMixedTaxBehavior},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := CheckBehavior(tt.priceInclusive, tt.rates); !errors.Is(err, tt.want) {
				t.Fatalf("CheckBehavior = %v, want %v", err, tt.want)
			}
		})
	}
}
