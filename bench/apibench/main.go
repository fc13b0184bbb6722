// Command apibench measures Kassa against the targets of docs/PERFORMANCE.md:
//
//   - cold start: `kassa serve` on an empty SQLite database until /healthz answers;
//   - idle resident memory of that process;
//   - GET /v1/customers/{id} over -customers distinct customers, each request
//     for a random one, with a PATCH of a random one every -write-every,
//     in requests per second: on SQLite against a bare net/http server (its
//     own process) answering the same bytes for the same paths; on
//     PostgreSQL (a fresh schema, dropped afterwards) against `pgbench -S`
//     (select-only, -pgbench-clients clients, scale 1, in a schema of its
//     own) run in the same invocation.
//
// Every target is driven by the same closed-loop keep-alive generator: by
// default a lean HTTP/1.1 client (like wrk), or net/http's client with
// -generator nethttp. Beside each rate it reports the CPU time per request
// of the generator, the server, the PostgreSQL processes and the whole
// machine, and for Kassa on PostgreSQL the table scans per GET
// (pg_stat_user_tables): where the time goes.
//
// With -profile DIR, kassa is built with net/http/pprof added (a go build
// overlay; the tree is untouched) and a CPU profile of each Kassa load is
// written to DIR. -overlay and -serve-args try a change the same way.
//
// Usage: go run ./bench/apibench [-engine sqlite|postgres|both] [-duration 5s] [-conns 16]
package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
)

type options struct {
	duration       time.Duration
	conns          int
	customers      int
	writeEvery     time.Duration
	pgURL          string
	pgbenchClients int
	profileDir     string
	overlay        string
	serveArgs      string
}

func main() {
	bare := flag.String("bare", "", "internal: serve the bodies of this JSON file as a bare net/http server")
	engine := flag.String("engine", "both", "sqlite, postgres or both")
	var o options
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "load duration per target")
	flag.IntVar(&o.conns, "conns", 16, "concurrent connections of the load generator")
	flag.IntVar(&o.customers, "customers", 1000, "distinct customers read")
	flag.DurationVar(&o.writeEvery, "write-every", 10*time.Millisecond, "one PATCH /customers/{id} this often during Kassa's load (0: none)")
	flag.StringVar(&o.pgURL, "pg-url", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL server (KASSA_TEST_DATABASE_URL wins)")
	flag.IntVar(&o.pgbenchClients, "pgbench-clients", 32, "pgbench -c")
	flag.StringVar(&generator, "generator", generator, "load generator: raw (a lean HTTP/1.1 client) or nethttp (net/http's client)")
	flag.StringVar(&o.overlay, "overlay", "", "build kassa with this go build -overlay file (experiments without touching the tree)")
	flag.StringVar(&o.serveArgs, "serve-args", "", "extra arguments of kassa serve, e.g. --access-log=false")
	flag.StringVar(&o.profileDir, "profile", "", "write CPU profiles of kassa serve under load to this directory")
	flag.Parse()
	if *bare != "" {
		serveBare(*bare)
		return
	}
	if v := os.Getenv("KASSA_TEST_DATABASE_URL"); v != "" {
		o.pgURL = v
	}
	if err := run(*engine, o); err != nil {
		fmt.Fprintln(os.Stderr, "apibench:", err)
		os.Exit(1)
	}
}

// serveBare answers GET …/{id} with the bytes Kassa answered for id.
func serveBare(path string) {
	raw, err := os.ReadFile(path)
	if err != nil {
		panic(err)
	}
	var bodies map[string]string
	if err := json.Unmarshal(raw, &bodies); err != nil {
		panic(err)
	}
	byID := make(map[string][]byte, len(bodies))
	for k, v := range bodies {
		byID[k] = []byte(v)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	fmt.Println("listening", ln.Addr())
	http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := byID[r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Write(body)
	}))
}

type row struct{ measure, result, target string }

func run(engine string, o options) error {
	dir, err := os.MkdirTemp("", "apibench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "kassa")
	if err := build(bin, dir, o); err != nil {
		return err
	}
	host, _ := os.Hostname()
	fmt.Printf("machine: %s, %d CPUs, %s %s/%s, %s\n", host, runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH, cpuModel())
	fmt.Printf("date: %s\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Printf("load: closed loop, keep-alive, %s generator, %s per target, GET of a random one of %d customers", generator, o.duration, o.customers)
	if o.writeEvery > 0 {
		fmt.Printf(", a PATCH every %s during Kassa's loads", o.writeEvery)
	}
	if o.serveArgs != "" || o.overlay != "" {
		fmt.Printf("; experiment: kassa serve %s, overlay %q", o.serveArgs, o.overlay)
	}
	fmt.Printf("\n\n")
	var rows []row
	if engine == "both" || engine == "sqlite" {
		r, err := runSQLite(bin, dir, o)
		if err != nil {
			return fmt.Errorf("sqlite: %w", err)
		}
		rows = append(rows, r...)
	}
	if engine == "both" || engine == "postgres" {
		r, err := runPostgres(bin, o)
		if err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
		rows = append(rows, r...)
	}
	fmt.Printf("| measure | result | target |\n|---|---|---|\n")
	for _, r := range rows {
		fmt.Printf("| %s | %s | %s |\n", r.measure, r.result, r.target)
	}
	return nil
}

// pprofOverlay is added to package main of cmd/kassa for -profile.
const pprofOverlay = `package main

import (
	"net/http"
	_ "net/http/pprof"
	"os"
)

func init() {
	if addr := os.Getenv("APIBENCH_PPROF_ADDR"); addr != "" {
		go http.ListenAndServe(addr, nil)
	}
}
`

// build builds cmd/kassa, with net/http/pprof added for -profile and the
// files of -overlay replaced (go build -overlay): the tree is not touched.
func build(bin, dir string, o options) error {
	replace := map[string]string{}
	if o.overlay != "" {
		var ov struct{ Replace map[string]string }
		raw, err := os.ReadFile(o.overlay)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(raw, &ov); err != nil {
			return fmt.Errorf("-overlay: %w", err)
		}
		for k, v := range ov.Replace {
			replace[k] = v
		}
	}
	if o.profileDir != "" {
		src := filepath.Join(dir, "pprof.go")
		if err := os.WriteFile(src, []byte(pprofOverlay), 0o644); err != nil {
			return err
		}
		target, err := filepath.Abs("cmd/kassa/zz_apibench_pprof.go")
		if err != nil {
			return err
		}
		replace[target] = src
	}
	args := []string{"build", "-o", bin}
	if len(replace) > 0 {
		ov, _ := json.Marshal(map[string]any{"Replace": replace})
		ovPath := filepath.Join(dir, "overlay.json")
		if err := os.WriteFile(ovPath, ov, 0o644); err != nil {
			return err
		}
		args = append(args, "-overlay", ovPath)
	}
	if out, err := exec.Command("go", append(args, "./cmd/kassa")...).CombinedOutput(); err != nil {
		return fmt.Errorf("build: %v\n%s", err, out)
	}
	return nil
}

// kassa is a running `kassa serve`.
type kassa struct {
	cmd       *exec.Cmd
	base, key string
	pprof     string
	started   time.Duration // until /healthz answered
	once      sync.Once
}

func startKassa(bin, databaseURL string, profile bool, extra []string) (*kassa, error) {
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--database-url", databaseURL}, extra...)...)
	k := &kassa{cmd: cmd}
	if profile {
		k.pprof = freeAddr()
		cmd.Env = append(os.Environ(), "APIBENCH_PPROF_ADDR="+k.pprof)
	}
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = io.Discard // the access log goes to a pipe, drained
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	var err error
	k.base, k.key, err = readBanner(stdout)
	if err != nil {
		k.stop()
		return nil, err
	}
	for {
		res, err := http.Get(k.base + "/healthz")
		if err == nil && res.StatusCode == 200 {
			res.Body.Close()
			break
		}
		if time.Since(start) > 10*time.Second {
			k.stop()
			return nil, fmt.Errorf("kassa not healthy after 10s")
		}
		time.Sleep(2 * time.Millisecond)
	}
	k.started = time.Since(start)
	return k, nil
}

func (k *kassa) stop() {
	k.once.Do(func() {
		k.cmd.Process.Kill()
		k.cmd.Wait()
	})
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (k *kassa) do(method, path, body string) (int, []byte, error) {
	req, _ := http.NewRequest(method, k.base+path, strings.NewReader(body))
	req.Header.Set("cc-api-key", k.key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, err
}

// seed creates n customers and returns their ids and the bytes GET answers.
func (k *kassa) seed(n int) ([]string, map[string]string, error) {
	ids := make([]string, 0, n)
	bodies := make(map[string]string, n)
	for i := 0; i < n; i++ {
		code, b, err := k.do("POST", "/v1/customers", fmt.Sprintf(
			`{"name":"Benchmark Customer %d","email":"bench%d@example.com","phone":"+1 555 0100","address":[{"line1":"%d Main St","city":"Springfield","country":"US"}]}`, i, i, i))
		if err != nil {
			return nil, nil, err
		}
		var c struct{ ID string }
		if code != 201 || json.Unmarshal(b, &c) != nil {
			return nil, nil, fmt.Errorf("create customer: %d %s", code, b)
		}
		code, b, err = k.do("GET", "/v1/customers/"+c.ID, "")
		if err != nil || code != 200 {
			return nil, nil, fmt.Errorf("get customer: %d %v", code, err)
		}
		ids = append(ids, c.ID)
		bodies[c.ID] = string(b)
	}
	return ids, bodies, nil
}

// writer PATCHes a random customer every d (the same phone number, so that
// the bytes GET answers stay the same) until stop is closed.
func (k *kassa) writer(ids []string, d time.Duration, stop chan struct{}, done *sync.WaitGroup, n, failed *atomic.Int64) {
	defer done.Done()
	if d <= 0 {
		return
	}
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		code, _, err := k.do("PATCH", "/v1/customers/"+ids[rand.IntN(len(ids))], `{"phone":"+1 555 0100"}`)
		if err != nil || code != 200 {
			failed.Add(1)
		} else {
			n.Add(1)
		}
	}
}

// cpu is CPU time used so far, in seconds: this process (the generator),
// the server's, every PostgreSQL process's (when asked) and the whole
// machine's.
type cpu struct {
	gen, server, machine float64
	pg                   map[int]float64
	at                   time.Time
}

func cpuNow(serverPid int, postgres bool) cpu {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	c := cpu{gen: tv(ru.Utime) + tv(ru.Stime), server: procCPU(serverPid), machine: machineBusy(), at: time.Now()}
	if postgres {
		c.pg = postgresCPU()
	}
	return c
}

// postgresCPU is the CPU time of every process named postgres, by pid.
func postgresCPU() map[int]float64 {
	out := map[int]float64{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.TrimSpace(string(comm)) == "postgres" {
			out[pid] = procCPU(pid)
		}
	}
	return out
}

// backendsOf returns the pids of the PostgreSQL backends serving process
// pid's connections: its sockets' local ports, matched with client_port in
// pg_stat_activity. Other sessions' backends on the same server are left out.
func backendsOf(admin *sql.DB, pid int) (map[int]bool, error) {
	inodes := map[string]bool{}
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	for _, fd := range fds {
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	ports := map[int]bool{}
	for _, table := range []string{"tcp", "tcp6"} {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 || !inodes[f[9]] {
				continue
			}
			if i := strings.LastIndexByte(f[1], ':'); i >= 0 {
				if port, err := strconv.ParseInt(f[1][i+1:], 16, 32); err == nil {
					ports[int(port)] = true
				}
			}
		}
	}
	rows, err := admin.Query(`SELECT pid, COALESCE(client_port, -1) FROM pg_stat_activity`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int]bool{}
	for rows.Next() {
		var bpid, port int
		if err := rows.Scan(&bpid, &port); err != nil {
			return nil, err
		}
		if ports[port] {
			out[bpid] = true
		}
	}
	return out, rows.Err()
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

// procCPU is utime+stime of pid in seconds (USER_HZ = 100 on Linux).
func procCPU(pid int) float64 {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100
}

// machineBusy is the CPU time the whole machine spent not idle, in seconds.
func machineBusy() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0])[1:]
	var busy float64
	for i, v := range f {
		n, _ := strconv.ParseFloat(v, 64)
		if i != 3 && i != 4 && i < 8 { // not idle, not iowait, not guest time (counted in user)
			busy += n
		}
	}
	return busy / 100
}

// perRequest formats CPU µs per request of each side (the server's
// PostgreSQL backends when backends is not nil) and how busy the machine was.
func perRequest(before, after cpu, requests float64, backends map[int]bool) string {
	us := func(a, b float64) string { return fmt.Sprintf("%.0f", (b-a)*1e6/requests) }
	s := "CPU µs/request: generator " + us(before.gen, after.gen) + ", server " + us(before.server, after.server)
	if backends != nil {
		var pg float64
		for pid := range backends {
			pg += after.pg[pid] - before.pg[pid]
		}
		s += fmt.Sprintf(", its postgres backends %.0f", pg*1e6/requests)
	}
	return s + fmt.Sprintf(", machine %s = %.2f of %d cores busy", us(before.machine, after.machine),
		(after.machine-before.machine)/after.at.Sub(before.at).Seconds(), runtime.NumCPU())
}

type result struct {
	rps, n         float64
	errors, writes int64
	cpu            string
}

// measure drives k (or the bare server at base) with GETs of random ids for
// o.duration, PATCHes mixed in when k is set, profiling into profile when
// that is not "".
// With admin set, the server's PostgreSQL backends' CPU is counted too.
func measure(base string, k *kassa, ids []string, conns int, o options, serverPid int, admin *sql.DB, profile string) (result, error) {
	postgres := admin != nil
	headers := map[string]string{}
	if k != nil {
		headers["cc-api-key"] = k.key
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var writes, writeErrs atomic.Int64
	if k != nil {
		wg.Add(1)
		go k.writer(ids, o.writeEvery, stop, &wg, &writes, &writeErrs)
	}
	proferr := make(chan error, 1)
	if profile != "" {
		go func() { proferr <- fetchProfile(k.pprof, o.duration-time.Second, profile) }()
	} else {
		proferr <- nil
	}
	before := cpuNow(serverPid, postgres)
	rps, failed, n := load(base+"/v1/customers/", ids, headers, conns, o.duration)
	after := cpuNow(serverPid, postgres)
	close(stop)
	wg.Wait()
	if err := <-proferr; err != nil {
		return result{}, err
	}
	var backends map[int]bool
	if postgres {
		var err error
		if backends, err = backendsOf(admin, serverPid); err != nil {
			return result{}, err
		}
	}
	return result{rps: rps, n: float64(n), errors: failed + writeErrs.Load(), writes: writes.Load(), cpu: perRequest(before, after, float64(n), backends)}, nil
}

func fetchProfile(addr string, d time.Duration, path string) error {
	res, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, max(int(d.Seconds()), 1)))
	if err != nil {
		return err
	}
	defer res.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, res.Body)
	return err
}

func (o options) profilePath(name string) string {
	if o.profileDir == "" {
		return ""
	}
	os.MkdirAll(o.profileDir, 0o755)
	return filepath.Join(o.profileDir, name)
}

func runSQLite(bin, dir string, o options) ([]row, error) {
	k, err := startKassa(bin, "sqlite://"+filepath.Join(dir, "kassa.db"), o.profileDir != "", strings.Fields(o.serveArgs))
	if err != nil {
		return nil, err
	}
	defer k.stop()
	time.Sleep(3 * time.Second)
	idleRSS, err := rssKB(k.cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	ids, bodies, err := k.seed(o.customers)
	if err != nil {
		return nil, err
	}
	raw, _ := json.Marshal(bodies)
	bodiesPath := filepath.Join(dir, "customers.json")
	if err := os.WriteFile(bodiesPath, raw, 0o644); err != nil {
		return nil, err
	}

	// The bare server, its own process like Kassa.
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	bareCmd := exec.Command(self, "-bare", bodiesPath)
	bareOut, _ := bareCmd.StdoutPipe()
	if err := bareCmd.Start(); err != nil {
		return nil, err
	}
	defer func() { bareCmd.Process.Kill(); bareCmd.Wait() }()
	line, err := bufio.NewReader(bareOut).ReadString('\n')
	if err != nil {
		return nil, err
	}
	bareBase := "http://" + strings.TrimSpace(strings.TrimPrefix(line, "listening "))

	bare, err := measure(bareBase, nil, ids, o.conns, o, bareCmd.Process.Pid, nil, "")
	if err != nil {
		return nil, err
	}
	kas, err := measure(k.base, k, ids, o.conns, o, k.cmd.Process.Pid, nil, o.profilePath("kassa-sqlite.pprof"))
	if err != nil {
		return nil, err
	}
	busyRSS, _ := rssKB(k.cmd.Process.Pid)
	return []row{
		{"cold start to healthy /healthz (empty SQLite, migrations included)", fmt.Sprintf("%d ms", k.started.Milliseconds()), "≤ 1000 ms"},
		{"idle resident memory (3 s after start)", fmt.Sprintf("%.1f MB", float64(idleRSS)/1024), "≤ 60 MB"},
		{"resident memory right after the load", fmt.Sprintf("%.1f MB", float64(busyRSS)/1024), "—"},
		{fmt.Sprintf("bare net/http, same bytes, %d conns", o.conns), fmt.Sprintf("%.0f req/s (%d errors; %s)", bare.rps, bare.errors, bare.cpu), "—"},
		{fmt.Sprintf("Kassa GET /v1/customers/{id}, SQLite, %d conns", o.conns), fmt.Sprintf("%.0f req/s (%d errors, %d PATCHes beside; %s)", kas.rps, kas.errors, kas.writes, kas.cpu), "≥ 0.5 × bare"},
		{"ratio Kassa / bare (SQLite)", fmt.Sprintf("**%.2f**", kas.rps/bare.rps), "≥ 0.50"},
	}, nil
}

func runPostgres(bin string, o options) ([]row, error) {
	admin, err := sql.Open("pgx", o.pgURL)
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	suffix := strings.ToLower(strconv.FormatInt(time.Now().UnixNano(), 36))
	kassaSchema, pgbSchema := "apibench_"+suffix, "apibench_pgb_"+suffix
	for _, s := range []string{kassaSchema, pgbSchema} {
		if _, err := admin.Exec("CREATE SCHEMA " + s); err != nil {
			return nil, err
		}
		defer admin.Exec("DROP SCHEMA " + s + " CASCADE")
	}
	u, err := url.Parse(o.pgURL)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	q.Set("search_path", kassaSchema)
	u.RawQuery = q.Encode()
	k, err := startKassa(bin, u.String(), o.profileDir != "", strings.Fields(o.serveArgs))
	if err != nil {
		return nil, err
	}
	defer k.stop()
	ids, _, err := k.seed(o.customers)
	if err != nil {
		return nil, err
	}
	var rows []row
	// Table scans per request: backends report their statistics with a
	// delay, so the window spans both loads and pgbench, and is read once
	// the counters stand still.
	scans := func() (map[string]int64, error) {
		var last map[string]int64
		for i := 0; i < 30; i++ {
			r, err := admin.Query(`SELECT relname, COALESCE(seq_scan, 0) + COALESCE(idx_scan, 0) FROM pg_stat_user_tables WHERE schemaname = $1`, kassaSchema)
			if err != nil {
				return nil, err
			}
			out := map[string]int64{}
			for r.Next() {
				var name string
				var n int64
				if err := r.Scan(&name, &n); err != nil {
					r.Close()
					return nil, err
				}
				out[name] = n
			}
			r.Close()
			if fmt.Sprint(out) == fmt.Sprint(last) {
				return out, nil
			}
			last = out
			time.Sleep(time.Second)
		}
		return last, nil
	}
	statsBefore, err := scans()
	if err != nil {
		return nil, err
	}
	var best, gets, patches float64
	for _, conns := range uniq(o.conns, o.pgbenchClients) {
		res, err := measure(k.base, k, ids, conns, o, k.cmd.Process.Pid, admin, o.profilePath(fmt.Sprintf("kassa-postgres-%dconns.pprof", conns)))
		if err != nil {
			return nil, err
		}
		gets += res.n
		patches += float64(res.writes)
		best = max(best, res.rps)
		rows = append(rows, row{fmt.Sprintf("Kassa GET /v1/customers/{id}, PostgreSQL, %d conns", conns),
			fmt.Sprintf("%.0f req/s (%d errors, %d PATCHes beside; %s)", res.rps, res.errors, res.writes, res.cpu),
			"≥ 0.5 × pgbench -S"})
	}

	k.stop() // its backends report their statistics as they exit

	// pgbench in a schema of its own.
	env := append(os.Environ(), "PGOPTIONS=-c search_path="+pgbSchema)
	if out, err := pgbenchCmd(env, "-i", "-s", "1", "-q", o.pgURL).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("pgbench -i: %v\n%s", err, out)
	}
	tps := map[string]float64{}
	for _, mode := range []string{"simple", "prepared"} {
		args := []string{"-S", "-n", "-M", mode, "-c", strconv.Itoa(o.pgbenchClients), "-j", strconv.Itoa(runtime.NumCPU()),
			"-T", strconv.Itoa(max(int(o.duration.Seconds()), 1)), o.pgURL}
		cmd := pgbenchCmd(env, args...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		before := cpuNow(0, false)
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		// pgbench's backends exit with it: sample their CPU while it runs.
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		backendCPU := map[int]float64{}
		var werr error
	poll:
		for {
			select {
			case werr = <-done:
				break poll
			case <-time.After(200 * time.Millisecond):
			}
			r, err := admin.Query(`SELECT pid FROM pg_stat_activity WHERE application_name = 'pgbench' AND datname = current_database()`)
			if err != nil {
				continue
			}
			for r.Next() {
				var pid int
				if r.Scan(&pid) == nil {
					if c := procCPU(pid); c > 0 {
						backendCPU[pid] = c
					}
				}
			}
			r.Close()
		}
		after := cpuNow(0, false)
		if werr != nil {
			return nil, fmt.Errorf("pgbench: %v\n%s", werr, out.Bytes())
		}
		m := regexp.MustCompile(`tps = ([0-9.]+)`).FindSubmatch(out.Bytes())
		if m == nil {
			return nil, fmt.Errorf("pgbench printed no tps:\n%s", out.Bytes())
		}
		tps[mode], _ = strconv.ParseFloat(string(m[1]), 64)
		txs := tps[mode] * o.duration.Seconds()
		client := (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
		var backends float64
		for _, c := range backendCPU {
			backends += c
		}
		rows = append(rows, row{fmt.Sprintf("pgbench -S -M %s -c %d -j %d, scale 1", mode, o.pgbenchClients, runtime.NumCPU()),
			fmt.Sprintf("%.0f tps (CPU µs/transaction: pgbench %.0f, its postgres backends %.0f (up to their last 200 ms), machine %.0f = %.2f of %d cores busy)",
				tps[mode], client*1e6/txs, backends*1e6/txs, (after.machine-before.machine)*1e6/txs,
				(after.machine-before.machine)/after.at.Sub(before.at).Seconds(), runtime.NumCPU()), "—"})
	}
	rows = append(rows,
		row{"ratio Kassa (best) / pgbench -S (PostgreSQL)", fmt.Sprintf("**%.2f** (%.2f of -M prepared)", best/tps["simple"], best/tps["prepared"]), "≥ 0.50"})

	statsAfter, err := scans()
	if err != nil {
		return nil, err
	}
	var per []string
	for name, n := range statsAfter {
		if d := float64(n-statsBefore[name]) / gets; d >= 0.0005 {
			per = append(per, fmt.Sprintf("%s %.3f", name, d))
		}
	}
	sort.Strings(per)
	rows = append(rows, row{"Kassa on PostgreSQL: table scans per GET (pg_stat_user_tables, both loads)",
		fmt.Sprintf("%s (%.0f GETs, %.0f PATCHes counted in)", strings.Join(per, ", "), gets, patches), "—"})
	return rows, nil
}

func pgbenchCmd(env []string, args ...string) *exec.Cmd {
	cmd := exec.Command("pgbench", args...)
	cmd.Env = env
	return cmd
}

func uniq(ns ...int) []int {
	var out []int
	for _, n := range ns {
		if len(out) == 0 || out[len(out)-1] != n {
			out = append(out, n)
		}
	}
	return out
}

var bannerURL = regexp.MustCompile(`API:\s+(http://\S+)/v1`)
var bannerKey = regexp.MustCompile(`API key:\s+(\S+)`)

func readBanner(r io.Reader) (base, key string, err error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if m := bannerKey.FindStringSubmatch(sc.Text()); m != nil {
			key = m[1]
		}
		if m := bannerURL.FindStringSubmatch(sc.Text()); m != nil {
			base = m[1]
			go io.Copy(io.Discard, r)
			return base, key, nil
		}
	}
	return "", "", fmt.Errorf("kassa printed no banner")
}

// load runs conns workers, each sending GET prefix+{random id} back to back
// for d; it returns requests/s, failures and the number of requests.
func load(prefix string, ids []string, headers map[string]string, conns int, d time.Duration) (float64, int64, int64) {
	if generator == "nethttp" {
		return loadNetHTTP(prefix, ids, headers, conns, d)
	}
	return loadRaw(prefix, ids, headers, conns, d)
}

// generator is the -generator flag.
var generator = "raw"

// loadRaw is a lean HTTP/1.1 keep-alive client, like wrk: each connection
// writes a request prepared in advance and reads the response by its
// Content-Length. It costs the machine a fraction of what net/http's client
// does, leaving the CPU to the servers being compared.
func loadRaw(prefix string, ids []string, headers map[string]string, conns int, d time.Duration) (float64, int64, int64) {
	u, err := url.Parse(prefix)
	if err != nil {
		panic(err)
	}
	var extra strings.Builder
	for k, v := range headers {
		fmt.Fprintf(&extra, "%s: %s\r\n", k, v)
	}
	reqs := make([][]byte, len(ids))
	for i, id := range ids {
		reqs[i] = []byte("GET " + u.Path + id + " HTTP/1.1\r\nHost: " + u.Host + "\r\n" + extra.String() + "\r\n")
	}
	deadline := time.Now().Add(d)
	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				c, err := net.Dial("tcp", u.Host)
				if err != nil {
					failed.Add(1)
					time.Sleep(10 * time.Millisecond)
					continue
				}
				c.SetDeadline(deadline.Add(5 * time.Second))
				r := bufio.NewReaderSize(c, 32<<10)
				for time.Now().Before(deadline) {
					if _, err := c.Write(reqs[rand.IntN(len(reqs))]); err != nil {
						failed.Add(1)
						break
					}
					status, err := readResponse(r)
					if err != nil {
						failed.Add(1)
						break
					}
					if status == 200 {
						ok.Add(1)
					} else {
						failed.Add(1)
					}
				}
				c.Close()
			}
		}()
	}
	wg.Wait()
	return float64(ok.Load()) / time.Since(start).Seconds(), failed.Load(), ok.Load()
}

// readResponse reads one HTTP/1.1 response with a Content-Length body.
func readResponse(r *bufio.Reader) (int, error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, err
	}
	length := -1
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(line) <= 2 {
			break
		}
		if len(line) > 16 && bytes.EqualFold(line[:15], []byte("Content-Length:")) {
			length, err = strconv.Atoi(string(bytes.TrimSpace(line[15:])))
			if err != nil {
				return 0, err
			}
		}
	}
	if length < 0 {
		return 0, fmt.Errorf("response without Content-Length")
	}
	_, err = r.Discard(length)
	return status, err
}

// loadNetHTTP is the same load through net/http's client.
func loadNetHTTP(prefix string, ids []string, headers map[string]string, conns int, d time.Duration) (float64, int64, int64) {
	transport := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}
	client := &http.Client{Transport: transport}
	defer transport.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 32<<10)
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, "GET", prefix+ids[rand.IntN(len(ids))], nil)
				for k, v := range headers {
					req.Header.Set(k, v)
				}
				res, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						failed.Add(1)
					}
					continue
				}
				for {
					if _, err := res.Body.Read(buf); err != nil {
						break
					}
				}
				res.Body.Close()
				if res.StatusCode == 200 {
					ok.Add(1)
				} else {
					failed.Add(1)
				}
			}
		}()
	}
	start := time.Now()
	wg.Wait()
	return float64(ok.Load()) / time.Since(start).Seconds(), failed.Load(), ok.Load()
}

func rssKB(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if bytes.HasPrefix(line, []byte("VmRSS:")) {
			var kb int64
			fmt.Sscanf(string(bytes.TrimPrefix(line, []byte("VmRSS:"))), "%d", &kb)
			return kb, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS")
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "model name") {
			return strings.TrimSpace(strings.SplitN(line, ":", 2)[1])
		}
	}
	return "unknown CPU"
}
