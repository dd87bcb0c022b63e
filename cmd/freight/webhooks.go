package main

import (
	"flag"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/server"
	"github.com/freight-portal/freight/webhook"
)

// webhookFlags holds the settings of the webhooks the portal sends.
type webhookFlags struct {
	allowHTTP    bool
	allowPrivate bool
	networks     string
	timeout      time.Duration
	attempts     int
}

func (w *webhookFlags) flags(fs *flag.FlagSet) {
	fs.BoolVar(&w.allowHTTP, "webhook-allow-http", false, "allow webhook URLs with http:// (default: https only), for tests and local networks")
	fs.BoolVar(&w.allowPrivate, "webhook-allow-private", false, "allow webhooks to reach any address, loopback and private networks included (default: public addresses only, checked at every connection)")
	fs.StringVar(&w.networks, "webhook-allow-networks", "", "comma-separated networks webhooks may reach although they are not public, such as 10.20.0.0/16,fd00:1::/64")
	fs.DurationVar(&w.timeout, "webhook-timeout", server.DefaultWebhookTimeout, "how long one webhook delivery attempt may take before it counts as failed")
	fs.IntVar(&w.attempts, "webhook-attempts", server.DefaultWebhookAttempts, "attempts at a webhook delivery, with growing pauses, before it fails for good and waits for an admin's retry")
}

// config checks the settings and returns the server's.
func (w *webhookFlags) config() (server.WebhookConfig, error) {
	cfg := server.WebhookConfig{Policy: webhook.Policy{AllowHTTP: w.allowHTTP, AllowPrivate: w.allowPrivate}, Timeout: w.timeout, Attempts: w.attempts}
	if w.timeout <= 0 {
		return cfg, fmt.Errorf("--webhook-timeout must be positive, like 10s")
	}
	if w.attempts < 1 || w.attempts > freight.MaxJobAttempts {
		return cfg, fmt.Errorf("--webhook-attempts must be from 1 to %d, not %d", freight.MaxJobAttempts, w.attempts)
	}
	for n := range strings.SplitSeq(w.networks, ",") {
		if n = strings.TrimSpace(n); n == "" {
			continue
		}
		p, err := netip.ParsePrefix(n)
		if err != nil {
			addr, aerr := netip.ParseAddr(n)
			if aerr != nil {
				return cfg, fmt.Errorf("--webhook-allow-networks: %q is neither a network like 10.20.0.0/16 nor an address", n)
			}
			p = netip.PrefixFrom(addr, addr.BitLen())
		}
		cfg.Policy.Allow = append(cfg.Policy.Allow, p.Masked())
	}
	return cfg, nil
}
