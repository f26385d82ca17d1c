package runtime

import (
	"errors"
	"fmt"
)

// Sentinels callers branch on. HAProxy's reply text never leaves this
// package: every reply is mapped to one of these or to ErrUnexpectedReply.
var (
	ErrInvalidName     = errors.New("invalid name")
	ErrTooLarge        = errors.New("payload too large for the HAProxy CLI")
	ErrKeyMismatch     = errors.New("private key does not match the leaf certificate")
	ErrBadBundle       = errors.New("bad certificate bundle")
	ErrNotLoaded       = errors.New("not loaded in HAProxy")
	ErrLocked          = instanceError("HAProxy certificate operations are locked by another writer")
	ErrCommitFailed    = errors.New("commit ssl cert failed")
	ErrVerify          = errors.New("HAProxy does not serve the pushed certificate")
	ErrUnavailable     = instanceError("HAProxy runtime API unavailable")
	ErrTimeout         = instanceError("HAProxy runtime API timed out")
	ErrUnexpectedReply = errors.New("unexpected reply from HAProxy")
	// ErrTruncated: the connection ended before HAProxy's reply did, so
	// what arrived is thrown away. It is an ErrUnavailable: HAProxy did not
	// answer.
	ErrTruncated = fmt.Errorf("reply cut short: %w", ErrUnavailable)
	// ErrNoCrtList: the crt-list file is missing or empty. It must be the
	// file on HAProxy's bind line, with a placeholder default certificate
	// as its first line.
	ErrNoCrtList = instanceError("missing or empty; it must be the crt-list of HAProxy's bind line, whose first line is a placeholder default certificate")
)

// instanceError is an error of a whole HAProxy instance rather than of
// one certificate: it does not answer, or it takes no certificate changes
// from anyone. Callers that back off per instance test for the method.
type instanceError string

func (e instanceError) Error() string { return string(e) }

// InstanceWide reports that the error concerns the whole instance.
func (e instanceError) InstanceWide() bool { return true }

// TooLargeError reports a set ssl cert command that HAProxy 2.6 would drop:
// the command and its payload must fit in one tune.bufsize buffer.
type TooLargeError struct {
	Size  int // bytes the command and payload would take on the socket
	Limit int // bytes hotcert allows for tune.bufsize (Options.BufSize)
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("certificate command is %d bytes, over the %d HAProxy accepts with its tune.bufsize; "+
		"raise tune.bufsize in the global section of haproxy.cfg and set the same value as bufsize on this haproxy entry of hotcert.yaml",
		e.Size, e.Limit)
}

func (e *TooLargeError) Is(target error) bool { return target == ErrTooLarge }

// TransactionError reports an open certificate transaction that is not
// hotcert's. HAProxy 2.6 has one transaction per process, and a set ssl cert
// while it is open would silently update it, so hotcert refuses to write.
type TransactionError struct {
	Open string // the store path of the open transaction
}

// InstanceWide reports that no certificate can be changed while it lasts.
func (e *TransactionError) InstanceWide() bool { return true }

func (e *TransactionError) Error() string {
	return fmt.Sprintf("a certificate transaction for %s is open in HAProxy (another writer?); "+
		"abort it with \"abort ssl cert %s\"", e.Open, e.Open)
}

// unexpected wraps a reply that matched nothing this package knows.
func unexpected(cmd, reply string) error {
	if reply == "" {
		return fmt.Errorf("%s: connection closed without a reply: %w", cmd, ErrUnavailable)
	}
	return fmt.Errorf("%s: %w: %q", cmd, ErrUnexpectedReply, reply)
}
