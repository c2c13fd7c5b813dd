package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"time"

	"github.com/google/pprof/profile"
)

// errUsage marks a bad command line.
var errUsage = errors.New("usage")

// closeTimeout bounds closing a configuration's clients.
const closeTimeout = 10 * time.Second

// run is the whole program: parse args, start the servers, measure, report.
// Whatever happens, it stops every server it started before it returns, and
// it prints (and with -out writes) the results it has, also after a failure.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	b := &bencher{cfg: cfg, log: stderr, rep: newReport(cfg)}
	if cfg.ceiling {
		if p, lerr := exec.LookPath(cfg.redisBench); lerr != nil {
			b.rep.note("ceiling skipped: %s not found (%v)", cfg.redisBench, lerr)
			cfg.ceiling = false
		} else {
			cfg.redisBench = p
		}
	}
	if cfg.profile != "" {
		b.prof = &profiler{}
	}

	defer func() {
		if err != nil {
			b.rep.note("INCOMPLETE: %v", err)
		}
		b.rep.finish()
		b.rep.printTable(stdout)
		if cfg.out != "" {
			if werr := b.rep.writeFiles(cfg.out); werr != nil {
				err = errors.Join(err, werr)
			} else {
				fmt.Fprintf(stderr, "bench: wrote %s and %s\n", filepath.Join(cfg.out, csvName), filepath.Join(cfg.out, pngName))
			}
		}
		if b.prof != nil {
			if perr := b.prof.write(cfg.profile); perr != nil {
				err = errors.Join(err, perr)
			} else {
				fmt.Fprintf(stderr, "bench: wrote the CPU profile of %d justredis trials to %s\n", len(b.prof.profiles), cfg.profile)
			}
		}
	}()

	for _, mode := range cfg.modes {
		if err := b.runMode(ctx, mode); err != nil {
			return err
		}
	}
	return nil
}

// bencher runs the measurements of one program run.
type bencher struct {
	cfg  *config
	log  io.Writer // progress
	rep  *report
	prof *profiler // nil without -profile
}

// runMode starts the deployment of mode, measures every value size and
// goroutine count on it, and stops it.
func (b *bencher) runMode(ctx context.Context, mode string) (err error) {
	fmt.Fprintf(b.log, "bench: starting the %s deployment\n", mode)
	dep, err := startDeployment(ctx, mode, b.cfg.redis)
	if err != nil {
		return err
	}
	defer func() {
		// A fresh context: ctx may be cancelled (Ctrl-C) and the servers
		// must stop anyway.
		sctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		defer cancel()
		if serr := dep.stop(sctx); serr != nil {
			err = errors.Join(err, fmt.Errorf("stopping the %s deployment: %w", mode, serr))
		}
	}()
	b.rep.setRedisVersion(dep.redisVersion(ctx))
	fmt.Fprintf(b.log, "bench: %s deployment ready at %v\n", mode, dep.addrs)

	for _, size := range b.cfg.values {
		for _, conc := range b.cfg.concs {
			if err := b.runConfig(ctx, dep.deployment, size, conc); err != nil {
				return fmt.Errorf("%s, %d B values, %d goroutines: %w", mode, size, conc, err)
			}
		}
	}
	return nil
}

// participant is one column of the interleaving: a client, or the ceiling.
type participant struct {
	name  string
	trial func(ctx context.Context, d time.Duration) (trial, error)
}

// runConfig measures one configuration: it connects every client, warms
// each one up, then runs the rounds A B C ..., ... C B A, A B C ...
func (b *bencher) runConfig(ctx context.Context, dep deployment, size, conc int) error {
	key := cellKey{mode: dep.mode, size: size, conc: conc}
	val := value(size)
	var parts []participant
	var drivers []driver
	defer func() { closeDrivers(drivers) }()

	for _, name := range b.cfg.clients {
		spec := clientByName(name)
		labels := pprof.Labels("client", name, "mode", dep.mode, "value", strconv.Itoa(size), "goroutines", strconv.Itoa(conc))
		var drv driver
		var err error
		// The client's own goroutines are started under the labels too, so
		// that a profile can be cut by them.
		pprof.Do(context.Background(), labels, func(context.Context) {
			dctx, cancel := context.WithTimeout(ctx, dialTimeout)
			defer cancel()
			drv, err = spec.dial(dctx, b.cfg, dep, conc)
		})
		if err != nil {
			return fmt.Errorf("%s: connecting: %w", name, err)
		}
		drivers = append(drivers, drv)
		b.rep.setClient(name, spec, b.cfg)

		sessions := make([]session, conc)
		for g := range sessions {
			sessions[g] = drv.session(keyName(g), val)
		}
		bt, _ := drv.(batcher)
		var onStart, onStop func()
		if name == ours && b.prof != nil {
			onStart, onStop = b.prof.start, b.prof.stop
		}
		parts = append(parts, participant{name: name, trial: func(ctx context.Context, d time.Duration) (trial, error) {
			return runTrial(ctx, sessions, d, bt, dep.pids, labels, onStart, onStop)
		}})
	}
	if dep.mode == modeSingle && b.cfg.ceiling && conc == slices.Max(b.cfg.concs) {
		n := b.cfg.ceilingRequests(size)
		parts = append(parts, participant{name: ceilingName, trial: func(ctx context.Context, _ time.Duration) (trial, error) {
			return runCeiling(ctx, b.cfg.redisBench, dep.addrs[0], size, n)
		}})
	}

	if dep.mode == modeSingle && b.cfg.floor && conc == slices.Max(b.cfg.concs) {
		parts = append(parts, participant{name: floorName, trial: func(ctx context.Context, d time.Duration) (trial, error) {
			return runFloor(ctx, conc, d)
		}})
	}

	tag := fmt.Sprintf("[%s %s %d gor.]", dep.mode, sizeLabel(size), conc)
	if b.cfg.warmup > 0 {
		for _, p := range parts {
			if p.name == ceilingName || p.name == floorName {
				continue
			}
			// Warm-up: dials pools, grows buffers; its errors count.
			if _, err := p.trial(ctx, b.cfg.warmup); err != nil {
				return fmt.Errorf("%s: warm-up: %w", p.name, err)
			}
		}
	}
	for round := 1; round <= b.cfg.trials; round++ {
		order := parts
		if round%2 == 0 {
			// Every other round runs backwards (A B C, C B A, ...): no
			// participant always comes first, or always after the same
			// one, and a trend within a round favours each side in turn.
			order = slices.Clone(parts)
			slices.Reverse(order)
		}
		for _, p := range order {
			t, err := p.trial(ctx, b.cfg.duration)
			if err != nil {
				return fmt.Errorf("%s: trial %d: %w", p.name, round, err)
			}
			b.rep.add(key, p.name, t)
			fmt.Fprintf(b.log, "%s %d/%d %s\n", tag, round, b.cfg.trials, describeTrial(p.name, t))
		}
	}
	return nil
}

// dialTimeout bounds connecting one client.
const dialTimeout = 30 * time.Second

// closeDrivers closes the clients, giving up on those that take longer than
// closeTimeout (a stuck client must not keep the servers running).
func closeDrivers(drivers []driver) {
	done := make(chan struct{})
	go func() {
		for _, d := range drivers {
			_ = d.Close()
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(closeTimeout):
	}
}

// profiler collects a CPU profile of each of our client's trials and
// merges them at the end: runtime/pprof has one profile at a time, and
// the peers' trials must stay out of it.
type profiler struct {
	buf      bytes.Buffer
	err      error
	profiles []*profile.Profile
}

func (p *profiler) start() {
	p.buf.Reset()
	if err := pprof.StartCPUProfile(&p.buf); err != nil && p.err == nil {
		p.err = err
	}
}

func (p *profiler) stop() {
	pprof.StopCPUProfile()
	if p.buf.Len() == 0 {
		return
	}
	pr, err := profile.ParseData(p.buf.Bytes())
	if err != nil {
		if p.err == nil {
			p.err = err
		}
		return
	}
	p.profiles = append(p.profiles, pr)
}

// write merges the trials' profiles into file.
func (p *profiler) write(file string) error {
	if p.err != nil {
		return fmt.Errorf("profile: %w", p.err)
	}
	if len(p.profiles) == 0 {
		return errors.New("profile: no justredis trial was profiled")
	}
	merged, err := profile.Merge(p.profiles)
	if err != nil {
		return fmt.Errorf("profile: merging: %w", err)
	}
	f, err := os.Create(file)
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	if err := merged.Write(f); err != nil {
		_ = f.Close()
		return fmt.Errorf("profile: %w", err)
	}
	return f.Close()
}
