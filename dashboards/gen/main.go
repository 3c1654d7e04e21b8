// Command gen writes Sieve's dashboards and rules: `go run ./dashboards/gen` from the repository
// root regenerates dashboards/*.json, dashboards/rules/{alerts,recording}.yaml and
// dashboards/README.md. It never writes dashboards/rules/thresholds.yaml, which users edit.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/sieveobs/sieve/dashboards/internal/render"
	"github.com/sieveobs/sieve/dashboards/mixin"
)

func main() {
	dir := flag.String("dir", "dashboards", "output directory")
	flag.Parse()
	files, err := render.Files(mixin.Defaults())
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := filepath.Join(*dir, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "gen:", err)
			os.Exit(1)
		}
		if err := os.WriteFile(p, files[n], 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "gen:", err)
			os.Exit(1)
		}
	}
}
