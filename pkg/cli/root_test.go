package cli

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// runSplit runs the command and returns stdout and stderr apart.
func runSplit(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := NewRootCommand()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err = cmd.Execute()
	return out.String(), errOut.String(), err
}

func TestVersionOnStdout(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}} {
		out, errOut, err := runSplit(t, args...)
		if err != nil || errOut != "" || !strings.HasPrefix(out, "sparkplane "+Version) || strings.Count(out, "\n") != 1 {
			t.Errorf("%v: stdout %q, stderr %q, err %v; want one line \"sparkplane %s...\" on stdout", args, out, errOut, err, Version)
		}
	}
	out, _, err := runSplit(t, "version", "-o", "json")
	var v versionInfo
	if err != nil || json.Unmarshal([]byte(out), &v) != nil || v.Version != Version || !strings.HasPrefix(v.Go, "go") || v.Platform == "" {
		t.Errorf("version -o json: %q, %v", out, err)
	}
	if _, _, err := runSplit(t, "version", "-o", "yaml"); err == nil || !strings.Contains(err.Error(), `--output "yaml": use text or json`) {
		t.Errorf("version -o yaml: %v", err)
	}
	if _, _, err := runSplit(t, "audit", "--version"); err == nil || !strings.Contains(err.Error(), "sparkplane --version") {
		t.Errorf("audit --version: %v, want a pointer to sparkplane --version", err)
	}
}

// klogFlagLine matches a help line listing one of klog's flags other than
// -v, or the kube-scheduler's global --version.
var klogFlagLine = regexp.MustCompile(`(?m)^\s+--(log_file|log_dir|skip_headers|alsologtostderr|one_output|logtostderr|stderrthreshold|vmodule|add_dir_header|version version)\b.*$`)

// Help lists -v but not klog's other flags; they still parse.
func TestHelpHidesKlogFlags(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"audit", "--help"}, {"queues", "--help"}} {
		out, _, err := runSplit(t, args...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if m := klogFlagLine.FindAllString(out, -1); len(m) > 0 {
			t.Errorf("%v lists %q:\n%s", args, m, out)
		}
		if !strings.Contains(out, "-v, --v Level") {
			t.Errorf("%v lacks -v:\n%s", args, out)
		}
	}
	if _, _, err := runSplit(t, "--skip_headers", "-v", "2", "config", "print-defaults"); err != nil {
		t.Errorf("klog flags no longer parse: %v", err)
	}
	// kube-scheduler's own flags stay on `sparkplane scheduler`.
	out, _, err := runSplit(t, "scheduler", "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--leader-elect", "--logging-format", "--version version[=true]"} {
		if !strings.Contains(out, want) {
			t.Errorf("scheduler --help lacks %q", want)
		}
	}
}
