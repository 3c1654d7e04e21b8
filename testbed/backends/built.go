package backends

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"

	"github.com/sieveobs/sieve/testbed/harness"
)

// builtBinary is a server binary that one of testbed/scripts' install scripts builds from its
// module source and caches by version; the script runs at most once per process, and an
// environment variable points at a binary built elsewhere instead.
type builtBinary struct {
	env, script string

	once sync.Once
	path string
	err  error
}

func (b *builtBinary) get() (string, error) {
	b.once.Do(func() {
		if p := os.Getenv(b.env); p != "" {
			b.path = p
			return
		}
		cmd := exec.Command("bash", harness.RepoPath(b.script))
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			b.err = fmt.Errorf("%s: %w", b.script[strings.LastIndex(b.script, "/")+1:], err)
			return
		}
		b.path = strings.TrimSpace(string(out))
	})
	return b.path, b.err
}

// workDir makes a server's temporary directory and picks its free ports; the directory is removed
// again when the ports cannot be had.
func workDir(prefix string, ports int) (string, []int, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", nil, err
	}
	p, err := harness.FreePorts(ports)
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return dir, p, nil
}
