package loadbalancing

import (
	"errors"
	"fmt"
	"strings"
	"time"

	contrib "github.com/open-telemetry/opentelemetry-collector-contrib/exporter/loadbalancingexporter"
)

// Routing keys as contrib spells them; which signal accepts which is checked when the exporter is
// created, as contrib does.
const (
	routingTraceID    = "traceID"
	routingService    = "service"
	routingResource   = "resource"
	routingMetric     = "metric"
	routingStreamID   = "streamID"
	routingAttributes = "attributes"
)

var routingKeys = []string{routingTraceID, routingService, routingResource, routingMetric, routingStreamID, routingAttributes}

// Config is contrib load_balancing's configuration, every key as it is: traces, metrics and logs
// not routed by traceID are handed to contrib's exporter with it unchanged.
type Config struct {
	contrib.Config `mapstructure:",squash"`

	// ShutdownTimeout bounds how long Shutdown waits for the sends in progress (Sieve's, not
	// contrib's key). Past it Shutdown returns: a persistent queue keeps what was not
	// acknowledged for the next start, an in-memory queue loses it. 0 waits without limit.
	ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout"`
}

// Validate refuses at load, naming the key, what contrib refuses only when the exporter is
// created (or not at all, like a DNS resolver with no hostname until its first lookup). Contrib's
// own checks (routing_attributes) run as the embedded Config's Validate.
func (c *Config) Validate() error {
	var errs []error
	if c.ShutdownTimeout < 0 {
		errs = append(errs, fmt.Errorf("shutdown_timeout: must not be negative, got %s", c.ShutdownTimeout))
	}
	if c.RoutingKey != "" && !contains(routingKeys, c.RoutingKey) {
		errs = append(errs, fmt.Errorf("routing_key: unknown value %q, want one of %s", c.RoutingKey, strings.Join(routingKeys, ", ")))
	}
	r := c.Resolver
	var set []string
	if r.Static.HasValue() {
		set = append(set, "static")
		if len(r.Static.Get().Hostnames) == 0 {
			errs = append(errs, errors.New("resolver.static.hostnames: at least one endpoint is required"))
		}
		for i, h := range r.Static.Get().Hostnames {
			if strings.TrimSpace(h) == "" {
				errs = append(errs, fmt.Errorf("resolver.static.hostnames[%d]: empty endpoint", i))
			}
		}
	}
	if r.DNS.HasValue() {
		set = append(set, "dns")
		d := r.DNS.Get()
		if d.Hostname == "" {
			errs = append(errs, errors.New("resolver.dns.hostname: required"))
		}
		if d.Interval < 0 {
			errs = append(errs, fmt.Errorf("resolver.dns.interval: must not be negative, got %s", d.Interval))
		}
		if d.Timeout < 0 {
			errs = append(errs, fmt.Errorf("resolver.dns.timeout: must not be negative, got %s", d.Timeout))
		}
	}
	if r.K8sSvc.HasValue() {
		set = append(set, "k8s")
	}
	if r.AWSCloudMap.HasValue() {
		set = append(set, "aws_cloud_map")
	}
	switch len(set) {
	case 0:
		errs = append(errs, errors.New("resolver: one of static, dns, k8s, aws_cloud_map is required"))
	case 1:
	default:
		errs = append(errs, fmt.Errorf("resolver: only one of static, dns, k8s, aws_cloud_map may be set, got %s", strings.Join(set, " and ")))
	}
	return errors.Join(errs...)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
