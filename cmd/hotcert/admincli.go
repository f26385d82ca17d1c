package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
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

func cmdStatus(args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlags("status", stderr)
	format := fs.String("o", "table", "output: table (one certificate: its fields, one per line) or json")
	pos, err := parseArgs(fs, args, stdout, 0, 1)
	if err != nil {
		return err
	}
	if *format != "table" && *format != "json" {
		return badUsage(fs, stderr, fmt.Sprintf("-o %q: want table or json", *format))
	}
	c, err := newAPIClient(*cfgPath, false)
	if err != nil {
		return err
	}
	ctx := context.Background()
	if len(pos) == 1 {
		return statusOne(ctx, c, pos[0], *format, stdout)
	}
	if *format == "json" {
		raw, err := c.CertificatesJSON(ctx)
		if err != nil {
			return c.explain(err)
		}
		_, err = stdout.Write(raw)
		return err
	}
	list, err := c.Certificates(ctx)
	if err != nil {
		return c.explain(err)
	}
	if list.ConfigError != "" {
		fmt.Fprintf(stdout, "domains file rejected, the last good set stays in force:\n%s\n\n", list.ConfigError)
	}
	printDown(ctx, stdout, c.Client)
	printCluster(stdout, list.Cluster)
	if err := printTable(stdout, list.Certificates); err != nil {
		return err
	}
	return printRemovals(stdout, list.Removals)
}

// statusOne shows the certificate name. JSON is the API's own object for
// it, so that fields the CLI does not know yet are not lost.
func statusOne(ctx context.Context, c *apiClient, name, format string, stdout io.Writer) error {
	raw, err := c.CertificatesJSON(ctx)
	if err != nil {
		return c.explain(err)
	}
	var list struct{ Certificates []json.RawMessage }
	if err := json.Unmarshal(raw, &list); err != nil {
		return fmt.Errorf("GET /v1/certificates: %w", err)
	}
	for _, one := range list.Certificates {
		var st daemon.CertStatus
		if err := json.Unmarshal(one, &st); err != nil {
			return fmt.Errorf("GET /v1/certificates: %w", err)
		}
		if st.Name != name {
			continue
		}
		if format == "json" {
			_, err := fmt.Fprintf(stdout, "%s\n", one)
			return err
		}
		return printOne(stdout, st)
	}
	return fmt.Errorf("no certificate %q in the daemon's domains file (hotcert status lists them)", name)
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
