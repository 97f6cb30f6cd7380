package localcluster

import (
	"context"
	_ "embed"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	toolscache "k8s.io/client-go/tools/cache"

	"github.com/sparkplane/sparkplane/pkg/spark"
)

//go:embed jobs/shuffle.py
var shuffleJob []byte

// WriteShuffleJob writes the demo's PySpark job (see jobs/shuffle.py) into
// the cluster directory and returns its local:// URI.
func (c *Cluster) WriteShuffleJob() (string, error) {
	p := filepath.Join(c.opts.Dir, jobsDir, "shuffle.py")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(p, shuffleJob, 0o644); err != nil {
		return "", fmt.Errorf("writing job: %w", err)
	}
	return "local://" + p, nil
}

// Job is one spark-submit run.
type Job struct {
	Namespace string
	// Args are spark-submit's arguments (confs, then the app resource and
	// its arguments); master, deploy mode and credentials are added.
	Args []string
	// Output receives spark-submit's own output (default: discarded).
	Output io.Writer
}

// PodRecord is what was seen of one pod during a run.
type PodRecord struct {
	Name, Node string
	// ExecID is the executor id (spark-exec-id), 0 for the driver.
	ExecID int
	// Ran: the pod reached Running.
	Ran   bool
	Phase corev1.PodPhase
	// Annotations as last seen (sparkplane's decision among them).
	Annotations map[string]string
}

// Run is the outcome of a Job.
type Run struct {
	Driver    *PodRecord
	Executors []PodRecord // every executor seen, by executor id
	Duration  time.Duration
	// SubmitErr is spark-submit's error (non-zero exit), if any.
	SubmitErr error
	// EventLog is the app's Spark event log ("" if none was written).
	EventLog string
}

// ZoneOf maps executor ids (as the event log names them) to their zones.
func (r *Run) ZoneOf(c *Cluster) map[string]string {
	zones := map[string]string{}
	nodes := map[string]Node{}
	for _, n := range c.AllNodes() {
		nodes[n.Name] = n
	}
	for _, e := range r.Executors {
		zones[strconv.Itoa(e.ExecID)] = nodes[e.Node].Zone
	}
	return zones
}

// Run submits the job in cluster mode, records every Spark pod of the
// namespace while it runs (executors come and go with dynamic allocation),
// and returns when spark-submit has returned.
func (c *Cluster) Run(ctx context.Context, job Job) (*Run, error) {
	if err := c.ensureNamespace(ctx, job.Namespace); err != nil {
		return nil, err
	}
	events := filepath.Join(c.opts.Dir, eventsDir, job.Namespace)
	if err := os.MkdirAll(events, 0o755); err != nil {
		return nil, err
	}
	args := append([]string{"--conf", "spark.eventLog.enabled=true", "--conf", "spark.eventLog.dir=file://" + events}, job.Args...)
	rec := &recorder{pods: map[string]*PodRecord{}}
	factory := informers.NewSharedInformerFactoryWithOptions(c.Client, 0, informers.WithNamespace(job.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = spark.LabelRole }))
	inf := factory.Core().V1().Pods().Informer()
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: rec.see, UpdateFunc: func(_, o any) { rec.see(o) },
	}); err != nil {
		return nil, err
	}
	watchCtx, stop := context.WithCancel(ctx)
	defer stop()
	factory.Start(watchCtx.Done())
	if !toolscache.WaitForCacheSync(watchCtx.Done(), inf.HasSynced) {
		return nil, fmt.Errorf("watching pods in %s: cache did not sync", job.Namespace)
	}

	cmd, err := c.SparkSubmit(ctx, job.Namespace, args)
	if err != nil {
		return nil, err
	}
	if job.Output != nil {
		cmd.Stdout, cmd.Stderr = job.Output, job.Output
	}
	start := time.Now()
	run := &Run{SubmitErr: cmd.Run()}
	run.Duration = time.Since(start)
	// Let the last status updates arrive.
	time.Sleep(500 * time.Millisecond)
	run.Driver, run.Executors = rec.result()
	if logs, _ := filepath.Glob(filepath.Join(events, "*")); len(logs) > 0 {
		sort.Slice(logs, func(i, j int) bool { return modTime(logs[i]).Before(modTime(logs[j])) })
		run.EventLog = logs[len(logs)-1]
	}
	return run, nil
}

func modTime(p string) time.Time {
	if fi, err := os.Stat(p); err == nil {
		return fi.ModTime()
	}
	return time.Time{}
}

func (c *Cluster) ensureNamespace(ctx context.Context, name string) error {
	_, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", name, err)
	}
	return nil
}

type recorder struct {
	mu   sync.Mutex
	pods map[string]*PodRecord
}

func (r *recorder) see(obj any) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	pr := r.pods[p.Name]
	if pr == nil {
		pr = &PodRecord{Name: p.Name}
		pr.ExecID, _ = strconv.Atoi(p.Labels[spark.LabelExecID])
		r.pods[p.Name] = pr
	}
	if p.Spec.NodeName != "" {
		pr.Node = p.Spec.NodeName
	}
	if p.Status.Phase == corev1.PodRunning || p.Status.Phase == corev1.PodSucceeded {
		pr.Ran = true
	}
	pr.Phase = p.Status.Phase
	pr.Annotations = p.Annotations
}

func (r *recorder) result() (*PodRecord, []PodRecord) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var driver *PodRecord
	var execs []PodRecord
	for _, p := range r.pods {
		if p.ExecID == 0 {
			d := *p
			driver = &d
			continue
		}
		execs = append(execs, *p)
	}
	sort.Slice(execs, func(i, j int) bool { return execs[i].ExecID < execs[j].ExecID })
	return driver, execs
}
