package testscripts

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/justredis/justredis/faultinject"
	"github.com/rogpeppe/go-internal/testscript"
)

// cmdProxyStart: proxy-start NAME UPSTREAM [-seed N] starts a
// fault-injecting proxy to UPSTREAM (one host:port) and sets $NAME_ADDR to
// its address. What the proxy logs (a failed dial of UPSTREAM, say) goes
// into the script's log, prefixed with "proxy NAME: " (see proxyLog).
func cmdProxyStart(ts *testscript.TestScript, st *state, neg bool, args []string) {
	const cmd = "proxy-start"
	noNeg(ts, neg, cmd)
	name, args := nameArg(ts, cmd, args)
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		usage(ts, cmd)
	}
	upstream := args[0]
	if err := checkUpstream(upstream); err != nil {
		usagef(ts, cmd, "%v", err)
	}
	var seed int64
	fs := newFlagSet(cmd)
	fs.Int64Var(&seed, "seed", faultinject.DefaultSeed, "seed of the proxy's randomness")
	if rest := parseFlags(ts, cmd, fs, args[1:]); len(rest) != 0 {
		usage(ts, cmd)
	}
	st.claimAddrName(ts, cmd, name, "proxy")
	p, err := faultinject.New("127.0.0.1:0", upstream, faultinject.WithSeed(seed),
		faultinject.WithLogger(st.proxyLog.logger(name)))
	if err != nil {
		delete(st.addrNames, name)
		ts.Fatalf("%s %s: %v", cmd, name, err)
	}
	st.proxies[name] = p
	ts.Setenv(name+"_ADDR", p.Addr())
	ts.Logf("%s: %s at %s -> %s", cmd, name, p.Addr(), upstream)
}

// checkUpstream checks proxy-start's UPSTREAM: one host:port, since the
// proxy dials it only when a client connects, and a bad address would only
// show as the client's connection closing during its handshake.
func checkUpstream(upstream string) error {
	if strings.Contains(upstream, ",") {
		return fmt.Errorf("UPSTREAM %q is a cluster's address list: give one node (see cluster-addr)", upstream)
	}
	_, port, err := net.SplitHostPort(upstream)
	if err != nil {
		return fmt.Errorf("UPSTREAM %q: want host:port: %v", upstream, err)
	}
	if port == "" {
		return fmt.Errorf("UPSTREAM %q: want host:port: missing port", upstream)
	}
	return nil
}

// proxy returns the proxy called name.
func (st *state) proxy(ts *testscript.TestScript, cmd, name string) *faultinject.Proxy {
	checkName(ts, cmd, name)
	p := st.proxies[name]
	if p == nil {
		ts.Fatalf("%s: no proxy called %s (start it with proxy-start)", cmd, name)
	}
	return p
}

// proxyOp returns proxy-stop, proxy-pause or proxy-resume NAME. proxy-stop
// closes the proxy and forgets it: later commands on NAME fail with "no
// proxy called NAME", and proxy-start may use the name again.
func proxyOp(cmd string) func(*testscript.TestScript, *state, bool, []string) {
	return func(ts *testscript.TestScript, st *state, neg bool, args []string) {
		noNeg(ts, neg, cmd)
		if len(args) != 1 {
			usage(ts, cmd)
		}
		p := st.proxy(ts, cmd, args[0])
		switch cmd {
		case "proxy-stop":
			_ = p.Close() // always nil
			delete(st.proxies, args[0])
			delete(st.addrNames, args[0])
		case "proxy-pause":
			p.Pause()
		case "proxy-resume":
			p.Resume()
		}
	}
}

// cmdProxyCut: proxy-cut NAME [-reset] closes every open connection (FIN,
// or RST with -reset); new ones are still accepted.
func cmdProxyCut(ts *testscript.TestScript, st *state, neg bool, args []string) {
	const cmd = "proxy-cut"
	noNeg(ts, neg, cmd)
	name, args := nameArg(ts, cmd, args)
	var reset bool
	fs := newFlagSet(cmd)
	fs.BoolVar(&reset, "reset", false, "reset the connections (RST) instead of closing them")
	if rest := parseFlags(ts, cmd, fs, args); len(rest) != 0 {
		usage(ts, cmd)
	}
	p := st.proxy(ts, cmd, name)
	if reset {
		p.ResetAll()
	} else {
		p.CutAll()
	}
}

// cmdProxyRefuse: proxy-refuse NAME on|off takes the listener down (new
// connections refused) or up again.
func cmdProxyRefuse(ts *testscript.TestScript, st *state, neg bool, args []string) {
	const cmd = "proxy-refuse"
	noNeg(ts, neg, cmd)
	if len(args) != 2 || (args[1] != "on" && args[1] != "off") {
		usage(ts, cmd)
	}
	p := st.proxy(ts, cmd, args[0])
	if err := p.RefuseNew(args[1] == "on"); err != nil {
		ts.Fatalf("%s %s: %v", cmd, args[0], err)
	}
}

// cmdToxicAdd: toxic-add PROXY NAME TYPE upstream|downstream [toxicity=P]
// [ATTR=VALUE...]. TYPE and ATTRs are those of faultinject's HTTP API:
//
//	latency     delay=D jitter=D
//	bandwidth   bytes_per_second=N
//	slicer      average_size=N size_variation=N delay=D
//	limit_data  bytes=N
//	blackhole
//	reset_peer  timeout=D
//	slow_close  delay=D
func cmdToxicAdd(ts *testscript.TestScript, st *state, neg bool, args []string) {
	const cmd = "toxic-add"
	noNeg(ts, neg, cmd)
	if len(args) < 4 {
		usage(ts, cmd)
	}
	p := st.proxy(ts, cmd, args[0])
	var dir faultinject.Direction
	if err := dir.UnmarshalText([]byte(args[3])); err != nil {
		usagef(ts, cmd, "%v", err)
	}
	toxic, err := newToxic(args[2])
	if err != nil {
		usagef(ts, cmd, "%v", err)
	}
	toxic, toxicity, err := applyAttrs(toxic, 1, args[4:])
	if err != nil {
		usagef(ts, cmd, "%v", err)
	}
	if err := p.AddToxic(args[1], dir, toxic, toxicity); err != nil {
		ts.Fatalf("%s: %v", cmd, err)
	}
}

// cmdToxicUpdate: toxic-update PROXY NAME [toxicity=P] [ATTR=VALUE...]
// changes a toxic's settings: those given, the others kept.
func cmdToxicUpdate(ts *testscript.TestScript, st *state, neg bool, args []string) {
	const cmd = "toxic-update"
	noNeg(ts, neg, cmd)
	if len(args) < 2 {
		usage(ts, cmd)
	}
	p := st.proxy(ts, cmd, args[0])
	info, ok := p.Toxic(args[1])
	if !ok {
		ts.Fatalf("%s: proxy %s has no toxic %s", cmd, args[0], args[1])
	}
	toxic, toxicity, err := applyAttrs(info.Toxic, info.Toxicity, args[2:])
	if err != nil {
		usagef(ts, cmd, "%v", err)
	}
	if err := p.UpdateToxic(args[1], toxic, toxicity); err != nil {
		ts.Fatalf("%s: %v", cmd, err)
	}
}

// cmdToxicRemove: toxic-remove PROXY NAME.
func cmdToxicRemove(ts *testscript.TestScript, st *state, neg bool, args []string) {
	const cmd = "toxic-remove"
	noNeg(ts, neg, cmd)
	if len(args) != 2 {
		usage(ts, cmd)
	}
	p := st.proxy(ts, cmd, args[0])
	if err := p.RemoveToxic(args[1]); err != nil {
		ts.Fatalf("%s: %v", cmd, err)
	}
}

// newToxic returns the zero toxic of a type.
func newToxic(typ string) (faultinject.Toxic, error) {
	switch typ {
	case "latency":
		return faultinject.Latency{}, nil
	case "bandwidth":
		return faultinject.Bandwidth{}, nil
	case "slicer":
		return faultinject.Slicer{}, nil
	case "limit_data":
		return faultinject.LimitData{}, nil
	case "blackhole":
		return faultinject.Blackhole{}, nil
	case "reset_peer":
		return faultinject.ResetPeer{}, nil
	case "slow_close":
		return faultinject.SlowClose{}, nil
	}
	return nil, fmt.Errorf("unknown toxic type %q (latency, bandwidth, slicer, limit_data, blackhole, reset_peer, slow_close)", typ)
}

// applyAttrs sets ATTR=VALUE settings on a toxic, and toxicity=P.
func applyAttrs(t faultinject.Toxic, toxicity float64, attrs []string) (faultinject.Toxic, float64, error) {
	for _, a := range attrs {
		key, val, ok := strings.Cut(a, "=")
		if !ok {
			return nil, 0, fmt.Errorf("%q: want ATTR=VALUE", a)
		}
		if key == "toxicity" {
			f, err := strconv.ParseFloat(val, 64)
			if err != nil {
				return nil, 0, fmt.Errorf("toxicity: %v", err)
			}
			toxicity = f
			continue
		}
		var err error
		if t, err = setAttr(t, key, val); err != nil {
			return nil, 0, fmt.Errorf("%s %s: %v", t.Kind(), key, err)
		}
	}
	return t, toxicity, nil
}

// setAttr sets one attribute of a toxic.
func setAttr(t faultinject.Toxic, key, val string) (faultinject.Toxic, error) {
	dur := func() (time.Duration, error) { return time.ParseDuration(val) }
	num := func() (int64, error) { return strconv.ParseInt(val, 10, 64) }
	// An int attribute: out of an int's range is an error, not truncated
	// (on 32-bit platforms); faultinject checks the bounds.
	intNum := func() (int, error) { return strconv.Atoi(val) }
	var err error
	switch x := t.(type) {
	case faultinject.Latency:
		switch key {
		case "delay":
			x.Delay, err = dur()
		case "jitter":
			x.Jitter, err = dur()
		default:
			return t, errUnknownAttr
		}
		return x, err
	case faultinject.Bandwidth:
		if key != "bytes_per_second" {
			return t, errUnknownAttr
		}
		x.BytesPerSecond, err = num()
		return x, err
	case faultinject.Slicer:
		switch key {
		case "average_size":
			x.AverageSize, err = intNum()
		case "size_variation":
			x.SizeVariation, err = intNum()
		case "delay":
			x.Delay, err = dur()
		default:
			return t, errUnknownAttr
		}
		return x, err
	case faultinject.LimitData:
		if key != "bytes" {
			return t, errUnknownAttr
		}
		x.Bytes, err = num()
		return x, err
	case faultinject.ResetPeer:
		if key != "timeout" {
			return t, errUnknownAttr
		}
		x.Timeout, err = dur()
		return x, err
	case faultinject.SlowClose:
		if key != "delay" {
			return t, errUnknownAttr
		}
		x.Delay, err = dur()
		return x, err
	}
	return t, errUnknownAttr
}

var errUnknownAttr = fmt.Errorf("unknown attribute")
