package faultinject

// DefaultSeed is the seed used when New is not given WithSeed. A fixed default
// makes every run of a test draw the same random numbers; pass WithSeed with a
// varying value (and log it) to explore more schedules.
const DefaultSeed int64 = 1

// Logger receives one line per notable proxy event (connection accepted or
// closed, upstream dial failure, toxic fired). Its signature matches
// testing.T.Logf, so WithLogger(t.Logf) works; a Logger must be safe for
// concurrent use, and must not call the proxy's methods: some events are
// logged while the proxy's lock is held. A Logger is never called after
// Close has returned.
type Logger func(format string, args ...any)

// Option configures a Proxy in New.
type Option func(*config)

// config holds New's options. The zero value means the documented defaults.
type config struct {
	seed int64
	logf Logger
}

// WithSeed sets the seed of all the proxy's randomness: per-connection
// toxicity decisions, latency jitter and slicer chunk sizes. Each connection
// derives its random streams from the seed and the connection's index (0 for
// the first connection the proxy accepts, 1 for the next, ...), so how
// goroutines are scheduled never changes the numbers a given connection
// draws. Replaying a failure therefore needs the same seed and the same order
// of connections; Seed reports the seed in use.
func WithSeed(seed int64) Option {
	return func(c *config) { c.seed = seed }
}

// WithLogger sets a Logger for proxy events. The default logs nothing.
func WithLogger(l Logger) Option {
	return func(c *config) { c.logf = l }
}

// newConfig applies opts over the defaults.
func newConfig(opts []Option) config {
	c := config{seed: DefaultSeed}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if c.logf == nil {
		c.logf = func(string, ...any) {}
	}
	return c
}
