package bench

import (
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"gonum.org/v1/plot/plotter"
)

// step is a knee-search step at rate with the given p50 and p99; count 0 measured nothing.
func step(rate, p50, p99 float64, count int) Stats {
	return Stats{OfferedRate: rate, Latency: Latencies{Count: count, P50: p50, P99: p99}}
}

func TestLatencyPointsOrderByRate(t *testing.T) {
	p99 := func(s Stats) float64 { return s.Latency.P99 }
	cases := []struct {
		name  string
		steps []Stats
		want  plotter.XYs
	}{
		{name: "none"},
		{
			// The order a knee search visits rates: growth, then bisection back down.
			name:  "knee search order",
			steps: []Stats{step(5, 40, 90, 10), step(10, 45, 120, 10), step(20, 60, 2500, 10), step(14.1, 50, 400, 10), step(16.8, 55, 900, 10)},
			want:  plotter.XYs{{X: 5, Y: 90}, {X: 10, Y: 120}, {X: 14.1, Y: 400}, {X: 16.8, Y: 900}, {X: 20, Y: 2500}},
		},
		{
			name:  "steps without latencies left out, zero latency floored for the log scale",
			steps: []Stats{step(8, 0, 0, 3), step(2, 0, 0, 0), step(4, 1, 2, 5)},
			want:  plotter.XYs{{X: 4, Y: 2}, {X: 8, Y: 0.1}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := latencyPoints(tc.steps, p99); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("points %v, want %v", got, tc.want)
			}
		})
	}
}

func countPixels(img image.Image, c color.RGBA) int {
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if color.RGBAModel.Convert(img.At(x, y)) == c {
				n++
			}
		}
	}
	return n
}

func TestWriteChart(t *testing.T) {
	cases := []struct {
		name   string
		report *Report
	}{
		{name: "empty report", report: &Report{}},
		{name: "unsorted knee searches", report: &Report{
			SagaKneePerS:    16.8,
			CeilingKneePerS: 28.3,
			SagaSteps: []Stats{step(5, 180, 320, 150), step(10, 190, 380, 300), step(20, 900, 4200, 600),
				step(14.1, 210, 520, 423), step(16.8, 260, 880, 504), step(18.3, 700, 2100, 549)},
			CeilingSteps: []Stats{step(5, 40, 70, 150), step(10, 42, 80, 300), step(20, 48, 120, 600),
				step(40, 900, 3100, 1200), step(28.3, 70, 600, 849), step(33.6, 400, 1500, 1008)},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "latency.png")
			if err := WriteChart(path, tc.report); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close() //nolint:errcheck // only read
			img, err := png.Decode(f)
			if err != nil {
				t.Fatalf("chart is not a PNG: %v", err)
			}
			if b := img.Bounds(); b.Dx() != 960 || b.Dy() != 614 {
				t.Fatalf("chart is %d × %d pixels, want 960 × 614", b.Dx(), b.Dy())
			}
			// Both targets' lines are drawn (in their colours) when there are steps.
			for _, c := range []color.RGBA{{31, 100, 200, 255}, {230, 120, 20, 255}} {
				if got, want := countPixels(img, c) > 100, len(tc.report.SagaSteps) > 0; got != want {
					t.Errorf("pixels of %v: found %v, want %v", c, got, want)
				}
			}
		})
	}
}
