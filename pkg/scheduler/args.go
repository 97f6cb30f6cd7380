package scheduler

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
	"github.com/sparkplane/sparkplane/pkg/gang"
)

// ArgsKind is the kind of SparkGangArgs in a KubeSchedulerConfiguration's
// pluginConfig (apiVersion sparkplane.io/v1alpha1).
const ArgsKind = "SparkGangArgs"

// Defaults of SparkGangArgs.
const (
	DefaultReservationTimeout = 5 * time.Minute
	DefaultHeadOfLineWait     = 10 * time.Minute
	DefaultConfWait           = 30 * time.Second
	DefaultResyncInterval     = 2 * time.Second
)

// SparkGangArgs configures the SparkGang plugin. In a
// KubeSchedulerConfiguration file:
//
//	pluginConfig:
//	- name: SparkGang
//	  args:
//	    apiVersion: sparkplane.io/v1alpha1
//	    kind: SparkGangArgs
//	    queues:
//	    - name: etl
//	      maxCPU: "64"
//	      maxMemory: 256Gi
//	      maxDriverShare: 0.25
type SparkGangArgs struct {
	metav1.TypeMeta `json:",inline"`

	// QueueLabel is the pod label that names an app's queue (read from the
	// driver; executors count in their driver's queue). Pods without it are
	// in the queue named after their namespace. Default: sparkplane.io/queue.
	QueueLabel string `json:"queueLabel,omitempty"`

	// Queues are the limits of named queues.
	Queues []QueueConfig `json:"queues,omitempty"`

	// DefaultQueue are the limits of every queue not listed in Queues.
	// Default: no maximum and no driver share.
	DefaultQueue QueueLimits `json:"defaultQueue,omitempty"`

	// ReservationTimeout is how long the executor slots of a gang are held
	// after its driver is bound; slots no executor took by then are
	// released. Default: 5m.
	ReservationTimeout metav1.Duration `json:"reservationTimeout,omitempty"`

	// HeadOfLineWait is how long the oldest waiting app of a queue blocks
	// younger ones; after it, younger apps within the queue's limits may
	// pass it. 0s keeps strict FIFO. Default: 10m.
	HeadOfLineWait *metav1.Duration `json:"headOfLineWait,omitempty"`

	// ConfWait is how long a driver waits for the ConfigMap holding its
	// spark.properties (spark-submit creates it just after the driver pod)
	// before its shape is taken from Spark's defaults and the driver's
	// annotations. Default: 30s.
	ConfWait metav1.Duration `json:"confWait,omitempty"`

	// ResyncInterval is how often reservations are expired and waiting apps
	// are checked again (the head-of-line wait and ConfWait pass with
	// time). Default: 2s.
	ResyncInterval metav1.Duration `json:"resyncInterval,omitempty"`

	// Placement is the zone label, capacity-type provider, zone pinning and
	// capacity rules, as in the webhook's SparkplaneConfiguration; use the
	// same values in both so that the scheduler plans what the webhook
	// enforces. Default: the SparkplaneConfiguration defaults.
	Placement *v1alpha1.SparkplaneConfiguration `json:"placement,omitempty"`
}

// QueueLimits are a queue's maximum and driver share. Zero means no cap.
type QueueLimits struct {
	// MaxCPU and MaxMemory cap what the queue's apps hold together:
	// drivers, executors and the slots reserved for executors.
	MaxCPU    *resource.Quantity `json:"maxCPU,omitempty"`
	MaxMemory *resource.Quantity `json:"maxMemory,omitempty"`
	// MaxDriverShare is the largest fraction (0-1) of the maximum that
	// drivers may hold together, as YARN's maxAMShare.
	MaxDriverShare float64 `json:"maxDriverShare,omitempty"`
}

// QueueConfig names a queue and its limits.
type QueueConfig struct {
	Name        string `json:"name"`
	QueueLimits `json:",inline"`
}

var _ runtime.Object = &SparkGangArgs{}

// DeepCopyObject implements runtime.Object.
func (a *SparkGangArgs) DeepCopyObject() runtime.Object { return a.DeepCopy() }

// DeepCopy returns a deep copy of the args.
func (a *SparkGangArgs) DeepCopy() *SparkGangArgs {
	if a == nil {
		return nil
	}
	out := *a
	out.Queues = make([]QueueConfig, len(a.Queues))
	for i, q := range a.Queues {
		out.Queues[i] = q.deepCopy()
	}
	if a.Queues == nil {
		out.Queues = nil
	}
	out.DefaultQueue = a.DefaultQueue.deepCopy()
	if a.HeadOfLineWait != nil {
		d := *a.HeadOfLineWait
		out.HeadOfLineWait = &d
	}
	if a.Placement != nil {
		p := *a.Placement
		if a.Placement.ZonePinning.ClientModeAffinity != nil {
			v := *a.Placement.ZonePinning.ClientModeAffinity
			p.ZonePinning.ClientModeAffinity = &v
		}
		if a.Placement.Provider.SpotTolerations != nil {
			p.Provider.SpotTolerations = make([]corev1.Toleration, len(a.Placement.Provider.SpotTolerations))
			for i := range a.Placement.Provider.SpotTolerations {
				a.Placement.Provider.SpotTolerations[i].DeepCopyInto(&p.Provider.SpotTolerations[i])
			}
		}
		out.Placement = &p
	}
	return &out
}

func (q QueueConfig) deepCopy() QueueConfig {
	return QueueConfig{Name: q.Name, QueueLimits: q.QueueLimits.deepCopy()}
}

func (l QueueLimits) deepCopy() QueueLimits {
	out := QueueLimits{MaxDriverShare: l.MaxDriverShare}
	if l.MaxCPU != nil {
		q := l.MaxCPU.DeepCopy()
		out.MaxCPU = &q
	}
	if l.MaxMemory != nil {
		q := l.MaxMemory.DeepCopy()
		out.MaxMemory = &q
	}
	return out
}

// SetDefaults fills every unset field.
func (a *SparkGangArgs) SetDefaults() {
	if a.APIVersion == "" {
		a.APIVersion = v1alpha1.GroupVersion
	}
	if a.Kind == "" {
		a.Kind = ArgsKind
	}
	if a.QueueLabel == "" {
		a.QueueLabel = gang.LabelQueue
	}
	if a.ReservationTimeout.Duration == 0 {
		a.ReservationTimeout.Duration = DefaultReservationTimeout
	}
	if a.HeadOfLineWait == nil {
		a.HeadOfLineWait = &metav1.Duration{Duration: DefaultHeadOfLineWait}
	}
	if a.ConfWait.Duration == 0 {
		a.ConfWait.Duration = DefaultConfWait
	}
	if a.ResyncInterval.Duration == 0 {
		a.ResyncInterval.Duration = DefaultResyncInterval
	}
	if a.Placement == nil {
		a.Placement = &v1alpha1.SparkplaneConfiguration{}
	}
	v1alpha1.SetDefaults(a.Placement)
}

// Validate checks defaulted args; each error names its field.
func (a *SparkGangArgs) Validate() field.ErrorList {
	var errs field.ErrorList
	if a.APIVersion != v1alpha1.GroupVersion {
		errs = append(errs, field.Invalid(field.NewPath("apiVersion"), a.APIVersion, "must be "+v1alpha1.GroupVersion))
	}
	if a.Kind != ArgsKind {
		errs = append(errs, field.Invalid(field.NewPath("kind"), a.Kind, "must be "+ArgsKind))
	}
	for _, msg := range validation.IsQualifiedName(a.QueueLabel) {
		errs = append(errs, field.Invalid(field.NewPath("queueLabel"), a.QueueLabel, msg))
	}
	seen := map[string]bool{}
	for i, q := range a.Queues {
		p := field.NewPath("queues").Index(i)
		switch {
		case q.Name == "":
			errs = append(errs, field.Required(p.Child("name"), "name the queue (a namespace or a "+a.QueueLabel+" label value)"))
		case seen[q.Name]:
			errs = append(errs, field.Duplicate(p.Child("name"), q.Name))
		default:
			for _, msg := range validation.IsValidLabelValue(q.Name) {
				errs = append(errs, field.Invalid(p.Child("name"), q.Name, msg))
			}
		}
		seen[q.Name] = true
		if err := q.queue(q.Name).Validate(); err != nil {
			errs = append(errs, field.Invalid(p, q.Name, err.Error()))
		}
	}
	if err := a.DefaultQueue.queue("default").Validate(); err != nil {
		errs = append(errs, field.Invalid(field.NewPath("defaultQueue"), "", err.Error()))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
		zero bool
	}{
		{"reservationTimeout", a.ReservationTimeout.Duration, false},
		{"headOfLineWait", a.HeadOfLineWait.Duration, true},
		{"confWait", a.ConfWait.Duration, true},
		{"resyncInterval", a.ResyncInterval.Duration, false},
	} {
		if d.v < 0 || (d.v == 0 && !d.zero) {
			errs = append(errs, field.Invalid(field.NewPath(d.name), d.v.String(), "must be a positive duration such as 30s"))
		}
	}
	for _, e := range v1alpha1.Validate(a.Placement) {
		e.Field = "placement." + e.Field
		errs = append(errs, e)
	}
	return errs
}

func (l QueueLimits) queue(name string) gang.Queue {
	q := gang.Queue{Name: name, MaxDriverShare: l.MaxDriverShare}
	if l.MaxCPU != nil {
		q.MaxCPU = *l.MaxCPU
	}
	if l.MaxMemory != nil {
		q.MaxMemory = *l.MaxMemory
	}
	return q
}

// Queue returns the limits of the named queue.
func (a *SparkGangArgs) Queue(name string) gang.Queue {
	for _, q := range a.Queues {
		if q.Name == name {
			return q.queue(name)
		}
	}
	return a.DefaultQueue.queue(name)
}

// Policy is the gang policy these args give: zone pinning and capacity
// rules from Placement, and the head-of-line wait.
func (a *SparkGangArgs) Policy() gang.Policy {
	p := gang.PolicyFromConfig(a.Placement)
	p.HeadOfLineWait = a.HeadOfLineWait.Duration
	return p
}

// DecodeArgs turns what the scheduler framework passes a plugin factory
// into defaulted, validated args: nil (no pluginConfig), *SparkGangArgs
// (in-process configuration) or *runtime.Unknown (a configuration file;
// its JSON or YAML is decoded strictly, so a misspelt field is an error).
// Decoding here, rather than through a registered scheme, keeps the
// kube-scheduler's global scheme untouched.
func DecodeArgs(obj runtime.Object) (*SparkGangArgs, error) {
	var args *SparkGangArgs
	switch o := obj.(type) {
	case nil:
		args = &SparkGangArgs{}
	case *SparkGangArgs:
		args = o.DeepCopy()
		if args == nil {
			args = &SparkGangArgs{}
		}
	case *runtime.Unknown:
		args = &SparkGangArgs{}
		if len(o.Raw) > 0 {
			if err := yaml.UnmarshalStrict(o.Raw, args); err != nil {
				return nil, fmt.Errorf("decoding %s args: %w", PluginName, err)
			}
		}
	default:
		return nil, fmt.Errorf("%s args: want %s, got %T", PluginName, ArgsKind, obj)
	}
	args.SetDefaults()
	if errs := args.Validate(); len(errs) > 0 {
		msgs := make([]string, 0, len(errs))
		for _, e := range errs {
			msgs = append(msgs, e.Error())
		}
		return nil, fmt.Errorf("invalid %s args:\n  %s", PluginName, strings.Join(msgs, "\n  "))
	}
	return args, nil
}
