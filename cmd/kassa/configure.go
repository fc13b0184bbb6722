package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/kassahq/kassa/internal/account"
)

// accountsConfigure sets what customers see of an account: its name,
// contact and address on invoices, the company's brand colour, and the
// prefix of invoice numbers. Only the flags given change anything.
func accountsConfigure(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var cfg config
	fs := newFlagSet("accounts configure", &cfg, getenv, stderr, false)
	accountID := fs.String("account", "", "account id (default: the first account)")
	str := func(name, usage string) *string { return fs.String(name, "", usage) }
	name := str("name", "account name, printed on invoices")
	email := str("email", "contact email, printed on invoices")
	country := str("country", "two-letter country code, e.g. US")
	line1 := str("address-line1", "address line 1")
	line2 := str("address-line2", "address line 2")
	city := str("city", "city")
	state := str("state", "state or region")
	postal := str("postal-code", "postal code")
	color := str("brand-color", "brand colour of the company, #RRGGBB")
	prefix := str("invoice-prefix", "prefix of invoice numbers (numbers already given keep theirs)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return errors.New("usage: kassa accounts configure [--account ID] [flags]")
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	opt := func(flagName string, v *string) *string {
		if given[flagName] {
			return v
		}
		return nil
	}
	p := account.ProfileParams{Name: opt("name", name), Email: opt("email", email), Country: opt("country", country),
		BrandColor: opt("brand-color", color), InvoicePrefix: opt("invoice-prefix", prefix)}
	a, err := openQuiet(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	if *accountID, err = accountOrDefault(ctx, a, *accountID); err != nil {
		return err
	}
	if given["address-line1"] || given["address-line2"] || given["city"] || given["state"] || given["postal-code"] {
		current, err := account.GetProfile(ctx, a.DB.Read(), *accountID)
		if err != nil {
			return err
		}
		addr := current.Address
		for _, f := range []struct {
			flag     string
			src, dst *string
		}{{"address-line1", line1, &addr.Line1}, {"address-line2", line2, &addr.Line2}, {"city", city, &addr.City},
			{"state", state, &addr.State}, {"postal-code", postal, &addr.PostalCode}} {
			if given[f.flag] {
				*f.dst = *f.src
			}
		}
		p.Address = &addr
	}
	if err := a.Accounts.UpdateProfile(ctx, *accountID, p); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "configured", *accountID)
	return nil
}
