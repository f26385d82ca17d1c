//go:build !lego_none && !lego_custom

package legodns

import (
	"github.com/go-acme/lego/v5/challenge"
	"github.com/go-acme/lego/v5/providers/dns/cloudflare"
	"github.com/go-acme/lego/v5/providers/dns/digitalocean"
	"github.com/go-acme/lego/v5/providers/dns/dnsupdate"
	"github.com/go-acme/lego/v5/providers/dns/gandiv5"
	"github.com/go-acme/lego/v5/providers/dns/gcloud"
	"github.com/go-acme/lego/v5/providers/dns/godaddy"
	"github.com/go-acme/lego/v5/providers/dns/hetzner"
	"github.com/go-acme/lego/v5/providers/dns/namecheap"
	"github.com/go-acme/lego/v5/providers/dns/ovh"
	"github.com/go-acme/lego/v5/providers/dns/route53"
)

// The default set: the ten providers docs/benchmarks.md measured and
// chose. Build with -tags lego_none for none; docs/reference.md says how
// to build another set.
func init() {
	add := func(build func() (challenge.Provider, error), names ...string) {
		for _, n := range names {
			builders[n] = build
		}
	}
	add(func() (challenge.Provider, error) { return cloudflare.NewDNSProvider() }, "cloudflare")
	add(func() (challenge.Provider, error) { return digitalocean.NewDNSProvider() }, "digitalocean")
	add(func() (challenge.Provider, error) { return dnsupdate.NewDNSProvider() }, "dnsupdate", "rfc2136")
	add(func() (challenge.Provider, error) { return gandiv5.NewDNSProvider() }, "gandiv5")
	add(func() (challenge.Provider, error) { return gcloud.NewDNSProvider() }, "gcloud")
	add(func() (challenge.Provider, error) { return godaddy.NewDNSProvider() }, "godaddy")
	add(func() (challenge.Provider, error) { return hetzner.NewDNSProvider() }, "hetzner")
	add(func() (challenge.Provider, error) { return namecheap.NewDNSProvider() }, "namecheap")
	add(func() (challenge.Provider, error) { return ovh.NewDNSProvider() }, "ovh")
	add(func() (challenge.Provider, error) { return route53.NewDNSProvider() }, "route53")
}
