package scheduler

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
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
//
// Its DeepCopy is generated (make generate).
//
// +k8s:deepcopy-gen=true
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
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
//
// +k8s:deepcopy-gen=true
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
//
// +k8s:deepcopy-gen=true
type QueueConfig struct {
	Name        string `json:"name"`
	QueueLimits `json:",inline"`
}

var _ runtime.Object = &SparkGangArgs{}

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
		p := a.queuePath(i)
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
		errs = append(errs, q.validate(p, q.Name)...)
	}
	errs = append(errs, a.DefaultQueue.validate(field.NewPath("defaultQueue"), "default")...)
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

// queuePath is the path of queue i: by its name (queues[etl]) when the name
// is set and unique, so an error says which queue; else by its index.
func (a *SparkGangArgs) queuePath(i int) *field.Path {
	name := a.Queues[i].Name
	if name == "" || slices.IndexFunc(a.Queues, func(q QueueConfig) bool { return q.Name == name }) != i {
		return field.NewPath("queues").Index(i)
	}
	return field.NewPath("queues").Key(name)
}

// validate checks the limits with gang.Queue.Validate, which holds their
// bounds, one limit at a time so that the error names the field.
func (l QueueLimits) validate(p *field.Path, name string) field.ErrorList {
	var errs field.ErrorList
	for _, f := range []struct {
		name  string
		value any
		q     gang.Queue
	}{
		{"maxCPU", l.MaxCPU, QueueLimits{MaxCPU: l.MaxCPU}.queue(name)},
		{"maxMemory", l.MaxMemory, QueueLimits{MaxMemory: l.MaxMemory}.queue(name)},
		{"maxDriverShare", l.MaxDriverShare, QueueLimits{MaxDriverShare: l.MaxDriverShare}.queue(name)},
	} {
		if err := f.q.Validate(); err != nil {
			v := f.value
			if q, ok := v.(*resource.Quantity); ok {
				v = q.String()
			}
			errs = append(errs, field.Invalid(p.Child(f.name), v, err.Error()))
		}
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
	var errs field.ErrorList
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
			// JSON as it is, so that DecodeJSON sees duplicate fields;
			// YAML converted strictly (a duplicate key is an error).
			j := o.Raw
			if !utilyaml.IsJSONBuffer(o.Raw) {
				var err error
				if j, err = yaml.YAMLToJSONStrict(o.Raw); err != nil {
					return nil, fmt.Errorf("decoding %s args: %w", PluginName, err)
				}
			}
			errs = args.decodeErrors(v1alpha1.DecodeJSON(nil, j, args))
		}
	default:
		return nil, fmt.Errorf("%s args: want %s, got %T", PluginName, ArgsKind, obj)
	}
	args.SetDefaults()
	errs = append(errs, args.Validate()...)
	if len(errs) > 0 {
		// Paths as in the scheduler's configuration file, so that the
		// error says where to look: pluginConfig[SparkGang].queues[etl].maxCPU.
		msgs := make([]string, 0, len(errs))
		for _, e := range errs {
			msgs = append(msgs, "pluginConfig["+PluginName+"]."+e.Error())
		}
		return nil, fmt.Errorf("invalid %s args (%s in the kube-scheduler configuration):\n  %s", PluginName, ArgsKind, strings.Join(msgs, "\n  "))
	}
	return args, nil
}

// decodeErrors names the queues in decoding errors' paths (queues[etl]
// rather than queues[0]), as Validate does.
func (a *SparkGangArgs) decodeErrors(errs field.ErrorList) field.ErrorList {
	for _, e := range errs {
		for i := range a.Queues {
			idx := field.NewPath("queues").Index(i).String()
			if rest, ok := strings.CutPrefix(e.Field, idx); ok && (rest == "" || rest[0] == '.') {
				e.Field = a.queuePath(i).String() + rest
			}
		}
	}
	return errs
}
