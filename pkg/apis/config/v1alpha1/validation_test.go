package v1alpha1

import (
	"maps"
	"strings"
	"testing"
	"time"
)

const hdr = "apiVersion: sparkplane.io/v1alpha1\nkind: SparkplaneConfiguration\n"

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		wantErr string // substring; empty means success
		check   func(t *testing.T, c *SparkplaneConfiguration)
	}{
		{
			name: "defaults",
			doc:  "apiVersion: sparkplane.io/v1alpha1\nkind: SparkplaneConfiguration\n",
			check: func(t *testing.T, c *SparkplaneConfiguration) {
				if c.ZoneLabel != "topology.kubernetes.io/zone" || c.Provider.Label != "karpenter.sh/capacity-type" ||
					c.Driver.Mode != ModeRequired || c.Driver.CapacityType != CapacityOnDemand ||
					c.Executor.Mode != ModePreferred || c.Executor.CapacityType != CapacitySpot ||
					c.ZonePinning.Mode != ModeRequired || !*c.ZonePinning.ClientModeAffinity ||
					c.AvailabilityEscape.Enabled || c.AvailabilityEscape.Window.Duration.String() != "5m0s" {
					t.Errorf("unexpected defaults: %+v", c)
				}
				// Drivers protected with Karpenter's annotation, executors not.
				if dp := c.DisruptionProtection; !dp.DriverProtected() || dp.ExecutorProtected() ||
					len(dp.Annotations) != 1 || dp.Annotations["karpenter.sh/do-not-disrupt"] != "true" {
					t.Errorf("unexpected disruption protection defaults: %+v", dp)
				}
			},
		},
		{
			name: "aks preset brings its toleration",
			doc:  "apiVersion: sparkplane.io/v1alpha1\nkind: SparkplaneConfiguration\nprovider:\n  preset: aks\n",
			check: func(t *testing.T, c *SparkplaneConfiguration) {
				if c.Provider.Label != "kubernetes.azure.com/scalesetpriority" || len(c.Provider.SpotTolerations) != 1 || c.Provider.OnDemandValue != "" {
					t.Errorf("aks preset: %+v", c.Provider)
				}
			},
		},
		{
			name: "explicit fields win over preset",
			doc:  "apiVersion: sparkplane.io/v1alpha1\nkind: SparkplaneConfiguration\nprovider:\n  preset: eks\n  spotValue: spotty\n",
			check: func(t *testing.T, c *SparkplaneConfiguration) {
				if c.Provider.SpotValue != "spotty" || c.Provider.OnDemandValue != "ON_DEMAND" {
					t.Errorf("provider: %+v", c.Provider)
				}
			},
		},
		{name: "unknown field", doc: "apiVersion: sparkplane.io/v1alpha1\nkind: SparkplaneConfiguration\nzoneLable: x\n", wantErr: `line 3: zoneLable: Forbidden: unknown field; known fields here: apiVersion, availabilityEscape,`},
		{
			name: "unquoted off is off",
			doc:  hdr + "zonePinning:\n  mode: off\ndriver:\n  mode: no\nexecutor:\n  mode: \"off\"\n",
			check: func(t *testing.T, c *SparkplaneConfiguration) {
				if c.ZonePinning.Mode != ModeOff || c.Driver.Mode != ModeOff || c.Executor.Mode != ModeOff {
					t.Errorf("modes %q %q %q, want off", c.ZonePinning.Mode, c.Driver.Mode, c.Executor.Mode)
				}
			},
		},
		{
			name: "weight set",
			doc:  hdr + "preferredWeight: 7\n---\n",
			check: func(t *testing.T, c *SparkplaneConfiguration) {
				if c.Weight() != 7 {
					t.Errorf("weight %d, want 7", c.Weight())
				}
			},
		},
		{
			name: "JSON",
			doc:  `{"apiVersion": "sparkplane.io/v1alpha1", "kind": "SparkplaneConfiguration", "zonePinning": {"mode": false}}`,
			check: func(t *testing.T, c *SparkplaneConfiguration) {
				if c.ZonePinning.Mode != ModeOff {
					t.Errorf("mode %q", c.ZonePinning.Mode)
				}
			},
		},
		{name: "missing apiVersion", doc: "zoneLabel: x\n", wantErr: "apiVersion: Required value: set apiVersion: sparkplane.io/v1alpha1"},
		{name: "empty file", doc: "# nothing\n", wantErr: "the file is empty"},
		{name: "wrong apiVersion", doc: "apiVersion: sparkplane.io/v2\nkind: SparkplaneConfiguration\n", wantErr: "apiVersion: Invalid value"},
		{name: "bad mode", doc: "apiVersion: sparkplane.io/v1alpha1\nkind: SparkplaneConfiguration\nzonePinning:\n  mode: always\n", wantErr: `zonePinning.mode: Unsupported value: "always"`},
		{name: "bad capacity type", doc: "apiVersion: sparkplane.io/v1alpha1\nkind: SparkplaneConfiguration\nexecutor:\n  capacityType: preemptible\n", wantErr: "executor.capacityType: Unsupported value"},
		{name: "bad preset", doc: "apiVersion: sparkplane.io/v1alpha1\nkind: SparkplaneConfiguration\nprovider:\n  preset: oracle\n", wantErr: "provider.preset: Unsupported value"},
		{name: "custom needs label", doc: "apiVersion: sparkplane.io/v1alpha1\nkind: SparkplaneConfiguration\nprovider:\n  preset: custom\n", wantErr: "provider.label: Required value"},
		{name: "bad zone label", doc: "apiVersion: sparkplane.io/v1alpha1\nkind: SparkplaneConfiguration\nzoneLabel: 'not a label!'\n", wantErr: "zoneLabel: Invalid value"},
		{name: "bad weight", doc: "apiVersion: sparkplane.io/v1alpha1\nkind: SparkplaneConfiguration\npreferredWeight: 300\n", wantErr: "preferredWeight: Invalid value"},
		{name: "bad window", doc: "apiVersion: sparkplane.io/v1alpha1\nkind: SparkplaneConfiguration\navailabilityEscape:\n  window: -1m\n", wantErr: "availabilityEscape.window: Invalid value"},
		{name: "not yaml", doc: "::: [", wantErr: "decoding"},
		// Item 2: what the webhook writes into pods is checked as the API server checks pods.
		{name: "the issue's tolerations", doc: hdr + "provider: {preset: aks, spotTolerations: [{key: \"\", operator: Bogus, effect: Sometimes}]}\n",
			wantErr: `line 3: provider.spotTolerations[0].operator: Unsupported value: "Bogus": supported values: "Equal", "Exists"`},
		{name: "toleration effect", doc: hdr + "provider:\n  spotTolerations:\n  - key: k\n    operator: Exists\n    effect: Sometimes\n",
			wantErr: `line 7: provider.spotTolerations[0].effect: Unsupported value: "Sometimes"`},
		{name: "toleration key", doc: hdr + "provider:\n  spotTolerations:\n  - key: 'a b'\n    operator: Exists\n",
			wantErr: `line 5: provider.spotTolerations[0].key: Invalid value: "a b"`},
		{name: "toleration value with Exists", doc: hdr + "provider:\n  spotTolerations:\n  - key: k\n    operator: Exists\n    value: v\n",
			wantErr: "line 6: provider.spotTolerations[0].operator: Invalid value: \"v\": value must be empty when `operator` is 'Exists'"},
		{name: "toleration seconds without NoExecute", doc: hdr + "provider:\n  spotTolerations:\n  - key: k\n    operator: Exists\n    effect: NoSchedule\n    tolerationSeconds: 5\n",
			wantErr: `provider.spotTolerations[0].effect: Invalid value: "NoSchedule": effect must be 'NoExecute' when`},
		{name: "capacity label key", doc: hdr + "provider:\n  preset: custom\n  label: -bad\n  spotValue: spot\n", wantErr: `line 5: provider.label: Invalid value: "-bad"`},
		{name: "spot value", doc: hdr + "provider:\n  spotValue: 'sp ot'\n", wantErr: `line 4: provider.spotValue: Invalid value: "sp ot"`},
		{name: "on-demand value too long", doc: hdr + "provider:\n  onDemandValue: " + strings.Repeat("x", 64) + "\n", wantErr: `provider.onDemandValue: Invalid value`},
		// Item 5: YAML 1.1 reads an unquoted off as false.
		{name: "mode true", doc: hdr + "driver:\n  mode: on\n", wantErr: `line 4: driver.mode: Invalid value: "true": true is not a mode (YAML reads an unquoted on, yes or true as true): use required or preferred`},
		{name: "mode number", doc: hdr + "driver:\n  mode: 3\n", wantErr: `driver.mode: Invalid value: "3": must be required, preferred or off`},
		// Item 6: strict, case-exact decoding; bounds; explicit 0.
		{name: "wrong case", doc: hdr + "zonepinning:\n  mode: preferred\n", wantErr: `line 3: zonepinning: Forbidden: unknown field; did you mean "zonePinning"? (field names are case-sensitive)`},
		{name: "nested wrong case", doc: hdr + "availabilityEscape:\n  Enabled: true\n", wantErr: `line 4: availabilityEscape.Enabled: Forbidden: unknown field; did you mean "enabled"?`},
		{name: "duplicate key", doc: hdr + "zoneLabel: a\nzoneLabel: b\n", wantErr: `line 4: zoneLabel: Duplicate value: "zoneLabel"`},
		{name: "second document", doc: hdr + "---\n" + hdr + "zoneLabel: 'a b'\n", wantErr: "line 4: a second YAML document (after ---); a configuration file holds one SparkplaneConfiguration"},
		{name: "window too short", doc: hdr + "availabilityEscape:\n  window: 1ns\n", wantErr: `line 4: availabilityEscape.window: Invalid value: "1ns": must be at least 1s, such as 5m: executors still pending`},
		{name: "interval too short", doc: hdr + "availabilityEscape:\n  interval: 1ns\n", wantErr: `line 4: availabilityEscape.interval: Invalid value: "1ns": must be at least 100ms`},
		{name: "short escape for tests", doc: hdr + "availabilityEscape:\n  window: 2s\n  interval: 500ms\n", check: func(t *testing.T, c *SparkplaneConfiguration) {
			if c.AvailabilityEscape.Window.Duration != 2*time.Second || c.AvailabilityEscape.Interval.Duration != 500*time.Millisecond {
				t.Errorf("escape %+v", c.AvailabilityEscape)
			}
		}},
		{name: "bad duration", doc: hdr + "availabilityEscape:\n  interval: often\n", wantErr: `line 4: availabilityEscape.interval: Invalid value: "often": must be a duration such as 30s, 5m or 1h30m`},
		{name: "weight 0", doc: hdr + "preferredWeight: 0\n", wantErr: `line 3: preferredWeight: Invalid value: 0: must be 1-100 (the weight of a preferred scheduling term); omit it for the default 100`},
		{name: "weight -3", doc: hdr + "preferredWeight: -3\n", wantErr: `preferredWeight: Invalid value: -3: must be 1-100`},
		{name: "weight not a number", doc: hdr + "preferredWeight: high\n", wantErr: `line 3: preferredWeight: Invalid value: "high": must be a whole number`},
		{name: "string for a mapping", doc: hdr + "provider: aks\n", wantErr: `line 3: provider: Invalid value: "aks": must be a mapping of field names to values`},
		// Issue 12 item 4: driver protection from voluntary disruption.
		{name: "protection: explicit annotations win over the preset", doc: hdr + "provider:\n  preset: gke\ndisruptionProtection:\n  annotations:\n    example.com/keep: \"yes\"\n",
			check: func(t *testing.T, c *SparkplaneConfiguration) {
				if len(c.DisruptionProtection.Annotations) != 1 || c.DisruptionProtection.Annotations["example.com/keep"] != "yes" {
					t.Errorf("annotations %v, want only the explicit one", c.DisruptionProtection.Annotations)
				}
			}},
		{name: "protection: executors on, drivers off", doc: hdr + "disruptionProtection:\n  driver: false\n  executor: true\n",
			check: func(t *testing.T, c *SparkplaneConfiguration) {
				if dp := c.DisruptionProtection; dp.DriverProtected() || !dp.ExecutorProtected() || dp.Annotations[AnnotationKarpenterDoNotDisrupt] != "true" {
					t.Errorf("protection %+v", dp)
				}
			}},
		{name: "protection: nothing protected needs no annotations", doc: hdr + "disruptionProtection:\n  driver: false\n  annotations: {}\n",
			check: func(t *testing.T, c *SparkplaneConfiguration) {
				if dp := c.DisruptionProtection; dp.DriverProtected() || dp.ExecutorProtected() || len(dp.Annotations) != 0 || dp.Annotations == nil {
					t.Errorf("protection %+v, want off with an explicit empty map", dp)
				}
			}},
		{name: "protection: protected but nothing to write", doc: hdr + "disruptionProtection:\n  annotations: {}\n",
			wantErr: `line 4: disruptionProtection.annotations: Required value: set the annotations that protect a pod from voluntary disruption (karpenter.sh/do-not-disrupt: "true" for Karpenter, cluster-autoscaler.kubernetes.io/safe-to-evict: "false" for cluster-autoscaler), omit the field for the provider preset's, or set driver: false and executor: false`},
		{name: "protection: annotation key", doc: hdr + "disruptionProtection:\n  annotations:\n    'do not disrupt': \"true\"\n",
			wantErr: `line 4: disruptionProtection.annotations: Invalid value: "do not disrupt": name part must consist of alphanumeric characters`},
		{name: "protection: sparkplane's own annotation", doc: hdr + "disruptionProtection:\n  annotations:\n    sparkplane.io/zone-pinning: \"off\"\n",
			wantErr: `disruptionProtection.annotations: Invalid value: "sparkplane.io/zone-pinning": sparkplane.io/ annotations are sparkplane's own`},
		{name: "protection: unquoted true", doc: hdr + "disruptionProtection:\n  annotations:\n    karpenter.sh/do-not-disrupt: true\n",
			wantErr: `line 4: disruptionProtection.annotations: Invalid value: "{\"karpenter.sh/do-not-disrupt\":true}": must be a mapping of strings to strings: quote values such as "true"`},
		{name: "protection: typo", doc: hdr + "disruptionProtection:\n  drivers: false\n",
			wantErr: `line 4: disruptionProtection.drivers: Forbidden: unknown field; known fields here: annotations, driver, executor`},
		{name: "protection: wrong case", doc: hdr + "disruptionprotection:\n  driver: false\n",
			wantErr: `line 3: disruptionprotection: Forbidden: unknown field; did you mean "disruptionProtection"?`},
		{name: "protection: not a bool", doc: hdr + "disruptionProtection:\n  driver: sometimes\n",
			wantErr: `line 4: disruptionProtection.driver: Invalid value: "sometimes": must be true or false`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.doc))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse() error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse() error = %v", err)
			}
			tt.check(t, c)
		})
	}
}

func TestDefaultIsValid(t *testing.T) {
	if errs := Validate(Default()); len(errs) > 0 {
		t.Fatalf("defaults invalid: %v", errs)
	}
}

// TestParseListsEveryError: every problem of a file is reported at once,
// each with its line, in the order of the file.
func TestParseListsEveryError(t *testing.T) {
	doc := hdr + `zonepinning:
  mode: preferred
driver:
  mode: sometimes
availabilityEscape:
  window: 1ns
  interval: often
preferredWeight: 0
provider:
  spotTolerations:
  - operator: Bogus
`
	_, err := Parse([]byte(doc))
	if err == nil {
		t.Fatal("Parse accepted a file with six errors")
	}
	want := []string{
		"line 3: zonepinning: Forbidden: unknown field",
		"line 6: driver.mode: Unsupported value",
		"line 8: availabilityEscape.window: Invalid value",
		"line 9: availabilityEscape.interval: Invalid value",
		"line 10: preferredWeight: Invalid value",
		"line 13: provider.spotTolerations[0].operator: Unsupported value",
	}
	last := -1
	for _, w := range want {
		i := strings.Index(err.Error(), w)
		if i < 0 {
			t.Errorf("error does not contain %q:\n%v", w, err)
			continue
		}
		if i < last {
			t.Errorf("%q is out of line order:\n%v", w, err)
		}
		last = i
	}
	if strings.Contains(err.Error(), "json") {
		t.Errorf("error reads as a JSON error:\n%v", err)
	}
}

func TestDefaultPreferredWeight(t *testing.T) {
	if w := (&SparkplaneConfiguration{}).Weight(); w != DefaultPreferredWeight {
		t.Errorf("unset weight %d, want %d", w, DefaultPreferredWeight)
	}
	if w := Default().PreferredWeight; w == nil || *w != 100 {
		t.Errorf("default weight %v, want 100", w)
	}
}

// TestProtectionFollowsThePreset: each provider preset writes the annotation
// its autoscaler reads; custom, which names no autoscaler, writes both.
func TestProtectionFollowsThePreset(t *testing.T) {
	karpenter := map[string]string{"karpenter.sh/do-not-disrupt": "true"}
	ca := map[string]string{"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"}
	both := map[string]string{"karpenter.sh/do-not-disrupt": "true", "cluster-autoscaler.kubernetes.io/safe-to-evict": "false"}
	for _, tt := range []struct {
		provider string
		want     map[string]string
	}{
		{"{preset: karpenter}", karpenter},
		{"{preset: eks}", ca},
		{"{preset: gke}", ca},
		{"{preset: aks}", ca},
		{"{preset: custom, label: example.com/capacity, spotValue: spot}", both},
	} {
		t.Run(tt.provider, func(t *testing.T) {
			c, err := Parse([]byte(hdr + "provider: " + tt.provider + "\n"))
			if err != nil {
				t.Fatal(err)
			}
			if got := c.DisruptionProtection.Annotations; !maps.Equal(got, tt.want) {
				t.Errorf("annotations %v, want %v", got, tt.want)
			}
		})
	}
}

// TestDeepCopyProtection: a copy shares no state with the original.
func TestDeepCopyProtection(t *testing.T) {
	c := Default()
	cp := c.DeepCopy()
	*cp.DisruptionProtection.Driver = false
	*cp.DisruptionProtection.Executor = true
	cp.DisruptionProtection.Annotations["x"] = "y"
	if dp := c.DisruptionProtection; !dp.DriverProtected() || dp.ExecutorProtected() || len(dp.Annotations) != 1 {
		t.Errorf("changing the copy changed the original: %+v", dp)
	}
	empty := &SparkplaneConfiguration{DisruptionProtection: DisruptionProtection{Annotations: map[string]string{}}}
	if a := empty.DeepCopy().DisruptionProtection.Annotations; a == nil {
		t.Error("an explicit empty map became nil (unset: the preset's) in the copy")
	}
}
