package placement

import (
	"fmt"
	"image/color"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Plot writes a PNG of pods/s against cluster size, one line per strategy
// (the mean where a strategy ran more than once at a size).
func Plot(rows []Row, title, path string) error {
	type key struct {
		strategy string
		nodes    int
	}
	sum, count := map[key]float64{}, map[key]int{}
	var strategies []string
	for _, r := range rows {
		if r.Bound == 0 {
			continue
		}
		k := key{r.Strategy, r.Nodes}
		sum[k] += r.PodsPerSec
		count[k]++
		if !slices.Contains(strategies, r.Strategy) {
			strategies = append(strategies, r.Strategy)
		}
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "nodes (3 zones)"
	p.Y.Label.Text = "executors bound per second"
	p.Y.Min = 0
	p.Legend.Top = true
	for i, s := range strategies {
		var pts plotter.XYs
		for k, v := range sum {
			if k.strategy == s {
				pts = append(pts, plotter.XY{X: float64(k.nodes), Y: v / float64(count[k])})
			}
		}
		slices.SortFunc(pts, func(a, b plotter.XY) int { return int(a.X - b.X) })
		line, points, err := plotter.NewLinePoints(pts)
		if err != nil {
			return fmt.Errorf("plotting %s: %w", Describe(s), err)
		}
		c := plotutil.Color(i)
		line.Color, points.Color = c, c
		line.Width = vg.Points(1.5)
		if s == Pinned || s == Gang {
			line.Width = vg.Points(3)
		}
		points.Shape = plotutil.Shape(i)
		p.Add(line, points)
		p.Legend.Add(Describe(s), line, points)
	}
	p.Add(plotter.NewGrid())
	p.BackgroundColor = color.White
	if err := p.Save(8*vg.Inch, 5*vg.Inch, path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
