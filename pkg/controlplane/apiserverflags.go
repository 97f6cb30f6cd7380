package controlplane

import (
	"fmt"
	"io"

	"github.com/spf13/pflag"
	"k8s.io/apiserver/pkg/util/compatibility"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	basecompatibility "k8s.io/component-base/compatibility"
	"k8s.io/kubernetes/cmd/kube-apiserver/app/options"
)

// validateAPIServerFlags parses flags into a throw-away set of
// kube-apiserver options. StartTestServer parses with PanicOnError and
// prints the full usage (hundreds of lines) to stderr on a bad flag; this
// check turns that into a short error first.
//
// Like StartTestServer, it uses a private component globals registry with a
// copy of the feature gate: adding the flags of the default registry would
// close the process-wide feature gate.
func validateAPIServerFlags(flags []string) error {
	featureGate := utilfeature.DefaultMutableFeatureGate.DeepCopy()
	registry := basecompatibility.NewComponentGlobalsRegistry()
	if err := registry.Register(basecompatibility.DefaultKubeComponent, compatibility.DefaultKubeEffectiveVersionForTest(), featureGate); err != nil {
		return fmt.Errorf("preparing flag validation: %w", err)
	}
	s := options.NewServerRunOptions()
	s.Options.GenericServerRunOptions.ComponentGlobalsRegistry = registry

	fs := pflag.NewFlagSet("kube-apiserver", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for _, f := range s.Flags().FlagSets {
		fs.AddFlagSet(f)
	}
	if err := fs.Parse(flags); err != nil {
		return fmt.Errorf("invalid kube-apiserver flags: %w", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("invalid kube-apiserver flags: unexpected arguments %q", fs.Args())
	}
	return nil
}
