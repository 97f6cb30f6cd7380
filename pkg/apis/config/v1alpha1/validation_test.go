package v1alpha1

import (
	"strings"
	"testing"
)

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
		{name: "unknown field", doc: "apiVersion: sparkplane.io/v1alpha1\nkind: SparkplaneConfiguration\nzoneLable: x\n", wantErr: `unknown field "zoneLable"`},
		{name: "missing apiVersion", doc: "zoneLabel: x\n", wantErr: "apiVersion and kind are required"},
		{name: "wrong apiVersion", doc: "apiVersion: sparkplane.io/v2\nkind: SparkplaneConfiguration\n", wantErr: "apiVersion: Invalid value"},
		{name: "bad mode", doc: "apiVersion: sparkplane.io/v1alpha1\nkind: SparkplaneConfiguration\nzonePinning:\n  mode: always\n", wantErr: `zonePinning.mode: Unsupported value: "always"`},
		{name: "bad capacity type", doc: "apiVersion: sparkplane.io/v1alpha1\nkind: SparkplaneConfiguration\nexecutor:\n  capacityType: preemptible\n", wantErr: "executor.capacityType: Unsupported value"},
		{name: "bad preset", doc: "apiVersion: sparkplane.io/v1alpha1\nkind: SparkplaneConfiguration\nprovider:\n  preset: oracle\n", wantErr: "provider.preset: Unsupported value"},
		{name: "custom needs label", doc: "apiVersion: sparkplane.io/v1alpha1\nkind: SparkplaneConfiguration\nprovider:\n  preset: custom\n", wantErr: "provider.label: Required value"},
		{name: "bad zone label", doc: "apiVersion: sparkplane.io/v1alpha1\nkind: SparkplaneConfiguration\nzoneLabel: 'not a label!'\n", wantErr: "zoneLabel: Invalid value"},
		{name: "bad weight", doc: "apiVersion: sparkplane.io/v1alpha1\nkind: SparkplaneConfiguration\npreferredWeight: 300\n", wantErr: "preferredWeight: Invalid value"},
		{name: "bad window", doc: "apiVersion: sparkplane.io/v1alpha1\nkind: SparkplaneConfiguration\navailabilityEscape:\n  window: -1m\n", wantErr: "availabilityEscape.window: Invalid value"},
		{name: "not yaml", doc: "::: [", wantErr: "decoding"},
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
