// Command apibench measures Kassa against the targets of docs/PERFORMANCE.md:
//
//   - cold start: `kassa serve` on an empty SQLite database until /healthz answers;
//   - idle resident memory of that process;
//   - GET /customers/{id} requests per second, compared with a bare net/http
//     server returning the same JSON bytes, both driven by the same closed-loop
//     load generator with the same settings.
//
// Usage: go run ./bench/apibench [-duration 10s] [-conns 16]
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	bare := flag.String("bare", "", "internal: serve this JSON file as a bare net/http server")
	duration := flag.Duration("duration", 10*time.Second, "load duration per target")
	conns := flag.Int("conns", 16, "concurrent connections of the load generator")
	flag.Parse()
	if *bare != "" {
		serveBare(*bare)
		return
	}
	if err := run(*duration, *conns); err != nil {
		fmt.Fprintln(os.Stderr, "apibench:", err)
		os.Exit(1)
	}
}

// serveBare answers every request with the file's bytes, like Kassa would.
func serveBare(path string) {
	body, err := os.ReadFile(path)
	if err != nil {
		panic(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	fmt.Println("listening", ln.Addr())
	http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Write(body)
	}))
}

func run(duration time.Duration, conns int) error {
	dir, err := os.MkdirTemp("", "apibench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "kassa")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/kassa").CombinedOutput(); err != nil {
		return fmt.Errorf("build: %v\n%s", err, out)
	}

	// Cold start on an empty database, migrations included.
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--database-url", "sqlite://"+filepath.Join(dir, "kassa.db"))
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = io.Discard
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	defer cmd.Process.Kill()
	base, key, err := readBanner(stdout)
	if err != nil {
		return err
	}
	for {
		res, err := http.Get(base + "/healthz")
		if err == nil && res.StatusCode == 200 {
			res.Body.Close()
			break
		}
		if time.Since(start) > 10*time.Second {
			return fmt.Errorf("kassa not healthy after 10s")
		}
		time.Sleep(2 * time.Millisecond)
	}
	coldStart := time.Since(start)

	time.Sleep(3 * time.Second)
	idleRSS, err := rssKB(cmd.Process.Pid)
	if err != nil {
		return err
	}

	// One customer to read.
	req, _ := http.NewRequest("POST", base+"/v1/customers", strings.NewReader(
		`{"name":"Benchmark Customer","email":"bench@example.com","address":[{"line1":"1 Main St","city":"Springfield","country":"US"}]}`))
	req.Header.Set("cc-api-key", key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	var created struct{ ID string }
	json.NewDecoder(res.Body).Decode(&created)
	res.Body.Close()
	target := base + "/v1/customers/" + created.ID
	req, _ = http.NewRequest("GET", target, nil)
	req.Header.Set("cc-api-key", key)
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	jsonPath := filepath.Join(dir, "customer.json")
	os.WriteFile(jsonPath, body, 0o644)

	// The bare server, its own process like Kassa.
	self, err := os.Executable()
	if err != nil {
		return err
	}
	bareCmd := exec.Command(self, "-bare", jsonPath)
	bareOut, _ := bareCmd.StdoutPipe()
	if err := bareCmd.Start(); err != nil {
		return err
	}
	defer bareCmd.Process.Kill()
	line, err := bufio.NewReader(bareOut).ReadString('\n')
	if err != nil {
		return err
	}
	bareURL := "http://" + strings.TrimSpace(strings.TrimPrefix(line, "listening ")) + "/v1/customers/" + created.ID

	headers := map[string]string{"cc-api-key": key}
	bareRPS, bareErr := load(bareURL, headers, conns, duration)
	kassaRPS, kassaErr := load(target, headers, conns, duration)
	busyRSS, _ := rssKB(cmd.Process.Pid)

	host, _ := os.Hostname()
	fmt.Printf("machine: %s, %d CPUs, %s %s/%s, %s\n", host, runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH, cpuModel())
	fmt.Printf("date: %s\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Printf("load: closed loop, %d connections, %s per target, keep-alive\n\n", conns, duration)
	fmt.Printf("| measure | result | target |\n|---|---|---|\n")
	fmt.Printf("| cold start to healthy /healthz (empty SQLite, migrations included) | %d ms | ≤ 1000 ms |\n", coldStart.Milliseconds())
	fmt.Printf("| idle resident memory (3 s after start) | %.1f MB | ≤ 60 MB |\n", float64(idleRSS)/1024)
	fmt.Printf("| resident memory right after the load | %.1f MB | — |\n", float64(busyRSS)/1024)
	fmt.Printf("| bare net/http, same JSON | %.0f req/s (%d errors) | — |\n", bareRPS, bareErr)
	fmt.Printf("| Kassa GET /v1/customers/{id} (SQLite) | %.0f req/s (%d errors) | ≥ 0.5 × bare |\n", kassaRPS, kassaErr)
	fmt.Printf("| ratio Kassa / bare | %.2f | ≥ 0.50 |\n", kassaRPS/bareRPS)
	return nil
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

// load runs conns workers, each sending requests back to back for d.
func load(url string, headers map[string]string, conns int, d time.Duration) (float64, int64) {
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
				req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
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
	return float64(ok.Load()) / time.Since(start).Seconds(), failed.Load()
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
