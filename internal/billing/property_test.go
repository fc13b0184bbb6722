package billing

import (
	"errors"
	"fmt"
	"math/big"
	"testing"

	"github.com/govalues/decimal"
	"pgregory.net/rapid"
)

// maxTestAmount keeps generated lines in a realistic but generous range
// (ten billion dollars) where exact maths is guaranteed.
const maxTestAmount = 1_000_000_000_000

// percentGen draws a valid percentage: 0–100 with up to 4 decimal places.
func percentGen() *rapid.Generator[decimal.Decimal] {
	return rapid.Custom(func(t *rapid.T) decimal.Decimal {
		return decimal.MustNew(rapid.Int64Range(0, 1_000_000).Draw(t, "percent×10⁴"), 4)
	})
}

// ratesGen draws 1–4 rates with distinct IDs sharing one behaviour.
func ratesGen(inclusive bool) *rapid.Generator[[]Rate] {
	return rapid.Custom(func(t *rapid.T) []Rate {
		n := rapid.IntRange(1, 4).Draw(t, "rates")
		rates := make([]Rate, n)
		for i := range rates {
			rates[i] = Rate{ID: fmt.Sprintf("txr_%d", i), Percentage: percentGen().Draw(t, "percentage"), Inclusive: inclusive}
		}
		return rates
	})
}

// The oracle below recomputes the rounding rule with math/big rationals,
// independently of the decimal-based implementation.

func ratOf(d decimal.Decimal) *big.Rat {
	r, ok := new(big.Rat).SetString(d.String())
	if !ok {
		panic("bad decimal " + d.String())
	}
	return r
}

// roundHalfUp rounds a non-negative rational half-up to an integer.
func roundHalfUp(r *big.Rat) int64 {
	// ⌊r + 1/2⌋ for r ≥ 0.
	s := new(big.Rat).Add(r, big.NewRat(1, 2))
	q := new(big.Int).Quo(s.Num(), s.Denom())
	return q.Int64()
}

func oracleExclusiveTax(amount int64, p decimal.Decimal) int64 {
	r := new(big.Rat).Mul(big.NewRat(amount, 100), ratOf(p))
	return roundHalfUp(r)
}

func oracleInclusiveNet(amount int64, rates []Rate) int64 {
	sum := new(big.Rat)
	for _, r := range rates {
		sum.Add(sum, ratOf(r.Percentage))
	}
	divisor := new(big.Rat).Add(big.NewRat(1, 1), new(big.Rat).Quo(sum, big.NewRat(100, 1)))
	return roundHalfUp(new(big.Rat).Quo(big.NewRat(amount, 1), divisor))
}

func TestPropertyExclusive(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		amount := rapid.Int64Range(0, maxTestAmount).Draw(t, "amount")
		rates := ratesGen(false).Draw(t, "rates")
		line, err := ComputeLine(amount, rates)
		if err != nil {
			t.Fatalf("ComputeLine: %v", err)
		}
		if line.Total != line.Amount+line.Tax {
			t.Fatalf("total %d != amount %d + tax %d", line.Total, line.Amount, line.Tax)
		}
		if line.Net != amount || line.Amount != amount {
			t.Fatalf("exclusive line changed its amount: %+v", line)
		}
		var sum int64
		for i, lt := range line.Taxes {
			if lt.Amount < 0 {
				t.Fatalf("negative tax %d", lt.Amount)
			}
			if want := oracleExclusiveTax(amount, rates[i].Percentage); lt.Amount != want {
				t.Fatalf("rate %v on %d: tax %d, oracle %d", rates[i].Percentage, amount, lt.Amount, want)
			}
			if lt.TaxableAmount != amount {
				t.Fatalf("taxable amount %d, want %d", lt.TaxableAmount, amount)
			}
			sum += lt.Amount
		}
		if sum != line.Tax {
			t.Fatalf("Σ per-rate tax %d != line tax %d", sum, line.Tax)
		}
	})
}

func TestPropertyInclusive(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		amount := rapid.Int64Range(0, maxTestAmount).Draw(t, "amount")
		rates := ratesGen(true).Draw(t, "rates")
		line, err := ComputeLine(amount, rates)
		if err != nil {
			t.Fatalf("ComputeLine: %v", err)
		}
		// Including tax never changes what the customer is charged.
		if line.Total != amount || line.Amount != amount {
			t.Fatalf("inclusive line charges %d for amount %d", line.Total, amount)
		}
		if line.Net+line.Tax != amount {
			t.Fatalf("net %d + tax %d != amount %d", line.Net, line.Tax, amount)
		}
		if want := oracleInclusiveNet(amount, rates); line.Net != want {
			t.Fatalf("net %d, oracle %d", line.Net, want)
		}
		if line.Tax < 0 {
			t.Fatalf("negative tax %d", line.Tax)
		}
		var sum int64
		for _, lt := range line.Taxes {
			if lt.Amount < 0 {
				t.Fatalf("negative share %d", lt.Amount)
			}
			if lt.TaxableAmount != line.Net {
				t.Fatalf("taxable amount %d, want net %d", lt.TaxableAmount, line.Net)
			}
			sum += lt.Amount
		}
		if sum != line.Tax {
			t.Fatalf("Σ per-rate tax %d != line tax %d", sum, line.Tax)
		}
		checkProportional(t, line, rates)
	})
}

// checkProportional verifies each share is its exact proportional share
// rounded down or up by at most one unit.
func checkProportional(t *rapid.T, line Line, rates []Rate) {
	total := new(big.Rat)
	for _, r := range rates {
		total.Add(total, ratOf(r.Percentage))
	}
	if total.Sign() == 0 {
		return
	}
	for i, lt := range line.Taxes {
		exact := new(big.Rat).Mul(big.NewRat(line.Tax, 1), new(big.Rat).Quo(ratOf(rates[i].Percentage), total))
		floor := new(big.Int).Quo(exact.Num(), exact.Denom()).Int64()
		if lt.Amount != floor && lt.Amount != floor+1 {
			t.Fatalf("share %d of rate %v is %d, exact %s", i, rates[i].Percentage, lt.Amount, exact.FloatString(4))
		}
	}
}

// Beyond the realistic range ComputeLine may refuse with ErrOverflow, but it
// must never return a wrong figure.
func TestPropertyHugeAmountsExactOrRefused(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		amount := rapid.Int64Min(0).Draw(t, "amount")
		inclusive := rapid.Bool().Draw(t, "inclusive")
		rates := ratesGen(inclusive).Draw(t, "rates")
		line, err := ComputeLine(amount, rates)
		if err != nil {
			if !errors.Is(err, ErrOverflow) {
				t.Fatalf("ComputeLine(%d): unexpected error %v", amount, err)
			}
			return
		}
		if inclusive {
			if want := oracleInclusiveNet(amount, rates); line.Net != want || line.Total != amount {
				t.Fatalf("net %d total %d, oracle net %d", line.Net, line.Total, want)
			}
			return
		}
		for i, lt := range line.Taxes {
			if want := oracleExclusiveTax(amount, rates[i].Percentage); lt.Amount != want {
				t.Fatalf("tax %d, oracle %d", lt.Amount, want)
			}
		}
	})
}

func TestPropertySum(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		// A small pool of rates so lines share them, as on real invoices.
		pool := []Rate{
			{ID: "txr_ex1", Percentage: percentGen().Draw(t, "ex1")},
			{ID: "txr_ex2", Percentage: percentGen().Draw(t, "ex2")},
			{ID: "txr_in1", Percentage: percentGen().Draw(t, "in1"), Inclusive: true},
			{ID: "txr_in2", Percentage: percentGen().Draw(t, "in2"), Inclusive: true},
		}
		n := rapid.IntRange(0, 8).Draw(t, "lines")
		lines := make([]Line, n)
		for i := range lines {
			amount := rapid.Int64Range(0, maxTestAmount).Draw(t, "amount")
			var rates []Rate
			switch rapid.IntRange(0, 3).Draw(t, "kind") {
			case 1:
				rates = []Rate{pool[0]}
			case 2:
				rates = pool[:2]
			case 3:
				rates = pool[2:]
			}
			line, err := ComputeLine(amount, rates)
			if err != nil {
				t.Fatalf("ComputeLine: %v", err)
			}
			lines[i] = line
		}
		got := Sum(lines)

		var subtotal, net, tax, total, exclusiveTax, inclusiveTax int64
		for _, l := range lines {
			subtotal += l.Amount
			net += l.Net
			tax += l.Tax
			total += l.Total
			if l.Inclusive {
				inclusiveTax += l.Tax
			} else {
				exclusiveTax += l.Tax
			}
		}
		if got.Subtotal != subtotal || got.SubtotalExcludingTax != net || got.Tax != tax ||
			got.Total != total || got.TotalExcludingTax != net {
			t.Fatalf("Sum = %+v, line sums subtotal %d net %d tax %d total %d", got, subtotal, net, tax, total)
		}
		if got.Total != got.Subtotal+exclusiveTax {
			t.Fatalf("total %d != subtotal %d + exclusive tax %d", got.Total, got.Subtotal, exclusiveTax)
		}
		if got.SubtotalExcludingTax != got.Subtotal-inclusiveTax {
			t.Fatalf("subtotal excl. tax %d != subtotal %d − inclusive tax %d", got.SubtotalExcludingTax, got.Subtotal, inclusiveTax)
		}
		var rateSum int64
		seen := map[string]bool{}
		for _, rt := range got.Rates {
			if seen[rt.RateID] {
				t.Fatalf("rate %s listed twice", rt.RateID)
			}
			seen[rt.RateID] = true
			rateSum += rt.Amount
		}
		if rateSum != got.Tax {
			t.Fatalf("Σ per-rate totals %d != tax %d", rateSum, got.Tax)
		}
	})
}

func TestPropertyPercentFee(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		amount := rapid.Int64Range(-maxTestAmount, maxTestAmount).Draw(t, "amount")
		p := percentGen().Draw(t, "percent")
		got := PercentFee(amount, p)
		abs := amount
		if abs < 0 {
			abs = -abs
		}
		want := oracleExclusiveTax(abs, p)
		if amount < 0 {
			want = -want
		}
		if got != want {
			t.Fatalf("PercentFee(%d, %v) = %d, oracle %d", amount, p, got, want)
		}
	})
}

func TestPropertyParsePercentageRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := percentGen().Draw(t, "percent")
		got, err := ParsePercentage(p.String())
		if err != nil {
			t.Fatalf("ParsePercentage(%q): %v", p.String(), err)
		}
		if got.Cmp(p) != 0 {
			t.Fatalf("ParsePercentage(%q) = %v", p.String(), got)
		}
	})
}

func TestPropertyLineAmount(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		unit := rapid.Int64Min(0).Draw(t, "unit")
		qty := rapid.Int64Min(0).Draw(t, "qty")
		exact := new(big.Int).Mul(big.NewInt(unit), big.NewInt(qty))
		got, err := LineAmount(unit, qty)
		if exact.IsInt64() {
			if err != nil || got != exact.Int64() {
				t.Fatalf("LineAmount(%d, %d) = %d, %v; want %s", unit, qty, got, err, exact)
			}
		} else if err == nil {
			t.Fatalf("LineAmount(%d, %d) = %d, want overflow error", unit, qty, got)
		}
	})
}
