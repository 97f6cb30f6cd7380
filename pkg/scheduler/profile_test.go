package scheduler

import (
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	schedulerconfig "k8s.io/kubernetes/pkg/scheduler/apis/config"
	schedulerscheme "k8s.io/kubernetes/pkg/scheduler/apis/config/scheme"
	"k8s.io/utils/ptr"
)

// TestConfigurationFile: the file `sparkplane scheduler config` prints is
// read by kube-scheduler's own decoder into a profile with SparkGang at
// every extension point, MostAllocated scoring and the plugin's args.
func TestConfigurationFile(t *testing.T) {
	args := &SparkGangArgs{Queues: []QueueConfig{{Name: "etl", QueueLimits: QueueLimits{MaxCPU: ptr.To(resource.MustParse("8")), MaxDriverShare: 0.5}}}}
	data, err := ConfigurationYAML(Config{Args: args})
	if err != nil {
		t.Fatal(err)
	}
	obj, _, err := schedulerscheme.Codecs.UniversalDecoder().Decode(data, nil, nil)
	if err != nil {
		t.Fatalf("kube-scheduler cannot read the configuration: %v\n%s", err, data)
	}
	cfg := obj.(*schedulerconfig.KubeSchedulerConfiguration)
	if cfg.LeaderElection.ResourceName != LeaderElectionLease {
		t.Errorf("leader election lease %q, want %q", cfg.LeaderElection.ResourceName, LeaderElectionLease)
	}
	if len(cfg.Profiles) != 1 || cfg.Profiles[0].SchedulerName != SchedulerName {
		t.Fatalf("profiles: %+v", cfg.Profiles)
	}
	prof := cfg.Profiles[0]
	found := false
	for _, p := range prof.Plugins.MultiPoint.Enabled {
		if p.Name == PluginName && p.Weight == ScoreWeight {
			found = true
		}
	}
	if !found {
		t.Errorf("%s not enabled with weight %d: %+v", PluginName, ScoreWeight, prof.Plugins.MultiPoint.Enabled)
	}
	var gotArgs runtime.Object
	for _, pc := range prof.PluginConfig {
		switch pc.Name {
		case "NodeResourcesFit":
			fit := pc.Args.(*schedulerconfig.NodeResourcesFitArgs)
			if fit.ScoringStrategy == nil || fit.ScoringStrategy.Type != schedulerconfig.MostAllocated {
				t.Errorf("NodeResourcesFit scoring: %+v", fit.ScoringStrategy)
			}
		case PluginName:
			gotArgs = pc.Args
		}
	}
	decoded, err := DecodeArgs(gotArgs)
	if err != nil {
		t.Fatal(err)
	}
	if q := decoded.Queue("etl"); q.MaxCPU.Cmp(resource.MustParse("8")) != 0 || q.MaxDriverShare != 0.5 {
		t.Errorf("args did not survive the file: %+v", q)
	}

	path := filepath.Join(t.TempDir(), "scheduler.yaml")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	fromFile, err := ArgsFromConfigFile(path, SchedulerName)
	if err != nil {
		t.Fatal(err)
	}
	if len(fromFile.Queues) != 1 || fromFile.Queues[0].Name != "etl" {
		t.Errorf("ArgsFromConfigFile: %+v", fromFile.Queues)
	}
	if _, err := ArgsFromConfigFile(path, "other"); err == nil {
		t.Errorf("ArgsFromConfigFile found a profile that does not exist")
	}
}

// TestConfigurationInProcess: the in-process configuration is valid and
// runs the stock profile beside sparkplane's when asked.
func TestConfigurationInProcess(t *testing.T) {
	cfg, err := Configuration(Config{DefaultProfile: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Profiles) != 2 || cfg.Profiles[0].SchedulerName != DefaultSchedulerName || cfg.Profiles[1].SchedulerName != SchedulerName {
		t.Fatalf("profiles: %v, %v", cfg.Profiles[0].SchedulerName, cfg.Profiles[1].SchedulerName)
	}
	for _, pc := range cfg.Profiles[1].PluginConfig {
		if pc.Name == PluginName {
			if _, ok := pc.Args.(*runtime.Unknown); !ok {
				t.Errorf("%s args reach the plugin as %T, want *runtime.Unknown (decoded by the plugin)", PluginName, pc.Args)
			}
		}
	}
	if _, err := SchedulerOptions(Config{Args: &SparkGangArgs{Queues: []QueueConfig{{Name: "a"}, {Name: "a"}}}}); err == nil {
		t.Errorf("invalid args accepted")
	}
}
