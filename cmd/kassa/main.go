// Command kassa runs the Kassa billing platform and administers it.
//
//	kassa serve                         run the API and the workers
//	kassa migrate                       apply database migrations
//	kassa accounts create --name NAME   add an account (prints its id and a key)
//	kassa keys create|list|revoke       manage API keys
//	kassa version
package main

import (
	"context"
	"fmt"
	"io"
	"os"
)

var version = "dev"

func main() {
	ctx := context.Background()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "kassa:", err)
		os.Exit(1)
	}
}

const usage = `Kassa — self-hostable subscription billing.

Usage:
  kassa serve [--role api|worker|all]  run the API, the workers and the dashboard
  kassa migrate [flags]                apply database migrations and exit
  kassa accounts create --name NAME [--live] [--json]
  kassa accounts configure [--account ID] [--name …] [--email …] [--country US]
                           [--address-line1 …] [--city …] [--postal-code …]
                           [--brand-color #RRGGBB] [--invoice-prefix INV-]
  kassa accounts gateway [--account ID] --gateway sandbox|stripe [--stripe-secret-key …]
  kassa keys create [--account ID]     create an API key (shown once)
  kassa keys list [--account ID]
  kassa keys revoke KEY_ID
  kassa work list [--account ID] [--limit N] [--json]
                                       what the due-work queue holds
  kassa work probe [--count N]         schedule canary items the workers record
  kassa version

Every command takes --database-url (env KASSA_DATABASE_URL). Run
"kassa serve --help" for all server settings.
`

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("no command given")
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], getenv, stdout, stderr)
	case "migrate":
		return migrate(ctx, args[1:], getenv, stdout, stderr)
	case "accounts":
		return accounts(ctx, args[1:], getenv, stdout, stderr)
	case "keys":
		return keys(ctx, args[1:], getenv, stdout, stderr)
	case "work":
		return work(ctx, args[1:], getenv, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "kassa", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}
