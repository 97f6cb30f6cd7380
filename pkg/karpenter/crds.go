package karpenter

// CRDFiles are the CRD manifests the KWOK-provider Karpenter needs, as
// hack/karpenter.sh copies them from its module (kwok/charts/crds and
// kwok/apis/crds) into the crds directory next to the binary. Apply them all
// before starting Karpenter: it watches every one of these kinds.
func CRDFiles() []string {
	return []string{
		"autoscaling.x-k8s.io_capacitybuffers.yaml",
		"karpenter.kwok.sh_kwoknodeclasses.yaml",
		"karpenter.sh_nodeclaims.yaml",
		"karpenter.sh_nodeoverlays.yaml",
		"karpenter.sh_nodepools.yaml",
	}
}
