// Package mail queues and delivers Kassa's emails (invoices sent to
// customers, later dunning notices). A message is queued in the same
// transaction as the change it tells of; a worker task delivers it. Email is
// best effort: a failed delivery never changes an API result.
package mail

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	netmail "net/mail"
	"net/smtp"
	"strings"
	"time"

	"github.com/kassahq/kassa/internal/account"
	"github.com/kassahq/kassa/internal/clock"
	"github.com/kassahq/kassa/internal/duework"
	"github.com/kassahq/kassa/internal/id"
	"github.com/kassahq/kassa/internal/store"
)

// Message is an email to send.
type Message struct {
	Kind    string // what it is about, e.g. "invoice.sent"
	To      string
	Subject string
	Body    string // plain text
}

// Enqueue queues msg inside tx.
func Enqueue(ctx context.Context, tx *store.Tx, sc account.Scope, msg Message) error {
	now := sc.Now()
	emailID := id.New("em")
	_, err := tx.ExecContext(ctx, `INSERT INTO emails (id, account_id, kind, recipient, subject, body, status, due_at, created)
		VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7, $7)`,
		emailID, sc.AccountID, msg.Kind, msg.To, msg.Subject, msg.Body, now.Unix())
	if err != nil {
		return fmt.Errorf("queue %s email: %w", msg.Kind, err)
	}
	return duework.Schedule(ctx, tx, sc.AccountID, KindDeliver, emailID, now)
}

// Sender delivers one message.
type Sender interface {
	Send(ctx context.Context, msg Message) error
}

// SMTP sends through an SMTP server.
type SMTP struct {
	Addr     string // host:port
	From     string
	Username string
	Password string
	// Clock dates the messages (the Date header is the real sending time,
	// also for test-mode accounts); nil means clock.Real.
	Clock clock.Clock
}

// sendTimeout bounds one delivery, so that a server that stops answering
// cannot hold up the outbox.
const sendTimeout = time.Minute

// Send delivers msg with net/smtp (STARTTLS when the server offers it).
func (s SMTP) Send(ctx context.Context, msg Message) error {
	if err := s.send(ctx, msg); err != nil {
		return fmt.Errorf("send mail to %s via %s: %w", msg.To, s.Addr, err)
	}
	return nil
}

func (s SMTP) send(ctx context.Context, msg Message) error {
	host, _, err := net.SplitHostPort(s.Addr)
	if err != nil {
		return err
	}
	envelopeFrom := s.From
	if a, err := netmail.ParseAddress(s.From); err == nil {
		envelopeFrom = a.Address // "Acme <billing@acme.test>" → billing@acme.test
	}
	ctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return err
	}
	deadline, _ := ctx.Deadline()
	if err := conn.SetDeadline(deadline); err != nil {
		conn.Close()
		return err
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return err
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(&tls.Config{ServerName: host}); err != nil {
			return err
		}
	}
	if s.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return errors.New("the server does not support AUTH")
		}
		if err := c.Auth(smtp.PlainAuth("", s.Username, s.Password, host)); err != nil {
			return err
		}
	}
	if err := c.Mail(envelopeFrom); err != nil {
		return err
	}
	if err := c.Rcpt(msg.To); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	var now clock.Clock = clock.Real{}
	if s.Clock != nil {
		now = s.Clock
	}
	if _, err := w.Write(s.render(msg, now.Now())); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// render builds the RFC 5322 message. Header values never carry line
// breaks (a name with a newline cannot add headers), and non-ASCII ones
// are encoded as RFC 2047 words.
func (s SMTP) render(msg Message, now time.Time) []byte {
	domain := "kassa.invalid"
	if a, err := netmail.ParseAddress(s.From); err == nil {
		if _, d, ok := strings.Cut(a.Address, "@"); ok {
			domain = d
		}
	}
	var b strings.Builder
	header := func(name, value string) {
		b.WriteString(name + ": " + value + "\r\n")
	}
	header("From", headerValue(s.From))
	header("To", headerValue(msg.To))
	header("Subject", mimeHeader(msg.Subject))
	header("Date", now.UTC().Format(time.RFC1123Z))
	header("Message-ID", "<"+strings.ToLower(id.Random(24))+"@"+headerValue(domain)+">")
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "8bit")
	b.WriteString("\r\n")
	body := strings.ReplaceAll(msg.Body, "\r\n", "\n")
	b.WriteString(strings.ReplaceAll(body, "\n", "\r\n"))
	return []byte(b.String())
}

// headerValue folds line breaks into spaces.
func headerValue(v string) string {
	return strings.Join(strings.FieldsFunc(v, func(r rune) bool { return r == '\r' || r == '\n' }), " ")
}

func mimeHeader(v string) string {
	return mime.QEncoding.Encode("utf-8", headerValue(v))
}

// KindDeliver is the due-work kind that delivers one queued message.
const KindDeliver = "email.deliver"

// Outbox delivers queued messages: the handler of KindDeliver.
type Outbox struct {
	db     *store.DB
	sender Sender // nil: no mail server configured, messages are skipped
	logger *slog.Logger
}

// NewOutbox returns the delivery handler; sender may be nil.
func NewOutbox(db *store.DB, sender Sender, logger *slog.Logger) *Outbox {
	return &Outbox{db: db, sender: sender, logger: logger}
}

const maxAttempts = 5

// Deliver sends one queued message and records the outcome. A failed
// delivery is tried again later (it returns when), up to maxAttempts in
// all. A crash between the hand-off to the server and the record sends the
// message again, which is preferred to never sending it.
func (o *Outbox) Deliver(ctx context.Context, emailID string, now time.Time) (time.Time, error) {
	var q struct {
		msg      Message
		attempts int
		status   string
	}
	err := o.db.Read().QueryRowContext(ctx, `SELECT kind, recipient, subject, body, attempts, status FROM emails WHERE id = $1`,
		emailID).Scan(&q.msg.Kind, &q.msg.To, &q.msg.Subject, &q.msg.Body, &q.attempts, &q.status)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("load email %s: %w", emailID, err)
	}
	if q.status != "queued" && q.status != "sending" {
		return time.Time{}, nil // delivered or given up already
	}
	status, lastErr := "sent", ""
	var next time.Time
	var sentAt *int64
	switch {
	case o.sender == nil:
		status, lastErr = "skipped", "no mail server configured (KASSA_SMTP_ADDR)"
	default:
		if err := o.sender.Send(ctx, q.msg); err != nil {
			lastErr = err.Error()
			status = "queued"
			next = now.Add(time.Duration(1<<q.attempts) * time.Minute)
			if q.attempts+1 >= maxAttempts {
				status, next = "failed", time.Time{}
			}
			o.logger.Warn("email delivery failed", "email", emailID, "err", err)
		} else {
			t := now.Unix()
			sentAt = &t
		}
	}
	if err := o.db.InTx(ctx, func(tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE emails SET status = $1, last_error = $2, attempts = attempts + 1, sent_at = $3 WHERE id = $4`,
			status, nullable(lastErr), sentAt, emailID)
		return err
	}); err != nil {
		return time.Time{}, fmt.Errorf("record email %s: %w", emailID, err)
	}
	return next, nil
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Stored is a queued or delivered message as kept in the outbox.
type Stored struct {
	ID      string
	Kind    string
	To      string
	Subject string
	Body    string
	Status  string
}

// List returns an account's messages, oldest first (tests and the dashboard read them).
func List(ctx context.Context, q store.Querier, accountID string) ([]Stored, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, kind, recipient, subject, body, status FROM emails WHERE account_id = $1 ORDER BY seq`, accountID)
	if err != nil {
		return nil, fmt.Errorf("list emails: %w", err)
	}
	defer rows.Close()
	var out []Stored
	for rows.Next() {
		var m Stored
		if err := rows.Scan(&m.ID, &m.Kind, &m.To, &m.Subject, &m.Body, &m.Status); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}
