package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/kassahq/kassa/internal/store"
)

func openSQLite(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "k.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestReadCacheServesOnlyUnchangedRows(t *testing.T) {
	ctx := context.Background()
	db := openSQLite(t)
	c := store.NewReadCache[string, int](db, "things", 10)
	loads := 0
	value := 1
	load := func() (int, error) { loads++; return value, nil }
	get := func() int {
		t.Helper()
		v, err := c.Get("a", load)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if get() != 1 || get() != 1 || loads != 1 {
		t.Fatalf("second read should come from the cache: %d loads", loads)
	}
	// A write transaction touching the table invalidates what was read.
	if err := db.InTx(ctx, func(tx *store.Tx) error { tx.Touch("things"); value = 2; return nil }); err != nil {
		t.Fatal(err)
	}
	if get() != 2 || loads != 2 {
		t.Fatalf("after a write: value %d, %d loads", get(), loads)
	}
	// Another table's writes leave it alone.
	if err := db.InTx(ctx, func(tx *store.Tx) error { tx.Touch("others"); return nil }); err != nil {
		t.Fatal(err)
	}
	if get() != 2 || loads != 2 {
		t.Fatalf("another table's write invalidated: %d loads", loads)
	}
	// Read while a write is under way: served, but not cached.
	err := db.InTx(ctx, func(tx *store.Tx) error {
		tx.Touch("things")
		value = 3
		if get() != 3 || get() != 3 || loads != 4 {
			t.Errorf("reads during a write were cached: %d loads", loads)
		}
		return errors.New("roll back")
	})
	if err == nil {
		t.Fatal("expected the rollback error")
	}
	value = 2 // the rollback restores it
	if get() != 2 || loads != 5 {
		t.Fatalf("after the rollback: %d loads", loads)
	}
	// Errors are never cached.
	boom := errors.New("boom")
	if _, err := c.Get("b", func() (int, error) { return 0, boom }); err != boom {
		t.Fatal(err)
	}
	if v, _ := c.Get("b", func() (int, error) { return 7, nil }); v != 7 {
		t.Fatalf("an error was cached: %d", v)
	}
}
