package hook

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/hotcert/hotcert/internal/command"
)

// passedOn are the variables of hotcert's own environment a hook gets.
// Nothing else is passed: credentials given to hotcert through its
// environment (a DNS provider's token, say) are not the hook's.
var passedOn = []string{"PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "TMPDIR"}

// Env is the environment a hook runs with for e.
func Env(e Event) []string {
	var env []string
	for _, k := range passedOn {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	notAfter := ""
	if !e.NotAfter.IsZero() {
		notAfter = e.NotAfter.UTC().Format(time.RFC3339)
	}
	env = append(env,
		"HOTCERT_EVENT="+e.Name,
		"HOTCERT_CERT="+e.Cert,
		"HOTCERT_DOMAINS="+strings.Join(e.Domains, ","),
		"HOTCERT_KEY_TYPE="+e.KeyType,
		"HOTCERT_SERIAL="+e.Serial,
		"HOTCERT_NOT_AFTER="+notAfter,
		"HOTCERT_BUNDLE="+e.Bundle,
	)
	if e.Name == Failed {
		env = append(env, "HOTCERT_ERROR="+e.Error)
	}
	return env
}

// run runs one hook and returns its result. ctx ends only when shutdown's
// grace is over; the time limit is run's own.
func (r *Runner) run(ctx context.Context, e Event) string {
	log := r.opt.Logger.With("cert", e.Cert, "event", e.Name)
	began := time.Now()
	err := command.Run(ctx, command.Cmd{
		Argv: r.opt.Commands[e.Name], Env: Env(e), OwnEnv: true, Dir: "/",
		Timeout: r.opt.Timeout, Log: log, Output: "hook output",
	})
	return r.outcome(log, ctx, err, time.Since(began))
}

func (r *Runner) outcome(log *slog.Logger, outer context.Context, err error, took time.Duration) string {
	var ce *command.Error
	if err != nil && !errors.As(err, &ce) {
		ce = &command.Error{Err: err}
	}
	switch {
	case err == nil:
		log.Info("hook done", "took", took)
		return ResultOK
	case ce.Timeout > 0:
		log.Error("hook killed at its limit", "limit", r.opt.Timeout, "pid", ce.Pid, "last_stderr", ce.Stderr)
		return ResultTimeout
	case outer.Err() != nil:
		log.Error("hook killed: hotcert is stopping", "grace", r.opt.Grace, "pid", ce.Pid)
		return ResultFailed
	case ce.Pid == 0:
		log.Error("hook could not start", "err", err)
		return ResultFailed
	}
	log.Error("hook failed", "err", err, "last_stderr", ce.Stderr, "took", took)
	return ResultFailed
}
