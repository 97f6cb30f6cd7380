package audit

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// HoursPerMonth is the hours of an average month (365 × 24 / 12), as cloud
// price lists use.
const HoursPerMonth = 730

const (
	// DefaultPricePerGiB is what one GiB moved between two zones of a region
	// costs: AWS bills inter-AZ transfer at $0.01/GB out of one zone and
	// $0.01/GB into the other, so $0.02 for every byte that crosses. GCP
	// bills $0.01/GiB once (use 0.01); Azure does not bill it today (use 0).
	DefaultPricePerGiB = 0.02
	// DefaultGiBPerExecutorHour is the assumed traffic an executor outside
	// its driver's zone sends or receives across zones per hour: shuffle
	// fetches to and from its peers in the driver's zone, broadcasts and
	// task results. 10 GiB/h is about 2.8 MiB/s averaged over the
	// executor's life, a moderate shuffle-heavy batch job (one busy stage
	// moves far more, idle time nothing). Measure your own with event logs.
	DefaultGiBPerExecutorHour = 10
)

// CostModel prices cross-zone traffic.
type CostModel struct {
	// PricePerGiB is the price in USD of one GiB crossing zones.
	PricePerGiB float64
	// GiBPerExecutorHour is the assumed cross-zone traffic of one executor
	// outside its driver's zone per hour.
	GiBPerExecutorHour float64
}

// DefaultCostModel is the model with the defaults above.
func DefaultCostModel() CostModel {
	return CostModel{PricePerGiB: DefaultPricePerGiB, GiBPerExecutorHour: DefaultGiBPerExecutorHour}
}

// Validate rejects negative prices and volumes.
func (m CostModel) Validate() error {
	var errs []error
	if m.PricePerGiB < 0 {
		errs = append(errs, fmt.Errorf("price per GiB %g is negative: use 0 or more (0.02 for AWS, 0.01 for GCP)", m.PricePerGiB))
	}
	if m.GiBPerExecutorHour < 0 {
		errs = append(errs, fmt.Errorf("GiB per executor-hour %g is negative: use 0 or more", m.GiBPerExecutorHour))
	}
	return errors.Join(errs...)
}

// Estimate is a monthly cross-zone traffic cost and what it rests on.
type Estimate struct {
	// Basis is "assumed" (from the number of cross-zone executors) or
	// "measured" (from event logs).
	Basis      string
	MonthlyGiB float64
	MonthlyUSD float64
	// Assumption states the arithmetic and the extrapolation in words.
	Assumption string
}

const gib = 1 << 30

// Assumed estimates the monthly cost of crossZone executors outside their
// driver's zone, taking the count seen now as the month's average.
func (m CostModel) Assumed(crossZone int) Estimate {
	g := float64(crossZone) * m.GiBPerExecutorHour * HoursPerMonth
	return Estimate{
		Basis: "assumed", MonthlyGiB: g, MonthlyUSD: g * m.PricePerGiB,
		Assumption: fmt.Sprintf("%d cross-zone executor(s) × %g GiB per executor-hour × %d h × $%g/GiB; "+
			"assumes the executors outside their driver's zone now are the month's average", crossZone, m.GiBPerExecutorHour, HoursPerMonth, m.PricePerGiB),
	}
}

// Measured estimates the monthly cost from the cross-zone shuffle bytes of
// event logs. With runsPerMonth > 0 each logged run is taken to repeat that
// many times a month; with 0, as if each logged app ran back to back all
// month (its bytes × 730 h ÷ its observed duration).
func (m CostModel) Measured(logs []Shuffle, runsPerMonth float64) (Estimate, error) {
	if len(logs) == 0 {
		return Estimate{}, errors.New("no event logs to measure")
	}
	if runsPerMonth < 0 {
		return Estimate{}, fmt.Errorf("runs per month %g is negative: use 0 (run continuously) or more", runsPerMonth)
	}
	var cross, unknown, monthly float64
	var observed time.Duration
	for _, s := range logs {
		cross += float64(s.CrossZoneBytes)
		unknown += float64(s.UnknownZoneBytes)
		observed += s.Duration()
		if runsPerMonth > 0 {
			monthly += float64(s.CrossZoneBytes) * runsPerMonth
			continue
		}
		if s.Duration() <= 0 {
			return Estimate{}, fmt.Errorf("event log of app %q has no start and end times to extrapolate from: give the number of runs per month instead", s.AppID)
		}
		monthly += float64(s.CrossZoneBytes) * float64(HoursPerMonth*time.Hour) / float64(s.Duration())
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%.3f GiB of shuffle fetched across zones in %d event log(s) over %s observed, ", cross/gib, len(logs), observed.Round(time.Second))
	if runsPerMonth > 0 {
		fmt.Fprintf(&b, "× %g runs a month", runsPerMonth)
	} else {
		fmt.Fprintf(&b, "extrapolated as if each app ran back to back all month (× %d h ÷ its observed duration)", HoursPerMonth)
	}
	fmt.Fprintf(&b, " × $%g/GiB; driver<->executor traffic is not in event logs", m.PricePerGiB)
	if unknown > 0 {
		fmt.Fprintf(&b, "; %.3f GiB to or from executors of unknown zone not counted", unknown/gib)
	}
	g := monthly / gib
	return Estimate{Basis: "measured", MonthlyGiB: g, MonthlyUSD: g * m.PricePerGiB, Assumption: b.String()}, nil
}
