// Command citool reads `go test -json` output for .ci/run: it prints a
// summary ("N passed, N failed, N skipped") with the failures' output, and
// checks that the PostgreSQL variants of the API tests really ran.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
)

type testEvent struct {
	Action  string
	Package string
	Test    string
	Output  string
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: citool summary|require-postgres FILE")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	defer f.Close()
	var passed, failed, skipped, pgPassed int
	output := map[string][]string{}
	var failures []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var e testEvent
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		key := e.Package + " " + e.Test
		switch e.Action {
		case "output":
			output[key] = append(output[key], e.Output)
		case "pass":
			if e.Test != "" {
				passed++
				if strings.HasSuffix(e.Test, "/postgres") {
					pgPassed++
				}
			}
		case "fail":
			if e.Test != "" {
				failed++
			}
			failures = append(failures, key)
		case "skip":
			if e.Test != "" {
				skipped++
			}
		}
	}
	switch os.Args[1] {
	case "summary":
		sort.Strings(failures)
		for _, k := range failures {
			fmt.Printf("--- FAIL %s\n%s\n", k, strings.Join(output[k], ""))
		}
		fmt.Printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped)
		if failed > 0 {
			os.Exit(1)
		}
	case "require-postgres":
		if pgPassed == 0 {
			fmt.Println("no PostgreSQL test ran")
			os.Exit(1)
		}
		fmt.Printf("%d PostgreSQL subtests passed\n", pgPassed)
	default:
		os.Exit(2)
	}
}
