package bench

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
	"slices"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// series is one line of the chart: a latency percentile against the offered rate.
type series struct {
	label  string
	color  color.RGBA
	dashed bool
	points [][2]float64 // (rate, latency ms)
}

// chart geometry
const (
	chartW, chartH = 1000, 640
	marginL        = 80
	marginR        = 30
	marginT        = 64
	marginB        = 70
)

// WriteChart draws p50 and p99 latency against the offered rate for the saga and the
// ceiling (log latency scale), with the 1 s bound and both knees marked.
func WriteChart(path string, r *Report) error {
	blue := color.RGBA{31, 100, 200, 255}
	orange := color.RGBA{230, 120, 20, 255}
	lines := []series{
		{label: "sagaflow saga p50", color: blue, points: points(r.SagaSteps, func(s Stats) float64 { return s.Latency.P50 })},
		{label: "sagaflow saga p99", color: blue, dashed: true, points: points(r.SagaSteps, func(s Stats) float64 { return s.Latency.P99 })},
		{label: "ceiling (5 no-op activities) p50", color: orange, points: points(r.CeilingSteps, func(s Stats) float64 { return s.Latency.P50 })},
		{label: "ceiling (5 no-op activities) p99", color: orange, dashed: true, points: points(r.CeilingSteps, func(s Stats) float64 { return s.Latency.P99 })},
	}
	img := renderChart(lines, r.SagaKneePerS, r.CeilingKneePerS,
		fmt.Sprintf("Latency (POST to terminal state) against offered rate  -  knee: saga %.1f/s, ceiling %.1f/s", r.SagaKneePerS, r.CeilingKneePerS))
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func points(steps []Stats, y func(Stats) float64) [][2]float64 {
	var out [][2]float64
	for _, s := range steps {
		if s.Latency.Count > 0 {
			out = append(out, [2]float64{s.OfferedRate, max(y(s), 0.1)})
		}
	}
	slices.SortFunc(out, func(a, b [2]float64) int {
		switch {
		case a[0] < b[0]:
			return -1
		case a[0] > b[0]:
			return 1
		}
		return 0
	})
	return out
}

type canvas struct {
	img                *image.RGBA
	xMax, yMin, yMax   float64 // x linear from 0, y log10
	plotW, plotH       int
	gridColor, axColor color.RGBA
}

func renderChart(lines []series, sagaKnee, ceilingKnee float64, title string) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, chartW, chartH))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	xMax, lo, hi := 1.0, math.Inf(1), math.Inf(-1)
	for _, s := range lines {
		for _, p := range s.points {
			xMax = max(xMax, p[0])
			lo, hi = min(lo, p[1]), max(hi, p[1])
		}
	}
	hi = max(hi, 1000) // the 1 s bound is always in view
	if math.IsInf(lo, 1) {
		lo = 10
	}
	c := &canvas{
		img: img, xMax: niceCeil(xMax * 1.05),
		yMin: math.Pow(10, math.Floor(math.Log10(lo))), yMax: math.Pow(10, math.Ceil(math.Log10(hi))),
		plotW: chartW - marginL - marginR, plotH: chartH - marginT - marginB,
		gridColor: color.RGBA{225, 225, 225, 255}, axColor: color.RGBA{60, 60, 60, 255},
	}
	c.axes()
	bound := color.RGBA{200, 30, 30, 255}
	c.hline(1000, bound)
	c.text(c.px(0)+6, c.py(1000)-4, "p99 bound 1 s", bound)
	for i, k := range []struct {
		rate float64
		col  color.RGBA
		name string
	}{{sagaKnee, lines[0].color, "saga knee"}, {ceilingKnee, lines[2].color, "ceiling knee"}} {
		if k.rate > 0 {
			c.vline(k.rate, k.col)
			// One label per line of text, so close knees stay readable.
			c.text(c.px(k.rate)+4, marginT+14+16*i, fmt.Sprintf("%s %.1f/s", k.name, k.rate), k.col)
		}
	}
	for _, s := range lines {
		c.polyline(s)
	}
	c.legend(lines)
	c.text(marginL, 22, title, c.axColor)
	c.text(marginL+c.plotW/2-90, chartH-18, "offered rate (orders or workflows per second)", c.axColor)
	c.text(8, marginT-20, "latency ms (log scale)", c.axColor)
	return img
}

func (c *canvas) px(x float64) int { return marginL + int(math.Round(x/c.xMax*float64(c.plotW))) }

func (c *canvas) py(y float64) int {
	f := (math.Log10(y) - math.Log10(c.yMin)) / (math.Log10(c.yMax) - math.Log10(c.yMin))
	return marginT + c.plotH - int(math.Round(f*float64(c.plotH)))
}

func (c *canvas) axes() {
	// y grid at 1, 2, 5 × 10^k
	for d := c.yMin; d <= c.yMax*1.001; d *= 10 {
		for _, m := range []float64{1, 2, 5} {
			v := d * m
			if v > c.yMax*1.001 {
				break
			}
			y := c.py(v)
			c.line(marginL, y, marginL+c.plotW, y, c.gridColor, false)
			label := fmt.Sprintf("%g", v)
			c.text(marginL-8-7*len(label), y+4, label, c.axColor)
		}
	}
	step := niceStep(c.xMax / 8)
	for x := 0.0; x <= c.xMax*1.001; x += step {
		px := c.px(x)
		c.line(px, marginT, px, marginT+c.plotH, c.gridColor, false)
		label := fmt.Sprintf("%g", x)
		c.text(px-7*len(label)/2, marginT+c.plotH+18, label, c.axColor)
	}
	c.line(marginL, marginT, marginL, marginT+c.plotH, c.axColor, false)
	c.line(marginL, marginT+c.plotH, marginL+c.plotW, marginT+c.plotH, c.axColor, false)
}

func (c *canvas) hline(y float64, col color.RGBA) {
	c.line(marginL, c.py(y), marginL+c.plotW, c.py(y), col, true)
}

func (c *canvas) vline(x float64, col color.RGBA) {
	c.line(c.px(x), marginT, c.px(x), marginT+c.plotH, col, true)
}

func (c *canvas) polyline(s series) {
	for i, p := range s.points {
		x, y := c.px(p[0]), c.py(min(max(p[1], c.yMin), c.yMax))
		c.dot(x, y, s.color)
		if i > 0 {
			q := s.points[i-1]
			c.thick(c.px(q[0]), c.py(min(max(q[1], c.yMin), c.yMax)), x, y, s.color, s.dashed)
		}
	}
}

func (c *canvas) legend(lines []series) {
	x, y := marginL+14, marginT+34
	w := 0
	for _, s := range lines {
		w = max(w, len(s.label))
	}
	box := image.Rect(x-8, y-14, x+50+7*w+8, y+18*len(lines)-4)
	draw.Draw(c.img, box, image.NewUniform(color.RGBA{250, 250, 250, 255}), image.Point{}, draw.Src)
	for i, s := range lines {
		yy := y + 18*i - 4
		c.thick(x, yy, x+36, yy, s.color, s.dashed)
		c.text(x+46, yy+4, s.label, c.axColor)
	}
}

// line draws a 1-pixel line (Bresenham), dashed when asked.
func (c *canvas) line(x0, y0, x1, y1 int, col color.RGBA, dashed bool) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	err := dx + dy
	for n := 0; ; n++ {
		if !dashed || (n/6)%2 == 0 {
			c.img.SetRGBA(x0, y0, col)
		}
		if x0 == x1 && y0 == y1 {
			return
		}
		if e2 := 2 * err; e2 >= dy {
			err += dy
			x0 += sx
		} else {
			err += dx
			y0 += sy
		}
	}
}

// thick draws a 2-pixel line.
func (c *canvas) thick(x0, y0, x1, y1 int, col color.RGBA, dashed bool) {
	for _, o := range [][2]int{{0, 0}, {1, 0}, {0, 1}, {1, 1}} {
		c.line(x0+o[0], y0+o[1], x1+o[0], y1+o[1], col, dashed)
	}
}

func (c *canvas) dot(x, y int, col color.RGBA) {
	for i := -3; i <= 3; i++ {
		for j := -3; j <= 3; j++ {
			if i*i+j*j <= 9 {
				c.img.SetRGBA(x+i, y+j, col)
			}
		}
	}
}

func (c *canvas) text(x, y int, s string, col color.RGBA) {
	d := font.Drawer{Dst: c.img, Src: image.NewUniform(col), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*mag {
			return m * mag
		}
	}
	return 10 * mag
}

func niceCeil(v float64) float64 {
	step := niceStep(v / 8)
	return math.Ceil(v/step) * step
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	switch {
	case v < 0:
		return -1
	case v > 0:
		return 1
	}
	return 0
}
