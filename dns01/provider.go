package dns01

import "context"

// Record is one dns-01 TXT record as a Provider writes it. The Solver has
// already followed any CNAME at _acme-challenge.<domain> and found the
// zone, so a Provider writes exactly FQDN and never looks names up itself.
type Record struct {
	Domain  string // the authorization's identifier: example.com for *.example.com
	FQDN    string // where the TXT record goes, after CNAMEs, with its trailing dot
	Zone    string // the zone that holds FQDN, with its trailing dot; "" when unknown
	Value   string // the TXT record's content
	Token   string // the challenge's token
	KeyAuth string // the key authorization; Value is base64url(SHA-256(KeyAuth))
}

// Provider adds and deletes one TXT value at a DNS host. Present must add
// Value beside any other value at FQDN (a wildcard and its base domain
// have two at once), and CleanUp must delete only Value.
type Provider interface {
	Present(ctx context.Context, r Record) error
	CleanUp(ctx context.Context, r Record) error
}
