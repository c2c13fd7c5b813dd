package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
	"strconv"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// The chart: one panel per (mode, value size), a group of bars per
// goroutine count, a bar per client (its median, with a min-max whisker),
// the ceiling as a dashed line, and above each group ours ÷ the best peer.
const (
	panelW   = 660
	panelH   = 390
	headerH  = 78
	plotL    = 58 // room for the y labels
	plotR    = 14
	plotT    = 40 // panel title and the ratio labels
	plotB    = 36 // x labels and the axis name
	charW    = 7  // basicfont.Face7x13
	lineH    = 15
	tickGoal = 5
)

var (
	colBG     = color.RGBA{255, 255, 255, 255}
	colText   = color.RGBA{30, 30, 30, 255}
	colGrid   = color.RGBA{225, 225, 225, 255}
	colAxis   = color.RGBA{120, 120, 120, 255}
	colWhisk  = color.RGBA{40, 40, 40, 255}
	colCeil   = color.RGBA{110, 110, 110, 255}
	colMuted  = color.RGBA{90, 90, 90, 255}
	barColors = map[string]color.RGBA{
		ours:      {214, 39, 40, 255},  // red
		"goredis": {31, 119, 180, 255}, // blue
		"rueidis": {44, 160, 44, 255},  // green
		"radix":   {255, 127, 14, 255}, // orange
	}
)

type canvas struct{ *image.RGBA }

func (c canvas) rect(x0, y0, x1, y1 int, col color.Color) {
	draw.Draw(c.RGBA, image.Rect(x0, y0, x1, y1), image.NewUniform(col), image.Point{}, draw.Src)
}

func (c canvas) hline(x0, x1, y int, col color.Color) { c.rect(x0, y, x1+1, y+1, col) }
func (c canvas) vline(x, y0, y1 int, col color.Color) { c.rect(x, y0, x+1, y1+1, col) }

func (c canvas) dashed(x0, x1, y int, col color.Color) {
	for x := x0; x <= x1; x += 8 {
		c.hline(x, min(x+4, x1), y, col)
		c.hline(x, min(x+4, x1), y+1, col)
	}
}

// text draws s with its baseline at y, starting at x.
func (c canvas) text(x, y int, s string, col color.Color) {
	d := font.Drawer{Dst: c.RGBA, Src: image.NewUniform(col), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

func (c canvas) textRight(x, y int, s string, col color.Color) { c.text(x-len(s)*charW, y, s, col) }
func (c canvas) textCenter(x, y int, s string, col color.Color) {
	c.text(x-len(s)*charW/2, y, s, col)
}

// writePNG draws the chart into path.
func (r *report) writePNG(path string) error {
	img := r.chart()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// chart draws the results.
func (r *report) chart() *image.RGBA {
	modes, sizes := r.cfg.modes, r.cfg.values
	title := fmt.Sprintf("justredis vs Go peers: SET/GET alternating, a key per goroutine. Ops/s, median of %d trials of %v (whiskers: min-max).",
		r.cfg.trials, r.cfg.duration)
	machine := r.date + " - " + r.machine
	type entry struct {
		name string
		key  string
	}
	var legend []entry
	legendW := 0
	for _, p := range r.participants() {
		if p == floorName {
			continue // not a client: no bar, and its ops/s are not comparable
		}
		name := r.labels[p]
		if p == ceilingName {
			name = fmt.Sprintf("redis-benchmark -P %d -c %d (single server)", ceilingPipeline, ceilingConns)
		}
		legend = append(legend, entry{name, p})
		legendW += 28 + len(name)*charW + 24
	}
	w := max(len(sizes)*panelW, 24+charW*max(len(title), len(machine)), 24+legendW)
	h := headerH + len(modes)*panelH
	c := canvas{image.NewRGBA(image.Rect(0, 0, w, h))}
	c.rect(0, 0, w, h, colBG)

	c.text(12, 18, title, colText)
	c.text(12, 18+lineH, machine, colMuted)
	x, y := 12, 18+2*lineH+6
	for _, e := range legend {
		if e.key == ceilingName {
			c.dashed(x, x+22, y-4, colCeil)
		} else {
			c.rect(x, y-10, x+22, y, barColors[e.key])
		}
		c.text(x+28, y, e.name, colText)
		x += 28 + len(e.name)*charW + 24
	}
	c.text(12, y+lineH+2, "Above each group: justredis / the fastest peer (median of the rounds' ratios).", colMuted)

	for mi, mode := range modes {
		for si, size := range sizes {
			r.panel(c, si*panelW, headerH+mi*panelH, mode, size)
		}
	}
	return c.RGBA
}

// panel draws one (mode, size) panel with its top-left corner at (ox, oy).
func (r *report) panel(c canvas, ox, oy int, mode string, size int) {
	title := fmt.Sprintf("%s, %s values", map[string]string{modeSingle: "single server", modeCluster: "3-master cluster"}[mode], sizeLabel(size))
	c.text(ox+plotL, oy+16, title, colText)

	x0, x1 := ox+plotL, ox+panelW-plotR
	y0, y1 := oy+plotT, oy+panelH-plotB // y0 top, y1 bottom (zero)
	var clientsHere []string
	for _, p := range r.participants() {
		if !reference(p) {
			clientsHere = append(clientsHere, p)
		}
	}
	top := 0.0
	for _, res := range r.results {
		if res.mode == mode && res.size == size && !reference(res.client) {
			top = math.Max(top, res.summary().max)
		}
	}
	ceil := r.ceilingFor(size)
	if mode != modeSingle {
		ceil = nil
	}
	// The ceiling is drawn to scale only when that leaves the bars
	// readable; otherwise it is a note at the top of the panel.
	ceilOnScale := ceil != nil && ceil.summary().median <= 1.6*top
	if ceilOnScale {
		top = math.Max(top, ceil.summary().median)
	}
	if top == 0 {
		c.text(x0, (y0+y1)/2, "no results", colMuted)
		return
	}
	step := niceStep(top*1.1, tickGoal)
	yMax := math.Ceil(top*1.1/step) * step
	yOf := func(v float64) int { return y1 - int(math.Round(v/yMax*float64(y1-y0))) }

	for v := 0.0; v <= yMax+step/2; v += step {
		y := yOf(v)
		c.hline(x0, x1, y, colGrid)
		c.textRight(x0-6, y+4, shortNum(v), colText)
	}
	c.vline(x0, y0, y1, colAxis)
	c.hline(x0, x1, y1, colAxis)

	concs := r.cfg.concs
	groupW := float64(x1-x0) / float64(len(concs))
	barW := max(2, int(groupW*0.78/float64(max(1, len(clientsHere)))))
	for gi, conc := range concs {
		gx := x0 + int(float64(gi)*groupW)
		gc := gx + int(groupW/2)
		c.textCenter(gc, y1+15, fmt.Sprint(conc), colText)
		bx := gc - barW*len(clientsHere)/2
		k := cellKey{mode, size, conc}
		for _, p := range clientsHere {
			res := r.find(k, p)
			if res != nil {
				s := res.summary()
				c.rect(bx+1, yOf(s.median), bx+barW-1, y1, barColors[p])
				wx := bx + barW/2
				c.vline(wx, yOf(s.max), yOf(s.min), colWhisk)
				c.hline(wx-2, wx+2, yOf(s.max), colWhisk)
				c.hline(wx-2, wx+2, yOf(s.min), colWhisk)
			}
			bx += barW
		}
		if best, name := r.bestPeer(k); best > 0 {
			if x := r.ratio(k, name); !math.IsNaN(x) {
				c.textCenter(gc, y0-6, fmt.Sprintf("%.2fx vs %s", x, displayName(name)), colText)
			}
		}
	}
	c.textCenter((x0+x1)/2, y1+31, "goroutines", colMuted)
	switch {
	case ceilOnScale:
		y := yOf(ceil.summary().median)
		c.dashed(x0, x1, y, colCeil)
		c.textRight(x1, y-4, "redis-benchmark -P 64: "+shortNum(ceil.summary().median), colCeil)
	case ceil != nil:
		// On the title's line, clear of the ratios above the groups.
		c.dashed(x1-150, x1, oy+4, colCeil)
		c.textRight(x1, oy+16, "redis-benchmark -P 64: "+shortNum(ceil.summary().median)+" (off scale)", colCeil)
	}
}

// bestPeer returns the highest median ops/s of a peer in k and its name.
func (r *report) bestPeer(k cellKey) (float64, string) {
	best, name := 0.0, ""
	for _, p := range r.cfg.clients {
		if p == ours {
			continue
		}
		if res := r.find(k, p); res != nil {
			if m := res.summary().median; m > best {
				best, name = m, p
			}
		}
	}
	return best, name
}

// niceStep returns a 1-2-5 step giving about n ticks up to top.
func niceStep(top float64, n int) float64 {
	raw := top / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if raw <= m*mag {
			return m * mag
		}
	}
	return 10 * mag
}

// shortNum formats 1500 as "1.5k", 2000000 as "2M".
func shortNum(v float64) string {
	f := func(x float64) string { return strconv.FormatFloat(math.Round(x*100)/100, 'f', -1, 64) }
	switch {
	case v >= 1e6:
		return f(v/1e6) + "M"
	case v >= 1e3:
		return f(v/1e3) + "k"
	}
	return f(v)
}
