// Command bench measures sparkplane and prints tables. It is not part of the
// test command; `make bench` runs it, and a smoke run in the integration
// tests keeps it from rotting.
//
//	go run ./bench webhook [-duration 5s] [-concurrency 1,4,16,64] [-rate 1000]
//	go run ./bench placement [-nodes 500,1000] [-pods 1000] [-executors 20] [-strategies a,b,c,d,e,a,d+]
//	go run ./bench deadlock [-apps 100] [-nodes 50] [-duration 20s]
//	go run ./bench autoscaled [-apps 3] [-strategies off,webhook] [-mode spark|sim]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sparkplane/sparkplane/bench/loadgen"
	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
	"github.com/sparkplane/sparkplane/pkg/cli"
	"github.com/sparkplane/sparkplane/pkg/controlplane"
	"github.com/sparkplane/sparkplane/pkg/sparksim"
)

func main() {
	// The webhook under test runs in a child process of this binary, through
	// the real CLI, as it runs in production: its own process and heap.
	if len(os.Args) > 1 && os.Args[1] == childCommand {
		root := cli.NewRootCommand()
		root.SetArgs(os.Args[2:])
		if err := root.Execute(); err != nil {
			os.Exit(1)
		}
		return
	}
	if len(os.Args) < 2 {
		usage()
	}
	switch os.Args[1] {
	case "webhook":
	case "placement":
		mainPlacement(os.Args[2:])
		return
	case "deadlock":
		mainDeadlock(os.Args[2:])
		return
	case "autoscaled":
		mainAutoscaled(os.Args[2:])
		return
	default:
		usage()
	}
	fs := flag.NewFlagSet("webhook", flag.ExitOnError)
	duration := fs.Duration("duration", 5*time.Second, "length of each measurement")
	conc := fs.String("concurrency", "1,4,16,64", "closed-loop worker counts, comma separated")
	rate := fs.Int("rate", 1000, "open-loop arrival rate (requests/s) for the latency row")
	_ = fs.Parse(os.Args[2:])
	if err := runWebhook(context.Background(), os.Stdout, *duration, *conc, *rate); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: bench webhook|placement|deadlock|autoscaled [flags]   (run 'bench <command> -h' for flags)")
	os.Exit(2)
}

func runWebhook(ctx context.Context, out io.Writer, d time.Duration, concurrency string, rate int) error {
	var workers []int
	for _, s := range strings.Split(concurrency, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return fmt.Errorf("-concurrency: %q is not a positive number", s)
		}
		workers = append(workers, n)
	}
	dir, err := os.MkdirTemp("", "sparkplane-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	logs, err := os.Create(dir + "/components.log")
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "starting etcd + kube-apiserver ...")
	cp, err := controlplane.Start(ctx, controlplane.Options{LogWriter: logs})
	if err != nil {
		return err
	}
	defer cp.Stop()

	// One node, one driver bound to it: every executor is a cache hit, as in
	// cluster mode.
	if _, err := cp.CreateNode(ctx, controlplane.NodeSpec{Name: "node-a", Zone: "zone-a", CPU: "64", Memory: "256Gi",
		Labels: v1alpha1.Default().Provider.NodeLabels(v1alpha1.CapacityOnDemand)}); err != nil {
		return err
	}
	app := sparksim.App{Namespace: "default", Name: "bench"}
	drv := sparksim.DriverPod(app)
	drv.Spec.NodeName = "node-a"
	if drv, err = cp.Client.CoreV1().Pods(app.Namespace).Create(ctx, drv, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating driver: %w", err)
	}

	wh, err := startWebhookProcess(ctx, cp, dir, logs)
	if err != nil {
		return err
	}
	defer wh.stop()
	url, ca := wh.url, wh.ca

	target := loadgen.Target{URL: url, CABundle: ca}
	for i := 1; i <= 200; i++ {
		body, err := loadgen.ReviewBody(executorFor(app, drv, i), fmt.Sprintf("uid-%d", i))
		if err != nil {
			return err
		}
		target.Bodies = append(target.Bodies, body)
	}
	fmt.Fprintf(out, "webhook (separate process, pid %d) at %s; executor AdmissionReview %d bytes; %s per row\n\n", wh.cmd.Process.Pid, url, len(target.Bodies[0]), d)

	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "load\trequests\tadmissions/s\tp50\tp99\tmax\terrors\tpatched\tAPI calls/admission\t")
	// measure runs one load and prints its row, with the API requests the
	// webhook process sent meanwhile.
	measure := func(name string, load func() (loadgen.Result, error)) (loadgen.Result, error) {
		before, err := wh.apiRequests()
		if err != nil {
			return loadgen.Result{}, err
		}
		r, err := load()
		if err != nil {
			return r, err
		}
		after, err := wh.apiRequests()
		if err != nil {
			return r, err
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%s\t%s\t%s\t%d\t%d\t%.3f\t\n", name, r.Requests, r.Rate(),
			r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.Max.Round(time.Microsecond), r.Errors, r.Patched,
			float64(after-before)/float64(max(r.Requests, 1)))
		return r, nil
	}
	for _, w := range workers {
		if _, err := measure(fmt.Sprintf("closed, %d workers", w), func() (loadgen.Result, error) { return loadgen.Closed(ctx, target, w, d) }); err != nil {
			return err
		}
	}
	r, err := measure(fmt.Sprintf("open, %d/s", rate), func() (loadgen.Result, error) { return loadgen.Open(ctx, target, rate, d) })
	if err != nil {
		return err
	}
	defer fmt.Fprintf(out, "\nopen loop: latency counted from each request's send time; the sender ran at most %s behind schedule\n", r.DispatchLag.Round(time.Microsecond))
	return tw.Flush()
}

func executorFor(app sparksim.App, drv *corev1.Pod, id int) *corev1.Pod {
	p := sparksim.ExecutorPod(app, drv, id)
	p.Spec.SchedulerName = corev1.DefaultSchedulerName // as the API server defaults it before admission
	return p
}
