package e2e

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sieveobs/sieve/testbed/harness"
)

// TestDemoCommand runs `make demo`'s program, shortened, and reads its output as a user would:
// the live policy change mid-run takes effect (traces kept by rate per second rise several-fold
// after the new version is in force), tail sampling reports whole traces kept by reason, and
// Loki holds the log records of an example kept trace.
func TestDemoCommand(t *testing.T) {
	bin, err := harness.SieveBinary()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "run", "./cmd/demo", "-sieve", bin,
		"-config", harness.RepoPath("configs/demo.yaml"), "-duration", "30s", "-rate", "60")
	cmd.Dir = harness.RepoPath("testbed")
	cmd.Env = os.Environ()
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	text := string(out)
	t.Logf("demo output:\n%s", text)

	change := regexp.MustCompile(`in force after (\d+)ms`).FindStringSubmatch(text)
	require.NotNil(t, change, "the demo must write a new policy version mid-run and see it served")
	effect := regexp.MustCompile(`traces kept by rate: \d+ in the \d+s before \(([\d.]+)/s\), \d+ in the \d+s after \(([\d.]+)/s\)`).FindStringSubmatch(text)
	require.NotNil(t, effect, "the demo must print the policy change's effect")
	before, err := strconv.ParseFloat(effect[1], 64)
	require.NoError(t, err)
	after, err := strconv.ParseFloat(effect[2], 64)
	require.NoError(t, err)
	require.Greater(t, after, 3*before, "a tenfold rate must show as several times more traces kept by rate")

	errKept := regexp.MustCompile(`(?m)^\s+error\s+(\d+)\s+0$`).FindStringSubmatch(text)
	require.NotNil(t, errKept, "tail sampling keeps every error trace and drops none")
	n, _ := strconv.Atoi(errKept[1])
	require.Positive(t, n)
	require.Regexp(t, `Loki: the [1-9]\d* log records of trace [0-9a-f]{32}`, text)
}
