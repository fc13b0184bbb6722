// Package payment owns the money side of Kassa: payment methods, charge
// attempts, balance transactions, refunds and the balance, with their rules
// and SQL.
//
// Money moves in three steps so that no charge is ever lost or made twice:
//
//  1. PrepareCharge writes a pending attempt inside the caller's transaction.
//     The caller's idempotency key is unique per account, so a key never
//     starts a second attempt.
//  2. Send calls the account's gateway outside any transaction, with the
//     attempt's id as the gateway's idempotency key (unique across accounts).
//  3. Record stores the outcome in a transaction; an approval writes exactly
//     one balance transaction (a unique constraint guards it).
//
// Whatever falls between the steps (a crash, a timeout, an outcome the
// gateway could not confirm) is found by the reconciliation task, which asks
// the gateway with the same key and records the answer. Refunds follow the
// same pattern: reserve, call, finalize.
package payment

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/kassahq/kassa/internal/account"
	"github.com/kassahq/kassa/internal/apperr"
	"github.com/kassahq/kassa/internal/customer"
	"github.com/kassahq/kassa/internal/gateway"
	"github.com/kassahq/kassa/internal/gateway/sandbox"
	"github.com/kassahq/kassa/internal/gateway/stripegw"
	"github.com/kassahq/kassa/internal/store"
)

// Resolver gives the gateway an account charges through.
type Resolver func(ctx context.Context, sc account.Scope) (gateway.Gateway, error)

// AccountGateways is the Resolver that reads each account's settings: the
// sandbox (the default of test accounts) runs on the account's clock; stripe
// uses the account's secret key, and stripeAPIBase, when set, instead of
// Stripe's API (a stripe-mock address in tests; KASSA_STRIPE_API_BASE). A
// live account without a real gateway gets GATEWAY_NOT_CONFIGURED.
func AccountGateways(accounts *account.Service, stripeAPIBase string) Resolver {
	return func(ctx context.Context, sc account.Scope) (gateway.Gateway, error) {
		a, err := accounts.Get(ctx, sc.AccountID)
		if err != nil {
			return nil, err
		}
		if err := gatewayConfigured(a); err != nil {
			return nil, err
		}
		switch a.Gateway {
		case "", account.GatewaySandbox:
			return sandbox.New(sc.Now), nil
		case account.GatewayStripe:
			g, err := stripegw.New(stripegw.Config{SecretKey: a.GatewaySecret, BackendURL: stripeAPIBase, Now: sc.Now})
			if err != nil {
				return nil, fmt.Errorf("account %s: %w", a.ID, err)
			}
			return g, nil
		}
		return nil, fmt.Errorf("account %s: unknown gateway %q", a.ID, a.Gateway)
	}
}

// codeNotConfigured: the account has no gateway that may move its money.
const codeNotConfigured = "GATEWAY_NOT_CONFIGURED"

// gatewayConfigured refuses a live account whose gateway is none, the
// sandbox or Stripe with a test key: the sandbox, its test tokens and
// Stripe's test mode are for test accounts only, and money "paid" through
// them in live mode never existed.
func gatewayConfigured(a *account.Account) error {
	var why string
	switch {
	case a.Gateway == account.GatewayNone:
		why = "has no payment gateway configured"
	case !a.Livemode:
		return nil
	case a.Gateway == "" || a.Gateway == account.GatewaySandbox:
		why = "has no payment gateway configured (the sandbox is for test mode only)"
	case a.Gateway == account.GatewayStripe && account.IsStripeTestKey(a.GatewaySecret):
		why = "uses a Stripe test key (test mode only)"
	default:
		return nil
	}
	return apperr.BadRequestf(codeNotConfigured,
		"Account %s is in live mode and %s; configure a live gateway with kassa accounts gateway --gateway stripe", a.ID, why)
}

func isNotConfigured(err error) bool {
	e, ok := apperr.As(err)
	return ok && e.Code == codeNotConfigured
}

// ResolvedHook runs inside Record's transaction when an attempt reaches a
// final outcome: txn is the charge's balance transaction when it succeeded,
// nil when it was declined.
type ResolvedHook func(ctx context.Context, tx *store.Tx, sc account.Scope, a *Attempt, txn *Transaction) error

// Service manages payment methods, charges, refunds and the balance.
type Service struct {
	db        *store.DB
	customers *customer.Service
	gateways  Resolver

	mu    sync.Mutex
	hooks []ResolvedHook
}

// NewService returns a payment Service charging through the gateways r gives.
func NewService(db *store.DB, customers *customer.Service, r Resolver) *Service {
	return &Service{db: db, customers: customers, gateways: r}
}

// OnResolved registers a hook run inside Record's transaction whenever an
// attempt reaches a final outcome (succeeded or declined).
func (s *Service) OnResolved(fn func(ctx context.Context, tx *store.Tx, sc account.Scope, a *Attempt, txn *Transaction) error) {
	s.mu.Lock()
	s.hooks = append(s.hooks, fn)
	s.mu.Unlock()
}

func (s *Service) resolvedHooks() []ResolvedHook {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ResolvedHook(nil), s.hooks...)
}

// Gateway returns the gateway the account uses now.
func (s *Service) Gateway(ctx context.Context, sc account.Scope) (gateway.Gateway, error) {
	g, err := s.gateways(ctx, sc)
	if err != nil {
		return nil, fmt.Errorf("resolve gateway: %w", err)
	}
	return g, nil
}

// Reconciliation timing, by the account's clock.
const (
	// pendingGrace is how long a pending attempt or refund may wait for the
	// request that created it before the reconciler takes it over.
	pendingGrace = time.Minute
	// lease keeps a claimed row from other reconcilers while it is asked
	// about; if the reconciler dies, the row is due again after it.
	lease = 5 * time.Minute
	// maxBackoff caps the wait between two checks of an unconfirmed outcome.
	maxBackoff = time.Hour
)

// backoff is the wait before the next check after checks checks: none for
// a fresh outcome, then 1, 2, 4 … minutes up to maxBackoff.
func backoff(checks int) time.Duration {
	if checks <= 0 {
		return 0
	}
	d := time.Minute
	for i := 1; i < checks && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}
