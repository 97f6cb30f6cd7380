package scheduler

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
	"github.com/sparkplane/sparkplane/pkg/gang"
)

func TestDecodeArgsDefaults(t *testing.T) {
	for name, obj := range map[string]runtime.Object{
		"nil":         nil,
		"nil typed":   (*SparkGangArgs)(nil),
		"empty":       &SparkGangArgs{},
		"empty bytes": &runtime.Unknown{},
	} {
		a, err := DecodeArgs(obj)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if a.QueueLabel != gang.LabelQueue || a.ReservationTimeout.Duration != DefaultReservationTimeout ||
			a.HeadOfLineWait.Duration != DefaultHeadOfLineWait || a.ConfWait.Duration != DefaultConfWait ||
			a.ResyncInterval.Duration != DefaultResyncInterval || a.Placement.ZonePinning.Mode != v1alpha1.ModeRequired {
			t.Errorf("%s: not defaulted: %+v", name, a)
		}
	}
}

func TestDecodeArgsFromFile(t *testing.T) {
	yamlArgs := `
apiVersion: sparkplane.io/v1alpha1
kind: SparkGangArgs
headOfLineWait: 0s
reservationTimeout: 90s
queues:
- name: etl
  maxCPU: "64"
  maxMemory: 256Gi
  maxDriverShare: 0.25
defaultQueue:
  maxCPU: "16"
placement:
  zonePinning:
    mode: preferred
`
	a, err := DecodeArgs(&runtime.Unknown{Raw: []byte(yamlArgs)})
	if err != nil {
		t.Fatal(err)
	}
	if a.HeadOfLineWait.Duration != 0 || a.ReservationTimeout.Duration != 90*time.Second {
		t.Errorf("durations: %+v", a)
	}
	etl := a.Queue("etl")
	if etl.MaxCPU.Cmp(resource.MustParse("64")) != 0 || etl.MaxMemory.Cmp(resource.MustParse("256Gi")) != 0 || etl.MaxDriverShare != 0.25 {
		t.Errorf("queue etl: %+v", etl)
	}
	if other := a.Queue("adhoc"); other.Name != "adhoc" || other.MaxCPU.Cmp(resource.MustParse("16")) != 0 {
		t.Errorf("default queue: %+v", other)
	}
	if p := a.Policy(); p.Zone != v1alpha1.ModePreferred || p.HeadOfLineWait != 0 || p.Driver.CapacityType != v1alpha1.CapacityOnDemand {
		t.Errorf("policy: %+v", p)
	}
	// The JSON form (what kube-scheduler hands over after reading YAML) too.
	if _, err := DecodeArgs(&runtime.Unknown{Raw: []byte(`{"queues":[{"name":"a","maxCPU":"2"}]}`)}); err != nil {
		t.Errorf("JSON args: %v", err)
	}
}

func TestDecodeArgsInvalid(t *testing.T) {
	for name, tc := range map[string]struct {
		raw  string
		want string
	}{
		"unknown field":     {`{"queue": []}`, `pluginConfig[SparkGang].queue: Forbidden: unknown field`},
		"wrong case":        {`{"queuelabel": "x"}`, `did you mean "queueLabel"?`},
		"duplicate field":   {`{"confWait":"1s","confWait":"2s"}`, `pluginConfig[SparkGang].confWait: Duplicate value`},
		"bad quantity":      {`{"queues":[{"name":"etl","maxCPU":"lots"}]}`, `pluginConfig[SparkGang].queues[etl].maxCPU: Invalid value: "lots": must be a Kubernetes quantity`},
		"bad quantity yaml": {"queues:\n- name: etl\n  maxMemory: 4 GB\n", `pluginConfig[SparkGang].queues[etl].maxMemory: Invalid value: "4 GB"`},
		"negative named":    {`{"queues":[{"name":"etl","maxCPU":"-1"}]}`, `pluginConfig[SparkGang].queues[etl].maxCPU: Invalid value: "-1"`},
		"mode true":         {`{"placement":{"driver":{"mode":true}}}`, `pluginConfig[SparkGang].placement.driver.mode: Invalid value: "true": true is not a mode`},
		"bad toleration":    {`{"placement":{"provider":{"spotTolerations":[{"key":"","operator":"Bogus"}]}}}`, `placement.provider.spotTolerations[0].operator: Unsupported value: "Bogus"`},
		"duplicate queue":   {`{"queues":[{"name":"a"},{"name":"a"}]}`, "queues[1].name: Duplicate value"},
		"unnamed queue":     {`{"queues":[{"maxCPU":"1"}]}`, "queues[0].name: Required value"},
		"share above 1":     {`{"queues":[{"name":"a","maxDriverShare":1.5}]}`, "queues[a].maxDriverShare: Invalid value: 1.5: queue a: maxDriverShare 1.5 must be between 0 (no cap) and 1"},
		"negative max":      {`{"defaultQueue":{"maxCPU":"-1"}}`, "defaultQueue"},
		"negative wait":     {`{"headOfLineWait":"-1s"}`, "headOfLineWait"},
		"bad kind":          {`{"kind":"Nope"}`, "kind: Invalid value"},
		"bad placement":     {`{"placement":{"zonePinning":{"mode":"sometimes"}}}`, "placement.zonePinning.mode"},
		"bad queue label":   {`{"queueLabel":"a b"}`, "queueLabel"},
		"zero reservation":  {`{"reservationTimeout":"0s","resyncInterval":"-2s"}`, "resyncInterval"},
	} {
		_, err := DecodeArgs(&runtime.Unknown{Raw: []byte(tc.raw)})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to contain %q", name, err, tc.want)
		}
	}
}

// TestDecodeArgsListsEveryError: one bad value does not hide the others.
func TestDecodeArgsListsEveryError(t *testing.T) {
	_, err := DecodeArgs(&runtime.Unknown{Raw: []byte(`{"queues":[{"name":"etl","maxCPU":"lots"},{"name":"adhoc","maxMemory":"much"}],"confWait":"soon","resyncInterval":"-1s"}`)})
	for _, want := range []string{"queues[etl].maxCPU", "queues[adhoc].maxMemory", "confWait", "resyncInterval"} {
		if err == nil || !strings.Contains(err.Error(), "pluginConfig[SparkGang]."+want+":") {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}

// TestDecodeArgsModeFalseIsOff: YAML reads an unquoted off as false.
func TestDecodeArgsModeFalseIsOff(t *testing.T) {
	a, err := DecodeArgs(&runtime.Unknown{Raw: []byte("placement:\n  zonePinning:\n    mode: off\n  executor:\n    mode: off\n")})
	if err != nil {
		t.Fatal(err)
	}
	if a.Placement.ZonePinning.Mode != v1alpha1.ModeOff || a.Placement.Executor.Mode != v1alpha1.ModeOff {
		t.Errorf("modes %q, %q; want off", a.Placement.ZonePinning.Mode, a.Placement.Executor.Mode)
	}
}

func TestDeepCopyIsDeep(t *testing.T) {
	a, err := DecodeArgs(&runtime.Unknown{Raw: []byte(`{"queues":[{"name":"a","maxCPU":"2"}],"placement":{"provider":{"preset":"aks"}}}`)})
	if err != nil {
		t.Fatal(err)
	}
	c := a.DeepCopy()
	c.Queues[0].Name = "b"
	c.HeadOfLineWait.Duration = time.Hour
	c.Placement.Provider.SpotTolerations[0].Key = "x"
	*c.Placement.ZonePinning.ClientModeAffinity = false
	if a.Queues[0].Name != "a" || a.HeadOfLineWait.Duration == time.Hour || a.Placement.Provider.SpotTolerations[0].Key == "x" || !*a.Placement.ZonePinning.ClientModeAffinity {
		t.Errorf("DeepCopy shares state with the original")
	}
}
