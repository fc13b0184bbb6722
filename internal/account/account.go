// Package account owns companies, accounts (the tenant boundary) and API keys.
//
// Every request is authenticated to exactly one account; the resulting Scope
// travels explicitly into every service call, and every query filters on its
// AccountID. An account is either live or test (sandbox); its keys carry the
// same mode. Test accounts run on a simulated clock (see package clock).
package account

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/kassahq/kassa/internal/apperr"
	"github.com/kassahq/kassa/internal/clock"
	"github.com/kassahq/kassa/internal/id"
	"github.com/kassahq/kassa/internal/store"
)

// Scope is the authenticated account a request acts for.
type Scope struct {
	AccountID string
	CompanyID string
	Livemode  bool
	Clock     clock.Clock
}

// Now is the account's current time (simulated for test accounts).
func (s Scope) Now() time.Time { return s.Clock.Now() }

// Account is a tenant: an operational space of a company.
type Account struct {
	ID            string `json:"id"`
	CompanyID     string `json:"company"`
	Name          string `json:"name"`
	Livemode      bool   `json:"livemode"`
	ClockOffset   int64  `json:"-"`
	Country       string `json:"country"`
	Email         string `json:"email,omitempty"`
	InvoicePrefix string `json:"invoice_prefix"`
	Gateway       string `json:"gateway"`
	GatewaySecret string `json:"-"`
	Created       int64  `json:"created"`
}

// Key is an API key as listed (never with its secret).
type Key struct {
	ID        string `json:"id"`
	AccountID string `json:"account"`
	Livemode  bool   `json:"livemode"`
	Hint      string `json:"hint"`
	Created   int64  `json:"created"`
	RevokedAt *int64 `json:"revoked_at"`
}

// Service manages accounts and keys.
type Service struct {
	db   *store.DB
	base clock.Clock
	keys keyCache
}

// NewService returns a Service; base is the real clock test clocks shift.
func NewService(db *store.DB, base clock.Clock) *Service {
	return &Service{db: db, base: base}
}

// keyCacheTTL bounds how long a key resolved once is trusted without asking
// the database again. Changes made through this process (revocation, clock
// advance) clear the cache at once; changes by another process (kassa keys
// revoke) take effect within the TTL.
const keyCacheTTL = 2 * time.Second

type keyCache struct {
	mu      sync.Mutex
	entries map[string]keyCacheEntry
}

type keyCacheEntry struct {
	account *Account
	expires time.Time
}

func (c *keyCache) get(hash string, now time.Time) *Account {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[hash]
	if !ok || now.After(e.expires) {
		return nil
	}
	return e.account
}

func (c *keyCache) put(hash string, a *Account, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) > 10000 {
		c.entries = map[string]keyCacheEntry{}
	}
	c.entries[hash] = keyCacheEntry{account: a, expires: now.Add(keyCacheTTL)}
}

func (c *keyCache) clear() {
	c.mu.Lock()
	c.entries = nil
	c.mu.Unlock()
}

var keyPattern = regexp.MustCompile(`^sk_(test|live)_[A-Za-z0-9]{32}$`)

// ValidKeyFormat reports whether s looks like a Kassa secret key.
func ValidKeyFormat(s string) bool { return keyPattern.MatchString(s) }

func newSecret(livemode bool) string {
	if livemode {
		return "sk_live_" + id.Random(32)
	}
	return "sk_test_" + id.Random(32)
}

func hashKey(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

func keyHint(secret string) string { return secret[:8] + "…" + secret[len(secret)-4:] }

// ScopeOf builds the Scope of an account.
func (s *Service) ScopeOf(a *Account) Scope {
	var c clock.Clock = s.base
	if !a.Livemode && a.ClockOffset != 0 {
		c = clock.Offset{Base: s.base, Shift: time.Duration(a.ClockOffset) * time.Second}
	}
	return Scope{AccountID: a.ID, CompanyID: a.CompanyID, Livemode: a.Livemode, Clock: c}
}

const accountColumns = `a.id, a.company_id, a.name, a.livemode, a.clock_offset, a.country, COALESCE(a.email, ''),
	a.invoice_prefix, a.gateway, COALESCE(a.gateway_secret, ''), a.created`

func scanAccount(row interface{ Scan(...any) error }) (*Account, error) {
	var a Account
	err := row.Scan(&a.ID, &a.CompanyID, &a.Name, &a.Livemode, &a.ClockOffset, &a.Country, &a.Email,
		&a.InvoicePrefix, &a.Gateway, &a.GatewaySecret, &a.Created)
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// Authenticate resolves a secret key to its account's Scope. A missing or
// malformed key is bad input (400); an unknown or revoked key is 401.
func (s *Service) Authenticate(ctx context.Context, secret string) (Scope, error) {
	if !ValidKeyFormat(secret) {
		return Scope{}, apperr.New(apperr.BadRequest, "", "Missing apiKey header or invalid apiKey format")
	}
	hash := hashKey(secret)
	now := s.base.Now()
	if a := s.keys.get(hash, now); a != nil {
		return s.ScopeOf(a), nil
	}
	row := s.db.Read().QueryRowContext(ctx, `SELECT `+accountColumns+`
		FROM api_keys k JOIN accounts a ON a.id = k.account_id
		WHERE k.key_hash = $1 AND k.revoked_at IS NULL`, hash)
	a, err := scanAccount(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Scope{}, apperr.New(apperr.Unauthorized, "", "Invalid API key")
	}
	if err != nil {
		return Scope{}, fmt.Errorf("authenticate: %w", err)
	}
	s.keys.put(hash, a, now)
	return s.ScopeOf(a), nil
}

// Get loads an account by id.
func (s *Service) Get(ctx context.Context, accountID string) (*Account, error) {
	a, err := scanAccount(s.db.Read().QueryRowContext(ctx, `SELECT `+accountColumns+` FROM accounts a WHERE a.id = $1`, accountID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.NotFoundf("Account %s not found", accountID)
	}
	if err != nil {
		return nil, fmt.Errorf("load account %s: %w", accountID, err)
	}
	return a, nil
}

// GetTx loads an account inside a transaction.
func GetTx(ctx context.Context, tx *store.Tx, accountID string) (*Account, error) {
	a, err := scanAccount(tx.QueryRowContext(ctx, `SELECT `+accountColumns+` FROM accounts a WHERE a.id = $1`, accountID))
	if err != nil {
		return nil, fmt.Errorf("load account %s: %w", accountID, err)
	}
	return a, nil
}

// List returns every account, oldest first (workers walk them).
func (s *Service) List(ctx context.Context) ([]*Account, error) {
	rows, err := s.db.Read().QueryContext(ctx, `SELECT `+accountColumns+` FROM accounts a ORDER BY a.seq`)
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	defer rows.Close()
	var out []*Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// Default returns the first account created, or nil when there is none.
func (s *Service) Default(ctx context.Context) (*Account, error) {
	a, err := scanAccount(s.db.Read().QueryRowContext(ctx, `SELECT `+accountColumns+` FROM accounts a ORDER BY a.seq LIMIT 1`))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load default account: %w", err)
	}
	return a, nil
}

// Created is what creating an account returns: the account and its first key.
type Created struct {
	Account *Account
	Secret  string
}

// Bootstrap creates the default company, account and a test key when the
// database has no account yet. It returns nil when there was one already.
func (s *Service) Bootstrap(ctx context.Context) (*Created, error) {
	var out *Created
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts`).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		var err error
		out, err = s.createTx(ctx, tx, "", "Default account", false)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	return out, nil
}

// Create adds a test or live account to the default company (creating the
// company if needed) with one key of the account's mode.
func (s *Service) Create(ctx context.Context, name string, livemode bool) (*Created, error) {
	if name == "" || len(name) > 100 {
		return nil, apperr.Invalidf("name must be 1 to 100 characters")
	}
	var out *Created
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var companyID string
		err := tx.QueryRowContext(ctx, `SELECT id FROM companies ORDER BY seq LIMIT 1`).Scan(&companyID)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		out, err = s.createTx(ctx, tx, companyID, name, livemode)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create account: %w", err)
	}
	return out, nil
}

func (s *Service) createTx(ctx context.Context, tx *store.Tx, companyID, name string, livemode bool) (*Created, error) {
	now := s.base.Now().Unix()
	if companyID == "" {
		companyID = id.New(id.Company)
		if _, err := tx.ExecContext(ctx, `INSERT INTO companies (id, name, created) VALUES ($1, $2, $3)`,
			companyID, "Default company", now); err != nil {
			return nil, fmt.Errorf("insert company: %w", err)
		}
	}
	// The sandbox is for test mode only: a live account starts without a
	// gateway until a real one is configured.
	gw := GatewaySandbox
	if livemode {
		gw = GatewayNone
	}
	a := &Account{ID: id.New(id.Account), CompanyID: companyID, Name: name, Livemode: livemode,
		Country: "US", InvoicePrefix: "INV-", Gateway: gw, Created: now}
	if _, err := tx.ExecContext(ctx, `INSERT INTO accounts (id, company_id, name, livemode, gateway, created) VALUES ($1, $2, $3, $4, $5, $6)`,
		a.ID, a.CompanyID, a.Name, a.Livemode, a.Gateway, now); err != nil {
		return nil, fmt.Errorf("insert account: %w", err)
	}
	secret := newSecret(livemode)
	if _, err := insertKey(ctx, tx, a.ID, livemode, secret, now); err != nil {
		return nil, err
	}
	return &Created{Account: a, Secret: secret}, nil
}

func insertKey(ctx context.Context, tx *store.Tx, accountID string, livemode bool, secret string, now int64) (*Key, error) {
	k := &Key{ID: id.New(id.APIKey), AccountID: accountID, Livemode: livemode, Hint: keyHint(secret), Created: now}
	res, err := tx.ExecContext(ctx, `INSERT INTO api_keys (id, account_id, livemode, key_hash, hint, created)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (key_hash) DO NOTHING`,
		k.ID, accountID, livemode, hashKey(secret), k.Hint, now)
	if err != nil {
		return nil, fmt.Errorf("insert api key: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, nil // already present
	}
	return k, nil
}

// CreateKey adds a key to an account; the secret is returned once.
func (s *Service) CreateKey(ctx context.Context, accountID string) (*Key, string, error) {
	var key *Key
	var secret string
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		a, err := GetTx(ctx, tx, accountID)
		if err != nil {
			return apperr.NotFoundf("Account %s not found", accountID)
		}
		secret = newSecret(a.Livemode)
		key, err = insertKey(ctx, tx, a.ID, a.Livemode, secret, s.base.Now().Unix())
		return err
	})
	if err != nil {
		return nil, "", fmt.Errorf("create key: %w", err)
	}
	return key, secret, nil
}

// EnsureKey makes sure secret is a key of the account (idempotent). The key's
// mode must match the account's.
func (s *Service) EnsureKey(ctx context.Context, accountID, secret string) error {
	if !ValidKeyFormat(secret) {
		return apperr.Invalidf("API key must look like sk_test_ or sk_live_ followed by 32 letters and digits")
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		a, err := GetTx(ctx, tx, accountID)
		if err != nil {
			return err
		}
		live := secret[:8] == "sk_live_"
		if live != a.Livemode {
			return apperr.Invalidf("API key mode does not match account %s (livemode=%t)", a.ID, a.Livemode)
		}
		var owner string
		err = tx.QueryRowContext(ctx, `SELECT account_id FROM api_keys WHERE key_hash = $1`, hashKey(secret)).Scan(&owner)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			_, err = insertKey(ctx, tx, a.ID, live, secret, s.base.Now().Unix())
			return err
		case err != nil:
			return err
		case owner != a.ID:
			return apperr.Invalidf("API key belongs to another account")
		}
		return nil
	})
}

// ListKeys lists an account's keys.
func (s *Service) ListKeys(ctx context.Context, accountID string) ([]Key, error) {
	rows, err := s.db.Read().QueryContext(ctx, `SELECT id, account_id, livemode, hint, created, revoked_at
		FROM api_keys WHERE account_id = $1 ORDER BY seq`, accountID)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	defer rows.Close()
	var out []Key
	for rows.Next() {
		var k Key
		if err := rows.Scan(&k.ID, &k.AccountID, &k.Livemode, &k.Hint, &k.Created, &k.RevokedAt); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// RevokeKey revokes a key by id; requests with it get 401 from then on.
func (s *Service) RevokeKey(ctx context.Context, keyID string) error {
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL`,
			s.base.Now().Unix(), keyID)
		if err != nil {
			return fmt.Errorf("revoke key %s: %w", keyID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return apperr.NotFoundf("No active key %s", keyID)
		}
		return nil
	})
	s.keys.clear()
	return err
}

// ClockAdvance says how far to move a test clock: by Seconds, or to the
// Unix time To; exactly one of them.
type ClockAdvance struct {
	Seconds *int64 `json:"seconds"`
	To      *int64 `json:"to"`
}

// Test-clock bounds: one advance moves at most MaxClockAdvance, and a clock
// never reads past MaxClockTime (the end of year 9999), so every time Kassa
// stamps stays a valid date on both engines and in JSON.
const (
	MaxClockAdvance = 10 * 366 * 24 * time.Hour
	MaxClockTime    = 253402300799 // 9999-12-31T23:59:59Z
)

// delta is how far p moves a clock that reads current, checked against the bounds.
func (p ClockAdvance) delta(current int64) (int64, error) {
	maxSeconds := int64(MaxClockAdvance / time.Second)
	var delta int64
	switch {
	case (p.Seconds == nil) == (p.To == nil):
		return 0, apperr.Invalidf("give exactly one of seconds or to")
	case p.Seconds != nil:
		if *p.Seconds <= 0 || *p.Seconds > maxSeconds {
			return 0, apperr.Invalidf("seconds must be a positive integer of at most %d (10 years)", maxSeconds)
		}
		delta = *p.Seconds
	default:
		if *p.To <= current {
			return 0, apperr.Invalidf("to must be later than the account's current time %d", current)
		}
		if *p.To-current > maxSeconds {
			return 0, apperr.Invalidf("to must be at most %d seconds (10 years) after the account's current time %d", maxSeconds, current)
		}
		delta = *p.To - current
	}
	if current+delta > MaxClockTime {
		return 0, apperr.Invalidf("the clock cannot move past %d (the end of year 9999)", int64(MaxClockTime))
	}
	return delta, nil
}

// AdvanceClockTx moves a test account's clock forward inside tx, holding
// the account row locked until tx ends, and returns how far it moved and
// the account's new time. Live accounts have no test clock. The test clock
// service (internal/testclock) then runs the work that fell due.
func (s *Service) AdvanceClockTx(ctx context.Context, tx *store.Tx, sc Scope, p ClockAdvance) (time.Duration, time.Time, error) {
	if sc.Livemode {
		return 0, time.Time{}, apperr.New(apperr.Forbidden, "TEST_CLOCK_LIVEMODE", "The test clock is only available to test-mode keys")
	}
	var offset int64
	if err := tx.QueryRowContext(ctx, `SELECT clock_offset FROM accounts WHERE id = $1`+tx.Dialect.ForUpdate(), sc.AccountID).Scan(&offset); err != nil {
		return 0, time.Time{}, fmt.Errorf("load clock: %w", err)
	}
	current := s.base.Now().Unix() + offset
	delta, err := p.delta(current)
	if err != nil {
		return 0, time.Time{}, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE accounts SET clock_offset = clock_offset + $1 WHERE id = $2`, delta, sc.AccountID); err != nil {
		return 0, time.Time{}, fmt.Errorf("advance clock: %w", err)
	}
	// Cleared before commit too: a request authenticated meanwhile may cache
	// the old offset, and is cleared again after.
	s.keys.clear()
	return time.Duration(delta) * time.Second, time.Unix(current+delta, 0).UTC(), nil
}

// ClockMoved forgets cached clock offsets after an advance has committed.
func (s *Service) ClockMoved() { s.keys.clear() }

// ScopeAt is the scope of an account on a clock frozen at t: due work runs
// on it.
func (s *Service) ScopeAt(ctx context.Context, accountID string, t time.Time) (Scope, error) {
	a, err := s.Get(ctx, accountID)
	if err != nil {
		return Scope{}, err
	}
	sc := s.ScopeOf(a)
	sc.Clock = clock.Frozen(t)
	return sc, nil
}

// Gateways an account may use. GatewayNone is a live account's until a
// real gateway is configured: it can neither attach nor charge.
const (
	GatewaySandbox = "sandbox"
	GatewayStripe  = "stripe"
	GatewayNone    = "none"
)

// SetGateway chooses the payment gateway of an account: "sandbox" (offline,
// no secret) or "stripe" with the account's Stripe secret key (sk_… or rk_…).
// Payment methods attached through one gateway cannot be charged through
// another. The sandbox and Stripe test keys are for test accounts only: a
// live account would otherwise report money that never existed.
func (s *Service) SetGateway(ctx context.Context, accountID, name, secret string) error {
	var stored *string
	switch name {
	case GatewaySandbox:
		if secret != "" {
			return apperr.Invalidf("the sandbox gateway takes no secret key")
		}
	case GatewayStripe:
		if !stripeKeyPattern.MatchString(secret) {
			return apperr.Invalidf("the stripe gateway needs the account's Stripe secret key (sk_test_…, sk_live_… or rk_…)")
		}
		stored = &secret
	default:
		return apperr.Invalidf("gateway must be one of the following values: %s, %s", GatewaySandbox, GatewayStripe)
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		var live bool
		err := tx.QueryRowContext(ctx, `SELECT livemode FROM accounts WHERE id = $1`+tx.Dialect.ForUpdate(), accountID).Scan(&live)
		if errors.Is(err, sql.ErrNoRows) {
			return apperr.NotFoundf("Account %s not found", accountID)
		}
		if err != nil {
			return fmt.Errorf("load account %s: %w", accountID, err)
		}
		switch {
		case live && name == GatewaySandbox:
			return apperr.BadRequestf("GATEWAY_TEST_MODE_ONLY",
				"Account %s is a live account: the sandbox gateway is for test mode only; use --gateway stripe with a live secret key", accountID)
		case live && IsStripeTestKey(secret):
			return apperr.BadRequestf("GATEWAY_TEST_MODE_ONLY",
				"Account %s is a live account: a Stripe test key is for test mode only; use a live key (sk_live_… or rk_live_…)", accountID)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE accounts SET gateway = $1, gateway_secret = $2 WHERE id = $3`, name, stored, accountID); err != nil {
			return fmt.Errorf("set gateway of %s: %w", accountID, err)
		}
		return nil
	})
}

var stripeKeyPattern = regexp.MustCompile(`^(sk|rk)_(test|live)_[A-Za-z0-9_]+$`)

// IsStripeTestKey reports whether secret is a Stripe test-mode key.
func IsStripeTestKey(secret string) bool {
	return strings.HasPrefix(secret, "sk_test_") || strings.HasPrefix(secret, "rk_test_")
}

// NextInvoiceNumber takes the account's next invoice number inside tx
// ("INV-0001", then "INV-0002" …). The counter has a row of its own, locked
// until tx ends, so numbers are unique and, since a rolled-back transaction
// gives its number back, gap-free. Callers take it last in their
// transaction, so that the row is held as briefly as possible; the account
// row itself is not locked.
func NextInvoiceNumber(ctx context.Context, tx *store.Tx, accountID string) (string, error) {
	var prefix string
	if err := tx.QueryRowContext(ctx, `SELECT invoice_prefix FROM accounts WHERE id = $1`, accountID).Scan(&prefix); err != nil {
		return "", fmt.Errorf("invoice prefix of %s: %w", accountID, err)
	}
	var seq int64
	err := tx.QueryRowContext(ctx, `INSERT INTO invoice_counters (account_id, seq) VALUES ($1, 1)
		ON CONFLICT (account_id) DO UPDATE SET seq = invoice_counters.seq + 1 RETURNING seq`, accountID).Scan(&seq)
	if err != nil {
		return "", fmt.Errorf("next invoice number of %s: %w", accountID, err)
	}
	return fmt.Sprintf("%s%04d", prefix, seq), nil
}

// Address is an account's postal address, printed on its invoices.
type Address struct {
	Line1      string `json:"line1,omitempty"`
	Line2      string `json:"line2,omitempty"`
	City       string `json:"city,omitempty"`
	State      string `json:"state,omitempty"`
	PostalCode string `json:"postal_code,omitempty"`
	Country    string `json:"country,omitempty"`
}

// Lines formats the address for printing.
func (a Address) Lines() []string {
	var out []string
	for _, l := range []string{a.Line1, a.Line2, strings.TrimSpace(strings.Join([]string{a.PostalCode, a.City, a.State}, " ")), a.Country} {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// Profile is what customers see of an account: on invoices, emails and
// hosted pages. The brand colour is the company's.
type Profile struct {
	Name       string
	Email      string
	Country    string
	Address    Address
	BrandColor string
}

// GetProfile loads an account's profile.
func GetProfile(ctx context.Context, q store.Querier, accountID string) (*Profile, error) {
	var p Profile
	var email, address, color *string
	err := q.QueryRowContext(ctx, `SELECT a.name, a.email, a.country, a.address, c.brand_color
		FROM accounts a JOIN companies c ON c.id = a.company_id WHERE a.id = $1`, accountID).
		Scan(&p.Name, &email, &p.Country, &address, &color)
	if err != nil {
		return nil, fmt.Errorf("load profile of %s: %w", accountID, err)
	}
	if email != nil {
		p.Email = *email
	}
	if color != nil {
		p.BrandColor = *color
	}
	if address != nil && *address != "" {
		if err := json.Unmarshal([]byte(*address), &p.Address); err != nil {
			return nil, fmt.Errorf("decode address of %s: %w", accountID, err)
		}
	}
	return &p, nil
}

// ProfileParams change an account's profile; nil fields stay as they are.
type ProfileParams struct {
	Name          *string
	Email         *string
	Country       *string
	Address       *Address
	BrandColor    *string
	InvoicePrefix *string
}

var (
	colorPattern  = regexp.MustCompile(`^#[0-9A-Fa-f]{6}$`)
	prefixPattern = regexp.MustCompile(`^[A-Za-z0-9-]{1,12}$`)
)

// UpdateProfile changes an account's name, contact, address, invoice prefix
// and its company's brand colour.
func (s *Service) UpdateProfile(ctx context.Context, accountID string, p ProfileParams) error {
	switch {
	case p.Name != nil && (strings.TrimSpace(*p.Name) == "" || len(*p.Name) > 100):
		return apperr.Invalidf("name must be 1 to 100 characters")
	case p.Country != nil && !regexp.MustCompile(`^[A-Z]{2}$`).MatchString(*p.Country):
		return apperr.Invalidf("country must be a two-letter ISO 3166-1 code such as US")
	case p.BrandColor != nil && !colorPattern.MatchString(*p.BrandColor):
		return apperr.Invalidf("brand color must look like #1A2B3C")
	case p.InvoicePrefix != nil && !prefixPattern.MatchString(*p.InvoicePrefix):
		return apperr.Invalidf("invoice prefix must be 1 to 12 letters, digits or dashes")
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		a, err := GetTx(ctx, tx, accountID)
		if err != nil {
			return apperr.NotFoundf("Account %s not found", accountID)
		}
		set := func(column string, v any) error {
			_, err := tx.ExecContext(ctx, `UPDATE accounts SET `+column+` = $1 WHERE id = $2`, v, a.ID)
			return err
		}
		for column, v := range map[string]*string{"name": p.Name, "email": p.Email, "country": p.Country, "invoice_prefix": p.InvoicePrefix} {
			if v != nil {
				if err := set(column, *v); err != nil {
					return fmt.Errorf("update account %s: %w", column, err)
				}
			}
		}
		if p.Address != nil {
			b, err := json.Marshal(p.Address)
			if err != nil {
				return err
			}
			if err := set("address", string(b)); err != nil {
				return fmt.Errorf("update account address: %w", err)
			}
		}
		if p.BrandColor != nil {
			if _, err := tx.ExecContext(ctx, `UPDATE companies SET brand_color = $1 WHERE id = $2`, *p.BrandColor, a.CompanyID); err != nil {
				return fmt.Errorf("update brand color: %w", err)
			}
		}
		return nil
	})
}
