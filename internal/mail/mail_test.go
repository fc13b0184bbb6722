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

	"github.com/kassahq/kassa/internal/apitest"
	"github.com/kassahq/kassa/internal/mail"
	"github.com/kassahq/kassa/internal/store"
)

// smtpSink is a minimal SMTP server that keeps what it receives.
type smtpSink struct {
	ln   net.Listener
	mu   sync.Mutex
	msgs []string
	fail bool
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
		a, err := env.App.Accounts.Get(ctx, env.AccountID)
		if err != nil {
			t.Fatal(err)
		}
		sc := env.App.Accounts.ScopeOf(a)
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
		if err := box.RunDue(ctx, sc); err != nil {
			t.Fatal(err)
		}
		msgs, _ := mail.List(ctx, env.App.DB.Read(), env.AccountID)
		if len(msgs) != 1 || msgs[0].Status != "sent" {
			t.Fatalf("outbox %+v", msgs)
		}
		if len(sink.msgs) != 1 || !strings.Contains(sink.msgs[0], "Subject: Invoice INV-0001 from Acme") ||
			!strings.Contains(sink.msgs[0], "To: ada@example.com") || !strings.Contains(sink.msgs[0], "http://x/checkout/1") {
			t.Fatalf("sink got %q", sink.msgs)
		}
		// Running again sends nothing twice.
		if err := box.RunDue(ctx, sc); err != nil {
			t.Fatal(err)
		}
		if len(sink.msgs) != 1 {
			t.Fatalf("sent %d times", len(sink.msgs))
		}
		// A refusing server: the message stays queued for a later retry.
		sink.mu.Lock()
		sink.fail = true
		sink.mu.Unlock()
		queue("bob@example.com")
		if err := box.RunDue(ctx, sc); err != nil {
			t.Fatal(err)
		}
		msgs, _ = mail.List(ctx, env.App.DB.Read(), env.AccountID)
		if msgs[1].Status != "queued" {
			t.Fatalf("failed delivery: status %s", msgs[1].Status)
		}
	})
}
