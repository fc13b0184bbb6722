package payment_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/kassahq/kassa/internal/account"
	"github.com/kassahq/kassa/internal/apitest"
	"github.com/kassahq/kassa/internal/apperr"
	"github.com/kassahq/kassa/internal/clock"
	"github.com/kassahq/kassa/internal/customer"
	"github.com/kassahq/kassa/internal/duework"
	"github.com/kassahq/kassa/internal/gateway"
	"github.com/kassahq/kassa/internal/gateway/sandbox"
	"github.com/kassahq/kassa/internal/listing"
	"github.com/kassahq/kassa/internal/payment"
	"github.com/kassahq/kassa/internal/store"
)

// scripted is the sandbox with answers a test can script and calls it counts.
type scripted struct {
	*sandbox.Gateway
	mu            sync.Mutex
	charges       int
	statusCalls   int
	chargeErr     error
	statusOutcome gateway.Outcome   // "" asks the sandbox
	refundAnswers []gateway.Outcome // consumed one per call; none left: the sandbox's
	refundErr     error
}

func (g *scripted) Charge(ctx context.Context, req gateway.ChargeRequest) (gateway.ChargeResult, error) {
	g.mu.Lock()
	g.charges++
	err := g.chargeErr
	g.mu.Unlock()
	if err != nil {
		return gateway.ChargeResult{}, err
	}
	return g.Gateway.Charge(ctx, req)
}

func (g *scripted) ChargeStatus(ctx context.Context, req gateway.StatusRequest) (gateway.ChargeResult, error) {
	g.mu.Lock()
	g.statusCalls++
	o := g.statusOutcome
	g.mu.Unlock()
	if o != "" {
		return gateway.ChargeResult{Outcome: o, Message: "scripted"}, nil
	}
	return g.Gateway.ChargeStatus(ctx, req)
}

func (g *scripted) Refund(ctx context.Context, req gateway.RefundRequest) (gateway.RefundResult, error) {
	g.mu.Lock()
	var o gateway.Outcome
	if len(g.refundAnswers) > 0 {
		o, g.refundAnswers = g.refundAnswers[0], g.refundAnswers[1:]
	}
	err := g.refundErr
	g.mu.Unlock()
	if err != nil {
		return gateway.RefundResult{}, err
	}
	if o != "" && o != gateway.Approved {
		return gateway.RefundResult{Outcome: o, Message: "scripted " + string(o)}, nil
	}
	return g.Gateway.Refund(ctx, req)
}

type fixture struct {
	env      *apitest.Env
	gw       *scripted
	svc      *payment.Service
	customer string
	pm       string
}

func (f *fixture) scope(t *testing.T) account.Scope { return f.env.ScopeOf(f.env.AccountID) }

// newService builds another payment Service on the fixture's database and gateway.
func (f *fixture) newService() *payment.Service {
	return payment.NewService(f.env.App.DB, f.env.App.Customers, func(context.Context, account.Scope) (gateway.Gateway, error) { return f.gw, nil })
}

// advance moves the account's clock by seconds without running its due
// work: the test runs it with the service it chooses (runDue).
func (f *fixture) advance(t *testing.T, seconds int64) {
	t.Helper()
	ctx := context.Background()
	err := f.env.App.DB.InTx(ctx, func(tx *store.Tx) error {
		delta, _, err := f.env.App.Accounts.AdvanceClockTx(ctx, tx, f.scope(t), account.ClockAdvance{Seconds: &seconds})
		if err != nil {
			return err
		}
		return duework.Shift(ctx, tx, f.env.AccountID, delta, time.Now())
	})
	f.env.App.Accounts.ClockMoved()
	if err != nil {
		t.Fatal(err)
	}
}

// runDue runs the account's due reconciliation work, as a worker would,
// with svc's handlers.
func (f *fixture) runDue(t *testing.T, svc *payment.Service) {
	t.Helper()
	q := duework.New(f.env.App.DB, clock.Real{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	scoped := func(fn func(context.Context, account.Scope, string) (time.Time, error)) duework.CallHandler {
		return func(ctx context.Context, it duework.Item) (time.Time, error) {
			sc, err := f.env.App.Accounts.ScopeAt(ctx, it.AccountID, it.DueAt)
			if err != nil {
				return time.Time{}, err
			}
			return fn(ctx, sc, it.SubjectID)
		}
	}
	q.Register(duework.Kind{Name: payment.KindReconcileAttempt, Call: scoped(svc.ReconcileAttempt)})
	q.Register(duework.Kind{Name: payment.KindReconcileRefund, Call: scoped(svc.ReconcileRefund)})
	if _, err := q.RunAccount(context.Background(), f.env.AccountID, f.scope(t).Now(), 100); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) count(t *testing.T, table string) int {
	t.Helper()
	var n int
	if err := f.env.App.DB.Read().QueryRowContext(context.Background(), `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// each runs fn on every engine with a customer holding a tok_visa.
func each(t *testing.T, fn func(t *testing.T, f *fixture)) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		ctx := context.Background()
		f := &fixture{env: env, gw: &scripted{Gateway: sandbox.New(func() time.Time { return time.Now().UTC() })}}
		f.svc = f.newService()
		sc := f.scope(t)
		name := "Scripted"
		c, err := env.App.Customers.Create(ctx, sc, customer.CreateParams{Name: &name})
		if err != nil {
			t.Fatal(err)
		}
		f.customer = c.ID
		pm, err := f.svc.Attach(ctx, sc, "tok_visa", payment.AttachParams{CustomerID: &c.ID})
		if err != nil {
			t.Fatal(err)
		}
		f.pm = pm.ID
		fn(t, f)
	})
}

func (f *fixture) charge(t *testing.T, key string) (*payment.Attempt, *payment.Transaction) {
	t.Helper()
	a, txn, _, err := f.svc.Charge(context.Background(), f.scope(t),
		payment.ChargeParams{CustomerID: f.customer, Amount: 1000, Currency: "USD", IdempotencyKey: key})
	if err != nil {
		t.Fatal(err)
	}
	return a, txn
}

func TestFinishedAttemptIsNotSentAgain(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		a1, t1 := f.charge(t, "once")
		a2, t2 := f.charge(t, "once")
		if a1.ID != a2.ID || t1 == nil || t2 == nil || t1.ID != t2.ID || f.gw.charges != 1 {
			t.Fatalf("attempts %s/%s, transactions %+v/%+v, gateway charges %d", a1.ID, a2.ID, t1, t2, f.gw.charges)
		}
		if a1.PaymentMethodID != f.pm || a1.Gateway != "sandbox" || a1.ChargeRef == "" {
			t.Fatalf("attempt %+v", a1)
		}
	})
}

func TestGatewayErrorsDecline(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		for key, tc := range map[string]struct {
			err  error
			code string
		}{
			"refused": {fmt.Errorf("sandbox: %w: bad", gateway.ErrInvalidRequest), "invalid_request"},
			"broken":  {errors.New("stripe: Invalid API Key (401)"), "gateway_error"},
		} {
			f.gw.chargeErr = tc.err
			a, txn := f.charge(t, key)
			if a.Status != payment.AttemptDeclined || a.DeclineCode != tc.code || txn != nil {
				t.Fatalf("%s: attempt %+v, transaction %+v", key, a, txn)
			}
		}
		if n := f.count(t, "balance_transactions"); n != 0 {
			t.Fatalf("transactions: %d", n)
		}
	})
}

func TestHookFailureRollsBackAndReconcilerFinishes(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.svc.OnResolved(func(context.Context, *store.Tx, account.Scope, *payment.Attempt, *payment.Transaction) error {
			return errors.New("invoice store down")
		})
		a, _, res, err := f.svc.Charge(ctx, f.scope(t), payment.ChargeParams{CustomerID: f.customer, Amount: 1000, Currency: "usd", IdempotencyKey: "hook"})
		if err == nil || res.Outcome != gateway.Approved {
			t.Fatalf("charge with a failing hook: %+v %v", res, err)
		}
		if got, _ := f.svc.GetAttempt(ctx, f.scope(t), a.ID); got.Status != payment.AttemptPending || f.count(t, "balance_transactions") != 0 {
			t.Fatalf("after rollback: %+v", got)
		}
		// A healthy process picks it up once the grace minute is over.
		healthy := f.newService()
		var seen int
		healthy.OnResolved(func(_ context.Context, _ *store.Tx, _ account.Scope, _ *payment.Attempt, txn *payment.Transaction) error {
			if txn != nil {
				seen++
			}
			return nil
		})
		f.advance(t, 61)
		f.runDue(t, healthy)
		got, _ := healthy.GetAttempt(ctx, f.scope(t), a.ID)
		if got.Status != payment.AttemptSucceeded || seen != 1 || f.count(t, "balance_transactions") != 1 || f.gw.statusCalls != 1 {
			t.Fatalf("reconciled %+v, hook %d, status calls %d", got, seen, f.gw.statusCalls)
		}
	})
}

func TestUnconfirmedChargeBacksOff(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.gw.chargeErr = nil
		f.gw.statusOutcome = gateway.Unconfirmed
		var a *payment.Attempt
		if err := f.env.App.DB.InTx(ctx, func(tx *store.Tx) error {
			var err error
			a, err = f.svc.PrepareCharge(ctx, tx, f.scope(t), payment.ChargeParams{CustomerID: f.customer, Amount: 700, Currency: "usd", IdempotencyKey: "slow"})
			if err != nil {
				return err
			}
			_, err = f.svc.Record(ctx, tx, f.scope(t), a, gateway.ChargeResult{Outcome: gateway.Unconfirmed, Message: "timeout"})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ { // asked once; then not again before the backoff
			f.runDue(t, f.svc)
		}
		if f.gw.statusCalls != 1 {
			t.Fatalf("status calls %d, want 1", f.gw.statusCalls)
		}
		f.advance(t, 61)
		f.gw.statusOutcome = ""
		f.runDue(t, f.svc)
		got, _ := f.svc.GetAttempt(ctx, f.scope(t), a.ID)
		if f.gw.statusCalls != 2 || got.Status != payment.AttemptSucceeded {
			t.Fatalf("after backoff: %+v, status calls %d", got, f.gw.statusCalls)
		}
	})
}

func TestUnconfirmedRefundStaysReservedUntilReconciled(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		_, charge := f.charge(t, "c")
		f.gw.refundAnswers = []gateway.Outcome{gateway.Unconfirmed}
		_, err := f.svc.Refund(ctx, f.scope(t), charge.ID, payment.RefundParams{})
		if e, ok := apperr.As(err); !ok || e.Kind != apperr.BadGateway || e.Code != "REFUND_UNCONFIRMED" {
			t.Fatalf("unconfirmed refund: %v", err)
		}
		// The amount stays reserved meanwhile.
		_, err = f.svc.Refund(ctx, f.scope(t), charge.ID, payment.RefundParams{})
		if e, ok := apperr.As(err); !ok || e.Code != "CHARGE_ALREADY_REFUNDED" {
			t.Fatalf("second refund: %v", err)
		}
		f.runDue(t, f.svc)
		got, err := f.svc.GetTransaction(ctx, f.scope(t), charge.ID)
		if err != nil || got.Status != payment.StatusRefunded || got.AmountRefunded != 1000 || f.count(t, "balance_transactions") != 2 {
			t.Fatalf("charge after reconciliation %+v, %v", got, err)
		}
	})
}

func TestFailedRefundReleasesTheAmount(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		_, charge := f.charge(t, "c")
		f.gw.refundAnswers = []gateway.Outcome{gateway.Declined}
		_, err := f.svc.Refund(ctx, f.scope(t), charge.ID, payment.RefundParams{})
		if e, ok := apperr.As(err); !ok || e.Kind != apperr.PaymentFailed || e.Code != "REFUND_DECLINED" {
			t.Fatalf("declined refund: %v", err)
		}
		f.gw.refundErr = fmt.Errorf("sandbox: %w: no such charge", gateway.ErrInvalidRequest)
		_, err = f.svc.Refund(ctx, f.scope(t), charge.ID, payment.RefundParams{})
		if e, ok := apperr.As(err); !ok || e.Kind != apperr.BadRequest || e.Code != "REFUND_REJECTED" {
			t.Fatalf("rejected refund: %v", err)
		}
		f.gw.refundErr = nil
		txn, err := f.svc.Refund(ctx, f.scope(t), charge.ID, payment.RefundParams{})
		if err != nil || txn.Amount != -1000 {
			t.Fatalf("refund after failures: %+v, %v", txn, err)
		}
		if n := f.count(t, "balance_transactions"); n != 2 {
			t.Fatalf("transactions %d", n)
		}
	})
}

func TestAttemptsAndTransactionsOfAnInvoice(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		sc := f.scope(t)
		for i, amount := range []int64{1000, 1200} {
			a, txn, _, err := f.svc.Charge(ctx, sc, payment.ChargeParams{CustomerID: f.customer, Amount: amount, Currency: "usd",
				InvoiceID: "inv-1", IdempotencyKey: fmt.Sprintf("inv-1-%d", i)})
			if err != nil || a.InvoiceID != "inv-1" || txn == nil || *txn.Invoice != "inv-1" {
				t.Fatalf("charge %d: %+v %+v %v", i, a, txn, err)
			}
		}
		f.charge(t, "no-invoice")
		list, err := f.svc.ListAttempts(ctx, sc, "inv-1", listing.Params{Page: 1, Take: 10})
		if err != nil || list.Meta.ItemsTotal != 2 || list.Data[0].Amount != 1000 || list.Data[1].Amount != 1200 {
			t.Fatalf("attempts of inv-1: %+v, %v", list, err)
		}
		page, err := f.svc.ListTransactions(ctx, sc, payment.TransactionListParams{Page: listing.Params{Page: 1, Take: 10}, InvoiceID: "inv-1"})
		if err != nil || page.Meta.ItemsTotal != 2 || page.Data[0].Amount != 1200 {
			t.Fatalf("transactions of inv-1: %+v, %v", page, err)
		}
		// The key is bound to its invoice.
		_, _, _, err = f.svc.Charge(ctx, sc, payment.ChargeParams{CustomerID: f.customer, Amount: 1000, Currency: "usd",
			InvoiceID: "inv-2", IdempotencyKey: "inv-1-0"})
		if e, ok := apperr.As(err); !ok || e.Code != "IDEMPOTENCY_KEY_REUSED" {
			t.Fatalf("key reused for another invoice: %v", err)
		}
	})
}

func ptr[T any](v T) *T { return &v }
