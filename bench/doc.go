// Command bench measures justredis beside the other Go Redis clients —
// go-redis v9, rueidis and radix v4 — on the same private servers, and
// redis-benchmark -P 64 as the ceiling of what the server can do, and the
// Go hand-off floor as the yardstick of what the machine charges any Go
// client for waking goroutines.
//
//	go run ./bench                       # the full run: 12 to 15 minutes
//	go run ./bench -quick                # a smoke run: about a minute
//	go run ./bench -out bench/out        # also results.csv and results.png
//	go run ./bench -clients justredis -conc 2048 -modes single -profile cpu.pprof
//
// It is a module of its own (github.com/justredis/justredis/bench), so that
// the peer clients never enter the go.mod of our other modules.
//
// # What it measures
//
// It starts a private redis-server and a private cluster of three masters
// without replicas (a replica would only spend the cores on replication)
// with our redisserver and clusterharness modules, and stops them at the
// end, also after an error or a Ctrl-C (a second Ctrl-C kills the program,
// and redisserver's servers die with it on Linux).
//
// For every deployment (-modes), value size (-values) and goroutine count
// (-conc), a configuration, it connects each client (-clients), gives each
// a warm-up (-warmup: dials pools, grows buffers; errors count), then runs
// -trials rounds in which every client has one trial of -duration, in
// turn: A B C, then C B A, and so on, so that whatever the machine does
// meanwhile hits every client alike, and none always runs first or after
// the same participant. In a trial, each goroutine alternates SET k v and
// GET k on a key of its own ("bench:<n>": on a cluster the keys spread over
// the masters) and checks the length of the value it gets back; the first
// error of any goroutine ends the program, loudly. The commands run under a
// cancellable context (the program's signal context), as the commands of a
// server usually do.
//
// A trial's throughput is the commands completed divided by the time from
// the goroutines' release until the last of them returned; its allocations
// per command are the runtime's Mallocs over the same span divided by the
// commands, so they count everything the process allocated meanwhile,
// including the client's own goroutines; the measuring loop allocates
// nothing (each session prepares its arguments once: our Do's ...any
// arguments are boxed once, go-redis's value is boxed once). runtime.GC runs
// before every trial, so that a trial does not collect its predecessor's
// garbage. For justredis, cmds/write is the average number of commands per
// write system call (Mux.Stats).
//
// cpu µs/op is the CPU time (user + system) per command of this process
// (the client under test, its goroutines and the measuring loop; the other
// clients sit idle meanwhile) and of the redis-server processes (from
// /proc; not measured for containers or off Linux), over the same span.
// On two cores that the client, the servers and the kernel share, the
// CPU a command costs everyone is what bounds throughput, and a client
// that spends less leaves more to the server: compare "client" across
// clients in one configuration, and "server" to see how a client's
// batching costs the server.
//
// The table shows, per configuration and client, the median ops/s, the
// min-max over the trials, the median allocations per command, the median
// cpu µs/op as client+server, and ours ÷ this client: the median over the
// rounds of the ratio of the two trials of the same round (the rounds
// interleave the clients so that the machine's drift hits a round's trials
// alike; the ratio of the two medians would mix trials of rounds far apart
// on a machine that slows down during a run); then the targets of issue #9
// checked against those ratios and medians. -out writes the same as
// results.csv (one row per client and configuration, every trial's ops/s
// included, the date and machine on every row) and results.png, a bar chart
// per deployment and value size with the date and machine in its header.
//
// # The ceiling
//
// With the largest goroutine count on the single server, each round also
// runs redis-benchmark -t set,get -P 64 -c 50 -d <size> -n <N> against the
// same server (skipped, with a note, when it is not installed); its ops/s
// is the harmonic mean of the SET and GET rates (their rate alternating,
// as our workload does), and the table gives ours as a
// percentage of it (the median of the rounds' percentages, as for the
// ratios). N is -ceiling-n, or 2,000,000 requests per test for
// values under 1 KiB and 500,000 above.
//
// # The floor
//
// With the largest goroutine count on the single server, each round also
// runs the Go hand-off floor (floor.go; -floor=false skips it): the same
// number of goroutines, each queueing a request on one mutex-guarded queue
// and waiting on a channel of its own, served in batches by one goroutine
// that signals them all; no I/O. Its CPU per operation is what the Go
// runtime alone charges on this machine for the park, wake and scheduling
// every goroutine-per-caller client pays per command, and the table gives
// our client's CPU per command as a multiple of it (paired by round, as
// the ratios). It explains runs that look alike and differ: on one 2-core
// VM the floor at 2048 goroutines measured 0.45 µs per operation at one
// time and 1.5 µs minutes before and after (with GOMAXPROCS=1, 0.4 to 0.5),
// as handing goroutines from one core to the other was dearer; every
// Go client's cost per command moves with it, redis-benchmark's does not,
// so read "% of the ceiling" beside the floor.
//
// # The clients and their configurations
//
//   - justredis: the defaults (one auto-pipelined connection per server;
//     cluster.New on the cluster).
//   - go-redis v9: the defaults, including PoolSize, 10 connections per
//     GOMAXPROCS (per node on a cluster). go-redis runs one command per
//     connection at a time, so goroutines beyond the pool wait for one. A
//     pool as large as the goroutine count (max(goroutines, 10)) was 3-4
//     times slower at 2048 goroutines on 2 cores, so the default is also its
//     better configuration here; -goredis-pool sets another size.
//   - rueidis: the defaults, auto-pipelining (on a single server,
//     2^min(log2(GOMAXPROCS), 2) connections; one per cluster node);
//     ForceSingleClient on the single server, which is what it would guess
//     after a CLUSTER SLOTS probe.
//   - radix v4: the defaults, a Pool of 4 connections with implicit
//     pipelining (on a cluster, one such Pool per node).
//
// # Profiling our client
//
// -profile FILE writes a CPU profile of justredis's measured trials only:
// each trial is profiled on its own (runtime/pprof has one profile at a
// time) and the profiles are merged at the end. Samples carry the labels
// client, mode, value and goroutines (the client's own goroutines too), so
//
//	go tool pprof -tagfocus 'goroutines=^2048$' cpu.pprof
//
// looks at one configuration. The profiler costs our client a little
// throughput in that run.
//
// # Dependencies, and why
//
//   - github.com/redis/go-redis/v9 (v9.22.0), github.com/redis/rueidis,
//     github.com/mediocregopher/radix/v4: the peers under test. go-redis is
//     held at v9.22.0, the last release that needs no newer Go than our
//     modules' go 1.25.0.
//   - golang.org/x/image (font/basicfont, math/fixed): the text of the PNG
//     chart, drawn with the standard library's image/png; held at v0.45.0
//     (go 1.25, and the golang.org/x/sys our other modules use).
//   - github.com/google/pprof/profile: merging the per-trial CPU profiles
//     of -profile into one file; a pseudo-version from August 2025, the
//     last before it needed Go 1.26.
//   - our client, cluster, redisserver, clusterharness and resp modules,
//     by replace directives (as in cluster/go.mod).
package main
