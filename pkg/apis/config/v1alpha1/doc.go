// Package v1alpha1 is the versioned configuration of sparkplane
// (apiVersion: sparkplane.io/v1alpha1, kind: SparkplaneConfiguration).
//
// A configuration is loaded with Load, which decodes strictly (unknown fields
// are errors), applies defaults and validates; every error names the field
// and says how to fix it.
//
// Every type's DeepCopy is generated (zz_generated.deepcopy.go, make
// generate), so a new field is copied without anyone remembering to.
//
// +k8s:deepcopy-gen=package
package v1alpha1
