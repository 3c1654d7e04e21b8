package dashboards_test

import (
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sieveobs/sieve/dashboards/internal/render"
	"github.com/sieveobs/sieve/dashboards/mixin"
)

// TestGeneratedFilesUpToDate fails when the committed dashboards or rules differ from what
// `go run ./dashboards/gen` writes, or when a generated-looking file is no longer generated.
// The hand-edited files are left alone, but must never be generated.
func TestGeneratedFilesUpToDate(t *testing.T) {
	files, err := render.Files(mixin.Defaults())
	require.NoError(t, err)
	handEdited := map[string]bool{}
	for _, name := range render.HandEdited {
		handEdited[name] = true
		_, generated := files[name]
		assert.False(t, generated, "%s is edited by hand: the generator must not write it", name)
		_, err := os.Stat(name)
		assert.NoError(t, err, "%s is missing", name)
	}
	for name, want := range files {
		got, err := os.ReadFile(name)
		if !assert.NoError(t, err, "%s is generated but not committed: run `go run ./dashboards/gen`", name) {
			continue
		}
		assert.Equal(t, string(want), string(got), "%s is out of date: run `go run ./dashboards/gen` from the repository root and commit the result", name)
	}
	var committed []string
	for _, pattern := range []string{"*.json", "rules/*.yaml"} {
		m, err := filepath.Glob(pattern)
		require.NoError(t, err)
		committed = append(committed, m...)
	}
	sort.Strings(committed)
	for _, name := range committed {
		if handEdited[name] {
			continue
		}
		_, ok := files[name]
		assert.True(t, ok, "%s is not produced by the generator: remove it or generate it", name)
	}
}
