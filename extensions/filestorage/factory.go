package filestorage

import (
	"context"

	contrib "github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"

	"github.com/sieveobs/sieve/extensions/filestorage/internal/metadata"
)

var contribFactory = contrib.NewFactory()

// NewFactory returns the factory of Sieve's file_storage extension.
func NewFactory() extension.Factory {
	return extension.NewFactory(metadata.Type, createDefaultConfig, create, metadata.ExtensionStability)
}

func createDefaultConfig() component.Config {
	return &Config{
		Config:       *contribFactory.CreateDefaultConfig().(*contrib.Config),
		CheckOnStart: true,
		ReserveBytes: 32 << 20,
	}
}

func create(ctx context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	c := cfg.(*Config)
	inner, err := contribFactory.Create(ctx, set, &c.Config)
	if err != nil {
		return nil, err
	}
	return newChecked(set, c, inner)
}
