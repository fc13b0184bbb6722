package billing

import (
	"errors"
	"fmt"
	"time"

	"github.com/govalues/decimal"
)

// ErrEmptyPeriod reports a period whose end is not at least a second after
// its start: there is nothing to prorate over.
var ErrEmptyPeriod = errors.New("period must end at least one second after it starts")

// Prorate returns the part of amount (a whole period's amount, ≥ 0) that
// falls in [from, periodEnd) out of [periodStart, periodEnd), counted in
// whole seconds like Stripe: amount × remaining / total, computed exactly and
// rounded once by the package's rule (half away from zero). from is clamped
// to the period, so before the start it gives amount and after the end 0.
func Prorate(amount int64, periodStart, periodEnd, from time.Time) (int64, error) {
	if amount < 0 {
		return 0, fmt.Errorf("%w: %d", ErrNegativeAmount, amount)
	}
	total, remaining, err := periodSeconds(periodStart, periodEnd, from)
	if err != nil {
		return 0, err
	}
	switch remaining {
	case 0:
		return 0, nil
	case total:
		return amount, nil
	}
	// Both fit: int64 has at most 19 digits, as many as a decimal holds.
	m, err := decimal.New(remaining, 0)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrOverflow, err)
	}
	d, err := decimal.New(total, 0)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrOverflow, err)
	}
	return mulDivHalfUp(amount, m, d)
}

// periodSeconds returns the period's length and the part of it left from
// from (clamped to the period), in whole Unix seconds.
func periodSeconds(periodStart, periodEnd, from time.Time) (total, remaining int64, err error) {
	start, end := periodStart.Unix(), periodEnd.Unix()
	if end <= start {
		return 0, 0, fmt.Errorf("%w: %s to %s", ErrEmptyPeriod,
			periodStart.UTC().Format(time.RFC3339), periodEnd.UTC().Format(time.RFC3339))
	}
	f := min(max(from.Unix(), start), end)
	return end - start, end - f, nil
}

// PricedItem is a subscription item as it is billed for a period.
type PricedItem struct {
	PriceID    string
	Name       string       // shown in line descriptions; PriceID when empty
	Model      PricingModel // Standard when empty
	UnitAmount int64
	Quantity   int64
}

// amount is the item's amount for a whole period, from ItemAmount.
func (it PricedItem) amount() (int64, error) {
	model := it.Model
	if model == "" {
		model = Standard
	}
	a, err := ItemAmount(model, it.UnitAmount, it.Quantity)
	if err != nil {
		return 0, fmt.Errorf("price %s: %w", it.PriceID, err)
	}
	return a, nil
}

// key is what makes two items the same charge; the name is only display.
func (it PricedItem) key() PricedItem {
	it.Name = ""
	if it.Model == "" {
		it.Model = Standard
	}
	return it
}

func (it PricedItem) label() string {
	name := it.Name
	if name == "" {
		name = it.PriceID
	}
	if it.Quantity != 1 {
		return fmt.Sprintf("%d × %s", it.Quantity, name)
	}
	return name
}

// ProrationLine is one line of a mid-period change, for the next invoice (or
// one invoiced at once).
type ProrationLine struct {
	Description string
	Amount      int64 // negative for a credit
	PeriodStart time.Time
	PeriodEnd   time.Time
	Quantity    int64
	UnitAmount  int64 // the price's full-period unit amount, not prorated
	PriceID     string
}

// Prorations returns the lines for replacing oldItems by newItems at at,
// within the period [periodStart, periodEnd), the way Stripe does: a credit
// for the unused time of each old item and a charge for the remaining time of
// each new one, each prorated by Prorate on the item's whole amount. An item
// in both lists (same price, model, unit amount and quantity; the name does
// not count) is unchanged and gives no lines; a quantity change gives a
// credit for the old quantity and a charge for the new one. Lines that round
// to zero are left out, so at the period's end there are none. Credits come
// first, in oldItems' order, then charges in newItems'.
//
// Each credit is the exact negative of the charge the same item would get,
// so crediting and re-charging an item nets to zero.
func Prorations(oldItems, newItems []PricedItem, periodStart, periodEnd, at time.Time) ([]ProrationLine, error) {
	if _, _, err := periodSeconds(periodStart, periodEnd, at); err != nil {
		return nil, err
	}
	from := at.UTC()
	if from.Before(periodStart) {
		from = periodStart.UTC()
	}
	if from.After(periodEnd) {
		from = periodEnd.UTC()
	}
	date := from.Format("2 Jan 2006")

	// Unchanged items pair off one for one, so duplicates are counted.
	unchanged := map[PricedItem]int{}
	for _, it := range oldItems {
		unchanged[it.key()]++
	}
	inNew := map[PricedItem]int{}
	for _, it := range newItems {
		inNew[it.key()]++
	}
	for k, n := range unchanged {
		unchanged[k] = min(n, inNew[k])
	}

	var lines []ProrationLine
	add := func(items []PricedItem, sign int64, format string) error {
		skip := make(map[PricedItem]int, len(unchanged))
		for k, n := range unchanged {
			skip[k] = n
		}
		for _, it := range items {
			if k := it.key(); skip[k] > 0 {
				skip[k]--
				continue
			}
			full, err := it.amount()
			if err != nil {
				return err
			}
			part, err := Prorate(full, periodStart, periodEnd, from)
			if err != nil {
				return fmt.Errorf("price %s: %w", it.PriceID, err)
			}
			if part == 0 {
				continue
			}
			lines = append(lines, ProrationLine{
				Description: fmt.Sprintf(format, it.label(), date),
				Amount:      sign * part,
				PeriodStart: from,
				PeriodEnd:   periodEnd.UTC(),
				Quantity:    it.Quantity,
				UnitAmount:  it.UnitAmount,
				PriceID:     it.PriceID,
			})
		}
		return nil
	}
	if err := add(oldItems, -1, "Unused time on %s after %s"); err != nil {
		return nil, err
	}
	if err := add(newItems, 1, "Remaining time on %s after %s"); err != nil {
		return nil, err
	}
	return lines, nil
}
