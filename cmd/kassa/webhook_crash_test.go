package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kassahq/kassa/internal/apitest"
	"github.com/kassahq/kassa/internal/store"
	"github.com/kassahq/kassa/internal/webhook"
)

// hookReceiver is a webhook endpoint on 127.0.0.1 that records every
// delivery's event id and arrival time and answers 200 after a few
// milliseconds, so that deliveries are in flight when the server dies.
type hookReceiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	hits map[string][]time.Time
	n    atomic.Int64
	bad  atomic.Int64 // bodies that are not an event envelope
}

func newHookReceiver(t *testing.T) *hookReceiver {
	r := &hookReceiver{hits: map[string][]time.Time{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		var env struct {
			ID string `json:"id"`
		}
		if err != nil || json.Unmarshal(body, &env) != nil || !strings.HasPrefix(env.ID, "evt_") {
			r.bad.Add(1)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.hits[env.ID] = append(r.hits[env.ID], time.Now())
		r.mu.Unlock()
		r.n.Add(1)
		time.Sleep(time.Duration(rand.IntN(4000)) * time.Microsecond)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// counts returns how often each event id has arrived so far.
func (r *hookReceiver) counts() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.hits))
	for id, h := range r.hits {
		out[id] = len(h)
	}
	return out
}

// startKassa runs `kassa serve --role all` on url with key as its API key
// and returns the process and its API's base URL.
func startKassa(t *testing.T, url, key string) (*worker, string) {
	t.Helper()
	p := startKassaProcess(t, url, "all", "KASSA_API_KEY="+key)
	return p.worker, "http://" + p.addr
}

// apiClient calls one running Kassa.
type apiClient struct {
	base, key string
	http      *http.Client
}

func (c apiClient) post(path string, body any) (int, []byte, error) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(http.MethodPost, c.base+path, bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("cc-api-key", c.key)
	req.Header.Set("Content-Type", "application/json")
	res, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	return res.StatusCode, out, err
}

// createCustomers posts customers from conc goroutines, quota in all or
// until stop is closed; each commit records one customer.created event.
// Wait on the returned group for the goroutines to end. Errors after stop
// closes (the server was killed under the request) are expected and ignored.
func createCustomers(t *testing.T, c apiClient, conc, quota int, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	var next atomic.Int64
	for g := 0; g < conc; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				n := next.Add(1)
				if n > int64(quota) {
					return
				}
				code, body, err := c.post("/v1/customers", map[string]any{"name": fmt.Sprintf("Crash %d", n), "email": "crash@example.com"})
				select {
				case <-stop:
					return
				default:
				}
				if err != nil || code != http.StatusCreated {
					t.Errorf("create customer: %d %v %s", code, err, body)
					return
				}
			}
		}()
	}
	return &wg
}

// SIGKILL kassa serve three times while webhook deliveries are pending and
// in flight, restart it, and count what the receiver got: every event
// arrives, and an event arrives more than once only when a killed process
// had sent it without recording the answer (at most one call slot's worth
// per kill); a delivery recorded as success is never sent again. The dead
// process's leases are ended by hand after each kill, as their expiry would
// end them 5 minutes later.
func TestWebhookCrashDeliversEveryEventAtLeastOnce(t *testing.T) {
	for _, e := range apitest.Engines() {
		t.Run(e.Name, func(t *testing.T) {
			webhookCrash(t, e.URL(t))
		})
	}
}

func webhookCrash(t *testing.T, url string) {
	ctx := context.Background()
	const (
		kills    = 3
		perRound = 1500 // customers created per round, at most
		conc     = 6
		// callSlots is duework's bound on the calls one process runs at
		// once: what can have been sent and not yet recorded at a kill.
		callSlots = 32
	)
	key := "sk_test_" + strings.Repeat("Ab3", 10) + "xY"
	rec := newHookReceiver(t)
	client := apiClient{key: key, http: &http.Client{Timeout: 20 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: conc, DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext}}}

	srv, base := startKassa(t, url, key)
	client.base = base
	db, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	code, body, err := client.post("/v1/webhook/destination", map[string]any{"url": rec.srv.URL + "/hooks"})
	if err != nil || code != http.StatusCreated {
		t.Fatalf("create destination: %d %v %s", code, err, body)
	}

	count := func(query string, args ...any) int {
		t.Helper()
		var n int
		if err := db.Read().QueryRowContext(ctx, query, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		return n
	}
	type snapshot struct {
		hits    map[string]int
		success []string
		leased  map[string]bool // events whose delivery the dead process held
	}
	eventIDs := func(query string, args ...any) []string {
		t.Helper()
		rows, err := db.Read().QueryContext(ctx, query, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			out = append(out, id)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	var snaps []snapshot
	for kill := 1; kill <= kills; kill++ {
		if kill > 1 {
			srv, base = startKassa(t, url, key)
			client.base = base
		}
		stop := make(chan struct{})
		creators := createCustomers(t, client, conc, perRound, stop)
		start := rec.n.Load()
		// Kill once this process has delivered a good part of the round:
		// its own events are then partly delivered, partly queued, some
		// on the wire.
		waitFor(t, "deliveries before kill", func() bool { return rec.n.Load()-start >= perRound/2 })
		close(stop)
		srv.kill()
		creators.Wait()
		time.Sleep(200 * time.Millisecond) // what was on the wire has reached the receiver
		events := count(`SELECT COUNT(*) FROM events`)
		pending := count(`SELECT COUNT(*) FROM due_work WHERE kind = $1`, webhook.KindDeliver)
		leased := count(`SELECT COUNT(*) FROM due_work WHERE kind = $1 AND leased_until IS NOT NULL`, webhook.KindDeliver)
		t.Logf("kill %d: %d events, receiver %d hits, %d deliveries pending of which %d leased by the dead process",
			kill, events, rec.n.Load(), pending, leased)
		if pending == 0 {
			t.Fatalf("kill %d landed with no delivery pending; the test proves nothing", kill)
		}
		// A runner leases only what it can start soon: twice its call
		// slots (32), so a crash delays at most that many by a lease.
		if leased > 2*callSlots {
			t.Errorf("kill %d: the dead process held %d leases, more than it could run", kill, leased)
		}
		s := snapshot{hits: rec.counts(), leased: map[string]bool{},
			success: eventIDs(`SELECT event_id FROM webhook_deliveries WHERE status = $1`, webhook.StatusSuccess)}
		for _, id := range eventIDs(`SELECT d.event_id FROM due_work w JOIN webhook_deliveries d ON d.id = w.subject_id
			WHERE w.kind = $1 AND w.leased_until IS NOT NULL`, webhook.KindDeliver) {
			s.leased[id] = true
		}
		snaps = append(snaps, s)
		// The dead process's leases would run out after the kind's lease
		// (a minute for deliveries); end them now, as their expiry would,
		// rather than wait.
		if err := db.InTx(ctx, func(tx *store.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE due_work SET run_at = $1, leased_until = $1
				WHERE kind = $2 AND leased_until IS NOT NULL`, time.Now().Unix(), webhook.KindDeliver)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}

	srv, _ = startKassa(t, url, key)
	want := map[string]bool{}
	for _, id := range eventIDs(`SELECT id FROM events`) {
		want[id] = true
	}
	if len(want) < kills*perRound/2 {
		t.Fatalf("only %d events recorded", len(want))
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		got := rec.counts()
		missing := 0
		for id := range want {
			if got[id] == 0 {
				missing++
			}
		}
		if missing == 0 && count(`SELECT COUNT(*) FROM due_work WHERE kind = $1`, webhook.KindDeliver) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events never delivered", missing, len(want))
		}
		time.Sleep(50 * time.Millisecond)
	}
	srv.stop(t)

	// None lost, nothing foreign.
	got := rec.counts()
	if b := rec.bad.Load(); b != 0 {
		t.Errorf("%d deliveries were not event envelopes", b)
	}
	for id := range got {
		if !want[id] {
			t.Errorf("received %s, which is not in the events table", id)
		}
	}
	if n := count(`SELECT COUNT(*) FROM webhook_deliveries`); n != len(want) {
		t.Errorf("%d deliveries for %d events, want one each", n, len(want))
	}
	if n := count(`SELECT COUNT(*) FROM webhook_deliveries WHERE status <> $1`, webhook.StatusSuccess); n != 0 {
		t.Errorf("%d deliveries not in success", n)
	}

	// Every receiver hit is a recorded attempt, or one a killed process
	// sent and never recorded. The receiver always answers 200, so one
	// recorded attempt per delivery: a second one would be a send after
	// the success was recorded.
	attempts := map[string]int{}
	rows, err := db.Read().QueryContext(ctx, `SELECT d.event_id, COUNT(a.seq) FROM webhook_deliveries d
		LEFT JOIN webhook_attempts a ON a.delivery_id = d.id GROUP BY d.event_id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		attempts[id] = n
	}
	rows.Close()
	// What a kill can leave unrecorded: the deliveries the dead process
	// held, of which at most callSlots were running.
	bound := 0
	for _, s := range snaps {
		bound += min(len(s.leased), callSlots)
	}
	unrecorded, dupEvents := 0, 0
	for id := range want {
		if attempts[id] != 1 {
			t.Errorf("%s: %d recorded attempts, want exactly 1", id, attempts[id])
		}
		if got[id] < attempts[id] {
			t.Errorf("%s: %d recorded attempts but the receiver got it %d times", id, attempts[id], got[id])
		}
		if got[id] > 1 {
			dupEvents++
		}
		if extra := got[id] - attempts[id]; extra > 0 {
			unrecorded += extra
			held := false
			for _, s := range snaps {
				held = held || s.leased[id]
			}
			if !held {
				t.Errorf("%s: sent %d times unrecorded, but no killed process held its delivery", id, extra)
			}
		}
	}
	if unrecorded > bound || bound > kills*callSlots {
		t.Errorf("%d sends never recorded; the kills could leave at most %d (≤ %d kills × %d call slots)", unrecorded, bound, kills, callSlots)
	}

	// A delivery recorded as success before a kill was not sent again after it.
	resent := 0
	for k, s := range snaps {
		for _, id := range s.success {
			if got[id] != s.hits[id] {
				resent++
				if resent <= 5 {
					t.Errorf("%s: success recorded before kill %d at %d hits, later %d hits", id, k+1, s.hits[id], got[id])
				}
			}
		}
	}
	if resent > 0 {
		t.Errorf("%d successful deliveries sent again after a restart", resent)
	}
	t.Logf("%d events, %d receiver hits, %d events received more than once, %d sends unrecorded at %d kills (bound %d)",
		len(want), rec.n.Load(), dupEvents, unrecorded, kills, bound)
}
