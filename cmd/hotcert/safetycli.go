package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/hotcert/hotcert/admin"
	"github.com/hotcert/hotcert/daemon"
)

// cmdConfirmRemovals applies the removals that safety.removal_limit holds.
func cmdConfirmRemovals(args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlags("confirm-removals", stderr)
	if _, err := parseArgs(fs, args, stdout, 0, 0); err != nil {
		return err
	}
	c, err := newAPIClient(*cfgPath, true)
	if err != nil {
		return err
	}
	names, err := c.ConfirmRemovals(context.Background())
	if err != nil {
		return c.explain(err)
	}
	if len(names) == 0 {
		fmt.Fprintln(stdout, "no removals are held")
		return nil
	}
	fmt.Fprintf(stdout, "confirmed %d held removals; they are taken out of HAProxy now:\n", len(names))
	for _, n := range names {
		fmt.Fprintln(stdout, n)
	}
	return nil
}

// cmdPlan prints what the running daemon's next pass would do with a
// domains file (by default the one in force), and does none of it.
func cmdPlan(args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlags("plan", stderr)
	domains := fs.String("domains", "", "candidate domains `file` (default: the config's domains_file); it is planned as the whole set, "+
		"so with a domains_dir the certificates of its files show as removals")
	format := fs.String("o", "table", "output: table or json")
	if _, err := parseArgs(fs, args, stdout, 0, 0); err != nil {
		return err
	}
	if *format != "table" && *format != "json" {
		return badUsage(fs, stderr, fmt.Sprintf("-o %q: want table or json", *format))
	}
	c, err := newAPIClient(*cfgPath, true)
	if err != nil {
		return err
	}
	path := *domains
	if path == "" {
		path = c.domainsFile
	}
	if path == "" {
		return badUsage(fs, stderr, "no domains_file in the config: name the candidate with --domains")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read the domains file: %w", err)
	}
	label, _ := filepath.Abs(path)
	ctx := context.Background()
	if *format == "json" {
		raw, err := c.PlanJSON(ctx, label, data)
		if err != nil {
			return planError(stderr, c, err)
		}
		_, err = stdout.Write(raw)
		return err
	}
	p, err := c.Plan(ctx, label, data)
	if err != nil {
		return planError(stderr, c, err)
	}
	return printPlan(stdout, p)
}

// planError prints a rejected file's problems one per line, as check does.
func planError(stderr io.Writer, c *apiClient, err error) error {
	var se *admin.StatusError
	if errors.As(err, &se) && len(se.Problem.Problems) > 0 {
		for _, line := range se.Problem.Problems {
			fmt.Fprintln(stderr, line)
		}
		return errReported
	}
	return c.explain(err)
}

// planOrder is the order of the summary line, and the words for each count.
var planOrder = []struct{ action, words string }{
	{"issue", "to issue"}, {"renew", "to renew"}, {"refresh-ari", "to ask for renewal information"},
	{"push", "to push"}, {"remove", "to remove"}, {"held", "held"}, {"waiting", "waiting"},
	{"nothing", "with nothing to do"},
}

func printPlan(w io.Writer, p *daemon.Plan) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tACTION\tREASON")
	for _, e := range p.Certificates {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", e.Name, e.Action, orDash(oneLine(e.Reason)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var parts []string
	for _, o := range planOrder {
		if n := p.Counts[o.action]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, o.words))
		}
	}
	if len(parts) == 0 {
		parts = []string{"no certificates"}
	}
	fmt.Fprintf(w, "\nplan: %s.\n", strings.Join(parts, ", "))
	if p.Counts["held"] > 0 {
		fmt.Fprintln(w, "held removals wait for `hotcert confirm-removals` once the file is in place (safety.removal_limit).")
	}
	return nil
}

// printRemovals lists, below the status table, the certificates that left
// the domains file and are still served.
func printRemovals(w io.Writer, list []daemon.RemovalStatus) error {
	if len(list) == 0 {
		return nil
	}
	held := 0
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REMOVAL\tSTATE\tREASON")
	for _, r := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Name, r.State, oneLine(r.Reason))
		if r.State == "held" {
			held++
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if held > 0 {
		fmt.Fprintf(w, "%d removals held: `hotcert confirm-removals` applies them, or put them back in the domains file.\n", held)
	}
	return nil
}
