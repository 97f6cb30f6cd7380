package integration

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sparkplane/sparkplane/pkg/demo"
)

// The README's first command, small: its own control plane, both runs, and
// a table in which sparkplane's row has no executor outside its driver's zone.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	err := demo.Run(ctx, &out, demo.Options{Apps: 4, Executors: 3, TrafficGBPerExecutor: 10, LogFile: filepath.Join(t.TempDir(), "demo.log")})
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	var row string
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(line, "default scheduler + sparkplane webhook") {
			row = line
		}
	}
	if !strings.Contains(row, "4/4") || !strings.Contains(row, "0/12 (0%)") || !strings.Contains(row, "$0.00") {
		t.Errorf("sparkplane row %q: want all drivers on on-demand and 0/12 executors outside their driver's zone", row)
	}
	if !strings.Contains(out.String(), "zone-") || !strings.Contains(out.String(), "required: driver") {
		t.Errorf("no decision example in output")
	}
}
