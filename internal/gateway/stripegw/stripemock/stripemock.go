// Package stripemock runs stripe-mock (github.com/stripe/stripe-mock,
// v0.203.0) for tests that talk to a Stripe-compatible API.
package stripemock

import (
	"bufio"
	"errors"
	"fmt"
	"go/build"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Install is how to get stripe-mock.
const Install = "go install github.com/stripe/stripe-mock@v0.203.0"

// Binary finds stripe-mock on PATH or where go install puts it ("" if absent).
func Binary() string {
	if p, err := exec.LookPath("stripe-mock"); err == nil {
		return p
	}
	gobin := os.Getenv("GOBIN")
	if gobin == "" {
		gobin = filepath.Join(filepath.SplitList(build.Default.GOPATH)[0], "bin")
	}
	p := filepath.Join(gobin, "stripe-mock")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return ""
}

// Start runs stripe-mock on ports the system picks (so parallel test
// binaries never collide), bound to loopback, and returns its HTTP base URL
// once it listens, and a func that stops it.
func Start(bin string) (url string, stop func(), err error) {
	cmd := exec.Command(bin, "-http-addr", "127.0.0.1:0", "-https-addr", "127.0.0.1:0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop = func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}

	const prefix = "Listening for HTTP at address: "
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		var addr string
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), prefix); ok && addr == "" {
				addr = strings.TrimSpace(a)
				found <- addr
			}
		}
		// Kept draining above so stripe-mock never blocks on a full pipe.
		if addr == "" {
			close(found)
		}
	}()
	select {
	case addr, ok := <-found:
		if !ok {
			stop()
			return "", nil, errors.New("stripe-mock exited without listening")
		}
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			stop()
			return "", nil, fmt.Errorf("stripe-mock at %s: %w", addr, err)
		}
		conn.Close()
		return "http://" + addr, stop, nil
	case <-time.After(60 * time.Second):
		stop()
		return "", nil, errors.New("stripe-mock did not listen within 60s")
	}
}

// Require starts a stripe-mock for one test, stopped when the test ends,
// and returns its base URL. Without the binary the test is skipped, unless
// KASSA_REQUIRE_STRIPE_MOCK=1 (CI), where it fails.
func Require(t testing.TB) string {
	t.Helper()
	bin := Binary()
	if bin == "" {
		msg := "stripe-mock not installed (" + Install + ")"
		if os.Getenv("KASSA_REQUIRE_STRIPE_MOCK") == "1" {
			t.Fatal(msg + " and KASSA_REQUIRE_STRIPE_MOCK=1")
		}
		t.Skip(msg)
	}
	url, stop, err := Start(bin)
	if err != nil {
		t.Fatalf("start stripe-mock: %v", err)
	}
	t.Cleanup(stop)
	return url
}
