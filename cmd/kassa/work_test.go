package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kassahq/kassa/internal/apitest"
	"github.com/kassahq/kassa/internal/duework"
	"github.com/kassahq/kassa/internal/store"
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// kassaBinary builds the kassa binary once for the package's tests.
func kassaBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "kassa-bin")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "kassa")
		if out, err := exec.Command("go", "build", "-o", builtBin, ".").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// worker is a `kassa serve --role worker` process.
type worker struct {
	cmd  *exec.Cmd
	done chan error
}

func startWorker(t *testing.T, url string) *worker {
	t.Helper()
	return startKassaProcess(t, url, "worker").worker
}

var workerAddr = regexp.MustCompile(`msg="kassa listening" addr=(\S+)`)

// renewalWorker is a `kassa serve` process whose log is kept (for its
// address and its failures).
type renewalWorker struct {
	*worker
	addr string
	mu   sync.Mutex
	log  []string
}

func startRenewalWorker(t *testing.T, url string) *renewalWorker {
	t.Helper()
	return startKassaProcess(t, url, "worker")
}

// startKassaProcess runs `kassa serve --role role` on url, with env added
// to the test's environment.
func startKassaProcess(t *testing.T, url, role string, env ...string) *renewalWorker {
	t.Helper()
	cmd := exec.Command(kassaBinary(t), "serve", "--role", role, "--addr", "127.0.0.1:0", "--access-log=false",
		"--work-interval", "50ms", "--database-url", url)
	cmd.Env = append(append(os.Environ(), "KASSA_LOG_FORMAT=text", "KASSA_LOG_LEVEL=info"), env...)
	cmd.Stdout = io.Discard
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &renewalWorker{worker: &worker{cmd: cmd, done: make(chan error, 1)}}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			w.mu.Lock()
			w.log = append(w.log, line)
			w.mu.Unlock()
			if m := workerAddr.FindStringSubmatch(line); !signalled && m != nil {
				w.addr = m[1]
				close(ready)
				signalled = true
			}
		}
		if !signalled {
			close(ready)
		}
		w.done <- cmd.Wait()
	}()
	t.Cleanup(func() { w.kill() })
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatalf("kassa serve --role %s did not start", role)
	}
	if w.addr == "" {
		t.Fatalf("kassa serve --role %s exited before listening:\n%s", role, w.logText())
	}
	return w
}

func (w *renewalWorker) logText() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.log, "\n")
}

// failures returns the worker's log lines about failed work.

func (w *worker) kill() {
	if w.cmd.ProcessState == nil {
		_ = w.cmd.Process.Signal(syscall.SIGKILL)
		<-w.done
		w.done <- nil
	}
}

func (w *worker) stop(t *testing.T) {
	t.Helper()
	if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-w.done:
		w.done <- err
		if err != nil {
			t.Fatalf("worker exit: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("worker did not stop after SIGTERM")
	}
}

// probeDB prepares a database with one account and returns a handle on it.
func probeDB(t *testing.T, url string) *store.DB {
	t.Helper()
	vars := map[string]string{"KASSA_DATABASE_URL": url}
	if err := run(context.Background(), []string{"accounts", "create", "--name", "Probes"}, env(vars), io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func scheduleProbes(t *testing.T, url string, n int, spread ...time.Duration) {
	t.Helper()
	vars := map[string]string{"KASSA_DATABASE_URL": url}
	args := []string{"work", "probe", "--count", fmt.Sprint(n)}
	if len(spread) > 0 {
		args = append(args, "--spread", spread[0].String())
	}
	if err := run(context.Background(), args, env(vars), io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
}

type probeCounts struct{ runs, subjects, pending int }

func countProbes(t *testing.T, db *store.DB) probeCounts {
	t.Helper()
	ctx := context.Background()
	var c probeCounts
	if err := db.Read().QueryRowContext(ctx, `SELECT COUNT(*), COUNT(DISTINCT subject_id) FROM work_probes`).Scan(&c.runs, &c.subjects); err != nil {
		t.Fatal(err)
	}
	if err := db.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM due_work WHERE kind = $1`, duework.ProbeKind).Scan(&c.pending); err != nil {
		t.Fatal(err)
	}
	return c
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Two worker processes on one PostgreSQL drain 20,000 due items: each runs
// exactly once, and both processes did part of the work.
func TestTwoWorkerProcessesShareTheWork(t *testing.T) {
	var pg *apitest.Engine
	for _, e := range apitest.Engines() {
		if e.Name == "postgres" {
			pg = &e
		}
	}
	if pg == nil {
		if os.Getenv("KASSA_REQUIRE_POSTGRES") == "1" {
			t.Fatal("KASSA_REQUIRE_POSTGRES=1 but KASSA_TEST_DATABASE_URL is not set")
		}
		t.Skip("needs PostgreSQL (KASSA_TEST_DATABASE_URL)")
	}
	url := pg.URL(t)
	db := probeDB(t, url)
	a, b := startWorker(t, url), startWorker(t, url)
	const n = 20000
	scheduleProbes(t, url, n)
	waitFor(t, "the queue to drain", func() bool { return countProbes(t, db).pending == 0 })
	if c := countProbes(t, db); c.runs != n || c.subjects != n {
		t.Fatalf("%d runs of %d distinct probes, want %d exactly once each", c.runs, c.subjects, n)
	}
	rows, err := db.Read().QueryContext(context.Background(), `SELECT worker, COUNT(*) FROM work_probes GROUP BY worker`)
	if err != nil {
		t.Fatal(err)
	}
	shares := map[string]int{}
	for rows.Next() {
		var w string
		var k int
		if err := rows.Scan(&w, &k); err != nil {
			t.Fatal(err)
		}
		shares[w] = k
	}
	rows.Close()
	if len(shares) != 2 {
		t.Fatalf("work done by %v, want both processes", shares)
	}
	t.Logf("shares: %v", shares)
	a.stop(t)
	b.stop(t)
}

// A worker SIGKILLed in the middle of claimed work loses nothing and, once
// restarted, runs nothing twice that had committed.
func TestKilledWorkerRepeatsAndLosesNothing(t *testing.T) {
	for _, e := range apitest.Engines() {
		t.Run(e.Name, func(t *testing.T) {
			url := e.URL(t)
			db := probeDB(t, url)
			const n = 20000
			// Due over the next 6 s: each kill below comes while work is
			// both done and still to do, however fast the worker runs.
			start := time.Now()
			scheduleProbes(t, url, n, 6*time.Second)
			for kill := 1; kill <= 3; kill++ {
				w := startWorker(t, url)
				before := countProbes(t, db).runs
				waitFor(t, "some progress", func() bool { return countProbes(t, db).runs > before })
				time.Sleep(time.Until(start.Add(time.Duration(kill) * time.Second)))
				w.kill()
				c := countProbes(t, db)
				t.Logf("kill %d: %d run, %d pending", kill, c.runs, c.pending)
				if c.runs != c.subjects || c.runs+c.pending != n {
					t.Fatalf("after kill %d: %d runs of %d probes, %d pending; want every probe run once or pending", kill, c.runs, c.subjects, c.pending)
				}
			}
			w := startWorker(t, url)
			waitFor(t, "the queue to drain", func() bool { return countProbes(t, db).pending == 0 })
			w.stop(t)
			if c := countProbes(t, db); c.runs != n || c.subjects != n {
				t.Fatalf("%d runs of %d distinct probes, want %d exactly once each", c.runs, c.subjects, n)
			}
		})
	}
}

// kassa work list shows what is scheduled; kassa work probe adds to it.
func TestWorkListShowsScheduledWork(t *testing.T) {
	url := "sqlite://" + filepath.Join(t.TempDir(), "k.db")
	db := probeDB(t, url)
	vars := map[string]string{"KASSA_DATABASE_URL": url}
	var out syncBuffer
	if err := run(context.Background(), []string{"work", "list"}, env(vars), &out, io.Discard); err != nil || !strings.Contains(out.String(), "(nothing scheduled)") {
		t.Fatalf("empty list: %v\n%s", err, out.String())
	}
	scheduleProbes(t, url, 3)
	out = syncBuffer{}
	if err := run(context.Background(), []string{"work", "list", "--limit", "2"}, env(vars), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), duework.ProbeKind); n != 2 {
		t.Fatalf("list --limit 2 shows %d probes:\n%s", n, out.String())
	}
	if c := countProbes(t, db); c.pending != 3 || c.runs != 0 {
		t.Fatalf("counts %+v", c)
	}
	for _, bad := range [][]string{{"work"}, {"work", "probe", "--count", "0"}, {"work", "nope"}} {
		if err := run(context.Background(), bad, env(vars), io.Discard, io.Discard); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}
