package otlp // import "github.com/sieveobs/sieve/receivers/otlp"

import (
	"sync"

	"go.opentelemetry.io/collector/receiver"
)

// The collector asks the factory for each signal separately; one configuration must give one
// receiver (one pair of servers). This is upstream's sharedcomponent map, which is internal to
// the collector's module.
type sharedReceivers struct {
	mu sync.Mutex
	m  map[*Config]*otlpReceiver
}

var receivers = &sharedReceivers{m: map[*Config]*otlpReceiver{}}

func (s *sharedReceivers) loadOrStore(cfg *Config, set receiver.Settings) (*otlpReceiver, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.m[cfg]; ok {
		return r, nil
	}
	r, err := newReceiver(cfg, set)
	if err != nil {
		return nil, err
	}
	s.m[cfg] = r
	return r, nil
}

func (s *sharedReceivers) remove(cfg *Config) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, cfg)
}
