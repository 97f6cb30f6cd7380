package placement

import (
	"testing"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
)

func TestAppRules(t *testing.T) {
	cfg := v1alpha1.Default()
	tests := []struct {
		name       string
		ann        map[string]string
		zone       v1alpha1.Mode
		drv, execs v1alpha1.CapacityRule
	}{
		{"defaults", nil, v1alpha1.ModeRequired, cfg.Driver, cfg.Executor},
		{"overrides", map[string]string{AnnotationZonePinning: "off", AnnotationDriverCapacity: "prefer-spot", AnnotationExecutorCapacity: "on-demand"},
			v1alpha1.ModeOff, v1alpha1.CapacityRule{CapacityType: v1alpha1.CapacitySpot, Mode: v1alpha1.ModePreferred},
			v1alpha1.CapacityRule{CapacityType: v1alpha1.CapacityOnDemand, Mode: v1alpha1.ModeRequired}},
		{"invalid ignored", map[string]string{AnnotationZonePinning: "maybe"}, v1alpha1.ModeRequired, cfg.Driver, cfg.Executor},
		{"escaped", map[string]string{AnnotationZoneFallback: "x"}, v1alpha1.ModePreferred, cfg.Driver, cfg.Executor},
	}
	for _, tt := range tests {
		zone, drv, execs := AppRules(cfg, tt.ann)
		if zone != tt.zone || drv != tt.drv || execs != tt.execs {
			t.Errorf("%s: got %v %+v %+v", tt.name, zone, drv, execs)
		}
	}
}
