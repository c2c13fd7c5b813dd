package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Mode names: where the clients send their commands.
const (
	modeSingle  = "single"  // one private redis-server
	modeCluster = "cluster" // a private 3-master cluster without replicas
)

// config is the parsed command line.
type config struct {
	duration    time.Duration // one measured trial
	warmup      time.Duration // unmeasured run of each client before a configuration's trials
	trials      int           // rounds of A B C ... (every other one backwards) per configuration
	concs       []int         // goroutine counts
	values      []int         // value sizes in bytes
	clients     []string      // names from the clients table, in the order they run
	modes       []string      // modeSingle, modeCluster
	ceiling     bool          // run redis-benchmark -P 64 beside the clients
	ceilingN    int           // requests per redis-benchmark test; 0 = by value size
	floor       bool          // run the Go hand-off floor beside the clients
	out         string        // directory for results.csv and results.png; "" = none
	profile     string        // file for the CPU profile of our client's trials; "" = none
	goredisPool int           // go-redis PoolSize per node; 0 = its default
	redis       string        // the redis-server binary; "" = redisserver's default
	redisBench  string        // the redis-benchmark binary
}

// Defaults of the flags; -quick changes those it names, unless set.
const (
	defaultDuration = 2 * time.Second
	defaultWarmup   = 500 * time.Millisecond
	defaultTrials   = 5
	quickDuration   = 200 * time.Millisecond
	quickWarmup     = 50 * time.Millisecond
	quickTrials     = 2
	quickCeilingN   = 100_000
)

// parseFlags parses args (without the program name) into a config.
func parseFlags(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: go run ./bench [flags]\n\n"+
			"Measures justredis beside go-redis, rueidis and radix (SET/GET alternating,\n"+
			"one key per goroutine) on a private redis-server and a private 3-master\n"+
			"cluster, with the clients' trials interleaved (A B C, C B A, ...).\n\nflags:\n")
		fs.PrintDefaults()
	}
	c := &config{}
	fs.DurationVar(&c.duration, "duration", defaultDuration, "length of one measured trial")
	fs.DurationVar(&c.warmup, "warmup", defaultWarmup, "unmeasured run of each client before a configuration's trials (dials pools, sizes buffers)")
	fs.IntVar(&c.trials, "trials", defaultTrials, "measured trials of each client per configuration, interleaved A B C, C B A, ...")
	concs := fs.String("conc", "1,16,256,2048", "goroutine counts, comma-separated")
	values := fs.String("values", "16,4096", "value sizes in bytes, comma-separated")
	clientList := fs.String("clients", strings.Join(clientNames(), ","), "clients to run, comma-separated, in this order: "+strings.Join(clientNames(), ", "))
	modes := fs.String("modes", modeSingle+","+modeCluster, "deployments, comma-separated: single (one redis-server), cluster (3 masters, no replicas)")
	fs.BoolVar(&c.ceiling, "ceiling", true, "also run redis-benchmark -P 64 -c 50 on the single server (with the largest goroutine count's trials), as the ceiling")
	fs.BoolVar(&c.floor, "floor", true, "also run the Go hand-off floor (goroutines waking through one queue, no I/O) with the largest goroutine count's trials on the single server")
	fs.IntVar(&c.ceilingN, "ceiling-n", 0, "requests per redis-benchmark test (-n); 0 = 2,000,000 for values under 1 KiB, 500,000 above")
	fs.StringVar(&c.out, "out", "", "directory to write results.csv and results.png into (created if needed)")
	fs.StringVar(&c.profile, "profile", "", "write a CPU profile of justredis's measured trials (merged) to this file")
	fs.IntVar(&c.goredisPool, "goredis-pool", 0, "go-redis PoolSize (per node); 0 = go-redis's default, 10 x GOMAXPROCS")
	fs.StringVar(&c.redis, "redis-server", "", "redis-server binary (default: $REDIS_SERVER_BIN, else redis-server on $PATH)")
	fs.StringVar(&c.redisBench, "redis-benchmark", "redis-benchmark", "redis-benchmark binary for -ceiling")
	quick := fs.Bool("quick", false, fmt.Sprintf("a short smoke run: -duration %v -warmup %v -trials %d -ceiling-n %d, unless those flags are given",
		quickDuration, quickWarmup, quickTrials, quickCeilingN))
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if *quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["duration"] {
			c.duration = quickDuration
		}
		if !set["warmup"] {
			c.warmup = quickWarmup
		}
		if !set["trials"] {
			c.trials = quickTrials
		}
		if !set["ceiling-n"] {
			c.ceilingN = quickCeilingN
		}
	}
	var err error
	if c.concs, err = parseInts(*concs, "-conc"); err != nil {
		return nil, err
	}
	if c.values, err = parseInts(*values, "-values"); err != nil {
		return nil, err
	}
	if c.clients, err = parseNames(*clientList, "-clients", clientNames()); err != nil {
		return nil, err
	}
	if c.modes, err = parseNames(*modes, "-modes", []string{modeSingle, modeCluster}); err != nil {
		return nil, err
	}
	switch {
	case c.duration <= 0:
		return nil, errors.New("-duration must be positive")
	case c.warmup < 0:
		return nil, errors.New("-warmup must not be negative")
	case c.trials < 1:
		return nil, errors.New("-trials must be at least 1")
	case c.ceilingN < 0 || c.goredisPool < 0:
		return nil, errors.New("-ceiling-n and -goredis-pool must not be negative")
	}
	return c, nil
}

// parseInts parses a comma-separated list of positive integers, keeping its
// order and dropping repeats.
func parseInts(s, flagName string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%s: %q is not a positive integer", flagName, f)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: empty list", flagName)
	}
	return out, nil
}

// parseNames parses a comma-separated list of names from known, keeping its
// order and dropping repeats.
func parseNames(s, flagName string, known []string) ([]string, error) {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		f = strings.ToLower(strings.TrimSpace(f))
		if f == "" {
			continue
		}
		if !slices.Contains(known, f) {
			return nil, fmt.Errorf("%s: unknown %q (known: %s)", flagName, f, strings.Join(known, ", "))
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: empty list", flagName)
	}
	return out, nil
}

// ceilingRequests is redis-benchmark's -n for a value size.
func (c *config) ceilingRequests(size int) int {
	switch {
	case c.ceilingN > 0:
		return c.ceilingN
	case size < 1024:
		return 2_000_000
	default:
		return 500_000
	}
}
