package testkit

import (
	"fmt"
	"os"
	"testing"
)

// Main is a test package's TestMain around its setup: run starts what the
// package shares (a control plane, say), runs m and tears down; a setup
// error is printed under what and fails the package even when no test ran.
func Main(m *testing.M, what string, run func(*testing.M) (int, error)) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, what+":", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}
