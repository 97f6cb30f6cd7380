package scheduler

import (
	"context"
	"encoding/json"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	componentbaseconfigv1alpha1 "k8s.io/component-base/config/v1alpha1"
	schedulerconfigv1 "k8s.io/kube-scheduler/config/v1"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler"
	schedulerconfig "k8s.io/kubernetes/pkg/scheduler/apis/config"
	schedulerscheme "k8s.io/kubernetes/pkg/scheduler/apis/config/scheme"
	"k8s.io/kubernetes/pkg/scheduler/apis/config/validation"
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

const (
	// SchedulerName is the profile Spark pods name in spec.schedulerName
	// (spark.kubernetes.scheduler.name, or the webhook's schedulerName).
	SchedulerName = "sparkplane-scheduler"
	// DefaultSchedulerName is the stock kube-scheduler profile.
	DefaultSchedulerName = "default-scheduler"
	// ScoreWeight is SparkGang's score weight in the profile: enough that
	// the gang's ranking wins over the default plugins' scores combined.
	ScoreWeight = 10
	// LeaderElectionLease is the lease the sparkplane scheduler elects its
	// leader with, so it runs beside the cluster's own kube-scheduler.
	LeaderElectionLease = "sparkplane-scheduler"
)

// Config says which scheduler to build.
type Config struct {
	// Args configure SparkGang; nil means the defaults.
	Args *SparkGangArgs
	// Metrics receive the plugin's metrics; nil for unexposed ones.
	Metrics *Metrics
	// DefaultProfile also runs the stock "default-scheduler" profile in the
	// same scheduler, for pods that do not name sparkplane-scheduler.
	DefaultProfile bool
}

// NewRegistry is the out-of-tree registry with SparkGang, its metrics
// bound in, for scheduler.WithFrameworkOutOfTreeRegistry.
func NewRegistry(m *Metrics) frameworkruntime.Registry {
	return frameworkruntime.Registry{PluginName: NewFactory(m)}
}

// NewFactory is SparkGang's plugin factory, for app.WithPlugin.
func NewFactory(m *Metrics) frameworkruntime.PluginFactory {
	return func(ctx context.Context, obj runtime.Object, h fwk.Handle) (fwk.Plugin, error) {
		return New(ctx, obj, h, m)
	}
}

// VersionedConfiguration is the KubeSchedulerConfiguration (v1) of the
// sparkplane scheduler: a profile "sparkplane-scheduler" with the default
// plugins plus SparkGang, NodeResourcesFit scoring MostAllocated (bin
// packing, so autoscalers can remove empty nodes), and a leader election
// lease of its own. Unset fields are left for the scheduler's defaulting.
func VersionedConfiguration(c Config) (*schedulerconfigv1.KubeSchedulerConfiguration, error) {
	args := c.Args
	if args == nil {
		args = &SparkGangArgs{}
	}
	args = args.DeepCopy()
	args.SetDefaults()
	if errs := args.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("invalid %s args: %w", PluginName, errs.ToAggregate())
	}
	raw, err := json.Marshal(args)
	if err != nil {
		return nil, fmt.Errorf("encoding %s args: %w", PluginName, err)
	}
	fit := &schedulerconfigv1.NodeResourcesFitArgs{
		TypeMeta: metav1.TypeMeta{APIVersion: schedulerconfigv1.SchemeGroupVersion.String(), Kind: "NodeResourcesFitArgs"},
		ScoringStrategy: &schedulerconfigv1.ScoringStrategy{
			Type:      schedulerconfigv1.MostAllocated,
			Resources: []schedulerconfigv1.ResourceSpec{{Name: "cpu", Weight: 1}, {Name: "memory", Weight: 1}},
		},
	}
	cfg := &schedulerconfigv1.KubeSchedulerConfiguration{}
	cfg.APIVersion = schedulerconfigv1.SchemeGroupVersion.String()
	cfg.Kind = "KubeSchedulerConfiguration"
	cfg.LeaderElection = componentbaseconfigv1alpha1.LeaderElectionConfiguration{ResourceName: LeaderElectionLease}
	if c.DefaultProfile {
		cfg.Profiles = append(cfg.Profiles, schedulerconfigv1.KubeSchedulerProfile{SchedulerName: ptr.To(DefaultSchedulerName)})
	}
	cfg.Profiles = append(cfg.Profiles, schedulerconfigv1.KubeSchedulerProfile{
		SchedulerName: ptr.To(SchedulerName),
		Plugins: &schedulerconfigv1.Plugins{MultiPoint: schedulerconfigv1.PluginSet{
			Enabled: []schedulerconfigv1.Plugin{{Name: PluginName, Weight: ptr.To[int32](ScoreWeight)}},
		}},
		PluginConfig: []schedulerconfigv1.PluginConfig{
			{Name: "NodeResourcesFit", Args: runtime.RawExtension{Object: fit}},
			{Name: PluginName, Args: runtime.RawExtension{Raw: raw}},
		},
	})
	return cfg, nil
}

// ConfigurationYAML is VersionedConfiguration as a file for --config.
func ConfigurationYAML(c Config) ([]byte, error) {
	cfg, err := VersionedConfiguration(c)
	if err != nil {
		return nil, err
	}
	// Marshal by hand: the typed struct would spell out every unset field.
	profiles := make([]map[string]any, 0, len(cfg.Profiles))
	for _, p := range cfg.Profiles {
		m := map[string]any{"schedulerName": *p.SchedulerName}
		if p.Plugins != nil {
			m["plugins"] = map[string]any{"multiPoint": map[string]any{"enabled": []map[string]any{{"name": PluginName, "weight": ScoreWeight}}}}
		}
		var pcs []map[string]any
		for _, pc := range p.PluginConfig {
			raw := pc.Args.Raw
			if pc.Args.Object != nil {
				if raw, err = json.Marshal(pc.Args.Object); err != nil {
					return nil, err
				}
			}
			var args map[string]any
			if err := json.Unmarshal(raw, &args); err != nil {
				return nil, err
			}
			pcs = append(pcs, map[string]any{"name": pc.Name, "args": args})
		}
		if pcs != nil {
			m["pluginConfig"] = pcs
		}
		profiles = append(profiles, m)
	}
	return yaml.Marshal(map[string]any{
		"apiVersion":     cfg.APIVersion,
		"kind":           cfg.Kind,
		"leaderElection": map[string]any{"leaderElect": true, "resourceName": LeaderElectionLease, "resourceNamespace": "kube-system"},
		"profiles":       profiles,
	})
}

// Configuration is VersionedConfiguration defaulted and converted to the
// scheduler's internal type through its scheme, as kube-scheduler does
// with a --config file, and validated.
func Configuration(c Config) (*schedulerconfig.KubeSchedulerConfiguration, error) {
	versioned, err := VersionedConfiguration(c)
	if err != nil {
		return nil, err
	}
	versioned.DebuggingConfiguration = *componentbaseconfigv1alpha1.NewRecommendedDebuggingConfiguration()
	schedulerscheme.Scheme.Default(versioned)
	cfg := &schedulerconfig.KubeSchedulerConfiguration{}
	if err := schedulerscheme.Scheme.Convert(versioned, cfg, nil); err != nil {
		return nil, fmt.Errorf("converting the scheduler configuration: %w", err)
	}
	cfg.TypeMeta.APIVersion = schedulerconfigv1.SchemeGroupVersion.String()
	if err := validation.ValidateKubeSchedulerConfiguration(cfg); err != nil {
		return nil, fmt.Errorf("invalid scheduler configuration: %w", err)
	}
	return cfg, nil
}

// SchedulerOptions are the scheduler.New options that run the sparkplane
// scheduler in-process (e.g. as controlplane.Options.SchedulerOptions):
// its profiles and the out-of-tree registry with SparkGang.
func SchedulerOptions(c Config) ([]scheduler.Option, error) {
	cfg, err := Configuration(c)
	if err != nil {
		return nil, err
	}
	return []scheduler.Option{
		scheduler.WithComponentConfigVersion(cfg.TypeMeta.APIVersion),
		scheduler.WithProfiles(cfg.Profiles...),
		scheduler.WithFrameworkOutOfTreeRegistry(NewRegistry(c.Metrics)),
		scheduler.WithPercentageOfNodesToScore(cfg.PercentageOfNodesToScore),
		scheduler.WithPodMaxBackoffSeconds(cfg.PodMaxBackoffSeconds),
		scheduler.WithPodInitialBackoffSeconds(cfg.PodInitialBackoffSeconds),
		scheduler.WithParallelism(cfg.Parallelism),
	}, nil
}
