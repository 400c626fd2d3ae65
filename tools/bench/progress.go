package bench

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// progressLine keeps one live status line on a terminal (rewritten in place) and prints
// the phase log above it. On anything else it prints a status line every few seconds.
// Writes are best effort: progress is for a watching human, and a failed write must not
// stop a measurement.
type progressLine struct {
	mu      sync.Mutex
	w       io.Writer
	tty     bool
	width   int
	lastOut time.Time
}

func newProgressLine(w io.Writer) *progressLine {
	if w == nil {
		w = io.Discard
	}
	p := &progressLine{w: w}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *progressLine) update(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		pad := max(p.width-len(s), 0)
		_, _ = fmt.Fprintf(p.w, "\r%s%s", s, strings.Repeat(" ", pad))
		p.width = len(s)
		return
	}
	if time.Since(p.lastOut) >= 5*time.Second {
		_, _ = fmt.Fprintln(p.w, s)
		p.lastOut = time.Now()
	}
}

func (p *progressLine) clear() {
	if p.tty && p.width > 0 {
		_, _ = fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", p.width))
		p.width = 0
	}
}

// done removes the live line.
func (p *progressLine) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
}

// log prints a line of the phase log.
func (p *progressLine) log(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	_, _ = fmt.Fprintf(p.w, "%s %s\n", time.Now().Format("15:04:05"), s)
}

// progressFor returns a Progress callback that shows label and the run's counters.
func (b *Bench) progressFor(label string, planned int) func(Progress) {
	return func(pr Progress) {
		b.progress.update(fmt.Sprintf("  %s  %4.0fs  sent %d/%d  done %d  in flight %d  errors %d  p99 %.0f ms  load %.2f",
			label, pr.Elapsed.Seconds(), pr.Sent, planned, pr.Done, pr.InFlight, pr.Errors,
			float64(pr.P99)/float64(time.Millisecond), LoadAvg()[0]))
	}
}
