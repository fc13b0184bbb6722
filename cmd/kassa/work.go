package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/kassahq/kassa/internal/duework"
	"github.com/kassahq/kassa/internal/id"
	"github.com/kassahq/kassa/internal/store"
)

// work is `kassa work list|probe`: what the due-work queue holds, and a
// canary that checks the workers drain it.
func work(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "list" && args[0] != "probe") {
		return fmt.Errorf("usage: kassa work list [--account ID] [--limit N] [--json] | kassa work probe [--count N] [--spread D] [--account ID]")
	}
	var cfg config
	fs := newFlagSet("work "+args[0], &cfg, getenv, stderr, false)
	accountID := fs.String("account", "", "only this account's work (list); the account probes are filed under (probe, default: the first)")
	limit := fs.Int("limit", 100, "list at most this many items")
	asJSON := fs.Bool("json", false, "print JSON lines")
	count := fs.Int("count", 1, "how many probes to schedule, due now")
	spread := fs.Duration("spread", 0, "spread the probes' due times evenly over this long from now (probe)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	a, err := openQuiet(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	if args[0] == "probe" {
		if *count < 1 || *count > 1_000_000 {
			return fmt.Errorf("--count must be between 1 and 1000000")
		}
		if *spread < 0 || *spread > 24*time.Hour {
			return fmt.Errorf("--spread must be between 0 and 24h")
		}
		acct, err := accountOrDefault(ctx, a, *accountID)
		if err != nil {
			return err
		}
		now := a.Clock.Now()
		err = a.DB.InTx(ctx, func(tx *store.Tx) error {
			for i := 0; i < *count; i++ {
				due := now.Add(*spread * time.Duration(i) / time.Duration(*count))
				if err := duework.Schedule(ctx, tx, acct, duework.ProbeKind, id.New("probe"), due); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "scheduled %d probe(s) on %s; they are recorded in work_probes as workers run them\n", *count, acct)
		return nil
	}
	items, err := duework.List(ctx, a.DB.Read(), *accountID, *limit)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		for _, it := range items {
			if err := enc.Encode(it); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tSUBJECT\tACCOUNT\tDUE (account clock)\tRUNS (wall clock)\tATTEMPTS\tLEASED BY\tLAST ERROR")
	for _, it := range items {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", it.Kind, it.SubjectID, it.AccountID,
			it.DueAt.Format(time.RFC3339), it.RunAt.Format(time.RFC3339), it.Attempts, it.LeasedBy, oneLine(it.LastError))
	}
	if len(items) == 0 {
		fmt.Fprintln(tw, "(nothing scheduled)")
	}
	return tw.Flush()
}

func oneLine(s string) string {
	for i, r := range s {
		if r == '\n' || i > 80 {
			return s[:i] + "…"
		}
	}
	return s
}
