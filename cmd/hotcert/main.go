// Command hotcert gives HAProxy automatic TLS certificates over ACME, loaded
// through the runtime API so that HAProxy never reloads. This package only
// wires the others together.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const defaultConfig = "/etc/hotcert/hotcert.yaml"

// errUsage ends the program with exit status 2 and no further message.
var errUsage = errors.New("usage")

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	cmds := map[string]func([]string, io.Writer, io.Writer) error{
		"run":      cmdRun,
		"check":    cmdCheck,
		"rollover": cmdRollover,
		"version":  func([]string, io.Writer, io.Writer) error { fmt.Fprintln(stdout, "hotcert", version); return nil },
	}
	for k, v := range adminCommands {
		cmds[k] = v
	}
	f, ok := cmds[args[0]]
	if !ok {
		usage(stderr)
		return 2
	}
	err := f(args[1:], stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage), errors.Is(err, flag.ErrHelp):
		return 2
	case errors.Is(err, errReported):
		return 1
	default:
		fmt.Fprintf(stderr, "hotcert %s: %v\n", args[0], err)
		return 1
	}
}

// errReported means the command already printed its errors.
var errReported = errors.New("reported")

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: hotcert <command> [flags]

commands:
  run      --config FILE [--log-format text|json] [--log-level info]   run the daemon
  check    --config FILE                  validate the config and the domains file
  status   --config FILE [-o json]        show every certificate (admin API)
  renew    --config FILE NAME|--all       order new certificates now (admin API)
  revoke   --config FILE NAME [--reason R] revoke a certificate (admin API)
  plan     --config FILE [--domains FILE] [-o json]   what the next pass would do (admin API)
  confirm-removals --config FILE          apply the removals safety.removal_limit holds (admin API)
  rollover --config FILE [--new-key F]  replace the ACME account key (daemon stopped)
  version                                 print the version
`)
}

func newFlags(name string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("hotcert "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := fs.String("config", defaultConfig, "daemon config `file`")
	return fs, cfg
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", level, err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}
