package cli

import (
	"strings"
	"testing"
)

// TestConfigValidate runs `sparkplane config validate` on files a user
// may write: the error names the field, its line and the fix.
func TestConfigValidate(t *testing.T) {
	const hdr = "apiVersion: sparkplane.io/v1alpha1\nkind: SparkplaneConfiguration\n"
	for _, tc := range []struct {
		name, doc string
		want      []string // in the error, or in the output if ok
		ok        bool
	}{
		{
			// Issue 11 item 2: this passed, then every executor creation failed with 422.
			name: "the issue's AKS tolerations",
			doc:  hdr + "provider: {preset: aks, spotTolerations: [{key: \"\", operator: Bogus, effect: Sometimes}]}\n",
			want: []string{
				`line 3: provider.spotTolerations[0].operator: Unsupported value: "Bogus": supported values: "Equal", "Exists"`,
				`line 3: provider.spotTolerations[0].effect: Unsupported value: "Sometimes"`,
			},
		},
		{
			name: "unquoted off",
			doc:  hdr + "zonePinning:\n  mode: off\n",
			ok:   true,
			want: []string{"zonePinning:\n  clientModeAffinity: true\n  mode: \"off\""},
		},
		{
			name: "every error with its line",
			doc:  hdr + "zonepinning:\n  mode: preferred\navailabilityEscape:\n  window: 1ns\npreferredWeight: 0\n",
			want: []string{
				`line 3: zonepinning: Forbidden: unknown field; did you mean "zonePinning"?`,
				`line 6: availabilityEscape.window: Invalid value: "1ns": must be at least 1s`,
				`line 7: preferredWeight: Invalid value: 0: must be 1-100 (the weight of a preferred scheduling term); omit it for the default 100`,
			},
		},
		{
			name: "second document",
			doc:  hdr + "---\n" + hdr + "zoneLabel: 'a b'\n",
			want: []string{"line 4: a second YAML document"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := run(t, "config", "validate", write(t, "config.yaml", tc.doc))
			if tc.ok != (err == nil) {
				t.Fatalf("config validate: error %v, want ok=%v\n%s", err, tc.ok, out)
			}
			got := out
			if err != nil {
				got = err.Error()
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("config validate says\n%s\nwant it to contain %q", got, w)
				}
			}
		})
	}
}

// TestPrintDefaultsIsComplete: print-defaults promises every default,
// also the empty and false ones.
func TestPrintDefaultsIsComplete(t *testing.T) {
	out, err := run(t, "config", "print-defaults")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"  enabled: false\n", "schedulerName: \"\"\n", "preferredWeight: 100\n", "  spotTolerations: null\n", "  window: 5m0s\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("print-defaults lacks %q:\n%s", want, out)
		}
	}
}
