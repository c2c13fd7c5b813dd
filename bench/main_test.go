package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"image/png"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/pprof/profile"
	"go.uber.org/goleak"
)

// TestSmoke runs the whole program, every client, both deployments and the
// ceiling, for a few milliseconds per trial, and checks the table, the CSV,
// the chart and the profile it produces.
func TestSmoke(t *testing.T) {
	dir := t.TempDir()
	prof := filepath.Join(dir, "cpu.pprof")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := run(ctx, []string{
		"-quick", "-duration", "30ms", "-warmup", "10ms", "-trials", "1",
		"-conc", "1,8", "-values", "16,4096", "-ceiling-n", "2000",
		"-out", dir, "-profile", prof,
	}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("run: %v\nstdout:\n%s\nstderr:\n%s", err, &stdout, &stderr)
	}
	out := stdout.String()
	t.Log(out)
	_, ceilingErr := exec.LookPath("redis-benchmark")
	haveCeiling := ceilingErr == nil

	for _, want := range []string{"justredis", "go-redis", "rueidis", "radix", "machine:", "targets", "ours ÷ rueidis", "gc/10k"} {
		if !strings.Contains(out, want) {
			t.Errorf("the table has no %q", want)
		}
	}
	if haveCeiling && !strings.Contains(out, "redis-benchmark -P 64") {
		t.Error("the table has no ceiling")
	}
	if !strings.Contains(out, "Go hand-off floor") || !strings.Contains(out, "our client CPU = ") {
		t.Error("the table has no floor, or no ratio of our CPU to it")
	}

	f, err := os.Open(filepath.Join(dir, csvName))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := 2*2*2*len(clients) + 1 // modes × sizes × goroutine counts × clients, and the header
	if haveCeiling {
		want += 2 // one per value size
	}
	want += 2 // the floor: one per value size
	if len(rows) != want {
		t.Errorf("the CSV has %d rows, want %d", len(rows), want)
	}
	gcCol := slices.Index(csvHeader, "gc_per_10k_ops_median")
	for _, row := range rows[1:] {
		if len(row) != len(csvHeader) {
			t.Fatalf("row %q has %d fields, want %d", row, len(row), len(csvHeader))
		}
		if measured := !strings.Contains(row[5], "redis-benchmark") && !strings.Contains(row[5], "floor"); measured != (row[gcCol] != "") {
			t.Errorf("row %q: garbage collections per 10k commands %q (want a number for a client, nothing for the ceiling and the floor)", row[:6], row[gcCol])
		}
		if row[0] == "" || !strings.Contains(row[1], "Redis ") {
			t.Errorf("row %q lacks the date or the machine", row)
		}
	}

	pf, err := os.Open(filepath.Join(dir, pngName))
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	img, err := png.Decode(pf)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() < 2*panelW || b.Dy() < headerH+2*panelH {
		t.Errorf("the chart is %v, too small for 2×2 panels", b)
	}

	pr, err := os.Open(prof)
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	if _, err := profile.Parse(pr); err != nil {
		t.Errorf("the CPU profile does not parse: %v", err)
	}
}

// TestFloor: the floor's goroutines all take turns, it counts what they
// did and what it cost, and it leaves none of them behind; a cancelled
// context ends it early with the context's error.
func TestFloor(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	tr, err := runFloor(context.Background(), 64, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if tr.ops < 64 || tr.opsPerSec <= 0 || tr.elapsed < 50*time.Millisecond {
		t.Errorf("ops %d, %v ops/s in %v: want every goroutine to have run for the whole 50ms", tr.ops, tr.opsPerSec, tr.elapsed)
	}
	if !(tr.clientCPU > 0) || !math.IsNaN(tr.serverCPU) || !math.IsNaN(tr.allocsPerOp) || !math.IsNaN(tr.bytesPerOp) || !math.IsNaN(tr.gcPer10k) {
		t.Errorf("cpu %v µs/op (want > 0), server %v, allocs %v, bytes %v and gc %v (want NaN: not measured)", tr.clientCPU, tr.serverCPU, tr.allocsPerOp, tr.bytesPerOp, tr.gcPer10k)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := runFloor(ctx, 8, time.Minute); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v, want context.Canceled", err)
	}
}

// TestFloorRatio: our client's CPU per command ÷ the floor's is paired by
// round, like the other ratios.
func TestFloorRatio(t *testing.T) {
	r := newReport(&config{modes: []string{modeSingle}, values: []int{16}, concs: []int{2048}, clients: []string{ours}})
	k := cellKey{modeSingle, 16, 2048}
	for _, cpu := range [][2]float64{{3, 1.5}, {2, 1.6}, {4, 1}} {
		r.add(k, ours, trial{opsPerSec: 1, clientCPU: cpu[0]})
		r.add(k, floorName, trial{opsPerSec: 1, clientCPU: cpu[1]})
	}
	if got := r.floorRatio(k); got != 2 {
		t.Errorf("floor ratio %v, want 2 (rounds: 2, 1.25, 4)", got)
	}
	if got := r.floorRatio(cellKey{modeCluster, 16, 2048}); !math.IsNaN(got) {
		t.Errorf("no floor: %v, want NaN", got)
	}
}

// TestBadFlags: a bad command line is a usage error, before any server
// starts.
func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-conc", "0"},
		{"-conc", "x"},
		{"-clients", "jedis"},
		{"-modes", "sentinel"},
		{"-trials", "0"},
		{"extra"},
	} {
		var stdout, stderr bytes.Buffer
		if code := mainCode(args, &stdout, &stderr); code != 2 {
			t.Errorf("%q: exit code %d, want 2; stderr: %s", args, code, &stderr)
		}
	}
}

func TestQuickKeepsExplicitFlags(t *testing.T) {
	cfg, err := parseFlags([]string{"-quick", "-trials", "3", "-clients", "rueidis, justredis,rueidis"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.duration != quickDuration || cfg.trials != 3 || cfg.ceilingN != quickCeilingN {
		t.Errorf("duration %v trials %d ceilingN %d", cfg.duration, cfg.trials, cfg.ceilingN)
	}
	if got := strings.Join(cfg.clients, ","); got != "rueidis,justredis" {
		t.Errorf("clients %q", got)
	}
}

func TestParseCeiling(t *testing.T) {
	out := `"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
"SET","1709401.75","1.560","0.464","1.399","2.815","5.455","6.607"
"GET","1562499.88","1.653","0.464","1.359","3.287","6.391","8.375"
`
	set, get, err := parseCeiling([]byte(out))
	if err != nil || set != 1709401.75 || get != 1562499.88 {
		t.Errorf("got %v %v %v", set, get, err)
	}
	if _, _, err := parseCeiling([]byte(`"test","rps"` + "\n" + `"SET","10"` + "\n")); err == nil {
		t.Error("no GET: no error")
	}
}

func TestNumbers(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{commas(0), "0"},
		{commas(999.6), "1,000"},
		{commas(1234567), "1,234,567"},
		{commas(math.NaN()), "-"},
		{shortNum(1500), "1.5k"},
		{shortNum(2_000_000), "2M"},
		{shortNum(250), "250"},
		{sizeLabel(16), "16 B"},
		{sizeLabel(4096), "4 KiB"},
		{fmtNum(median([]float64{3, 1, 2, math.NaN()}), 1), "2.0"},
		{fmtNum(median([]float64{4, 1, 2, 3}), 1), "2.5"},
		{fmtNum(median([]float64{math.NaN()}), 1), "-"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	for _, tc := range []struct{ top, want float64 }{{1000, 200}, {1_100_000, 250_000}, {90, 20}} {
		if got := niceStep(tc.top, tickGoal); got != tc.want {
			t.Errorf("niceStep(%v) = %v, want %v", tc.top, got, tc.want)
		}
	}
}

// TestPairedRatio: ours ÷ a peer is the median of the rounds' ratios, so
// that a machine slowing down during the run does not pair our trial of a
// fast round with the peer's of a slow one (the figures are the shape of
// the run of 2026-12-04, single 4 KiB at 2048 goroutines).
func TestPairedRatio(t *testing.T) {
	res := func(ops ...float64) *result {
		r := &result{}
		for _, x := range ops {
			r.trials = append(r.trials, trial{opsPerSec: x})
		}
		return r
	}
	ours := res(300, 280, 150, 190, 200)
	peer := res(240, 200, 140, 160, 190)
	if got := pairedRatio(ours, peer); got != 1.1875 {
		t.Errorf("paired ratio %v, want 1.1875 (rounds: 1.25 1.4 1.07 1.1875 1.05)", got)
	}
	if got := ours.summary().median / peer.summary().median; math.Abs(got-200.0/190) > 1e-12 {
		t.Errorf("ratio of medians %v, want 200/190 (so that the test tells them apart)", got)
	}
	if got := pairedRatio(res(300, 150), res(100)); got != 2.25 {
		t.Errorf("rounds that do not pair: %v, want the ratio of the medians, 2.25", got)
	}
}

// TestInterrupt: a cancelled run (Ctrl-C) returns promptly, prints what it
// has, and leaves no server behind.
func TestInterrupt(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout bytes.Buffer
	stderr := &lockedBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-clients", "justredis", "-modes", "single", "-values", "16",
			"-conc", "16", "-duration", "1m", "-warmup", "0", "-ceiling=false"}, &stdout, stderr)
	}()
	// Cancel once the first trial is under way.
	var addr string
	deadline := time.Now().Add(time.Minute)
	for addr == "" && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		if _, rest, ok := strings.Cut(stderr.String(), "deployment ready at ["); ok {
			addr, _, _ = strings.Cut(rest, "]")
		}
	}
	if addr == "" {
		t.Fatalf("the server did not start: %s", stderr.String())
	}
	time.Sleep(200 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("run returned %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return within 30s of the cancellation")
	}
	if !strings.Contains(stdout.String(), "INCOMPLETE") {
		t.Errorf("no INCOMPLETE note in the table:\n%s", &stdout)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("the server at %s still accepts connections", addr)
	}
}

// lockedBuffer is a bytes.Buffer for one writer goroutine and one reader.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
