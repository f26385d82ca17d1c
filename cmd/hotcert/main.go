// Command hotcert gives HAProxy automatic TLS certificates over ACME, loaded
// through the runtime API so that HAProxy never reloads. This package only
// wires the others together.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const defaultConfig = "/etc/hotcert/hotcert.yaml"

var (
	// errUsage ends the program with exit status 2; the command has said why.
	errUsage = errors.New("usage")
	// errHelp ends the program with exit status 0 after a command printed
	// its usage because it was asked to.
	errHelp = errors.New("help")
	// errReported means the command already printed its errors: exit 1.
	errReported = errors.New("reported")
)

// command is one subcommand: how usage shows it and what runs it.
type command struct {
	name    string
	args    string // the synopsis after the name
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

// commands are the subcommands in the order usage lists them; a new
// command is one more line here.
func commands() []command {
	return []command{
		{"run", "--config FILE [--log-format text|json] [--log-level info]", "run the daemon", cmdRun},
		{"check", "--config FILE", "validate the config and the domains file", cmdCheck},
		{"status", "--config FILE [-o json] [--state S] [--limit N|--all] [--after NAME] [NAME]", "show the certificates, or NAME in full (admin API)", cmdStatus},
		{"put", "--config FILE NAME --domains A,B [--key-type K] [--challenge C] [--dns-provider P] [--wait] [--timeout D]", "write a certificate into domains_dir (admin API)", cmdPut},
		{"delete", "--config FILE NAME", "remove a certificate put wrote (admin API)", cmdDelete},
		{"renew", "--config FILE NAME|--all", "order new certificates now (admin API)", cmdRenew},
		{"revoke", "--config FILE NAME [--reason R]", "revoke a certificate (admin API)", cmdRevoke},
		{"plan", "--config FILE [--domains FILE] [-o json]", "what the next pass would do, without doing it (admin API)", cmdPlan},
		{"confirm-removals", "--config FILE", "apply the removals safety.removal_limit holds (admin API)", cmdConfirmRemovals},
		{"import", "--config FILE --from certbot|pem DIR [--dry-run]", "adopt certificates issued elsewhere (daemon stopped)", cmdImport},
		{"rollover", "--config FILE [--new-key F]", "replace the ACME account key (daemon stopped)", cmdRollover},
		{"version", "", "print the version", cmdVersion},
	}
}

func lookup(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 { // hotcert help status
			return run([]string{args[1], "--help"}, stdout, stderr)
		}
		usage(stdout)
		return 0
	case "-version", "--version":
		name = "version"
	}
	cmd, ok := lookup(name)
	if !ok {
		what := "command"
		if strings.HasPrefix(name, "-") {
			what = "flag"
		}
		fmt.Fprintf(stderr, "hotcert: unknown %s %q\n\n", what, name)
		usage(stderr)
		return 2
	}
	err := cmd.run(args[1:], stdout, stderr)
	switch {
	case err == nil, errors.Is(err, errHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	case errors.Is(err, errReported):
		return 1
	default:
		fmt.Fprintf(stderr, "hotcert %s: %v\n", name, err)
		return 1
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, "usage: hotcert <command> [flags]\n\ncommands:\n")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range commands() {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", c.name, c.args, c.summary)
	}
	tw.Flush()
	fmt.Fprint(w, "\n`hotcert help COMMAND` or `hotcert COMMAND --help` describes a command's flags.\n")
}

func cmdVersion(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", stderr)
	if _, err := parseArgs(fs, args, stdout, 0, 0); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "hotcert", version)
	return nil
}
