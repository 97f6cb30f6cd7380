// Package cli is the sparkplane command line that runs against a cluster:
// cobra commands that parse flags and call the components (webhook,
// scheduler, certs, queues, audit, config, version). It is what the
// container image ships (cmd/sparkplane-image) and links neither etcd nor
// the kube-apiserver; the developer commands `local` and `demo`, which
// start a control plane in-process, are in pkg/devcli and added by
// cmd/sparkplane.
package cli

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
)

// Version and Commit are set at build time (make build) with -ldflags
// "-X github.com/sparkplane/sparkplane/pkg/cli.Version=... -X ...cli.Commit=...".
// Commit is the fallback when go build did not stamp vcs.revision
// (-buildvcs=false, or no git).
var (
	Version = "dev"
	Commit  = ""
)

// NewRootCommand builds the sparkplane command tree: the production
// commands, plus extra (e.g. pkg/devcli's local and demo).
func NewRootCommand(extra ...*cobra.Command) *cobra.Command {
	root := &cobra.Command{
		Use:   "sparkplane",
		Short: "Placement and scheduling for Apache Spark on Kubernetes",
		Long: `sparkplane keeps every Spark executor in its driver's availability zone, puts
drivers on on-demand and executors on spot capacity, and explains each decision.

It works with unmodified spark-submit, the spark-operator and EMR on EKS, and
with any scheduler.

Logging: -v sets the verbosity; klog's other flags (--vmodule, --log_file,
--logtostderr, ...) work on every command but are not listed.`,
		Version:      Version,
		SilenceUsage: true,
		// kube-scheduler's package registers a --version flag of its own on
		// pflag's global set, which cobra merges into every command; cobra's
		// --version is a bool, so declare it here first (the root's own) and
		// stand in for the global one on subcommands.
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if f := cmd.Flags().Lookup("version"); cmd.HasParent() && f == cmd.Root().PersistentFlags().Lookup("version") && f.Changed {
				return fmt.Errorf("--version is a flag of sparkplane itself: run `sparkplane --version` or `sparkplane version`")
			}
			return nil
		},
	}
	root.SetVersionTemplate("sparkplane {{.Version}}\n")
	root.Flags().Bool("version", false, "Print the version and exit (sparkplane version -o json for details).")
	root.PersistentFlags().Bool("version", false, "")
	_ = root.PersistentFlags().MarkHidden("version")

	// klog's flags keep working everywhere, but only -v is worth listing;
	// `sparkplane scheduler` shows kube-scheduler's own logging flags.
	fs := flag.NewFlagSet("klog", flag.ExitOnError)
	klog.InitFlags(fs)
	klogFlags := pflag.NewFlagSet("klog", pflag.ExitOnError)
	klogFlags.AddGoFlagSet(fs)
	klogFlags.VisitAll(func(f *pflag.Flag) {
		if f.Name != "v" {
			f.Hidden = true
		}
	})
	root.PersistentFlags().AddFlagSet(klogFlags)
	root.AddCommand(newWebhookCommand(), newCertsCommand(), newSchedulerCommand(), newQueuesCommand(), newAuditCommand(), newConfigCommand(), newVersionCommand())
	root.AddCommand(extra...)
	return root
}

// versionInfo is what `sparkplane version` prints.
type versionInfo struct {
	Version    string `json:"version"`
	Commit     string `json:"commit,omitempty"`
	Modified   bool   `json:"modified,omitempty"`
	Kubernetes string `json:"kubernetes,omitempty"`
	Go         string `json:"go"`
	Platform   string `json:"platform"`
}

// buildVersion reads the commit (go build stamps it from git) and the
// Kubernetes library version from the binary's build info.
func buildVersion() versionInfo {
	v := versionInfo{Version: Version, Commit: Commit, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	for _, d := range bi.Deps {
		if d.Path != "k8s.io/client-go" {
			continue
		}
		if d.Replace != nil {
			d = d.Replace
		}
		v.Kubernetes = d.Version
	}
	return v
}

func newVersionCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the sparkplane version (-o json: with commit, Kubernetes libraries and Go)",
		Long: `Print the sparkplane version on stdout. -o json adds the git commit it was
built from (with "modified": true for a dirty tree), the Kubernetes client
libraries (k8s.io/client-go) it is built with, the Go version and platform.`,
		Example: `  sparkplane version
  sparkplane version -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return printVersion(cmd.OutOrStdout(), output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "Output format: text or json.")
	return cmd
}

func printVersion(w io.Writer, output string) error {
	v := buildVersion()
	switch output {
	case "text":
		line := "sparkplane " + v.Version
		var parts []string
		if v.Commit != "" {
			c := v.Commit[:min(12, len(v.Commit))]
			if v.Modified {
				c += "-dirty"
			}
			parts = append(parts, "commit "+c)
		}
		if v.Kubernetes != "" {
			parts = append(parts, "client-go "+v.Kubernetes)
		}
		parts = append(parts, v.Go, v.Platform)
		_, err := fmt.Fprintf(w, "%s (%s)\n", line, strings.Join(parts, ", "))
		return err
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	return fmt.Errorf("--output %q: use text or json", output)
}

// kubeFlags are kubectl's client flags and loading rules: --kubeconfig,
// else KUBECONFIG, else ~/.kube/config, else the in-cluster service
// account; --context, -n, --request-timeout and the other overrides.
type kubeFlags struct {
	loading   *clientcmd.ClientConfigLoadingRules
	overrides clientcmd.ConfigOverrides
}

func newKubeFlags() *kubeFlags {
	return &kubeFlags{loading: clientcmd.NewDefaultClientConfigLoadingRules()}
}

// bind adds the flags to fs.
func (k *kubeFlags) bind(fs *pflag.FlagSet) {
	fs.StringVar(&k.loading.ExplicitPath, clientcmd.RecommendedConfigPathFlag, "", "Path to the kubeconfig file (default: KUBECONFIG, ~/.kube/config, else in-cluster).")
	kf := clientcmd.RecommendedConfigOverrideFlags("")
	// A bounded default, so an unreachable cluster fails instead of hanging.
	kf.Timeout.Default = "30s"
	kf.Timeout.Description = "How long to wait for a single API request (0: no limit)."
	clientcmd.BindOverrideFlags(&k.overrides, fs, kf)
}

// clientConfig loads the client configuration, with userAgent.
func (k *kubeFlags) clientConfig(userAgent string) (clientcmd.ClientConfig, *rest.Config, error) {
	kc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(k.loading, &k.overrides)
	rc, err := kc.ClientConfig()
	if err != nil {
		return nil, nil, fmt.Errorf("loading the kubeconfig (set --kubeconfig or KUBECONFIG, or --context): %w", err)
	}
	rc = rest.CopyConfig(rc)
	rc.UserAgent = userAgent
	return kc, rc, nil
}
