package mail_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kassahq/kassa/internal/apitest"
	"github.com/kassahq/kassa/internal/clock"
	"github.com/kassahq/kassa/internal/duework"
	"github.com/kassahq/kassa/internal/mail"
	"github.com/kassahq/kassa/internal/store"
)

// smtpSink is a minimal SMTP server that keeps what it receives.
type smtpSink struct {
	ln    net.Listener
	mu    sync.Mutex
	msgs  []string
	froms []string // MAIL commands as received
	fail  bool
}

func newSMTPSink(t *testing.T) *smtpSink {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpSink{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *smtpSink) serve(c net.Conn) {
	defer c.Close()
	tp := textproto.NewConn(c)
	tp.PrintfLine("220 sink ready")
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.Fields(line + " x")[0])
		switch cmd {
		case "EHLO", "HELO":
			tp.PrintfLine("250 sink")
		case "MAIL":
			s.mu.Lock()
			fail := s.fail
			s.froms = append(s.froms, line)
			s.mu.Unlock()
			if fail {
				tp.PrintfLine("451 try later")
				continue
			}
			tp.PrintfLine("250 ok")
		case "RCPT":
			tp.PrintfLine("250 ok")
		case "DATA":
			tp.PrintfLine("354 go on")
			body, _ := io.ReadAll(tp.DotReader())
			s.mu.Lock()
			s.msgs = append(s.msgs, string(body))
			s.mu.Unlock()
			tp.PrintfLine("250 queued")
		case "QUIT":
			tp.PrintfLine("221 bye")
			return
		default:
			tp.PrintfLine("250 ok")
		}
	}
}

func TestOutboxDeliversThroughSMTP(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		ctx := context.Background()
		sink := newSMTPSink(t)
		sc := env.ScopeOf(env.AccountID)
		queue := func(to string) {
			err := env.App.DB.InTx(ctx, func(tx *store.Tx) error {
				return mail.Enqueue(ctx, tx, sc, mail.Message{Kind: "test", To: to, Subject: "Invoice INV-0001 from Acme", Body: "Pay here:\nhttp://x/checkout/1"})
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		queue("ada@example.com")
		box := mail.NewOutbox(env.App.DB, mail.SMTP{Addr: sink.ln.Addr().String(), From: "billing@acme.test"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		deliverDue(t, env, box)
		msgs, _ := mail.List(ctx, env.App.DB.Read(), env.AccountID)
		if len(msgs) != 1 || msgs[0].Status != "sent" {
			t.Fatalf("outbox %+v", msgs)
		}
		if len(sink.msgs) != 1 || !strings.Contains(sink.msgs[0], "Subject: Invoice INV-0001 from Acme") ||
			!strings.Contains(sink.msgs[0], "To: ada@example.com") || !strings.Contains(sink.msgs[0], "http://x/checkout/1") {
			t.Fatalf("sink got %q", sink.msgs)
		}
		// Running again sends nothing twice.
		deliverDue(t, env, box)
		if len(sink.msgs) != 1 {
			t.Fatalf("sent %d times", len(sink.msgs))
		}
		// A refusing server: the message stays queued for a later retry.
		sink.mu.Lock()
		sink.fail = true
		sink.mu.Unlock()
		queue("bob@example.com")
		deliverDue(t, env, box)
		msgs, _ = mail.List(ctx, env.App.DB.Read(), env.AccountID)
		if msgs[1].Status != "queued" {
			t.Fatalf("failed delivery: status %s", msgs[1].Status)
		}
	})
}

// Header values cannot smuggle in headers, non-ASCII subjects are RFC 2047
// words, the envelope sender is the bare address, and the message is dated.
func TestSMTPMessageHeaders(t *testing.T) {
	sink := newSMTPSink(t)
	s := mail.SMTP{Addr: sink.ln.Addr().String(), From: "Acme Billing <billing@acme.test>"}
	err := s.Send(context.Background(), mail.Message{To: "ada@example.com",
		Subject: "Rechnung INV-0001 von Müller GmbH\r\nBcc: victim@example.com", Body: "Hallo\nZahlen Sie hier"})
	if err != nil {
		t.Fatal(err)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.msgs) != 1 {
		t.Fatalf("sink got %d messages", len(sink.msgs))
	}
	msg := sink.msgs[0]
	// The sink's dot reader turns CRLF into LF.
	head, body, _ := strings.Cut(msg, "\n\n")
	for _, line := range strings.Split(head, "\n") {
		if strings.HasPrefix(strings.ToLower(line), "bcc:") {
			t.Fatalf("a header was injected:\n%s", head)
		}
	}
	for _, want := range []string{"Subject: =?utf-8?q?Rechnung", "From: Acme Billing <billing@acme.test>", "Date: ", "Message-ID: <"} {
		if !strings.Contains(head, want) {
			t.Errorf("headers lack %q:\n%s", want, head)
		}
	}
	for _, r := range head {
		if r > 127 {
			t.Fatalf("raw non-ASCII in the headers:\n%s", head)
		}
	}
	if strings.TrimSpace(body) != "Hallo\nZahlen Sie hier" {
		t.Errorf("body %q", body)
	}
	if len(sink.froms) != 1 || sink.froms[0] != "MAIL FROM:<billing@acme.test>" {
		t.Errorf("envelope sender %q", sink.froms)
	}
}

// A server that accepts the connection and then says nothing cannot hold
// the outbox: Send gives up when its context ends.
func TestSMTPSendStopsWithItsContext(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c) // never answered
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- mail.SMTP{Addr: ln.Addr().String(), From: "billing@acme.test"}.Send(ctx, mail.Message{To: "ada@example.com", Subject: "x", Body: "y"})
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Send to a silent server succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Send to a silent server did not return")
	}
}

// deliverDue runs the account's due email deliveries with box, as a worker would.
func deliverDue(t *testing.T, env *apitest.Env, box *mail.Outbox) {
	t.Helper()
	q := duework.New(env.App.DB, clock.Real{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	q.Register(duework.Kind{Name: mail.KindDeliver, Call: func(ctx context.Context, it duework.Item) (time.Time, error) {
		return box.Deliver(ctx, it.SubjectID, it.DueAt)
	}})
	if _, err := q.RunAccount(context.Background(), env.AccountID, env.ScopeOf(env.AccountID).Now(), 100); err != nil {
		t.Fatal(err)
	}
}

// A message left "sending" by a runner that stopped before recording the
// outcome is taken up again once its lease has run out.
func TestOutboxRetakesAbandonedMessages(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		ctx := context.Background()
		sink := newSMTPSink(t)
		sc := env.ScopeOf(env.AccountID)
		err := env.App.DB.InTx(ctx, func(tx *store.Tx) error {
			if err := mail.Enqueue(ctx, tx, sc, mail.Message{Kind: "test", To: "ada@example.com", Subject: "Stuck", Body: "x"}); err != nil {
				return err
			}
			// What a runner that died mid-send leaves behind, lease expired.
			_, err := tx.ExecContext(ctx, `UPDATE due_work SET attempts = 1, leased_until = $1, leased_by = 'gone', run_at = $1
				WHERE account_id = $2`, time.Now().Unix()-1, env.AccountID)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		box := mail.NewOutbox(env.App.DB, mail.SMTP{Addr: sink.ln.Addr().String(), From: "billing@acme.test"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		deliverDue(t, env, box)
		msgs, _ := mail.List(ctx, env.App.DB.Read(), env.AccountID)
		if len(msgs) != 1 || msgs[0].Status != "sent" || len(sink.msgs) != 1 {
			t.Fatalf("outbox %+v, sink got %d", msgs, len(sink.msgs))
		}
	})
}
