package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// newFlags starts a command's flags with the --config that every command
// but version takes.
func newFlags(name string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := newFlagSet(name, stderr)
	return fs, fs.String("config", defaultConfig, "daemon config `file`")
}

// newFlagSet is a command's flags, whose usage prints the command's line
// from commands.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("hotcert "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		c, _ := lookup(name)
		fmt.Fprintf(fs.Output(), "usage: %s\n\n%s\n", strings.TrimSpace("hotcert "+name+" "+c.args), c.summary)
		if hasFlags(fs) {
			fmt.Fprint(fs.Output(), "\nflags:\n")
			fs.PrintDefaults()
		}
	}
	return fs
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// parseArgs parses flags wherever they are among the positional arguments
// (`hotcert renew shop --config f`), which flag.Parse alone does not, and
// wants between minPos and maxPos of those. --help prints the usage to
// stdout (errHelp); anything wrong is named on stderr above the usage
// (errUsage). Nothing is silently ignored: `run --config f extra` is an
// error, not a run that drops what follows "extra".
func parseArgs(fs *flag.FlagSet, args []string, stdout io.Writer, minPos, maxPos int) ([]string, error) {
	stderr := fs.Output()
	fs.SetOutput(io.Discard) // flag would print the usage itself, and to stderr
	defer fs.SetOutput(stderr)
	var pos []string
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.Usage()
			return nil, errHelp
		}
		if err != nil {
			return nil, badUsage(fs, stderr, err.Error())
		}
		if args = fs.Args(); len(args) == 0 {
			break
		}
		pos, args = append(pos, args[0]), args[1:]
	}
	switch {
	case len(pos) > maxPos:
		return nil, badUsage(fs, stderr, fmt.Sprintf("unexpected argument %q", pos[maxPos]))
	case len(pos) < minPos:
		return nil, badUsage(fs, stderr, "missing argument")
	}
	return pos, nil
}

// flagSet reports whether the command line set the flag name.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// badUsage names what is wrong with a command line, then shows the usage.
func badUsage(fs *flag.FlagSet, stderr io.Writer, msg string) error {
	fmt.Fprintf(stderr, "%s: %s\n\n", fs.Name(), msg)
	fs.SetOutput(stderr)
	fs.Usage()
	return errUsage
}

// logLevels are the names --log-level takes; "warning" is the spelling
// syslog and many tools use.
var logLevels = map[string]slog.Level{
	"debug": slog.LevelDebug, "info": slog.LevelInfo,
	"warn": slog.LevelWarn, "warning": slog.LevelWarn, "error": slog.LevelError,
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	lv, ok := logLevels[strings.ToLower(level)]
	if !ok {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn (or warning) or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv, ReplaceAttr: durationText}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// durationText writes durations as Go writes them ("1.5s"), which the text
// handler does already and the JSON handler does not: it writes
// nanoseconds, which nobody reads right at a glance.
func durationText(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}
