package scheduler

import (
	"testing"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
	"github.com/sparkplane/sparkplane/pkg/placement"
)

// The plugin gives placement.DecideExecutor the inputs the webhook gives
// it (the driver's zone from the node lister, the escape's mark from the
// driver's annotation), so both come to the same rule.
func TestExecutorInputAsTheWebhookGivesIt(t *testing.T) {
	cfg := v1alpha1.Default()
	nodes := ruleNodes(cfg)
	for _, tc := range ruleCases() {
		t.Run(tc.name, func(t *testing.T) {
			driver, exec, in := tc.pods(cfg)
			p := rulePlugin(t, cfg, nodes, driver)
			a := p.apps.observe(exec)
			if a == nil {
				t.Fatal("the executor was not tracked")
			}
			webhook, sched := placement.DecideExecutor(in), placement.DecideExecutor(p.executorInput(a, exec))
			if webhook.Zone != sched.Zone || webhook.ZoneOutcome != sched.ZoneOutcome || webhook.ZoneMode != sched.ZoneMode || webhook.Capacity != sched.Capacity {
				t.Errorf("scheduler decided %+v, webhook %+v", sched, webhook)
			}
			if sched.ZoneOutcome != tc.outcome {
				t.Errorf("scheduler: zone outcome %q, want %q", sched.ZoneOutcome, tc.outcome)
			}
		})
	}
}
