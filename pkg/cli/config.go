package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
)

func newConfigCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Print or check a sparkplane configuration file",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "print-defaults",
		Short: "Print the configuration with every default filled in",
		Long: `Print the configuration with every default filled in: every field there is,
also those whose default is empty or false (schedulerName: "", enabled: false).
A field printed as null is unset; for provider.spotTolerations that means the
preset's tolerations.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return printConfig(cmd, v1alpha1.Default())
		},
	}, &cobra.Command{
		Use:   "validate FILE",
		Short: "Check a configuration file; print it with defaults applied",
		Long: `Check a configuration file as the webhook does at start, and print it with
every default applied.

Decoding is strict: field names are case-sensitive, unknown and duplicate
fields are errors, and a file holds one YAML document. Every field sparkplane
writes into pods (tolerations, node label keys and values, weights) is checked
with the Kubernetes API server's own validation, so that a configuration that
passes cannot make pods invalid. Every error found is listed with its line and
field path. An unquoted "mode: off" (which YAML reads as false) means off.`,
		Example: `  sparkplane config validate sparkplane.yaml`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := v1alpha1.Load(args[0])
			if err != nil {
				return err
			}
			return printConfig(cmd, c)
		},
	})
	return cmd
}

func printConfig(cmd *cobra.Command, c *v1alpha1.SparkplaneConfiguration) error {
	out, err := v1alpha1.MarshalComplete(c)
	if err != nil {
		return fmt.Errorf("encoding config: %w", err)
	}
	_, err = cmd.OutOrStdout().Write(out)
	return err
}
