package client

import (
	"testing"
	"time"

	"github.com/justredis/justredis/faultinject"
)

// TestReliabilityMoreFaults runs the reliability suite's checks (see
// TestReliability) under harsher and mixed faults: connections cut after a
// few bytes in either direction, immediate resets, a 1-byte slicer with cuts,
// latency with resets, a latency toxic on half the connections with cuts,
// and the connection-killing faults again with the RESP2 + AUTH handshake.
func TestReliabilityMoreFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("the reliability suite takes about a minute")
	}
	if slicing {
		t.Skip("runs through its own proxy; the slicer pass is for the rest of the suite")
	}
	var fs []relFault
	add := func(name string, on, off func(e *relEnv) error) {
		fs = append(fs, relFault{name: name, on: on, off: off})
	}
	on, off := toxic("limit", faultinject.Upstream, faultinject.LimitData{Bytes: 40})
	add("limit up 40", on, off)
	on, off = toxic("limit", faultinject.Upstream, faultinject.LimitData{Bytes: 300})
	add("limit up 300", on, off)
	on, off = toxic("limit", faultinject.Downstream, faultinject.LimitData{Bytes: 200})
	add("limit down 200", on, off)
	on, off = toxic("limit", faultinject.Downstream, faultinject.LimitData{Bytes: 400})
	add("limit down 400", on, off)
	on, off = toxic("rst", faultinject.Downstream, faultinject.ResetPeer{Timeout: 5 * time.Millisecond})
	add("rst 5ms", on, off)
	on, off = toxic("rst", faultinject.Downstream, faultinject.ResetPeer{Timeout: 0})
	add("rst 0", on, off)
	on, off = bothWays(faultinject.Slicer{AverageSize: 1, Delay: 0})
	fs = append(fs, relFault{name: "slicer1+cut", on: on, off: off, tick: func(e *relEnv) error { e.p.CutAll(); return nil }})
	on, off = bothWays(faultinject.Latency{Delay: 5 * time.Millisecond, Jitter: 5 * time.Millisecond})
	fs = append(fs, relFault{name: "latency+reset", on: on, off: off, tick: func(e *relEnv) error { e.p.ResetAll(); return nil }})
	fs = append(fs, relFault{name: "latency half", on: func(e *relEnv) error {
		return e.p.AddToxic("l", faultinject.Downstream, faultinject.Latency{Delay: 300 * time.Millisecond}, 0.5)
	}, off: func(e *relEnv) error { return e.p.RemoveToxic("l") }, tick: func(e *relEnv) error { e.p.CutAll(); return nil }})
	for _, f := range relFaults() {
		if f.name == "cut all conns" || f.name == "reset all conns" || f.name == "limit_data upstream" || f.name == "limit_data downstream" {
			f.resp2auth = true
			f.name += " r2"
			fs = append(fs, f)
		}
	}
	var rows []*relRow
	for i, f := range fs {
		row := &relRow{fault: f.name}
		rows = append(rows, row)
		t.Run(f.name, func(t *testing.T) { runFault(t, f, int64(200+i), row) })
	}
	t.Log("more faults:" + relTable(rows))
}
