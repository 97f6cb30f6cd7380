// Package karpenter generates what sparkplane gives the real Karpenter (its
// KWOK cloud provider) in the local cluster: an instance-types file made from
// the cluster's zones, and the KWOKNodeClass and NodePool objects. It is pure:
// no I/O and no dependency on Karpenter's Go module, whose k8s.io versions
// differ from ours; the objects are small structs in the shape of Karpenter's
// v1 API, checked by Karpenter's CRD schemas when they are applied.
package karpenter

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Well-known label and taint keys of Karpenter and its KWOK provider.
const (
	LabelCapacityType = "karpenter.sh/capacity-type"
	LabelNodePool     = "karpenter.sh/nodepool"
	LabelRegistered   = "karpenter.sh/registered"
	LabelInitialized  = "karpenter.sh/initialized"
	// LabelKWOKNode is on every node the KWOK provider creates (value "fake").
	LabelKWOKNode = "kwok.x-k8s.io/node"
	// TaintUnregistered is on a new node until Karpenter registers it.
	TaintUnregistered = "karpenter.sh/unregistered"
	// ProviderIDPrefix starts the providerID of a KWOK node.
	ProviderIDPrefix = "kwok://"

	CapacitySpot     = "spot"
	CapacityOnDemand = "on-demand"
)

// InstanceType is one entry of the KWOK provider's instance-types file
// (INSTANCE_TYPES_FILE_PATH): its InstanceTypeOptions in
// sigs.k8s.io/karpenter/kwok/cloudprovider, whose JSON names these tags copy.
type InstanceType struct {
	Name             string              `json:"name"`
	Offerings        []Offering          `json:"offerings"`
	Architecture     string              `json:"architecture"`
	OperatingSystems []corev1.OSName     `json:"operatingSystems"`
	Resources        corev1.ResourceList `json:"resources"`
}

// Offering is a (zone, capacity type) an instance type can be launched in,
// at an hourly price. The KWOK provider sets every listed offering available
// when it loads the file (Available is ignored), so an offering that does not
// exist must be left out, not marked unavailable.
type Offering struct {
	Price        float64                          `json:"Price"`
	Available    bool                             `json:"Available"`
	Requirements []corev1.NodeSelectorRequirement `json:"Requirements"`
}

// Zone is the offering's zone ("" if it names none).
func (o Offering) Zone() string { return o.value(corev1.LabelTopologyZone) }

// CapacityType is the offering's capacity type ("" if it names none).
func (o Offering) CapacityType() string { return o.value(LabelCapacityType) }

func (o Offering) value(key string) string {
	for _, r := range o.Requirements {
		if r.Key == key && r.Operator == corev1.NodeSelectorOpIn && len(r.Values) == 1 {
			return r.Values[0]
		}
	}
	return ""
}

// Offering returns it's offering in zone for capacityType, if it has one.
func (it InstanceType) Offering(zone, capacityType string) (Offering, bool) {
	for _, o := range it.Offerings {
		if o.Zone() == zone && o.CapacityType() == capacityType {
			return o, true
		}
	}
	return Offering{}, false
}

// CatalogOptions configure InstanceTypes.
type CatalogOptions struct {
	// Zones are the cluster's zones; every instance type is offered
	// on-demand in each of them.
	Zones []string
	// NoSpotZones are zones (among Zones) where no instance type is offered
	// as spot, as in a region whose spot capacity is exhausted in one zone.
	NoSpotZones []string
}

// InstanceTypes returns the catalog the KWOK provider reads: families c5, m5
// and r5 (2, 4 and 8 GiB per vCPU) in sizes of 2 to 32 vCPU, each offered
// on-demand in every zone at one price, and as spot at 30–64% of on-demand
// with a discount that differs by zone and family, so the cheapest spot
// zone differs by family. Spot is not offered in NoSpotZones and, with two
// or more zones, the r5 family has no spot in the last zone. The result is
// deterministic: the same zones give the same file.
func InstanceTypes(opts CatalogOptions) ([]InstanceType, error) {
	if err := validateZones("zones", opts.Zones); err != nil {
		return nil, err
	}
	noSpot := map[string]bool{}
	for i, z := range opts.NoSpotZones {
		if !slices.Contains(opts.Zones, z) {
			return nil, fmt.Errorf("noSpotZones[%d] %q is not one of the zones %q", i, z, opts.Zones)
		}
		noSpot[z] = true
	}
	// Families: memory per vCPU, on-demand price per vCPU-hour (close to AWS
	// us-east-1 list prices of c5/m5/r5) and the base spot price as a fraction
	// of on-demand.
	families := []struct {
		name            string
		gibPerCPU       int64
		pricePerCPUHour float64
		spotBase        float64
	}{
		{name: "c5", gibPerCPU: 2, pricePerCPUHour: 0.0425, spotBase: 0.30},
		{name: "m5", gibPerCPU: 4, pricePerCPUHour: 0.048, spotBase: 0.38},
		{name: "r5", gibPerCPU: 8, pricePerCPUHour: 0.063, spotBase: 0.46},
	}
	sizes := []struct {
		cpu  int64
		name string
	}{{2, "large"}, {4, "xlarge"}, {8, "2xlarge"}, {16, "4xlarge"}, {32, "8xlarge"}}
	var out []InstanceType
	for fi, f := range families {
		for _, s := range sizes {
			onDemand := round(float64(s.cpu) * f.pricePerCPUHour)
			it := InstanceType{
				Name:             f.name + "." + s.name,
				Architecture:     "amd64",
				OperatingSystems: []corev1.OSName{corev1.Linux},
				Resources: corev1.ResourceList{
					corev1.ResourceCPU:              *resource.NewQuantity(s.cpu, resource.DecimalSI),
					corev1.ResourceMemory:           *resource.NewQuantity(s.cpu*f.gibPerCPU<<30, resource.BinarySI),
					corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
					corev1.ResourcePods:             *resource.NewQuantity(110, resource.DecimalSI),
				},
			}
			for zi, z := range opts.Zones {
				it.Offerings = append(it.Offerings, offering(z, CapacityOnDemand, onDemand))
				lastZoneNoR := len(opts.Zones) > 1 && zi == len(opts.Zones)-1 && f.name == "r5"
				if noSpot[z] || lastZoneNoR {
					continue
				}
				fraction := f.spotBase + 0.09*float64((zi+fi)%3)
				it.Offerings = append(it.Offerings, offering(z, CapacitySpot, round(onDemand*fraction)))
			}
			out = append(out, it)
		}
	}
	return out, nil
}

// InstanceTypesJSON is InstanceTypes encoded as the file the KWOK provider
// reads.
func InstanceTypesJSON(opts CatalogOptions) ([]byte, error) {
	its, err := InstanceTypes(opts)
	if err != nil {
		return nil, err
	}
	return json.MarshalIndent(its, "", "  ")
}

func offering(zone, capacityType string, price float64) Offering {
	return Offering{
		Price:     price,
		Available: true,
		Requirements: []corev1.NodeSelectorRequirement{
			{Key: LabelCapacityType, Operator: corev1.NodeSelectorOpIn, Values: []string{capacityType}},
			{Key: corev1.LabelTopologyZone, Operator: corev1.NodeSelectorOpIn, Values: []string{zone}},
		},
	}
}

// round keeps prices to a tenth of a cent per hour, as price lists show them.
func round(p float64) float64 { return math.Round(p*10000) / 10000 }

// validateZones checks that zones is a non-empty list of distinct label
// values; field names the list in errors.
func validateZones(field string, zones []string) error {
	if len(zones) == 0 {
		return fmt.Errorf("%s: at least one zone is needed", field)
	}
	for i, z := range zones {
		if z == "" {
			return fmt.Errorf("%s[%d]: a zone name must not be empty", field, i)
		}
		if errs := validation.IsValidLabelValue(z); len(errs) > 0 {
			return fmt.Errorf("%s[%d] %q is not a valid label value: %s", field, i, z, errs[0])
		}
		if slices.Contains(zones[:i], z) {
			return fmt.Errorf("%s[%d] %q is listed twice", field, i, z)
		}
	}
	return nil
}
