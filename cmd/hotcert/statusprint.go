package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hotcert/hotcert/admin"
	"github.com/hotcert/hotcert/daemon"
)

// printDown names every HAProxy that does not answer now. Without it the
// table shows "lb1=-" for an instance that is down, which reads as "serves
// nothing" rather than "unreachable". /healthz answers 503 when one is down,
// so the body is read whatever the status; a failed probe prints nothing.
func printDown(ctx context.Context, w io.Writer, c *admin.Client) {
	h, err := c.Health(ctx)
	if err != nil || len(h.HAProxyDown) == 0 {
		return
	}
	for _, lb := range sortedKeys(h.HAProxyDown) {
		fmt.Fprintf(w, "HAProxy %s does not answer: %s\n", lb, oneLine(h.HAProxyDown[lb]))
	}
	fmt.Fprintln(w)
}

// printCluster names this node, the members alive and who holds which
// claim (is ordering what), above the table of this node's view.
func printCluster(w io.Writer, c *admin.ClusterStatus) {
	if c == nil {
		return
	}
	fmt.Fprintf(w, "cluster node %s; members: %s\n", c.Node, orDash(strings.Join(c.Members, " ")))
	if c.Store != "" {
		fmt.Fprintf(w, "the cluster's store does not answer: %s\n", oneLine(c.Store))
	}
	for _, cert := range sortedKeys(c.Claims) {
		fmt.Fprintf(w, "claim on %s held by %s\n", cert, c.Claims[cert])
	}
	fmt.Fprintln(w)
}

// printTable prints one row per certificate, then the last error of each
// failing one in full, on lines of its own: the cause is usually at the end
// of a long error, which a table column would cut.
func printTable(w io.Writer, certs []daemon.CertStatus) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tDOMAINS\tNOT AFTER\tNEXT RENEWAL\tSTATE\tNEXT ATTEMPT\tSERIAL PER HAPROXY")
	for _, c := range certs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Name, strings.Join(c.Domains, ","),
			when(c.NotAfter), when(c.NextRenewal), c.State, nextAttempt(c), loaded(c))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, c := range certs {
		if c.LastError != "" {
			fmt.Fprintf(w, "\n%s: last error (attempt %d, next attempt %s):\n  %s\n", c.Name, c.Attempts, when(c.NextAttempt), oneLine(c.LastError))
		}
	}
	return nil
}

// printOne prints every field of one certificate, one per line.
func printOne(w io.Writer, c daemon.CertStatus) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	renewal := when(c.NextRenewal)
	if c.RenewalWhy != "" {
		renewal += " (" + c.RenewalWhy + ")"
	}
	for _, f := range [][2]string{
		{"name", c.Name}, {"domains", strings.Join(c.Domains, ", ")}, {"key types", strings.Join(c.KeyTypes, ", ")},
		{"state", c.State}, {"serial", orDash(c.Serial)}, {"not before", when(c.NotBefore)}, {"not after", when(c.NotAfter)},
		{"next renewal", renewal}, {"attempts", fmt.Sprint(c.Attempts)}, {"next attempt", when(c.NextAttempt)},
		{"last error", orDash(oneLine(c.LastError))},
	} {
		fmt.Fprintf(tw, "%s:\t%s\n", f[0], f[1])
	}
	for _, lb := range sortedKeys(c.Loaded) {
		served := orDash(c.Loaded[lb])
		if e := c.PushErrors[lb]; e != "" {
			served += " (push failed: " + oneLine(e) + ")"
		}
		fmt.Fprintf(tw, "served by %s:\t%s\n", lb, served)
	}
	return tw.Flush()
}

// nextAttempt shows when a failing certificate is tried again.
func nextAttempt(c daemon.CertStatus) string {
	if c.LastError == "" {
		return "-"
	}
	return when(c.NextAttempt)
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04Z")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func loaded(c daemon.CertStatus) string {
	var parts []string
	for _, lb := range sortedKeys(c.Loaded) {
		parts = append(parts, lb+"="+orDash(c.Loaded[lb]))
	}
	return orDash(strings.Join(parts, " "))
}

// sortedKeys is for stable output.
func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
