package bench

import (
	"cmp"
	"fmt"
	"image/color"
	"math"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// p99Bound is the latency bound a knee step must keep its p99 under, in ms.
const p99Bound = 1000

// chart size: 960 × 614 pixels at the PNG's 96 dpi.
const chartW, chartH = 10 * vg.Inch, 6.4 * vg.Inch

// series is one line of the chart: a latency percentile against the offered rate.
type series struct {
	label  string
	color  color.Color
	dashed bool
	points plotter.XYs // (rate /s, latency ms), by rate
}

// WriteChart draws p50 and p99 latency against the offered rate for the saga and the
// ceiling (log latency scale), with the 1 s bound and both knees marked, as a PNG at path.
func WriteChart(path string, r *Report) error {
	p, err := latencyChart(r)
	if err != nil {
		return err
	}
	return p.Save(chartW, chartH, path)
}

func latencyChart(r *Report) (*plot.Plot, error) {
	blue := color.RGBA{31, 100, 200, 255}
	orange := color.RGBA{230, 120, 20, 255}
	p50 := func(s Stats) float64 { return s.Latency.P50 }
	p99 := func(s Stats) float64 { return s.Latency.P99 }
	lines := []series{
		{label: "sagaflow saga p50", color: blue, points: latencyPoints(r.SagaSteps, p50)},
		{label: "sagaflow saga p99", color: blue, dashed: true, points: latencyPoints(r.SagaSteps, p99)},
		{label: "ceiling (5 no-op activities) p50", color: orange, points: latencyPoints(r.CeilingSteps, p50)},
		{label: "ceiling (5 no-op activities) p99", color: orange, dashed: true, points: latencyPoints(r.CeilingSteps, p99)},
	}

	p := plot.New()
	p.Title.Text = fmt.Sprintf("Latency (POST to terminal state) against offered rate\nknee: saga %.1f/s, ceiling %.1f/s",
		r.SagaKneePerS, r.CeilingKneePerS)
	p.X.Label.Text = "offered rate (orders or workflows per second)"
	p.Y.Label.Text = "latency (ms, log scale)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.XOffs, p.Legend.YOffs = vg.Points(8), -vg.Points(8)
	p.Add(plotter.NewGrid())

	// Axes fixed before drawing: the bound and the knees span the whole plot, and a log
	// scale needs a positive minimum even without data.
	xMax, lo, hi := 1.0, math.Inf(1), 1.5*p99Bound // the bound never sits on the top edge
	for _, s := range lines {
		for _, pt := range s.points {
			xMax, lo, hi = max(xMax, pt.X), min(lo, pt.Y), max(hi, pt.Y)
		}
	}
	if math.IsInf(lo, 1) {
		lo = 10
	}
	yMin, yMax := math.Pow(10, math.Floor(math.Log10(lo))), math.Pow(10, math.Ceil(math.Log10(hi)))

	for _, s := range lines {
		if len(s.points) == 0 {
			continue
		}
		line, dots, err := plotter.NewLinePoints(s.points)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.label, err)
		}
		line.Color, line.Width = s.color, vg.Points(2)
		if s.dashed {
			line.Dashes = []vg.Length{vg.Points(6), vg.Points(4)}
		}
		dots.Color, dots.Radius = s.color, vg.Points(3)
		dots.Shape = draw.CircleGlyph{}
		p.Add(line, dots)
		p.Legend.Add(s.label, line, dots)
	}

	bound, err := plotter.NewLine(plotter.XYs{{X: 0, Y: p99Bound}, {X: xMax * 1.05, Y: p99Bound}})
	if err != nil {
		return nil, err
	}
	bound.Color, bound.Width, bound.Dashes = color.RGBA{200, 30, 30, 255}, vg.Points(1), []vg.Length{vg.Points(3), vg.Points(3)}
	p.Add(bound)
	p.Legend.Add("p99 bound 1 s", bound)

	for _, k := range []struct {
		name string
		rate float64
		col  color.Color
	}{{"saga knee", r.SagaKneePerS, blue}, {"ceiling knee", r.CeilingKneePerS, orange}} {
		if k.rate <= 0 {
			continue
		}
		mark, err := plotter.NewLine(plotter.XYs{{X: k.rate, Y: yMin}, {X: k.rate, Y: yMax}})
		if err != nil {
			return nil, err
		}
		mark.Color, mark.Width, mark.Dashes = k.col, vg.Points(1), []vg.Length{vg.Points(1), vg.Points(3)}
		p.Add(mark)
		p.Legend.Add(fmt.Sprintf("%s %.1f/s", k.name, k.rate), mark)
	}

	p.X.Min, p.X.Max = 0, xMax*1.05
	p.Y.Min, p.Y.Max = yMin, yMax
	return p, nil
}

// latencyPoints returns the steps that measured a latency as (offered rate, latency ms),
// ordered by offered rate: the knee search visits rates out of order when it bisects.
// Latencies are floored at 0.1 ms for the log scale.
func latencyPoints(steps []Stats, y func(Stats) float64) plotter.XYs {
	var out plotter.XYs
	for _, s := range steps {
		if s.Latency.Count > 0 {
			out = append(out, plotter.XY{X: s.OfferedRate, Y: max(y(s), 0.1)})
		}
	}
	slices.SortStableFunc(out, func(a, b plotter.XY) int { return cmp.Compare(a.X, b.X) })
	return out
}
