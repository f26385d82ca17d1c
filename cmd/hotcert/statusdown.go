package main

import (
	"encoding/json"
	"fmt"
	"io"
)

// printDown names every HAProxy that does not answer now. Without it the
// table shows "lb1=-" for an instance that is down, which reads as "serves
// nothing" rather than "unreachable". /healthz answers 503 when one is down,
// so the body is read whatever the status; a failed probe prints nothing.
func printDown(w io.Writer, c *apiClient) {
	resp, err := c.http.Get(c.base + "/healthz")
	if err != nil {
		return
	}
	defer resp.Body.Close()
	var h struct {
		Down map[string]string `json:"haproxy_down"`
	}
	if json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&h) != nil || len(h.Down) == 0 {
		return
	}
	for _, lb := range sortedKeys(h.Down) {
		fmt.Fprintf(w, "HAProxy %s does not answer: %s\n", lb, oneLine(h.Down[lb]))
	}
	fmt.Fprintln(w)
}
