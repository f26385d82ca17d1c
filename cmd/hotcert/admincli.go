package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/hotcert/hotcert/admin"
	"github.com/hotcert/hotcert/configs"
	"github.com/hotcert/hotcert/daemon"
)

// apiClient is the admin API as the CLI sees it: the address and token come
// from the same config file the daemon reads.
type apiClient struct {
	*admin.Client
	tokenFile   string // named when the daemon refuses the token
	domainsFile string // what plan plans without --domains
}

// newAPIClient finds the admin API from the config. Reading needs no token
// (status works for any user who can reach the API); changing state does.
func newAPIClient(cfgPath string, needToken bool) (*apiClient, error) {
	cfg, err := configs.LoadConfig(cfgPath)
	if cfg == nil {
		return nil, firstLine(err)
	}
	var tok string
	if needToken {
		if tok, err = admin.ReadToken(cfg.Admin.TokenFile); err != nil {
			return nil, fmt.Errorf("%w (is hotcert running, and may this user read %s?)", err, cfg.Admin.TokenFile)
		}
	}
	return &apiClient{Client: admin.NewClient(cfg.Admin.Listen, tok), tokenFile: cfg.Admin.TokenFile, domainsFile: cfg.DomainsFile}, nil
}

// explain words a refused token for the operator. The CLI sends a token
// with every state change, so a 401 means it is the wrong one: usually a
// config other than the daemon's, or a stale token file.
func (c *apiClient) explain(err error) error {
	var se *admin.StatusError
	if errors.As(err, &se) && se.Code == http.StatusUnauthorized {
		return fmt.Errorf("the admin API at %s refused the token in %s: it is not the running daemon's token "+
			"(does --config name the config hotcert runs with?)", c.URL, c.tokenFile)
	}
	return err
}

func firstLine(err error) error {
	if err == nil {
		return nil
	}
	line, _, _ := strings.Cut(err.Error(), "\n")
	return errors.New(line)
}

// defaultStatusLimit is how many certificates hotcert status shows
// without --limit or --all: a screenful or two, not 100,000 lines.
const defaultStatusLimit = 100

func cmdStatus(args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlags("status", stderr)
	format := fs.String("o", "table", "output: table (one certificate: its fields, one per line) or json")
	var q admin.CertQuery
	fs.StringVar(&q.State, "state", "", "only certificates whose state starts with `S`: ok, waiting, issue, renew, refresh-ari, push, remove")
	fs.IntVar(&q.Limit, "limit", defaultStatusLimit, "show at most `N` certificates")
	fs.StringVar(&q.After, "after", "", "start after the certificate `NAME` (the next page)")
	all := fs.Bool("all", false, "show every certificate")
	pos, err := parseArgs(fs, args, stdout, 0, 1)
	if err != nil {
		return err
	}
	if *format != "table" && *format != "json" {
		return badUsage(fs, stderr, fmt.Sprintf("-o %q: want table or json", *format))
	}
	if msg := listFlagsProblem(fs, len(pos) == 1, q.Limit); msg != "" {
		return badUsage(fs, stderr, msg)
	}
	if *all {
		q.Limit = 0
	}
	c, err := newAPIClient(*cfgPath, false)
	if err != nil {
		return err
	}
	ctx := context.Background()
	if len(pos) == 1 {
		return statusOne(ctx, c, pos[0], *format, stdout)
	}
	raw, page, err := c.CertificatesPageJSON(ctx, q)
	if err != nil {
		return c.explain(err)
	}
	if *format == "json" {
		if _, err := stdout.Write(raw); err != nil {
			return err
		}
		var list struct{ Certificates []json.RawMessage }
		if err := json.Unmarshal(raw, &list); err != nil {
			return fmt.Errorf("GET /v1/certificates: %w", err)
		}
		return printMore(stderr, q, page, len(list.Certificates)) // stdout stays one JSON document
	}
	var list admin.CertList
	if err := json.Unmarshal(raw, &list); err != nil {
		return fmt.Errorf("GET /v1/certificates: %w", err)
	}
	return printStatus(ctx, stdout, c, &list, q, page)
}

// listFlagsProblem says what is wrong with the list's flags, or "".
func listFlagsProblem(fs *flag.FlagSet, one bool, limit int) string {
	var set []string
	for _, f := range []string{"state", "limit", "after", "all"} {
		if flagSet(fs, f) {
			set = append(set, "--"+f)
		}
	}
	switch {
	case one && len(set) > 0:
		return strings.Join(set, ", ") + ": only for the list, not with NAME"
	case limit < 1:
		return fmt.Sprintf("--limit %d: want at least 1 (or --all)", limit)
	case slices.Contains(set, "--all") && slices.Contains(set, "--limit"):
		return "--all and --limit: choose one"
	}
	return ""
}

func printStatus(ctx context.Context, w io.Writer, c *apiClient, list *admin.CertList, q admin.CertQuery, page admin.Page) error {
	if list.ConfigError != "" {
		fmt.Fprintf(w, "domains file rejected, the last good set stays in force:\n%s\n\n", list.ConfigError)
	}
	printDown(ctx, w, c.Client)
	printCluster(w, list.Cluster)
	if err := printTable(w, list.Certificates); err != nil {
		return err
	}
	if err := printRemovals(w, list.Removals); err != nil {
		return err
	}
	return printMore(w, q, page, len(list.Certificates))
}

// printMore ends a page that is not the last with how many more there are
// and the command that shows them. Past the first page the API says that
// more follow, not how many.
func printMore(w io.Writer, q admin.CertQuery, page admin.Page, shown int) error {
	if page.Next == "" {
		return nil
	}
	more := "more"
	if q.After == "" && shown > 0 {
		more = fmt.Sprintf("%d more", page.Total-shown)
	}
	next := "hotcert status --after " + page.Next
	if q.State != "" {
		next += " --state " + q.State
	}
	_, err := fmt.Fprintf(w, "\n%d of %d certificates shown, %s: %s (or --all, or --limit N)\n", shown, page.Total, more, next)
	return err
}

// statusOne shows the certificate name. JSON is the API's own object for
// it, so that fields the CLI does not know yet are not lost.
func statusOne(ctx context.Context, c *apiClient, name, format string, stdout io.Writer) error {
	raw, err := c.CertificateJSON(ctx, name)
	var se *admin.StatusError
	if errors.As(err, &se) && se.Code == http.StatusNotFound {
		return fmt.Errorf("no certificate %q in the daemon's domains (hotcert status lists them)", name)
	}
	if err != nil {
		return c.explain(err)
	}
	if format == "json" {
		_, err := fmt.Fprintf(stdout, "%s", raw)
		return err
	}
	var st daemon.CertStatus
	if err := json.Unmarshal(raw, &st); err != nil {
		return fmt.Errorf("GET /v1/certificates/%s: %w", name, err)
	}
	return printOne(stdout, st)
}

func cmdRenew(args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlags("renew", stderr)
	all := fs.Bool("all", false, "renew every certificate")
	pos, err := parseArgs(fs, args, stdout, 0, 1)
	if err != nil {
		return err
	}
	if *all == (len(pos) == 1) {
		return badUsage(fs, stderr, "name one certificate, or --all")
	}
	c, err := newAPIClient(*cfgPath, true)
	if err != nil {
		return err
	}
	ctx := context.Background()
	names := pos
	if *all {
		list, err := c.Certificates(ctx)
		if err != nil {
			return c.explain(err)
		}
		names = nil
		for _, s := range list.Certificates {
			names = append(names, s.Name)
		}
	}
	for _, n := range names {
		if err := c.Renew(ctx, n); err != nil {
			return c.explain(err)
		}
		fmt.Fprintf(stdout, "%s: renewal queued\n", n)
	}
	return nil
}

func cmdRevoke(args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlags("revoke", stderr)
	reason := fs.String("reason", "unspecified", "RFC 5280 reason: keyCompromise, superseded, cessationOfOperation, affiliationChanged, unspecified, or a number")
	pos, err := parseArgs(fs, args, stdout, 1, 1)
	if err != nil {
		return err
	}
	code, err := admin.ParseReason(*reason)
	if err != nil {
		return err
	}
	c, err := newAPIClient(*cfgPath, true)
	if err != nil {
		return err
	}
	if err := c.Revoke(context.Background(), pos[0], code); err != nil {
		return c.explain(err)
	}
	fmt.Fprintf(stdout, "%s: revoked (reason %d); a replacement is being ordered\n", pos[0], code)
	return nil
}
