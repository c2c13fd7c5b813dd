package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// cellKey is one configuration: deployment, value size, goroutines.
type cellKey struct {
	mode string
	size int
	conc int
}

// result is the trials of one participant (a client or the ceiling) in one
// configuration.
type result struct {
	cellKey
	client string
	trials []trial
}

// summary of a result's trials.
type summary struct {
	median, min, max   float64 // ops/s
	allocs             float64 // median allocations per op; NaN if unmeasured
	gcPer10k           float64 // median garbage collections per 10,000 ops; NaN if unmeasured
	cmdsPerWrite       float64 // median; NaN if unknown
	clientCPU          float64 // median µs of CPU per op, this process; NaN if unmeasured
	serverCPU          float64 // median µs of CPU per op, the servers; NaN if unmeasured
	setRPS, getRPS     float64 // ceiling only: medians
	n                  int
	spreadPct          float64 // (max-min)/median, in percent
	opsPerSecPerTrials []float64
}

func (r *result) summary() summary {
	ops := make([]float64, len(r.trials))
	allocs := make([]float64, len(r.trials))
	cpw := make([]float64, len(r.trials))
	set := make([]float64, len(r.trials))
	get := make([]float64, len(r.trials))
	ccpu := make([]float64, len(r.trials))
	scpu := make([]float64, len(r.trials))
	gcs := make([]float64, len(r.trials))
	for i, t := range r.trials {
		ops[i], allocs[i], cpw[i], set[i], get[i] = t.opsPerSec, t.allocsPerOp, t.cmdsPerWrite, t.setRPS, t.getRPS
		ccpu[i], scpu[i], gcs[i] = t.clientCPU, t.serverCPU, t.gcPer10k
	}
	s := summary{
		median:             median(ops),
		min:                slices.Min(ops),
		max:                slices.Max(ops),
		allocs:             median(allocs),
		gcPer10k:           median(gcs),
		cmdsPerWrite:       median(cpw),
		clientCPU:          median(ccpu),
		serverCPU:          median(scpu),
		setRPS:             median(set),
		getRPS:             median(get),
		n:                  len(ops),
		opsPerSecPerTrials: ops,
	}
	s.spreadPct = 100 * (s.max - s.min) / s.median
	return s
}

// median of xs ignoring NaNs; NaN when there is none.
func median(xs []float64) float64 {
	var v []float64
	for _, x := range xs {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return math.NaN()
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// report accumulates the results of a run and describes its circumstances.
type report struct {
	cfg      *config
	started  time.Time
	date     string // started, for people
	machine  string // cores, CPU, OS, Go, Redis, network
	redis    string // redis_version
	loadAvg  [2]string
	notes    []string
	results  []*result
	labels   map[string]string // client name → "go-redis v9.22.0"
	settings map[string]string // client name → its configuration
}

func newReport(cfg *config) *report {
	now := time.Now()
	r := &report{
		cfg:      cfg,
		started:  now,
		date:     now.UTC().Format("2006-01-02 15:04 UTC"),
		labels:   map[string]string{},
		settings: map[string]string{},
	}
	r.loadAvg[0] = loadAverage()
	return r
}

func (r *report) note(format string, args ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

func (r *report) setRedisVersion(v string) {
	if r.redis == "" || r.redis == "?" {
		r.redis = v
	}
}

func (r *report) setClient(name string, spec clientSpec, cfg *config) {
	if _, ok := r.labels[name]; !ok {
		r.labels[name] = strings.TrimSpace(displayName(name) + " " + moduleVersion(spec.module))
		r.settings[name] = spec.config(cfg)
	}
}

// displayName is how a client is named in the table and chart.
func displayName(name string) string {
	switch name {
	case "goredis":
		return "go-redis"
	case "radix":
		return "radix"
	case ceilingName:
		return fmt.Sprintf("redis-benchmark -P %d", ceilingPipeline)
	case floorName:
		return "Go hand-off floor"
	}
	return name
}

// reference reports whether name is a yardstick rather than a client: the
// ceiling or the floor.
func reference(name string) bool { return name == ceilingName || name == floorName }

// add records a trial.
func (r *report) add(k cellKey, client string, t trial) {
	if res := r.find(k, client); res != nil {
		res.trials = append(res.trials, t)
		return
	}
	r.results = append(r.results, &result{cellKey: k, client: client, trials: []trial{t}})
}

func (r *report) find(k cellKey, client string) *result {
	for _, res := range r.results {
		if res.cellKey == k && res.client == client {
			return res
		}
	}
	return nil
}

// finish records the end of the run.
func (r *report) finish() {
	r.loadAvg[1] = loadAverage()
	if r.redis == "" {
		r.redis = "?"
	}
	r.machine = machineLine(r.redis)
}

// keys returns the configurations measured, in the order of the flags.
func (r *report) keys() []cellKey {
	var ks []cellKey
	for _, res := range r.results {
		if !slices.Contains(ks, res.cellKey) {
			ks = append(ks, res.cellKey)
		}
	}
	order := func(list []string, s string) int { return slices.Index(list, s) }
	slices.SortStableFunc(ks, func(a, b cellKey) int {
		if d := order(r.cfg.modes, a.mode) - order(r.cfg.modes, b.mode); d != 0 {
			return d
		}
		if d := slices.Index(r.cfg.values, a.size) - slices.Index(r.cfg.values, b.size); d != 0 {
			return d
		}
		return slices.Index(r.cfg.concs, a.conc) - slices.Index(r.cfg.concs, b.conc)
	})
	return ks
}

// participants returns the clients (in -clients order), then the ceiling
// and the floor, as far as they have results.
func (r *report) participants() []string {
	var ps []string
	for _, c := range append(slices.Clone(r.cfg.clients), ceilingName, floorName) {
		for _, res := range r.results {
			if res.client == c {
				ps = append(ps, c)
				break
			}
		}
	}
	return ps
}

// ratio is ours ÷ client's ops/s in configuration k (see pairedRatio), NaN
// when either is missing.
func (r *report) ratio(k cellKey, client string) float64 {
	o, p := r.find(k, ours), r.find(k, client)
	if o == nil || p == nil {
		return math.NaN()
	}
	return pairedRatio(o, p)
}

// pairedRatio is the median, over the rounds, of o's ops/s ÷ p's in the
// same round. The rounds interleave the participants (A B C, C B A, ...) so that
// the machine's drift hits each round's trials alike: a round's ratio
// cancels the drift, while the ratio of the two medians mixes trials from
// different rounds (on a shared machine that slows down during a run, the
// medians can come from rounds far apart). Results without the same rounds
// fall back to the ratio of the medians.
func pairedRatio(o, p *result) float64 {
	return paired(o, p, func(t trial) float64 { return t.opsPerSec })
}

// paired is pairedRatio for the measure x of a trial.
func paired(o, p *result, x func(trial) float64) float64 {
	if len(o.trials) != len(p.trials) {
		return medianOf(o, x) / medianOf(p, x)
	}
	rs := make([]float64, len(o.trials))
	for i := range rs {
		rs[i] = x(o.trials[i]) / x(p.trials[i])
	}
	return median(rs)
}

// medianOf is the median of the measure x over res's trials.
func medianOf(res *result, x func(trial) float64) float64 {
	xs := make([]float64, len(res.trials))
	for i, t := range res.trials {
		xs[i] = x(t)
	}
	return median(xs)
}

// floorSetting describes the floor in the table's header.
const floorSetting = "the same goroutines queueing on one mutex-guarded queue and woken by one goroutine, no I/O; cpu = this process's"

// floorRatio is our client's CPU per command ÷ the floor's CPU per
// operation in configuration k: the median over the rounds of the ratio
// in the same round (see pairedRatio); NaN when either is missing.
func (r *report) floorRatio(k cellKey) float64 {
	o, f := r.find(k, ours), r.find(k, floorName)
	if o == nil || f == nil {
		return math.NaN()
	}
	return paired(o, f, func(t trial) float64 { return t.clientCPU })
}

// ceilingFor returns the ceiling measured for the single server and value
// size, or nil.
func (r *report) ceilingFor(size int) *result {
	for _, res := range r.results {
		if res.client == ceilingName && res.size == size {
			return res
		}
	}
	return nil
}

// printTable writes the results table, the targets and the notes.
func (r *report) printTable(w io.Writer) {
	fmt.Fprintf(w, "\njustredis benchmark, %s\n", r.date)
	fmt.Fprintf(w, "machine: %s\n", r.machine)
	fmt.Fprintf(w, "load average (1 min): %s at the start, %s at the end\n", r.loadAvg[0], r.loadAvg[1])
	fmt.Fprintf(w, "workload: each goroutine alternates SET k v / GET k on a key of its own; %d trials of %v per client and configuration,\n", r.cfg.trials, r.cfg.duration)
	fmt.Fprintf(w, "          interleaved A B C, C B A, ..., after a %v warm-up each; ops/s = median (min-max); allocs/op = heap allocations of the\n", r.cfg.warmup)
	fmt.Fprintf(w, "          whole process per command (median); gc/10k = garbage collections of the process per 10,000 commands (median);\n")
	fmt.Fprintf(w, "          cmds/write = commands per write system call (justredis only);\n")
	fmt.Fprintf(w, "          cpu µs/op = CPU time per command of this process (client) + of the redis-server processes (median);\n")
	fmt.Fprintf(w, "          ours ÷ this = median over the rounds of ours ÷ this in the same round\n")
	for _, c := range r.participants() {
		switch c {
		case ceilingName:
			fmt.Fprintf(w, "  %-26s %d connections, -P %d, -t set,get; ops/s = harmonic mean of SET and GET rps (their rate alternating); with the largest goroutine count\n", displayName(c), ceilingConns, ceilingPipeline)
			continue
		case floorName:
			fmt.Fprintf(w, "  %-26s %s\n", displayName(c), floorSetting)
			continue
		}
		fmt.Fprintf(w, "  %-26s %s\n", r.labels[c], r.settings[c])
	}
	fmt.Fprintln(w)

	const head = "%-8s %7s %5s  %-27s %11s  %-25s %9s %6s %10s %13s  %s\n"
	fmt.Fprintf(w, head, "mode", "value", "gor.", "client", "ops/s", "min-max", "allocs/op", "gc/10k", "cmds/write", "cpu µs/op", "ours ÷ this")
	fmt.Fprintln(w, strings.Repeat("-", 146))
	for _, k := range r.keys() {
		first := true
		for _, c := range r.participants() {
			res := r.find(k, c)
			if res == nil {
				continue
			}
			s := res.summary()
			mode, val, conc := "", "", ""
			if first {
				mode, val, conc = k.mode, sizeLabel(k.size), fmt.Sprint(k.conc)
				first = false
			}
			name := displayName(c)
			if c == ceilingName {
				name = fmt.Sprintf("%s -c %d", name, ceilingConns)
			}
			rel := ""
			switch {
			case c == ceilingName:
				if x := r.ratio(k, c); !math.IsNaN(x) {
					rel = fmt.Sprintf("ours = %.0f%% of this", 100*x)
				}
			case c == floorName:
				if x := r.floorRatio(k); !math.IsNaN(x) {
					rel = fmt.Sprintf("our client CPU = %.1f× this", x)
				}
			case c != ours:
				if x := r.ratio(k, c); !math.IsNaN(x) {
					rel = fmt.Sprintf("%.2f×", x)
				}
			}
			fmt.Fprintf(w, head, mode, val, conc, name, commas(s.median),
				commas(s.min)+" - "+commas(s.max), fmtNum(s.allocs, 2), fmtNum(s.gcPer10k, 2), fmtNum(s.cmdsPerWrite, 1), cpuLabel(s.clientCPU, s.serverCPU), rel)
		}
	}
	for _, size := range r.cfg.values {
		if c := r.ceilingFor(size); c != nil {
			s := c.summary()
			fmt.Fprintf(w, "\nceiling %s: redis-benchmark -P %d -c %d: SET %s, GET %s rps (medians of %d)", sizeLabel(size),
				ceilingPipeline, ceilingConns, commas(s.setRPS), commas(s.getRPS), s.n)
		}
	}
	fmt.Fprintln(w)
	r.printTargets(w)
	if len(r.notes) > 0 {
		fmt.Fprintln(w, "\nnotes:")
		for _, n := range r.notes {
			fmt.Fprintln(w, "  "+n)
		}
	}
}

// printTargets checks the targets of issue #9 against the medians (the
// ratios: against the paired ratios, see pairedRatio).
func (r *report) printTargets(w io.Writer) {
	if r.find(r.firstKey(), ours) == nil {
		return
	}
	fmt.Fprintf(w, "\ntargets (issue #9; on a quiet 2-core machine), per goroutine count:\n")
	type group struct {
		mode string
		size int
	}
	var groups []group
	for _, k := range r.keys() {
		if g := (group{k.mode, k.size}); !slices.Contains(groups, g) {
			groups = append(groups, g)
		}
	}
	head := fmt.Sprintf("  %-34s %-8s %7s", "target", "mode", "value")
	for _, c := range r.cfg.concs {
		head += fmt.Sprintf(" %11s", fmt.Sprint(c))
	}
	fmt.Fprintln(w, head)
	row := func(label string, g group, cell func(k cellKey) string) {
		line := fmt.Sprintf("  %-34s %-8s %7s", label, g.mode, sizeLabel(g.size))
		any := false
		for _, c := range r.cfg.concs {
			s := cell(cellKey{g.mode, g.size, c})
			if s != "" {
				any = true
			}
			line += fmt.Sprintf(" %11s", s)
		}
		if any {
			fmt.Fprintln(w, line)
		}
	}
	mark := func(ok bool) string {
		if ok {
			return " ok"
		}
		return " MISS"
	}
	for _, g := range groups {
		row("ours ÷ rueidis ≥ 1 (≥ 1.2 at 256+)", g, func(k cellKey) string {
			x := r.ratio(k, "rueidis")
			if math.IsNaN(x) {
				return ""
			}
			want := 1.0
			if k.conc >= 256 {
				want = 1.2
			}
			return truncated(x, 2) + mark(x >= want)
		})
		row("ours ÷ go-redis ≥ 3 at 256+", g, func(k cellKey) string {
			x := r.ratio(k, "goredis")
			if math.IsNaN(x) || k.conc < 256 {
				return ""
			}
			return truncated(x, 2) + mark(x >= 3)
		})
		row("ours allocs/op ≤ 1", g, func(k cellKey) string {
			o := r.find(k, ours)
			if o == nil {
				return ""
			}
			a := o.summary().allocs
			return fmtNum(a, 2) + mark(a <= 1)
		})
		row("ours ≥ 40% of the ceiling", g, func(k cellKey) string {
			x := r.ratio(k, ceilingName)
			if math.IsNaN(x) {
				return ""
			}
			p := 100 * x
			return truncated(p, 0) + "%" + mark(p >= 40)
		})
	}
}

// truncated formats x with digits decimals, cut rather than rounded, so
// that a value printed beside a threshold check never reads as meeting it
// when it does not (1.196 is "1.19 MISS", not "1.20 MISS").
func truncated(x float64, digits int) string {
	p := math.Pow(10, float64(digits))
	return strconv.FormatFloat(math.Trunc(x*p)/p, 'f', digits, 64)
}

func (r *report) firstKey() cellKey {
	if ks := r.keys(); len(ks) > 0 {
		return ks[0]
	}
	return cellKey{}
}

// describeTrial is a progress line.
func describeTrial(name string, t trial) string {
	s := fmt.Sprintf("%-16s %12s ops/s", displayName(name), commas(t.opsPerSec))
	switch name {
	case ceilingName:
		return s + fmt.Sprintf("  (SET %s, GET %s)", commas(t.setRPS), commas(t.getRPS))
	case floorName:
		return s + fmt.Sprintf("  %11s cpu µs/op", fmtNum(t.clientCPU, 2))
	}
	s += fmt.Sprintf("  %6s allocs/op %6s B/op  %5s gc/10k", fmtNum(t.allocsPerOp, 2), fmtNum(t.bytesPerOp, 0), fmtNum(t.gcPer10k, 2))
	if !math.IsNaN(t.clientCPU) {
		s += fmt.Sprintf("  %11s cpu µs/op", cpuLabel(t.clientCPU, t.serverCPU))
	}
	if !math.IsNaN(t.cmdsPerWrite) {
		s += fmt.Sprintf("  %6s cmds/write", fmtNum(t.cmdsPerWrite, 1))
	}
	return s
}

// cpuLabel is "client+server" CPU µs per op, "-" for what is unmeasured.
func cpuLabel(client, server float64) string {
	if math.IsNaN(client) && math.IsNaN(server) {
		return "-"
	}
	return fmtNum(client, 2) + "+" + fmtNum(server, 2)
}

// sizeLabel is "16 B" or "4 KiB".
func sizeLabel(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// commas formats x rounded to an integer with thousands separators.
func commas(x float64) string {
	if math.IsNaN(x) {
		return "-"
	}
	s := fmt.Sprintf("%.0f", x)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// fmtNum formats x with prec decimals, "-" for NaN.
func fmtNum(x float64, prec int) string {
	if math.IsNaN(x) {
		return "-"
	}
	return fmt.Sprintf("%.*f", prec, x)
}
