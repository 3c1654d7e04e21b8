package filestorage

import (
	contrib "github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
)

// Config is contrib file_storage's configuration, every key as it is, plus the start check.
type Config struct {
	contrib.Config `mapstructure:",squash"`
	// CheckOnStart reads every queue file in directory through bbolt before any component opens
	// one, and moves an unreadable file aside. It reads each file once, so a start with large
	// queues on disk takes longer (about the time to read them).
	CheckOnStart bool `mapstructure:"check_on_start"`
}
