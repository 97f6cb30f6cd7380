package devcli

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := NewRootCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

// The developer binary has every production command and local and demo.
func TestDeveloperCommands(t *testing.T) {
	out, err := run(t, "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"demo", "local", "webhook", "scheduler", "certs", "queues", "audit", "config", "version"} {
		if !regexp.MustCompile(`(?m)^  ` + c + `\s`).MatchString(out) {
			t.Errorf("--help does not list %q:\n%s", c, out)
		}
	}
}

// Help lists -v but not klog's other flags (set up by pkg/cli's root).
func TestLocalHelpHidesKlogFlags(t *testing.T) {
	out, err := run(t, "local", "up", "--help")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "-v, --v Level") || strings.Contains(out, "--log_file") {
		t.Errorf("local up --help: want -v and not --log_file:\n%s", out)
	}
}
