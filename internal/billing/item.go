package billing

import (
	"errors"
	"fmt"
)

// PricingModel says how a price turns a quantity into an amount.
type PricingModel string

// Standard charges unit_amount for each unit (Stripe's per_unit).
const Standard PricingModel = "standard"

// ErrUnknownPricingModel reports a pricing model ItemAmount does not know.
var ErrUnknownPricingModel = errors.New("unknown pricing model")

// ItemAmount is the amount of one item for one whole period: the only place
// that turns a price and a quantity into money, so that every new pricing
// model (tiered, volume, package, metered) is one more case here and
// invoices, renewals and prorations all follow it.
func ItemAmount(model PricingModel, unitAmount, quantity int64) (int64, error) {
	switch model {
	case Standard:
		return BoundedLineAmount(unitAmount, quantity)
	}
	return 0, fmt.Errorf("%w %q", ErrUnknownPricingModel, model)
}
