package httpapi_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kassahq/kassa/internal/apitest"
	"github.com/kassahq/kassa/internal/event"
	pkgwebhook "github.com/kassahq/kassa/pkg/webhook"
)

// receiver is a webhook endpoint on 127.0.0.1 that records what it gets and
// answers as its script says (200 when the script has run out).
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	got    []received
	script []int
	block  chan struct{} // non-nil: every request waits for it to close
}

type received struct {
	body   []byte
	header string
	event  string
	id     string
}

func newReceiver(t *testing.T, script ...int) *receiver {
	r := &receiver{t: t, script: script}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if r.block != nil {
			<-r.block
		}
		var env struct {
			ID    string `json:"id"`
			Event string `json:"event"`
		}
		_ = json.Unmarshal(body, &env)
		r.mu.Lock()
		r.got = append(r.got, received{body: body, header: req.Header.Get("Chaching-Signature"), event: env.Event, id: env.ID})
		code := 200
		if len(r.script) > 0 {
			code, r.script = r.script[0], r.script[1:]
		}
		r.mu.Unlock()
		w.WriteHeader(code)
		_, _ = io.WriteString(w, "answer "+strconv.Itoa(code))
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) all() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

// verify checks a signature header the way a merchant would, written here
// apart from Kassa's signing code: t=…,v1=… with HMAC-SHA256 over "t.body".
func verify(t *testing.T, body []byte, header, secret string) bool {
	t.Helper()
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	if ts == "" || len(sigs) == 0 {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "." + string(body)))
	want := mac.Sum(nil)
	for _, s := range sigs {
		got, err := hex.DecodeString(s)
		if err == nil && hmac.Equal(got, want) {
			return true
		}
	}
	return false
}

func secretOf(t *testing.T, env *apitest.Env) string {
	return env.Get("/v1/account/keys").Want(t, 200).Map(t)["webhook_secret"].(string)
}

func addDestination(t *testing.T, env *apitest.Env, url string) string {
	t.Helper()
	d := env.Post("/v1/webhook/destination", map[string]any{"url": url}).Want(t, 201).Map(t)
	if d["active"] != true || d["object"] != "webhook_destination" || d["url"] != url {
		t.Fatalf("destination %v", d)
	}
	return d["id"].(string)
}

type logPage struct {
	Data []map[string]any `json:"data"`
	Meta struct {
		ItemsTotal int `json:"itemsTotal"`
	} `json:"meta"`
}

// Every event type fires once per change, each delivered once with a valid
// signature and the stored envelope's exact bytes.
func TestEveryEventIsDeliveredSigned(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		rec := newReceiver(t)
		addDestination(t, env, rec.srv.URL+"/hooks")
		secret := secretOf(t, env)

		f := invFixture{t, env}
		cus := f.customer("Hook", "hook@example.com", "tok_visa")
		env.Patch("/v1/customers/"+cus, map[string]any{"description": "changed"}).Want(t, 200)
		pm := env.Post("/v1/payment-methods/tok_mastercard/attach", map[string]any{"customerId": cus}).Want(t, 200).Map(t)["id"].(string)
		env.Post("/v1/payment-methods/"+pm+"/detach", nil).Want(t, 200)
		price := f.price("USD", 1500, "exclusive")
		prod := env.Get("/v1/prices/"+price).Want(t, 200).Map(t)["product"].(string)
		env.Patch("/v1/products/"+prod, map[string]any{"name": "Renamed"}).Want(t, 200)
		env.Patch("/v1/prices/"+price+"/active", map[string]any{"description": "New"}).Want(t, 200)
		rate := f.rate("VAT", "10", false)
		env.Patch("/v1/taxRates/"+rate, map[string]any{"tax_type": "VAT", "description": "Ten"}).Want(t, 200)
		inv := f.create(cus, invItem{price, 1, []string{rate}})
		env.Put("/v1/invoices/"+inv["id"].(string), nil).Want(t, 200)
		declined := f.customer("Declined", "", "tok_chargeDeclined")
		bad := f.create(declined, invItem{price, 1, nil})
		env.Put("/v1/invoices/"+bad["id"].(string), nil).Want(t, 402)
		sent := env.Post("/v1/invoices", f.body(cus, "send_invoice", invItem{price, 2, nil})).Want(t, 201).Map(t)
		_ = sent
		spare := f.price("USD", 100, "exclusive")
		sparesProduct := env.Get("/v1/prices/"+spare).Want(t, 200).Map(t)["product"].(string)
		env.Delete("/v1/products/"+sparesProduct).Want(t, 200)
		other := f.customer("Gone", "", "")
		env.Delete("/v1/customers/"+other).Want(t, 200)

		for env.RunDue(env.AccountID) > 0 {
		}
		stored, err := event.List(context.Background(), env.App.DB.Read(), env.AccountID)
		if err != nil {
			t.Fatal(err)
		}
		got := rec.all()
		byID := map[string]received{}
		for _, r := range got {
			if _, dup := byID[r.id]; dup {
				t.Errorf("event %s (%s) delivered twice", r.id, r.event)
			}
			byID[r.id] = r
			if !verify(t, r.body, r.header, secret) {
				t.Errorf("event %s: signature %q does not verify", r.event, r.header)
			}
			// The package merchants import agrees.
			if err := pkgwebhook.Verify(r.body, r.header, secret, pkgwebhook.DefaultTolerance); err != nil {
				t.Errorf("event %s: pkg/webhook.Verify: %v", r.event, err)
			}
		}
		types := map[string]int{}
		for _, e := range stored {
			types[e.Type]++
			r, ok := byID[e.ID]
			if !ok {
				t.Errorf("event %s (%s) was not delivered", e.ID, e.Type)
				continue
			}
			if string(r.body) != string(e.Payload) {
				t.Errorf("event %s: delivered %s, stored %s", e.ID, r.body, e.Payload)
			}
		}
		if len(got) != len(stored) {
			t.Errorf("%d deliveries for %d events", len(got), len(stored))
		}
		for _, typ := range []string{"customer.created", "customer.updated", "customer.deleted", "payment_method.attached",
			"payment_method.detached", "invoice.created", "invoice.finalized", "invoice.sent", "invoice.payment_succeeded",
			"invoice.payment_failed", "product.created", "product.updated", "product.deleted", "price.created",
			"price.updated", "price.deleted", "tax.created", "tax.updated"} {
			if types[typ] == 0 {
				t.Errorf("no %s event", typ)
			}
		}
		var logs logPage
		env.Get("/v1/webhook/logs?take=50").Want(t, 200).JSON(t, &logs)
		if logs.Meta.ItemsTotal != len(stored) {
			t.Fatalf("log has %d entries for %d events", logs.Meta.ItemsTotal, len(stored))
		}
		for _, l := range logs.Data {
			if l["status"] != "success" || l["attempts"].(float64) != 1 || l["response_status"].(float64) != 200 {
				t.Fatalf("log entry %v", l)
			}
		}
		env.Get("/v1/webhook/logs?search="+urlQuery(`{"event":"tax.updated"}`)).Want(t, 200).JSON(t, &logs)
		if logs.Meta.ItemsTotal != types["tax.updated"] {
			t.Fatalf("log search by event: %+v", logs.Meta)
		}
		var events logPage
		env.Get("/v1/events?search="+urlQuery(`{"type":"customer.created"}`)).Want(t, 200).JSON(t, &events)
		if events.Meta.ItemsTotal != types["customer.created"] {
			t.Fatalf("events by type: %+v", events.Meta)
		}
		one := env.Get("/v1/events/"+stored[0].ID).Want(t, 200).Map(t)
		if one["id"] != stored[0].ID || one["event"] != stored[0].Type {
			t.Fatalf("event %v", one)
		}
	})
}

func advance(t *testing.T, env *apitest.Env, seconds int64) {
	t.Helper()
	env.Post("/v1/test-clock/advance", map[string]any{"seconds": seconds}).Want(t, 200)
}

func logsOf(t *testing.T, env *apitest.Env) []map[string]any {
	var logs logPage
	env.Get("/v1/webhook/logs?take=50").Want(t, 200).JSON(t, &logs)
	return logs.Data
}

// 500, 500, 200: the same bytes three times, retry, retry, success, with
// the retries driven by the test clock. 410: one attempt, failure at once.
func TestDeliveryRetriesAndFailures(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		flaky := newReceiver(t, 500, 500, 200)
		gone := newReceiver(t, 410)
		addDestination(t, env, flaky.srv.URL)
		addDestination(t, env, gone.srv.URL)
		env.Post("/v1/customers", map[string]any{"name": "Retry me"}).Want(t, 201)
		env.RunDue(env.AccountID)
		statuses := func() map[string]string {
			out := map[string]string{}
			for _, l := range logsOf(t, env) {
				out[l["destination"].(string)+"/"+strconv.Itoa(int(l["attempts"].(float64)))] = l["status"].(string)
			}
			return out
		}
		if got := len(flaky.all()); got != 1 {
			t.Fatalf("flaky got %d attempts before any retry", got)
		}
		if got := len(gone.all()); got != 1 {
			t.Fatalf("410 receiver got %d", got)
		}
		logs := logsOf(t, env)
		for _, l := range logs {
			switch l["response_status"].(float64) {
			case 500:
				if l["status"] != "retry" || l["next_attempt_at"] == nil {
					t.Fatalf("after a 500: %v", l)
				}
			case 410:
				if l["status"] != "failure" || l["next_attempt_at"] != nil || l["attempts"].(float64) != 1 {
					t.Fatalf("after a 410: %v", l)
				}
			}
		}
		advance(t, env, 20) // first retry after 15 s ± 20 %
		advance(t, env, 60) // second after 45 s ± 20 %
		got := flaky.all()
		if len(got) != 3 {
			t.Fatalf("flaky got %d attempts, want 3 (%v)", len(got), statuses())
		}
		for _, r := range got[1:] {
			if string(r.body) != string(got[0].body) {
				t.Fatalf("retry sent other bytes:\n%s\n%s", r.body, got[0].body)
			}
		}
		for _, l := range logsOf(t, env) {
			if l["response_status"].(float64) == 200 && (l["status"] != "success" || l["attempts"].(float64) != 3) {
				t.Fatalf("after 500, 500, 200: %v", l)
			}
		}
		advance(t, env, 3600)
		if len(gone.all()) != 1 || len(flaky.all()) != 3 {
			t.Fatalf("more attempts after the end: %d, %d", len(gone.all()), len(flaky.all()))
		}
	})
}

// A receiver that is not there fails after 6 attempts within the policy's
// window (about 43 minutes), driven by the test clock.
func TestDeadReceiverFailsAfterSixAttempts(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead := "http://" + ln.Addr().String() + "/gone"
		ln.Close()
		addDestination(t, env, dead)
		env.Post("/v1/customers", map[string]any{"name": "Nobody listens"}).Want(t, 201)
		env.RunDue(env.AccountID)
		for i := 0; i < 60; i++ { // a minute at a time, past the window
			advance(t, env, 60)
		}
		logs := logsOf(t, env)
		if len(logs) != 1 || logs[0]["status"] != "failure" || logs[0]["attempts"].(float64) != 6 || logs[0]["response_status"] != nil ||
			logs[0]["last_error"] == nil {
			t.Fatalf("dead receiver log: %v", logs)
		}
		// A failed delivery can be sent again: a new series, same event and bytes.
		rec := newReceiver(t)
		env.Put("/v1/webhook/destination/"+logs[0]["destination"].(string), map[string]any{"url": rec.srv.URL}).Want(t, 200)
		again := env.Post("/v1/webhook/logs/"+logs[0]["id"].(string)+"/redeliver", nil).Want(t, 200).Map(t)
		if again["status"] != "pending" || again["event_id"] != logs[0]["event_id"] || again["id"] == logs[0]["id"] {
			t.Fatalf("redelivery %v", again)
		}
		env.RunDue(env.AccountID)
		if got := rec.all(); len(got) != 1 || got[0].id != logs[0]["event_id"] {
			t.Fatalf("redelivered %v", got)
		}
		env.Post("/v1/webhook/logs/"+again["id"].(string)+"/redeliver", nil).Want(t, 400)
	})
}

// A disabled destination gets nothing, neither then nor once enabled again;
// a deleted one gets nothing either.
func TestDisabledDestinationGetsNothing(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		rec := newReceiver(t)
		dest := addDestination(t, env, rec.srv.URL)
		d := env.Patch("/v1/webhook/destination/"+dest+"/disable", nil).Want(t, 200).Map(t)
		if d["active"] != false {
			t.Fatalf("disabled: %v", d)
		}
		env.Post("/v1/customers", map[string]any{"name": "Unseen"}).Want(t, 201)
		env.RunDue(env.AccountID)
		env.Patch("/v1/webhook/destination/"+dest+"/enable", nil).Want(t, 200)
		env.RunDue(env.AccountID)
		if got := rec.all(); len(got) != 0 {
			t.Fatalf("disabled destination got %d", len(got))
		}
		env.Post("/v1/customers", map[string]any{"name": "Seen"}).Want(t, 201)
		env.RunDue(env.AccountID)
		if got := rec.all(); len(got) != 1 || got[0].event != "customer.created" {
			t.Fatalf("enabled destination got %v", got)
		}
		// Disabled between the event and its delivery: not sent.
		env.Post("/v1/customers", map[string]any{"name": "Late"}).Want(t, 201)
		env.Patch("/v1/webhook/destination/"+dest+"/disable", nil).Want(t, 200)
		env.RunDue(env.AccountID)
		if got := rec.all(); len(got) != 1 {
			t.Fatalf("destination disabled before delivery got %d", len(got))
		}
		del := env.Delete("/v1/webhook/destination/"+dest).Want(t, 200).Map(t)
		if del["id"] != dest || del["deleted"] != true {
			t.Fatalf("delete: %v", del)
		}
		env.Get("/v1/webhook/destination/"+dest).Want(t, 404)
		var list []map[string]any
		env.Get("/v1/webhook/destination").Want(t, 200).JSON(t, &list)
		if len(list) != 0 {
			t.Fatalf("destinations after delete: %v", list)
		}
	})
}

// A receiver that hangs does not hold up another destination.
func TestSlowDestinationDelaysNoOther(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		slow, fast := newReceiver(t), newReceiver(t)
		slow.block = make(chan struct{})
		addDestination(t, env, slow.srv.URL)
		addDestination(t, env, fast.srv.URL)
		env.Post("/v1/customers", map[string]any{"name": "Race"}).Want(t, 201)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			env.App.Queue.Run(ctx, 10*time.Millisecond)
		}()
		deadline := time.Now().Add(20 * time.Second)
		for len(fast.all()) == 0 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if len(fast.all()) != 1 {
			t.Fatal("the fast destination got nothing while the slow one hung")
		}
		close(slow.block)
		for len(slow.all()) == 0 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
		<-done
		if len(slow.all()) != 1 {
			t.Fatal("the slow destination never got its event")
		}
	})
}

// Another account never sees this account's destinations, logs or events.
func TestWebhooksAreIsolatedPerAccount(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		rec := newReceiver(t)
		dest := addDestination(t, env, rec.srv.URL)
		env.Post("/v1/customers", map[string]any{"name": "Mine"}).Want(t, 201)
		env.RunDue(env.AccountID)
		log := logsOf(t, env)[0]
		evt := log["event_id"].(string)
		otherID, keyB := env.NewAccount("B")
		as := func(method, path string, body any) *apitest.Response {
			return env.Do(apitest.Request{Method: method, Path: path, Key: keyB, Body: body})
		}
		var list []any
		as("GET", "/v1/webhook/destination", nil).Want(t, 200).JSON(t, &list)
		var page logPage
		as("GET", "/v1/webhook/logs", nil).Want(t, 200).JSON(t, &page)
		var events logPage
		as("GET", "/v1/events", nil).Want(t, 200).JSON(t, &events)
		if len(list) != 0 || page.Meta.ItemsTotal != 0 || events.Meta.ItemsTotal != 0 {
			t.Fatalf("account B sees %v, %v, %v", list, page, events)
		}
		for _, r := range []struct{ method, path string }{
			{"GET", "/v1/webhook/destination/" + dest}, {"PUT", "/v1/webhook/destination/" + dest},
			{"DELETE", "/v1/webhook/destination/" + dest}, {"PATCH", "/v1/webhook/destination/" + dest + "/disable"},
			{"GET", "/v1/webhook/logs/" + log["id"].(string)}, {"POST", "/v1/webhook/logs/" + log["id"].(string) + "/redeliver"},
			{"GET", "/v1/events/" + evt},
		} {
			var body any
			if r.method == "PUT" {
				body = map[string]any{"url": "http://127.0.0.1:1/x"}
			}
			as(r.method, r.path, body).Want(t, 404)
		}
		// B's own events never reach A's destination.
		as("POST", "/v1/customers", map[string]any{"name": "Theirs"}).Want(t, 201)
		env.RunDue(otherID)
		if got := rec.all(); len(got) != 1 {
			t.Fatalf("A's receiver got B's event: %d deliveries", len(got))
		}
		if secretOf(t, env) == as("GET", "/v1/account/keys", nil).Want(t, 200).Map(t)["webhook_secret"] {
			t.Fatal("two accounts share a signing secret")
		}
	})
}

// Destination URLs: absolute http(s), at most 2,048 characters; in live
// mode no loopback, private or link-local address.
func TestDestinationURLRules(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		for _, bad := range []any{nil, "", "example.com/hook", "ftp://example.com/x", "https://" + strings.Repeat("a", 2050) + ".com",
			"http://user:pw@example.com/", 42} {
			res := env.Post("/v1/webhook/destination", map[string]any{"url": bad})
			if res.Status != 400 {
				t.Errorf("url %v: %d %s", bad, res.Status, res.Body)
			}
		}
		env.Post("/v1/webhook/destination", map[string]any{"url": "https://example.com/x", "events": []string{}}).Want(t, 400)
		env.Put("/v1/webhook/destination/we_missing", map[string]any{"url": "https://example.com/x"}).Want(t, 404)
		var list []any
		env.Get("/v1/webhook/destination").Want(t, 200).JSON(t, &list)
		if len(list) != 0 {
			t.Fatalf("refused destinations were stored: %v", list)
		}
		live, err := env.App.Accounts.Create(context.Background(), "Live", true)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range []string{"http://127.0.0.1:8080/hook", "http://localhost/hook", "http://10.0.0.5/", "http://169.254.169.254/latest",
			"http://[::1]/x", "http://192.168.1.2/"} {
			res := env.Do(apitest.Request{Method: "POST", Path: "/v1/webhook/destination", Key: live.Secret, Body: map[string]any{"url": u}})
			if res.Status != 400 {
				t.Errorf("live destination %s: %d %s", u, res.Status, res.Body)
			}
		}
		// Test mode allows local receivers, for development.
		addDestination(t, env, "http://127.0.0.1:9/hook")
	})
}

// After a roll both secrets sign for 24 hours (by the account's clock);
// after that only the new one.
func TestWebhookSecretRoll(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		rec := newReceiver(t)
		addDestination(t, env, rec.srv.URL)
		old := secretOf(t, env)
		if !strings.HasPrefix(old, "whsec_") {
			t.Fatalf("secret %q", old)
		}
		keys := env.Post("/v1/account/keys/webhook-secret/roll", nil).Want(t, 200).Map(t)
		fresh := keys["webhook_secret"].(string)
		if fresh == old || keys["previous_webhook_secret"] != old || keys["livemode"] != false {
			t.Fatalf("after roll: %v", keys)
		}
		env.Post("/v1/customers", map[string]any{"name": "During"}).Want(t, 201)
		env.RunDue(env.AccountID)
		advance(t, env, 24*3600+60)
		env.Post("/v1/customers", map[string]any{"name": "After"}).Want(t, 201)
		env.RunDue(env.AccountID)
		got := rec.all()
		if len(got) != 2 {
			t.Fatalf("got %d deliveries", len(got))
		}
		if !verify(t, got[0].body, got[0].header, old) || !verify(t, got[0].body, got[0].header, fresh) {
			t.Errorf("during the overlap: %q", got[0].header)
		}
		if verify(t, got[1].body, got[1].header, old) || !verify(t, got[1].body, got[1].header, fresh) {
			t.Errorf("after the overlap: %q", got[1].header)
		}
		if k := env.Get("/v1/account/keys").Want(t, 200).Map(t); k["previous_webhook_secret"] != nil {
			t.Errorf("previous secret still shown: %v", k)
		}
	})
}
