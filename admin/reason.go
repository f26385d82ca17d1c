package admin

import (
	"fmt"
	"strconv"
	"strings"
)

// Revocation reasons, RFC 5280 section 5.3.1 (7 is unused).
var reasons = map[string]int{
	"unspecified":          0,
	"keycompromise":        1,
	"cacompromise":         2,
	"affiliationchanged":   3,
	"superseded":           4,
	"cessationofoperation": 5,
	"certificatehold":      6,
	"removefromcrl":        8,
	"privilegewithdrawn":   9,
	"aacompromise":         10,
}

// ParseReason reads a revocation reason as a name (keyCompromise,
// superseded, cessationOfOperation, ...; case-insensitive) or a number.
// Empty means unspecified (0).
func ParseReason(s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n < 0 || n > 10 || n == 7 {
			return 0, fmt.Errorf("revocation reason %d: want 0-6 or 8-10", n)
		}
		return n, nil
	}
	if n, ok := reasons[strings.ToLower(s)]; ok {
		return n, nil
	}
	return 0, fmt.Errorf("revocation reason %q: want keyCompromise, superseded, cessationOfOperation, affiliationChanged, unspecified or a number", s)
}
