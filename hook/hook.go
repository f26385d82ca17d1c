// Package hook runs the operator's commands on certificate events, outside
// the reconcile loop: a few at a time, from a bounded queue, each in a
// process group of its own that is killed whole at its time limit. A hook's
// outcome is logged and counted, and changes nothing else.
package hook

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Events are the event names, as HOTCERT_EVENT gives them.
const (
	Deployed = "deployed"
	Failed   = "failed"
)

// Results of a run, as the metric counts them.
const (
	ResultOK      = "ok"
	ResultFailed  = "failed"
	ResultTimeout = "timeout"
	ResultDropped = "dropped"
)

// Event is one certificate event, which becomes the hook's environment.
type Event struct {
	Name     string // Deployed or Failed
	Cert     string
	Domains  []string
	KeyType  string    // the key type of Bundle and Serial
	Serial   string    // hexadecimal, as `openssl x509 -serial` prints it; "" before the first issuance
	NotAfter time.Time // zero before the first issuance
	Bundle   string    // the PEM's path in the first HAProxy's cert_dir; "" before the first issuance
	Error    string    // for Failed
}

// Options configure a Runner. Zero values take the defaults.
type Options struct {
	// Commands are the command and arguments to run, by event name; an
	// event without one runs nothing.
	Commands map[string][]string
	Timeout  time.Duration // one run's limit; default 60 s
	Workers  int           // runs at once; default 4
	Queue    int           // events waiting; default 64
	// Grace is how long running hooks may go on after shutdown began;
	// default 5 s.
	Grace  time.Duration
	Logger *slog.Logger
	// Count receives each event's outcome (a Result constant); nil
	// discards it.
	Count func(event, result string)
}

// Runner runs hooks from a bounded queue.
type Runner struct {
	opt   Options
	queue chan Event
}

// New returns a Runner; Serve runs what Run queues.
func New(opt Options) *Runner {
	if opt.Timeout <= 0 {
		opt.Timeout = 60 * time.Second
	}
	if opt.Workers <= 0 {
		opt.Workers = 4
	}
	if opt.Queue <= 0 {
		opt.Queue = 64
	}
	if opt.Grace <= 0 {
		opt.Grace = 5 * time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Count == nil {
		opt.Count = func(string, string) {}
	}
	return &Runner{opt: opt, queue: make(chan Event, opt.Queue)}
}

// Run queues e without waiting. It reports false when e will not run: its
// event has no command, or the queue is full (logged and counted as
// dropped), so that a caller that must report an event can offer it again.
func (r *Runner) Run(e Event) bool {
	if len(r.opt.Commands[e.Name]) == 0 {
		return false
	}
	select {
	case r.queue <- e:
		return true
	default:
		r.opt.Logger.Warn("hook dropped: too many hooks waiting", "cert", e.Cert, "event", e.Name, "queue", r.opt.Queue)
		r.opt.Count(e.Name, ResultDropped)
		return false
	}
}

// Serve runs queued hooks until ctx ends. Hooks still running then get
// Grace to finish before their process groups are killed; Serve returns
// when they are gone. Events still queued are not run.
func (r *Runner) Serve(ctx context.Context) {
	hard, kill := context.WithCancel(context.WithoutCancel(ctx))
	defer kill()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(r.opt.Grace, kill) })
	defer stop()
	var wg sync.WaitGroup
	for range r.opt.Workers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case e := <-r.queue:
					if ctx.Err() != nil {
						return
					}
					r.opt.Count(e.Name, r.run(hard, e))
				}
			}
		})
	}
	wg.Wait()
}
