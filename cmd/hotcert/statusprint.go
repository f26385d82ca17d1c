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

// printTable prints one row per certificate, each on one line.
func printTable(w io.Writer, certs []daemon.CertStatus) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tDOMAINS\tNOT AFTER\tNEXT RENEWAL\tSTATE\tLAST ERROR\tSERIAL PER HAPROXY")
	for _, c := range certs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Name, strings.Join(c.Domains, ","),
			when(c.NotAfter), when(c.NextRenewal), c.State, orDash(truncate(oneLine(c.LastError), 60)), loaded(c))
	}
	return tw.Flush()
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

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
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
