package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hotcert/hotcert/admin"
	"github.com/hotcert/hotcert/configs"
	"github.com/hotcert/hotcert/daemon"
)

// adminCommands talk to a running daemon's admin API.
var adminCommands = map[string]func([]string, io.Writer, io.Writer) error{
	"status": cmdStatus,
	"renew":  cmdRenew,
	"revoke": cmdRevoke,
}

// apiClient is the admin API as the CLI sees it: the address and token come
// from the same config file the daemon reads.
type apiClient struct {
	base      string
	token     string
	tokenFile string // named when the daemon refuses the token
	http      *http.Client
}

// newAPIClient finds the admin API from the config. Reading needs no token
// (status works for any user who can reach the API); changing state does.
func newAPIClient(cfgPath string, needToken bool) (*apiClient, error) {
	cfg, err := configs.LoadConfig(cfgPath)
	if cfg == nil {
		return nil, firstLine(err)
	}
	c := &apiClient{base: "http://" + dialAddr(cfg.Admin.Listen), tokenFile: cfg.Admin.TokenFile,
		http: &http.Client{Timeout: 90 * time.Second}}
	if !needToken {
		return c, nil
	}
	if c.token, err = admin.ReadToken(cfg.Admin.TokenFile); err != nil {
		return nil, fmt.Errorf("%w (is hotcert running, and may this user read %s?)", err, cfg.Admin.TokenFile)
	}
	return c, nil
}

// dialAddr turns a listen address into one to connect to: a wildcard host
// becomes loopback.
func dialAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}

// do sends a request and decodes a JSON answer into out; a problem document
// becomes a one-line error.
func (c *apiClient) do(method, path string, form url.Values, out any) error {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		return err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the admin API at %s (is hotcert running?): %w", c.base, unwrapURL(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("admin API: %w", err)
	}
	if resp.StatusCode == http.StatusUnauthorized {
		// The CLI always sends a token, so a 401 means it is the wrong one:
		// usually a config other than the daemon's, or a stale token file.
		return fmt.Errorf("the admin API at %s refused the token in %s: it is not the running daemon's token "+
			"(does --config name the config hotcert runs with?)", c.base, c.tokenFile)
	}
	if resp.StatusCode >= 300 {
		var p admin.Problem
		if json.Unmarshal(b, &p) == nil && p.Detail != "" {
			return errors.New(oneLine(p.Detail))
		}
		return fmt.Errorf("admin API: %s", resp.Status)
	}
	if out == nil {
		return nil
	}
	if raw, ok := out.(*[]byte); ok {
		*raw = b
		return nil
	}
	return json.Unmarshal(b, out)
}

func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func firstLine(err error) error {
	if err == nil {
		return nil
	}
	line, _, _ := strings.Cut(err.Error(), "\n")
	return errors.New(line)
}

// parseArgs lets flags come before or after the positional arguments
// (`hotcert renew shop --config f`), which flag.Parse alone does not.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, errUsage
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

type certList struct {
	ConfigError  string              `json:"config_error"`
	Certificates []daemon.CertStatus `json:"certificates"`
}

func cmdStatus(args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlags("status", stderr)
	format := fs.String("o", "table", "output: table or json")
	pos, err := parseArgs(fs, args)
	if err != nil || len(pos) > 0 || (*format != "table" && *format != "json") {
		fs.Usage()
		return errUsage
	}
	c, err := newAPIClient(*cfgPath, false)
	if err != nil {
		return err
	}
	var raw []byte
	if err := c.do(http.MethodGet, "/v1/certificates", nil, &raw); err != nil {
		return err
	}
	if *format == "json" {
		_, err := stdout.Write(raw)
		return err
	}
	var list certList
	if err := json.Unmarshal(raw, &list); err != nil {
		return fmt.Errorf("admin API: %w", err)
	}
	if list.ConfigError != "" {
		fmt.Fprintf(stdout, "domains file rejected, the last good set stays in force:\n%s\n\n", list.ConfigError)
	}
	printDown(stdout, c)
	return printTable(stdout, list.Certificates)
}

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

func cmdRenew(args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlags("renew", stderr)
	all := fs.Bool("all", false, "renew every certificate")
	pos, err := parseArgs(fs, args)
	if err != nil || (*all == (len(pos) == 1)) || len(pos) > 1 {
		fmt.Fprintln(stderr, "usage: hotcert renew [--config FILE] NAME|--all")
		return errUsage
	}
	c, err := newAPIClient(*cfgPath, true)
	if err != nil {
		return err
	}
	names := pos
	if *all {
		var list certList
		if err := c.do(http.MethodGet, "/v1/certificates", nil, &list); err != nil {
			return err
		}
		names = nil
		for _, s := range list.Certificates {
			names = append(names, s.Name)
		}
	}
	for _, n := range names {
		if err := c.do(http.MethodPost, "/v1/certificates/"+url.PathEscape(n)+"/renew", nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: renewal queued\n", n)
	}
	return nil
}

func cmdRevoke(args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlags("revoke", stderr)
	reason := fs.String("reason", "unspecified", "RFC 5280 reason: keyCompromise, superseded, cessationOfOperation, affiliationChanged, unspecified, or a number")
	pos, err := parseArgs(fs, args)
	if err != nil || len(pos) != 1 {
		fmt.Fprintln(stderr, "usage: hotcert revoke [--config FILE] NAME [--reason R]")
		return errUsage
	}
	code, err := admin.ParseReason(*reason)
	if err != nil {
		return err
	}
	c, err := newAPIClient(*cfgPath, true)
	if err != nil {
		return err
	}
	form := url.Values{"reason": {fmt.Sprint(code)}}
	if err := c.do(http.MethodPost, "/v1/certificates/"+url.PathEscape(pos[0])+"/revoke", form, nil); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: revoked (reason %d); a replacement is being ordered\n", pos[0], code)
	return nil
}

// sortedKeys is for stable output.
func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}
