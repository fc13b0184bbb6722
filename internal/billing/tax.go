package billing

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/govalues/decimal"
)

var (
	// ErrMixedTaxBehavior reports inclusive and exclusive rates on one line;
	// the two cannot be combined meaningfully, so a line uses one kind.
	ErrMixedTaxBehavior = errors.New("tax rates on one line must all be inclusive or all be exclusive")
	// ErrTaxBehaviorMismatch reports a price whose tax_behavior disagrees
	// with the inclusive flag of the rates applied to it.
	ErrTaxBehaviorMismatch = errors.New("price tax behavior does not match its tax rates")
	// ErrNegativeAmount reports a negative amount or quantity: there are no
	// negative lines, so there is never negative tax.
	ErrNegativeAmount = errors.New("amount must not be negative")
	// ErrDuplicateRate reports the same tax rate applied twice to one line.
	ErrDuplicateRate = errors.New("tax rate applied more than once")
)

// Rate is a tax rate as it applies to a line.
type Rate struct {
	ID         string
	Percentage decimal.Decimal // 0–100, at most MaxPercentDecimals places
	Inclusive  bool
}

// LineTax is the tax one rate contributes to one line.
type LineTax struct {
	RateID        string
	Percentage    decimal.Decimal
	Inclusive     bool
	Amount        int64 // tax, in minor units
	TaxableAmount int64 // the base the rate applies to: the line amount if exclusive, the net if inclusive
}

// Line is a priced line with its tax worked out.
type Line struct {
	Amount    int64 // unit_amount × quantity; tax-included for inclusive lines
	Net       int64 // Amount without tax
	Tax       int64 // Σ Taxes[i].Amount
	Total     int64 // what the customer pays for the line
	Inclusive bool
	Taxes     []LineTax
}

// LineAmount returns unitAmount × quantity, failing rather than wrapping
// around on overflow.
func LineAmount(unitAmount, quantity int64) (int64, error) {
	if unitAmount < 0 {
		return 0, fmt.Errorf("%w: unit amount %d", ErrNegativeAmount, unitAmount)
	}
	if quantity < 0 {
		return 0, fmt.Errorf("%w: quantity %d", ErrNegativeAmount, quantity)
	}
	if quantity != 0 && unitAmount > math.MaxInt64/quantity {
		return 0, fmt.Errorf("%w: %d × %d overflows int64", ErrOverflow, unitAmount, quantity)
	}
	return unitAmount * quantity, nil
}

// ComputeLine works out the tax on a line amount under the given rates,
// following the package's rounding rule. All rates must share one Inclusive
// value (else ErrMixedTaxBehavior), and there may be at most
// MaxTaxRatesPerLine of them (else ErrTooManyRates); with no rates the line
// is untaxed.
func ComputeLine(amount int64, rates []Rate) (Line, error) {
	if amount < 0 {
		return Line{}, fmt.Errorf("%w: line amount %d", ErrNegativeAmount, amount)
	}
	if len(rates) == 0 {
		return Line{Amount: amount, Net: amount, Total: amount}, nil
	}
	inclusive, err := ratesBehavior(rates)
	if err != nil {
		return Line{}, err
	}
	if err := checkRates(rates); err != nil {
		return Line{}, err
	}
	if inclusive {
		return inclusiveLine(amount, rates)
	}
	return exclusiveLine(amount, rates)
}

// exclusiveLine taxes each rate independently on the full amount and adds
// the taxes on top.
func exclusiveLine(amount int64, rates []Rate) (Line, error) {
	line := Line{Amount: amount, Net: amount, Taxes: make([]LineTax, len(rates))}
	for i, r := range rates {
		tax, err := mulDivHalfUp(amount, r.Percentage, decimal.Hundred)
		if err != nil {
			return Line{}, fmt.Errorf("tax rate %s on %d: %w", r.ID, amount, err)
		}
		line.Taxes[i] = LineTax{RateID: r.ID, Percentage: r.Percentage, Amount: tax, TaxableAmount: amount}
		if line.Tax, err = addInt64(line.Tax, tax); err != nil {
			return Line{}, err
		}
	}
	total, err := addInt64(amount, line.Tax)
	if err != nil {
		return Line{}, err
	}
	line.Total = total
	return line, nil
}

// inclusiveLine backs the net out of a tax-included amount in one step over
// the combined percentage, then shares the tax between the rates. Rounding
// the net once (rather than each rate's tax) guarantees net + tax == amount,
// so including tax never changes what the customer is charged.
func inclusiveLine(amount int64, rates []Rate) (Line, error) {
	sum := decimal.Zero
	for _, r := range rates {
		var err error
		if sum, err = sum.AddExact(r.Percentage, MaxPercentDecimals); err != nil {
			return Line{}, fmt.Errorf("%w: %v", ErrOverflow, err)
		}
	}
	net := amount
	if !sum.IsZero() {
		divisor, err := decimal.Hundred.AddExact(sum, MaxPercentDecimals)
		if err != nil {
			return Line{}, fmt.Errorf("%w: %v", ErrOverflow, err)
		}
		if net, err = mulDivHalfUp(amount, decimal.Hundred, divisor); err != nil {
			return Line{}, fmt.Errorf("inclusive tax on %d: %w", amount, err)
		}
	}
	tax := amount - net
	shares, err := splitTax(tax, rates, sum)
	if err != nil {
		return Line{}, err
	}
	line := Line{Amount: amount, Net: net, Tax: tax, Total: amount, Inclusive: true, Taxes: make([]LineTax, len(rates))}
	for i, r := range rates {
		line.Taxes[i] = LineTax{RateID: r.ID, Percentage: r.Percentage, Inclusive: true, Amount: shares[i], TaxableAmount: net}
	}
	return line, nil
}

// splitTax shares tax between rates in proportion to their percentages.
// Each share is floored, then the minor units left over go one at a time to
// the largest rate first (ties: the earlier rate), so the shares always add
// up to tax and the split is deterministic.
func splitTax(tax int64, rates []Rate, sum decimal.Decimal) ([]int64, error) {
	shares := make([]int64, len(rates))
	if len(rates) == 1 {
		shares[0] = tax
		return shares, nil
	}
	if tax == 0 || sum.IsZero() {
		return shares, nil
	}
	left := tax
	for i, r := range rates {
		share, err := mulDivFloor(tax, r.Percentage, sum)
		if err != nil {
			return nil, fmt.Errorf("splitting tax %d: %w", tax, err)
		}
		shares[i] = share
		left -= share
	}
	order := make([]int, len(rates))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		return rates[order[a]].Percentage.Cmp(rates[order[b]].Percentage) > 0
	})
	// Flooring loses less than one unit per rate, so this loop runs fewer
	// than len(rates) times.
	for i := 0; left > 0; i = (i + 1) % len(order) {
		shares[order[i]]++
		left--
	}
	return shares, nil
}

// ratesBehavior returns the rates' shared Inclusive flag.
func ratesBehavior(rates []Rate) (inclusive bool, err error) {
	inclusive = rates[0].Inclusive
	for _, r := range rates[1:] {
		if r.Inclusive != inclusive {
			return false, fmt.Errorf("%w: %s is %s but %s is %s", ErrMixedTaxBehavior,
				rates[0].ID, behaviorName(inclusive), r.ID, behaviorName(r.Inclusive))
		}
	}
	return inclusive, nil
}

// checkRates rejects too many rates, out-of-range percentages and repeated
// rate IDs.
func checkRates(rates []Rate) error {
	if len(rates) > MaxTaxRatesPerLine {
		return fmt.Errorf("%w: got %d", ErrTooManyRates, len(rates))
	}
	seen := make(map[string]bool, len(rates))
	for _, r := range rates {
		if seen[r.ID] {
			return fmt.Errorf("%w: %q", ErrDuplicateRate, r.ID)
		}
		seen[r.ID] = true
		if err := checkPercentage(r.Percentage); err != nil {
			return fmt.Errorf("tax rate %s: %w", r.ID, err)
		}
	}
	return nil
}

func behaviorName(inclusive bool) string {
	if inclusive {
		return "inclusive"
	}
	return "exclusive"
}

// CheckBehavior reports whether a price's tax_behavior (inclusive or not)
// agrees with the rates applied to it. The rate decides how tax is computed,
// so a disagreeing price would be charged differently from how it is shown;
// that is refused rather than silently resolved. No rates is always fine.
func CheckBehavior(priceInclusive bool, rates []Rate) error {
	if len(rates) == 0 {
		return nil
	}
	inclusive, err := ratesBehavior(rates)
	if err != nil {
		return err
	}
	if inclusive != priceInclusive {
		return fmt.Errorf("%w: price is %s but its tax rates are %s",
			ErrTaxBehaviorMismatch, behaviorName(priceInclusive), behaviorName(inclusive))
	}
	return nil
}

// RateTotal is one rate's tax summed over the lines it applies to.
type RateTotal struct {
	RateID        string
	Percentage    decimal.Decimal
	Inclusive     bool
	Amount        int64
	TaxableAmount int64
}

// Totals are the invoice-level sums of a set of lines.
type Totals struct {
	Subtotal             int64 // Σ line amounts (inclusive lines at their tax-included amount)
	SubtotalExcludingTax int64 // Σ line nets
	Tax                  int64 // Σ all tax
	Total                int64 // Σ line totals: Subtotal + exclusive tax
	TotalExcludingTax    int64 // equal to SubtotalExcludingTax: there are no discounts
	Rates                []RateTotal
}

// Sum adds up lines into invoice totals. Every figure is an exact sum of line
// values; nothing is rounded again. Rates holds one entry per distinct rate
// ID, in the order the rates are first seen.
func Sum(lines []Line) Totals {
	var t Totals
	index := make(map[string]int)
	for _, l := range lines {
		t.Subtotal += l.Amount
		t.SubtotalExcludingTax += l.Net
		t.Tax += l.Tax
		t.Total += l.Total
		for _, lt := range l.Taxes {
			i, ok := index[lt.RateID]
			if !ok {
				i = len(t.Rates)
				index[lt.RateID] = i
				t.Rates = append(t.Rates, RateTotal{RateID: lt.RateID, Percentage: lt.Percentage, Inclusive: lt.Inclusive})
			}
			t.Rates[i].Amount += lt.Amount
			t.Rates[i].TaxableAmount += lt.TaxableAmount
		}
	}
	t.TotalExcludingTax = t.SubtotalExcludingTax
	return t
}
