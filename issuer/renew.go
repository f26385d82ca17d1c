package issuer

import "time"

// Window is a renewal window suggested by the CA (RFC 9773).
type Window struct{ Start, End time.Time }
