// Package scheduler is the sparkplane scheduler: the kube-scheduler
// framework plugin SparkGang and what runs it (a profile, an out-of-tree
// registry, an in-process scheduler for tests and the local cluster).
//
// SparkGang is a thin adapter: every decision (an app's shape, where its
// gang fits, what is reserved, whether its queue admits it) is made by
// pkg/gang; this package feeds it the framework's state and carries its
// decisions out at the framework's extension points:
//
//   - PreEnqueue keeps a pod out of the scheduling queue while its queue
//     makes it wait (maximum, driver share, FIFO with the head-of-line
//     escape) or the driver's Spark conf ConfigMap has not appeared yet.
//     Such pods are never attempted, so they are never marked
//     PodScheduled=False/Unschedulable and autoscalers do not scale up for
//     a quota. Activate lets them in when their queue changes.
//   - PreFilter, for a driver, runs gang.Fit once per cycle on the
//     framework's node snapshot with every other app's reservation applied,
//     and restricts the driver to the nodes where its whole gang fits; a
//     gang that fits nowhere is the only outcome reported Unschedulable.
//   - Filter keeps the room reservations hold from every other pod of the
//     profile, and holds executors to their rule (zone, capacity type), which
//     placement.DecideExecutor decides, the function the webhook decides
//     it with, from the same inputs.
//   - Score ranks a driver's nodes in gang.Fit's order and sends executors
//     to their gang's reserved slots first.
//   - Reserve re-runs gang.Fit with the chosen driver node and reserves the
//     executor slots in the gang.Ledger, holding one lock across snapshot,
//     Fit and Reserve; Unreserve releases them; PreBind writes the
//     reservation on the driver (gang.AnnotationGang) before it is bound;
//     PostBind lets executors take their slots.
//   - At start the ledger is rebuilt from those annotations and the
//     executors bound since (restart safety); Spark pods wait in PreEnqueue
//     until it is.
//
// Package-level state: none of this package's own. Metrics are created by
// the caller (NewMetrics) and passed to the plugin factory, so a scheduler
// restarted in the same process reports into the same series; args are
// decoded by the plugin (DecodeArgs), not through a registered scheme. The
// kube-scheduler framework itself keeps global state this package cannot
// avoid: its feature gates and its metrics registry (legacyregistry, where
// the sparkplane scheduler command also registers SparkGang's metrics).
//
// Known limits: pods of other schedulers do not see reservations (they can
// take reserved room; placeholder pods would make the reservation visible
// to them); the plugin does not sign pods, so the framework's opportunistic
// batching is off for the profile (a Spark pod's fate depends on its app's
// state, not only on its spec).
package scheduler
