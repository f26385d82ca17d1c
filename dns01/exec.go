package dns01

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/hotcert/hotcert/internal/command"
)

// DefaultExecTimeout bounds one run of an Exec command when Timeout is zero.
const DefaultExecTimeout = 60 * time.Second

// Exec is the Provider that runs an operator's command as
// CMD present|cleanup FQDN VALUE, the calling convention of lego's exec
// provider, so that scripts written for lego work unchanged.
type Exec struct {
	Command []string      // the program and its first arguments
	Env     []string      // KEY=VALUE for the command, beside hotcert's environment; never logged
	Timeout time.Duration // per run; the whole process group is killed at it
	Logger  *slog.Logger  // the command's output, line by line
}

// Present runs the command with "present".
func (e Exec) Present(ctx context.Context, r Record) error { return e.run(ctx, "present", r) }

// CleanUp runs the command with "cleanup".
func (e Exec) CleanUp(ctx context.Context, r Record) error { return e.run(ctx, "cleanup", r) }

func (e Exec) run(ctx context.Context, action string, r Record) error {
	timeout := e.Timeout
	if timeout <= 0 {
		timeout = DefaultExecTimeout
	}
	log := e.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := command.Cmd{Argv: e.Command, Env: e.Env, Timeout: timeout,
		Log: log.With("action", action, "name", r.FQDN)}
	if err := command.Run(ctx, c, action, r.FQDN, r.Value); err != nil {
		return fmt.Errorf("dns.exec %s: %w", action, err)
	}
	return nil
}
