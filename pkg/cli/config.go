package cli

import (
	"fmt"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

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
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, err := yaml.Marshal(v1alpha1.Default())
			if err != nil {
				return fmt.Errorf("encoding defaults: %w", err)
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}, &cobra.Command{
		Use:   "validate FILE",
		Short: "Check a configuration file; print it with defaults applied",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := v1alpha1.Load(args[0])
			if err != nil {
				return err
			}
			out, err := yaml.Marshal(c)
			if err != nil {
				return fmt.Errorf("encoding config: %w", err)
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	})
	return cmd
}
