package clusterharness

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lineSpec is one CLUSTER NODES line of the fake cluster.
type lineSpec struct {
	addr, flags, master, link, slots string
}

// fakeNode is a Node of no running server, for evaluate.
func fakeNode(c *Cluster, id byte, port int) *Node {
	return &Node{c: c, id: strings.Repeat(string(id), 40), addr: fmt.Sprintf("127.0.0.1:%d", port), port: fmt.Sprint(port)}
}

// TestEvaluate checks the stability judgement on made-up answers: masters
// a (slots 0-8191, replica r) and b (8192-16383); d is down.
func TestEvaluate(t *testing.T) {
	t.Parallel()
	c := &Cluster{}
	a, b, r, d := fakeNode(c, 'a', 7001), fakeNode(c, 'b', 7002), fakeNode(c, 'r', 7003), fakeNode(c, 'd', 7004)
	d.down = true
	c.nodes = []*Node{a, b, r, d}
	base := map[*Node]lineSpec{
		a: {flags: "master", master: "-", slots: "0-8191"},
		b: {flags: "master", master: "-", slots: "8192-16383"},
		r: {flags: "slave", master: a.id},
		d: {flags: "slave,fail", master: b.id, link: "disconnected"},
	}
	type edits struct {
		line    func(self, of *Node, l *lineSpec) // changes what self says of of
		state   map[*Node]string                  // cluster_state, "ok" when absent
		link    string                            // r's master_link_status, "up" when empty
		err     *Node                             // a node that does not answer
		marks   map[int]migrationMark
		orphans []string
		expect  expectation
	}
	for _, tc := range []struct {
		name string
		e    edits
		want []string // substrings of the problems, in order; none = stable
	}{
		{name: "stable"},
		{name: "cluster_state", e: edits{state: map[*Node]string{b: "fail"}}, want: []string{"127.0.0.1:7002: cluster_state:fail"}},
		{name: "pfail", e: edits{line: func(self, of *Node, l *lineSpec) {
			if self == a && of == b {
				l.flags = "master,fail?"
			}
		}}, want: []string{"127.0.0.1:7001: sees 127.0.0.1:7002 with flags master,fail?"}},
		{name: "disconnected link", e: edits{line: func(self, of *Node, l *lineSpec) {
			if self == r && of == b {
				l.link = "disconnected"
			}
		}}, want: []string{"127.0.0.1:7003: its link to 127.0.0.1:7002 is disconnected"}},
		{name: "unknown node", e: edits{line: func(self, of *Node, l *lineSpec) {
			if self == b && of == r {
				l.addr = "skip"
			}
		}}, want: []string{"127.0.0.1:7002: does not know 127.0.0.1:7003", "disagree"}},
		{name: "wrong address", e: edits{line: func(self, of *Node, l *lineSpec) {
			if self == a && of == b {
				l.addr = "10.0.0.1:7002"
			}
		}}, want: []string{`127.0.0.1:7001: sees 127.0.0.1:7002 at "10.0.0.1:7002"`}},
		{name: "replication link down", e: edits{link: "down"}, want: []string{"127.0.0.1:7003: master_link_status:down (master 127.0.0.1:7001)"}},
		{name: "views disagree", e: edits{line: func(self, of *Node, l *lineSpec) {
			if self == b && of == r {
				l.flags, l.master, l.slots = "master", "-", ""
			}
		}}, want: []string{`127.0.0.1:7001 and 127.0.0.1:7002 disagree: one sees "127.0.0.1:7003 replica of 127.0.0.1:7001", the other "127.0.0.1:7003 master of slots -"`}},
		{name: "unassigned", e: edits{line: func(self, of *Node, l *lineSpec) {
			if of == b {
				l.slots = "8192-16000"
			}
		}}, want: []string{"127.0.0.1:7001: slots 16001-16383 are not assigned"}},
		{name: "owner down", e: edits{line: func(self, of *Node, l *lineSpec) {
			switch of {
			case b:
				l.slots = "8192-9999"
			case d:
				l.flags, l.master, l.slots = "master", "-", "10000-16383"
			}
		}}, want: []string{"127.0.0.1:7001: slots 10000-16383 are owned by 127.0.0.1:7004, which is down"}},
		{name: "replica of a down node", e: edits{line: func(self, of *Node, l *lineSpec) {
			if of == r {
				l.master = d.id
			}
		}}, want: []string{"127.0.0.1:7003: replicates 127.0.0.1:7004, which is not live"}},
		{name: "migrating, no migration", e: edits{line: func(self, of *Node, l *lineSpec) {
			if self == a && of == a {
				l.slots += " [5->-" + b.id + "]"
			}
			if self == b && of == b {
				l.slots += " [5-<-" + a.id + "]"
			}
		}}, want: []string{"127.0.0.1:7001: slot 5 is migrating to 127.0.0.1:7002, and no such migration is open",
			"127.0.0.1:7002: slot 5 is importing from 127.0.0.1:7001, and no such migration is open"}},
		{name: "migrating, open migration", e: edits{marks: map[int]migrationMark{5: {a.id, b.id}}, line: func(self, of *Node, l *lineSpec) {
			if self == a && of == a {
				l.slots += " [5->-" + b.id + "]"
			}
			if self == b && of == b {
				l.slots += " [5-<-" + a.id + "]"
			}
		}}},
		{name: "importing from a source that is down", e: edits{marks: map[int]migrationMark{5: {d.id, b.id}}, line: func(self, of *Node, l *lineSpec) {
			if self == b && of == b {
				l.slots += " [5-<-" + d.id + "]"
			}
		}}, want: []string{"127.0.0.1:7002: slot 5 is importing from 127.0.0.1:7004, which is no longer a live master: abort the migration"}},
		{name: "importing from a replica", e: edits{marks: map[int]migrationMark{5: {r.id, b.id}}, line: func(self, of *Node, l *lineSpec) {
			if self == b && of == b {
				l.slots += " [5-<-" + r.id + "]"
			}
		}}, want: []string{"127.0.0.1:7002: slot 5 is importing from 127.0.0.1:7003, which is no longer a live master: abort the migration"}},
		{name: "orphan migration", e: edits{orphans: []string{"slots 5: left half-way"}}, want: []string{"slots 5: left half-way"}},
		{name: "no answer", e: edits{err: b}, want: []string{"127.0.0.1:7002: does not answer: connection refused"}},
		{name: "expectation", e: edits{expect: expectMaster(r)}, want: []string{"waiting for 127.0.0.1:7003 to become a master"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hs := harnessState{live: []*Node{a, b, r}, status: map[string]State{}, names: map[string]string{}, marks: tc.e.marks, orphans: tc.e.orphans}
			for _, n := range c.nodes {
				hs.status[n.id] = n.stateLocked()
				hs.names[n.id] = n.addr
			}
			var probes []*probe
			for _, self := range hs.live {
				p := &probe{node: self}
				probes = append(probes, p)
				if self == tc.e.err {
					p.err = errors.New("connection refused")
					continue
				}
				var nodes strings.Builder
				for _, of := range c.nodes {
					l := base[of]
					l.addr = of.addr
					if l.link == "" {
						l.link = "connected"
					}
					if self == of {
						l.flags = "myself," + l.flags
					}
					if tc.e.line != nil {
						tc.e.line(self, of, &l)
					}
					if l.addr != "skip" {
						fmt.Fprintf(&nodes, "%s %s@1%s %s %s 0 0 1 %s %s\n", of.id, l.addr, of.port, l.flags, l.master, l.link, l.slots)
					}
				}
				state := tc.e.state[self]
				if state == "" {
					state = "ok"
				}
				repl := "role:master\r\n"
				if self == r {
					link := tc.e.link
					if link == "" {
						link = "up"
					}
					repl = "role:slave\r\nmaster_host:127.0.0.1\r\nmaster_port:7001\r\nmaster_link_status:" + link + "\r\n"
				}
				p.parse("cluster_state:"+state+"\r\n", nodes.String(), repl)
				require.NoError(t, p.err)
			}
			var expects []expectation
			if tc.e.expect != nil {
				expects = append(expects, tc.e.expect)
			}
			v, problems := evaluate(hs, probes, expects)
			if len(tc.want) == 0 {
				require.Empty(t, problems)
				require.NotNil(t, v)
				return
			}
			require.Len(t, problems, len(tc.want), "%q", problems)
			for i, w := range tc.want {
				assert.Contains(t, problems[i], w)
			}
		})
	}
}

func TestStabilityError(t *testing.T) {
	t.Parallel()
	err := error(&StabilityError{Problems: []string{"a: x", "b: y"}, Err: errors.New("ctx ended")})
	assert.ErrorIs(t, err, ErrNotStable)
	assert.Equal(t, "clusterharness: cluster not stable: ctx ended\n\ta: x\n\tb: y", err.Error())
	err = &StabilityError{Err: errors.New("ctx ended")}
	assert.Equal(t, "clusterharness: cluster not stable: ctx ended (no check completed)", err.Error())
}

// deadlineCtx is a context whose deadline has passed while its timer has
// not fired yet (Err is nil): the moment a dial bounded by the deadline has
// already timed out.
type deadlineCtx struct {
	context.Context
	d time.Time
}

func (c deadlineCtx) Deadline() (time.Time, bool) { return c.d, true }

// A check that returns after ctx's deadline, even a moment before ctx says
// it has ended, was cut short: its problems (nodes that "do not answer"
// because the deadline cut their dial) are not the cluster's, and are not
// the ones reported. They used to be, when the dial's timeout beat ctx's
// timer (a CI run failed on it).
func TestPollIgnoresChecksPastTheDeadline(t *testing.T) {
	base, cancel := context.WithCancel(context.Background())
	ctx := deadlineCtx{Context: base, d: time.Now().Add(-time.Millisecond)}
	calls := 0
	err := poll(ctx, func(context.Context) []string {
		calls++
		if calls == 2 {
			cancel()
		}
		return []string{fmt.Sprintf("node does not answer (call %d)", calls)}
	})
	var se *StabilityError
	require.ErrorAs(t, err, &se)
	assert.Empty(t, se.Problems, "problems of checks past the deadline")
}
