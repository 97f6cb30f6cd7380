// Package placement is sparkplane's pure decision core for where Spark pods
// may run: executors follow their driver's zone, drivers go to on-demand and
// executors to spot capacity, drivers are protected from voluntary
// disruption (autoscalers' consolidation and scale-down), per-app overrides
// come from annotations.
//
// Decide is a function of (pod, what is known about its driver, config) to
// (mutated pod, reasons in words); it does no I/O. The admission webhook
// and the CLI are thin adapters around it. An executor's rule (zone and
// capacity, required or preferred) is decided by DecideExecutor alone: Decide
// writes it into the pod, and the scheduler's SparkGang plugin enforces it,
// so the two cannot disagree.
//
// Constraints the pod already has (nodeSelector, affinity terms from pod
// templates or spark.kubernetes.*.node.selector.*, tolerations) are kept and
// intersected, never replaced, and Decide is idempotent: deciding on its own
// output gives the same pod, so the webhook is safe with
// reinvocationPolicy: IfNeeded.
package placement
