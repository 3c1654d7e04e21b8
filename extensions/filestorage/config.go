package filestorage

import (
	"fmt"

	contrib "github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
)

// Config is contrib file_storage's configuration, every key as it is, plus the start check.
type Config struct {
	contrib.Config `mapstructure:",squash"`
	// CheckOnStart reads every queue file in directory through bbolt before any component opens
	// one, and moves an unreadable file aside. It reads each file once, so a start with large
	// queues on disk takes longer (about the time to read them).
	CheckOnStart bool `mapstructure:"check_on_start"`
	// ReserveBytes is disk space held in a file of its own in directory, given up when the disk
	// is full so that the queues can still record which items they read and delivered. While it
	// is given up, new items are refused. 0 turns it off.
	ReserveBytes int64 `mapstructure:"reserve_bytes"`
}

func (c *Config) Validate() error {
	if c.ReserveBytes < 0 {
		return fmt.Errorf("reserve_bytes must not be negative, got %d", c.ReserveBytes)
	}
	return c.Config.Validate()
}
