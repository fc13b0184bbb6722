package billing

import (
	"errors"
	"math"
	"math/big"
	"reflect"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// A 30-day period: April 2026.
var (
	aprStart = date(2026, 4, 1)
	aprEnd   = date(2026, 5, 1)
	aprHalf  = date(2026, 4, 16)
)

func TestProrate(t *testing.T) {
	day := func(n int) time.Time { return aprStart.AddDate(0, 0, n) }
	tests := []struct {
		name   string
		amount int64
		from   time.Time
		want   int64
	}{
		{"halfway", 1000, aprHalf, 500},
		{"a third left: 333.33 rounds down", 1000, day(20), 333},
		{"two thirds left: 666.67 rounds up", 1000, day(10), 667},
		{"one day left of $9.99: 33.3", 999, day(29), 33},
		{"half a unit rounds up", 1, aprHalf, 1}, // 0.5
		{"1.5 units round up", 3, aprHalf, 2},    // 1.5
		{"2.5 units round up, not to even", 5, aprHalf, 3},
		{"at the start: everything", 1000, aprStart, 1000},
		{"before the start: clamped, everything", 1000, aprStart.Add(-time.Hour), 1000},
		{"at the end: nothing", 1000, aprEnd, 0},
		{"after the end: clamped, nothing", 1000, aprEnd.Add(time.Hour), 0},
		{"one second left", 2_592_000, aprEnd.Add(-time.Second), 1}, // 30 days of seconds
		{"sub-second parts do not count", 1000, aprHalf.Add(999 * time.Millisecond), 500},
		{"zero amount", 0, aprHalf, 0},
		{"the largest line, halfway", MaxLineAmount, aprHalf, 50_000_000}, // 49,999,999.5
	}
	for _, tt := range tests {
		got, err := Prorate(tt.amount, aprStart, aprEnd, tt.from)
		if err != nil || got != tt.want {
			t.Errorf("%s: Prorate(%d, from %v) = %d, %v; want %d", tt.name, tt.amount, tt.from, got, err, tt.want)
		}
	}
}

func TestProrateErrors(t *testing.T) {
	for _, tt := range []struct {
		name       string
		amount     int64
		start, end time.Time
		err        error
	}{
		{"negative amount", -1, aprStart, aprEnd, ErrNegativeAmount},
		{"empty period", 1000, aprStart, aprStart, ErrEmptyPeriod},
		{"period shorter than a second", 1000, aprStart, aprStart.Add(time.Millisecond), ErrEmptyPeriod},
		{"reversed period", 1000, aprEnd, aprStart, ErrEmptyPeriod},
		{"too large to compute exactly", math.MaxInt64, aprStart, aprEnd, ErrOverflow},
	} {
		if _, err := Prorate(tt.amount, tt.start, tt.end, aprHalf); !errors.Is(err, tt.err) {
			t.Errorf("%s: error %v, want %v", tt.name, err, tt.err)
		}
	}
}

func item(price string, unit, qty int64) PricedItem {
	return PricedItem{PriceID: price, UnitAmount: unit, Quantity: qty}
}

func TestProrations(t *testing.T) {
	period := func(from time.Time) (time.Time, time.Time) { return from, aprEnd }
	hs, he := period(aprHalf)
	ss, se := period(aprStart)
	tests := []struct {
		name     string
		old, new []PricedItem
		at       time.Time
		want     []ProrationLine
	}{
		{"upgrade $10 → $20 halfway", []PricedItem{item("price_basic", 1000, 1)}, []PricedItem{item("price_pro", 2000, 1)}, aprHalf,
			[]ProrationLine{
				{"Unused time on price_basic after 16 Apr 2026", -500, hs, he, 1, 1000, "price_basic"},
				{"Remaining time on price_pro after 16 Apr 2026", 1000, hs, he, 1, 2000, "price_pro"},
			}},
		{"downgrade with a third left", []PricedItem{item("price_pro", 2000, 1)}, []PricedItem{item("price_basic", 1000, 1)}, date(2026, 4, 21),
			[]ProrationLine{
				{"Unused time on price_pro after 21 Apr 2026", -667, date(2026, 4, 21), aprEnd, 1, 2000, "price_pro"},       // 666.67
				{"Remaining time on price_basic after 21 Apr 2026", 333, date(2026, 4, 21), aprEnd, 1, 1000, "price_basic"}, // 333.33
			}},
		{"quantity 2 → 3 halfway", []PricedItem{item("price_seat", 1000, 2)}, []PricedItem{item("price_seat", 1000, 3)}, aprHalf,
			[]ProrationLine{
				{"Unused time on 2 × price_seat after 16 Apr 2026", -1000, hs, he, 2, 1000, "price_seat"},
				{"Remaining time on 3 × price_seat after 16 Apr 2026", 1500, hs, he, 3, 1000, "price_seat"},
			}},
		{"names show in descriptions", []PricedItem{{PriceID: "price_a", Name: "Basic", UnitAmount: 1000, Quantity: 1}},
			[]PricedItem{{PriceID: "price_b", Name: "Pro", UnitAmount: 2000, Quantity: 4}}, aprHalf,
			[]ProrationLine{
				{"Unused time on Basic after 16 Apr 2026", -500, hs, he, 1, 1000, "price_a"},
				{"Remaining time on 4 × Pro after 16 Apr 2026", 4000, hs, he, 4, 2000, "price_b"},
			}},
		{"identical items: nothing", []PricedItem{item("price_a", 1000, 2), item("price_b", 500, 1)},
			[]PricedItem{item("price_b", 500, 1), {PriceID: "price_a", Name: "renamed", Model: Standard, UnitAmount: 1000, Quantity: 2}}, aprHalf, nil},
		{"only the changed item", []PricedItem{item("price_a", 1000, 1), item("price_b", 500, 1)},
			[]PricedItem{item("price_a", 1000, 1), item("price_c", 800, 1)}, aprHalf,
			[]ProrationLine{
				{"Unused time on price_b after 16 Apr 2026", -250, hs, he, 1, 500, "price_b"},
				{"Remaining time on price_c after 16 Apr 2026", 400, hs, he, 1, 800, "price_c"},
			}},
		{"a duplicate removed", []PricedItem{item("price_a", 1000, 1), item("price_a", 1000, 1)},
			[]PricedItem{item("price_a", 1000, 1)}, aprHalf,
			[]ProrationLine{{"Unused time on price_a after 16 Apr 2026", -500, hs, he, 1, 1000, "price_a"}}},
		{"item added", nil, []PricedItem{item("price_a", 1000, 1)}, aprHalf,
			[]ProrationLine{{"Remaining time on price_a after 16 Apr 2026", 500, hs, he, 1, 1000, "price_a"}}},
		{"item removed", []PricedItem{item("price_a", 1000, 1)}, nil, aprHalf,
			[]ProrationLine{{"Unused time on price_a after 16 Apr 2026", -500, hs, he, 1, 1000, "price_a"}}},
		{"at the start: full amounts", []PricedItem{item("price_basic", 1000, 1)}, []PricedItem{item("price_pro", 2000, 1)}, aprStart,
			[]ProrationLine{
				{"Unused time on price_basic after 1 Apr 2026", -1000, ss, se, 1, 1000, "price_basic"},
				{"Remaining time on price_pro after 1 Apr 2026", 2000, ss, se, 1, 2000, "price_pro"},
			}},
		{"before the start: clamped to it", []PricedItem{item("price_basic", 1000, 1)}, nil, aprStart.AddDate(0, 0, -3),
			[]ProrationLine{{"Unused time on price_basic after 1 Apr 2026", -1000, ss, se, 1, 1000, "price_basic"}}},
		{"at the end: nothing", []PricedItem{item("price_basic", 1000, 1)}, []PricedItem{item("price_pro", 2000, 1)}, aprEnd, nil},
		{"after the end: nothing", []PricedItem{item("price_basic", 1000, 1)}, []PricedItem{item("price_pro", 2000, 1)}, aprEnd.Add(time.Hour), nil},
		{"free price: no zero lines", []PricedItem{item("price_free", 0, 1)}, []PricedItem{item("price_pro", 2000, 1)}, aprHalf,
			[]ProrationLine{{"Remaining time on price_pro after 16 Apr 2026", 1000, hs, he, 1, 2000, "price_pro"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Prorations(tt.old, tt.new, aprStart, aprEnd, tt.at)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestProrationsErrors(t *testing.T) {
	ok := []PricedItem{item("price_a", 1000, 1)}
	for _, tt := range []struct {
		name       string
		old, new   []PricedItem
		start, end time.Time
		err        error
	}{
		{"empty period", ok, ok, aprStart, aprStart, ErrEmptyPeriod},
		{"unknown model", nil, []PricedItem{{PriceID: "price_t", Model: "tiered", UnitAmount: 1, Quantity: 1}}, aprStart, aprEnd, ErrUnknownPricingModel},
		{"above the line ceiling", []PricedItem{item("price_big", MaxUnitAmount, 2)}, nil, aprStart, aprEnd, ErrAboveCeiling},
		{"negative quantity", nil, []PricedItem{item("price_a", 1000, -1)}, aprStart, aprEnd, ErrNegativeAmount},
	} {
		if lines, err := Prorations(tt.old, tt.new, tt.start, tt.end, aprHalf); !errors.Is(err, tt.err) || lines != nil {
			t.Errorf("%s: %v, %v; want error %v", tt.name, lines, err, tt.err)
		}
	}
}

// periodGen draws a period of one second to ten years and an instant from
// a little before it to a little after it.
func periodGen(t *rapid.T) (start, end, at time.Time) {
	start = time.Unix(rapid.Int64Range(0, date(2100, 1, 1).Unix()).Draw(t, "start"), 0).UTC()
	length := rapid.OneOf(rapid.Int64Range(1, 100), rapid.Int64Range(1, 10*366*86400)).Draw(t, "seconds")
	end = start.Add(time.Duration(length) * time.Second)
	offset := rapid.Int64Range(-10, length+10).Draw(t, "at offset")
	return start, end, start.Add(time.Duration(offset) * time.Second)
}

func pricedItemGen() *rapid.Generator[PricedItem] {
	return rapid.Custom(func(t *rapid.T) PricedItem {
		qty := rapid.Int64Range(1, 100).Draw(t, "quantity")
		return PricedItem{
			PriceID:    rapid.SampledFrom([]string{"price_a", "price_b", "price_c"}).Draw(t, "price"),
			UnitAmount: rapid.Int64Range(0, MaxLineAmount/qty).Draw(t, "unit amount"),
			Quantity:   qty,
		}
	})
}

func TestPropertyProrateExact(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		start, end, at := periodGen(t)
		amount := rapid.Int64Range(0, MaxLineAmount).Draw(t, "amount")
		got, err := Prorate(amount, start, end, at)
		if err != nil {
			t.Fatal(err)
		}
		from := min(max(at.Unix(), start.Unix()), end.Unix())
		want := roundHalfUp(big.NewRat(amount*(end.Unix()-from), end.Unix()-start.Unix()))
		if got != want {
			t.Fatalf("Prorate(%d) = %d, exact half-up %d", amount, got, want)
		}
		if got < 0 || got > amount {
			t.Fatalf("Prorate(%d) = %d, outside 0–amount", amount, got)
		}
		// Later changes never leave more to pay.
		if later, _ := Prorate(amount, start, end, at.Add(time.Second)); later > got {
			t.Fatalf("a second later %d > %d", later, got)
		}
	})
}

func TestPropertyProrationsCreateNoMoney(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		start, end, at := periodGen(t)
		old := rapid.SliceOfN(pricedItemGen(), 0, 4).Draw(t, "old")
		newItems := rapid.SliceOfN(pricedItemGen(), 0, 4).Draw(t, "new")
		lines, err := Prorations(old, newItems, start, end, at)
		if err != nil {
			t.Fatal(err)
		}
		var credits, charges, oldTotal, newTotal int64
		for _, it := range old {
			oldTotal += it.UnitAmount * it.Quantity
		}
		for _, it := range newItems {
			newTotal += it.UnitAmount * it.Quantity
		}
		for _, l := range lines {
			full := l.UnitAmount * l.Quantity
			switch {
			case l.Amount < 0:
				credits += l.Amount
			case l.Amount > 0:
				charges += l.Amount
			default:
				t.Fatalf("zero line %+v", l)
			}
			if abs := max(l.Amount, -l.Amount); abs > full {
				t.Fatalf("line %+v is more than the item's full amount %d", l, full)
			}
		}
		if -credits > oldTotal || charges > newTotal {
			t.Fatalf("credits %d of %d old, charges %d of %d new", credits, oldTotal, charges, newTotal)
		}
	})
}

func TestPropertyProrationsSameItemsNetZero(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		start, end, at := periodGen(t)
		items := rapid.SliceOfN(pricedItemGen(), 0, 4).Draw(t, "items")
		if lines, err := Prorations(items, items, start, end, at); err != nil || len(lines) != 0 {
			t.Fatalf("unchanged items gave %+v, %v", lines, err)
		}
		// Removing items and adding them back, as two changes, nets to zero.
		removed, err := Prorations(items, nil, start, end, at)
		if err != nil {
			t.Fatal(err)
		}
		added, err := Prorations(nil, items, start, end, at)
		if err != nil {
			t.Fatal(err)
		}
		var net int64
		for _, l := range append(removed, added...) {
			net += l.Amount
		}
		if net != 0 || len(removed) != len(added) {
			t.Fatalf("credits %+v and charges %+v net %d", removed, added, net)
		}
	})
}
