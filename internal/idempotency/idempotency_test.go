package idempotency_test

import (
	"context"
	"testing"
	"time"

	"github.com/kassahq/kassa/internal/apitest"
	"github.com/kassahq/kassa/internal/clock"
	"github.com/kassahq/kassa/internal/idempotency"
)

func TestKeysExpireAndGoStale(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		ctx := context.Background()
		now := clock.NewManual(time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC))
		s := idempotency.NewStore(env.App.DB, now.Now)
		begin := func(key, hash string) idempotency.Verdict {
			t.Helper()
			res, err := s.Begin(ctx, env.AccountID, "POST /customers", key, hash)
			if err != nil {
				t.Fatal(err)
			}
			return res.Verdict
		}
		if v := begin("k1", "h1"); v != idempotency.Proceed {
			t.Fatalf("first use: %v", v)
		}
		if v := begin("k1", "h1"); v != idempotency.InProgress {
			t.Fatalf("while running: %v", v)
		}
		now.Advance(11 * time.Minute)
		if v := begin("k1", "h1"); v != idempotency.Incomplete {
			t.Fatalf("after 11 minutes running: %v", v)
		}
		if v := begin("k2", "h2"); v != idempotency.Proceed {
			t.Fatal(v)
		}
		if err := s.Complete(ctx, env.AccountID, "POST /customers", "k2", 201, []byte(`{"id":"x"}`)); err != nil {
			t.Fatal(err)
		}
		if v := begin("k2", "h2"); v != idempotency.Replay {
			t.Fatalf("completed: %v", v)
		}
		if v := begin("k2", "other"); v != idempotency.Reused {
			t.Fatalf("other request: %v", v)
		}
		// Past retention the sweep forgets the keys, and a key starts afresh.
		now.Advance(25 * time.Hour)
		if err := s.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if v := begin("k2", "other"); v != idempotency.Proceed {
			t.Fatalf("after retention: %v", v)
		}
	})
}
