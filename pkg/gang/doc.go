// Package gang is the framework-free decision core of the sparkplane
// scheduler: what a Spark app needs, where its whole gang fits, what is held
// for it, and whether its queue lets it start. Every decision is a function
// of its inputs (Spark conf, pods, a cluster snapshot, a policy, the time)
// to a result plus reasons in words; there is no I/O, no client-go and no
// scheduler-framework import, so the kube-scheduler plugins stay thin
// adapters and every place that shows a decision gives the same words: the
// pod's sparkplane.io/decision annotation and scheduling events, `sparkplane
// queues` and `sparkplane audit`.
//
//   - ShapeFromConf derives the app's shape (driver resources, executor
//     count and size by Spark's own formulas) from the driver's
//     spark.properties and pod, with annotation overrides for client mode.
//   - Fit places driver + minimum executors in one zone, on their capacity
//     types, packed MostAllocated-style so empty nodes stay empty for
//     autoscalers. Trials run as Volcano-like statements: tentative
//     allocations on a copy of the snapshot, discarded or kept as a whole.
//   - Ledger holds executor slots per app, all-or-nothing, never
//     double-booked; Apply folds them into the snapshot every later decision
//     uses. The reservation is also written on the driver pod
//     (AnnotationGang) so Rebuild can recover it after a restart.
//   - Admit decides queue admission: FIFO, a maximum, and a driver share
//     (YARN's maxAMShare), with a head-of-line escape.
//
// Nothing here is safe for concurrent use: the adapter holds one lock across
// snapshot, Fit and Reserve, which is what makes "never double-booked" hold
// against concurrent scheduling cycles too.
package gang
