package main

import (
	"context"
	"fmt"
	"io"

	"github.com/hotcert/hotcert/admin"
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
