package billing

import (
	"errors"
	"testing"
)

func TestItemAmount(t *testing.T) {
	tests := []struct {
		name      string
		model     PricingModel
		unit, qty int64
		want      int64
		err       error
	}{
		{"standard", Standard, 1000, 3, 3000, nil},
		{"standard, free", Standard, 0, 5, 0, nil},
		{"standard at the line ceiling", Standard, MaxLineAmount, 1, MaxLineAmount, nil},
		{"standard above the line ceiling", Standard, 100, 1_000_000, 0, ErrAboveCeiling},
		{"standard above the quantity ceiling", Standard, 1, MaxQuantity + 1, 0, ErrAboveCeiling},
		{"standard negative quantity", Standard, 1000, -1, 0, ErrNegativeAmount},
		{"unknown model", "tiered", 1000, 1, 0, ErrUnknownPricingModel},
		{"empty model", "", 1000, 1, 0, ErrUnknownPricingModel},
	}
	for _, tt := range tests {
		got, err := ItemAmount(tt.model, tt.unit, tt.qty)
		if got != tt.want || !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
			t.Errorf("%s: ItemAmount(%q, %d, %d) = %d, %v; want %d, %v", tt.name, tt.model, tt.unit, tt.qty, got, err, tt.want, tt.err)
		}
	}
}
