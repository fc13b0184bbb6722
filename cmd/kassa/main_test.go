package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/kassahq/kassa/internal/account"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for a writer goroutine and a reader.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

var apiURL = regexp.MustCompile(`API:\s+(http://\S+)/v1`)

// startServe runs `kassa serve` in-process and returns its base URL.
func startServe(t *testing.T, vars map[string]string) (base string, out *syncBuffer, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out = &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--access-log=false"}, env(vars), out, io.Discard)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if m := apiURL.FindStringSubmatch(out.String()); m != nil {
			base = m[1]
			break
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited: %v\n%s", err, out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	if base == "" {
		cancel()
		t.Fatalf("serve printed no URL:\n%s", out.String())
	}
	return base, out, func() error {
		cancel()
		return <-done
	}
}

func getWithKey(t *testing.T, url, key string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("cc-api-key", key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

func TestServeBootstrapsOnceAndEnsuresAPIKey(t *testing.T) {
	db := "sqlite://" + filepath.Join(t.TempDir(), "k.db")
	key := "sk_test_" + strings.Repeat("Ab3", 10) + "xy"
	vars := map[string]string{"KASSA_DATABASE_URL": db, "KASSA_API_KEY": key}
	base, out, stop := startServe(t, vars)
	printed := regexp.MustCompile(`API key:\s+(sk_test_[A-Za-z0-9]{32})`).FindStringSubmatch(out.String())
	if printed == nil {
		t.Fatalf("first start printed no key:\n%s", out)
	}
	if code := getWithKey(t, base+"/v1/customers", printed[1]); code != 200 {
		t.Fatalf("printed key: %d", code)
	}
	if code := getWithKey(t, base+"/v1/customers", key); code != 200 {
		t.Fatalf("KASSA_API_KEY: %d", code)
	}
	if err := stop(); err != nil {
		t.Fatalf("serve: %v", err)
	}

	// Second start: nothing new is printed, the ensured key still works.
	_, out2, stop2 := startServeQuiet(t, vars)
	defer stop2()
	if strings.Contains(out2.String(), "API key:") {
		t.Fatalf("second start printed a key again:\n%s", out2)
	}

	// accounts create on the same database while the server runs.
	var stdout bytes.Buffer
	if err := run(context.Background(), []string{"accounts", "create", "--name", "Second", "--json"}, env(vars), &stdout, io.Discard); err != nil {
		t.Fatal(err)
	}
	var created map[string]string
	if err := json.Unmarshal(stdout.Bytes(), &created); err != nil || len(created) != 2 ||
		!strings.HasPrefix(created["account"], "acct_") || !strings.HasPrefix(created["api_key"], "sk_test_") {
		t.Fatalf("accounts create --json printed %q", stdout.String())
	}

	// keys create / list / revoke.
	stdout.Reset()
	if err := run(context.Background(), []string{"keys", "create", "--account", created["account"]}, env(vars), &stdout, io.Discard); err != nil {
		t.Fatal(err)
	}
	keyID := regexp.MustCompile(`key id:\s+(key_\S+)`).FindStringSubmatch(stdout.String())
	if keyID == nil {
		t.Fatalf("keys create printed %q", stdout.String())
	}
	stdout.Reset()
	if err := run(context.Background(), []string{"keys", "revoke", keyID[1]}, env(vars), &stdout, io.Discard); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	if err := run(context.Background(), []string{"keys", "list", "--account", created["account"]}, env(vars), &stdout, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), keyID[1]) || !strings.Contains(stdout.String(), "revoked") {
		t.Fatalf("keys list printed %q", stdout.String())
	}
}

// startServeQuiet is startServe for a database that is already set up (no URL printed).
func startServeQuiet(t *testing.T, vars map[string]string) (string, *syncBuffer, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	logs := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--access-log=false"}, env(vars), out, logs)
	}()
	addr := regexp.MustCompile(`addr=(\S+)`)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if m := addr.FindStringSubmatch(logs.String()); m != nil {
			return "http://" + m[1], out, func() error { cancel(); return <-done }
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	t.Fatalf("serve did not start:\n%s", logs)
	return "", nil, nil
}

func TestServeRefusesMalformedAPIKey(t *testing.T) {
	vars := map[string]string{"KASSA_DATABASE_URL": "sqlite://" + filepath.Join(t.TempDir(), "k.db"), "KASSA_API_KEY": "secret"}
	err := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0"}, env(vars), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "KASSA_API_KEY") {
		t.Fatalf("err = %v", err)
	}
}

func TestServeHelpListsSettings(t *testing.T) {
	var stderr bytes.Buffer
	if err := run(context.Background(), []string{"serve", "--help"}, env(nil), io.Discard, &stderr); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"KASSA_ADDR", "KASSA_DATABASE_URL", "KASSA_API_KEY", "KASSA_LOG_FORMAT", "KASSA_MAX_BODY_BYTES"} {
		if !strings.Contains(stderr.String(), v) {
			t.Errorf("serve --help does not mention %s", v)
		}
	}
}

// TestSIGTERMDrains builds the real binary, starts it, holds a request in
// flight and sends SIGTERM: the request completes and the process exits 0.
func TestSIGTERMDrains(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "kassa")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--database-url", "sqlite://"+filepath.Join(dir, "k.db"))
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(stdout)
	var base, key string
	for sc.Scan() {
		line := sc.Text()
		if m := regexp.MustCompile(`API key:\s+(\S+)`).FindStringSubmatch(line); m != nil {
			key = m[1]
		}
		if m := apiURL.FindStringSubmatch(line); m != nil {
			base = m[1]
			break
		}
	}
	go io.Copy(io.Discard, stdout)
	if base == "" || key == "" {
		t.Fatal("no URL or key printed")
	}
	// A request whose body arrives slowly is in flight when SIGTERM comes.
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", base+"/v1/customers", pr)
	req.Header.Set("cc-api-key", key)
	result := make(chan int, 1)
	go func() {
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			result <- -1
			return
		}
		res.Body.Close()
		result <- res.StatusCode
	}()
	fmt.Fprint(pw, `{"name":`)
	time.Sleep(200 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	fmt.Fprint(pw, `"Drained"}`)
	pw.Close()
	if code := <-result; code != 201 {
		t.Fatalf("in-flight request answered %d, want 201", code)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("kassa did not exit after SIGTERM")
	}
	_ = os.Remove(bin)
}

func TestAccountsConfigureChangesTheInvoiceProfile(t *testing.T) {
	vars := map[string]string{"KASSA_DATABASE_URL": "sqlite://" + filepath.Join(t.TempDir(), "k.db")}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"accounts", "create", "--name", "First", "--json"}, env(vars), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	args := []string{"accounts", "configure", "--name", "Acme Inc.", "--email", "billing@acme.test", "--address-line1", "1 Market St",
		"--city", "San Francisco", "--country", "US", "--brand-color", "#0A7CFF", "--invoice-prefix", "ACME-"}
	if err := run(context.Background(), args, env(vars), io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]string{{"--brand-color", "red"}, {"--invoice-prefix", "has space"}, {"--country", "USA"}} {
		if err := run(context.Background(), append([]string{"accounts", "configure"}, bad...), env(vars), io.Discard, io.Discard); err == nil {
			t.Errorf("configure %v was accepted", bad)
		}
	}
	// A second configure of one field leaves the others alone.
	if err := run(context.Background(), []string{"accounts", "configure", "--city", "Oakland"}, env(vars), io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	a, err := openQuiet(context.Background(), config{databaseURL: vars["KASSA_DATABASE_URL"]})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	def, _ := a.Accounts.Default(context.Background())
	p, err := account.GetProfile(context.Background(), a.DB.Read(), def.ID)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "Acme Inc." || p.Email != "billing@acme.test" || p.Address.Line1 != "1 Market St" || p.Address.City != "Oakland" ||
		p.BrandColor != "#0A7CFF" || p.Country != "US" {
		t.Fatalf("profile %+v", p)
	}
	if def.InvoicePrefix != "ACME-" {
		t.Fatalf("invoice prefix %q", def.InvoicePrefix)
	}
}

// Command-line tools work on an SQLite database a server has open.
func TestCommandsWorkBesideTheServer(t *testing.T) {
	vars := map[string]string{"KASSA_DATABASE_URL": "sqlite://" + filepath.Join(t.TempDir(), "k.db")}
	_, _, stop := startServe(t, vars)
	defer stop()
	if err := run(context.Background(), []string{"accounts", "create", "--name", "X"}, env(vars), io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
}
