package testscripts

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/justredis/justredis/clusterharness"
	"github.com/rogpeppe/go-internal/testscript"
)

// MaxClusterNodes bounds the nodes of a cluster that cluster-start starts:
// MASTERS × (1 + REPLICAS). A larger cluster fails the script with the
// usage.
const MaxClusterNodes = 100

// cmdClusterStart: cluster-start NAME [-pass PASSWORD] [MASTERS [REPLICAS]]
// starts a cluster (default 3 masters, 1 replica each; REPLICAS 0 means
// none; at most MaxClusterNodes nodes in all) and sets $NAME_ADDR to its
// nodes' addresses, separated by commas.
func cmdClusterStart(ts *testscript.TestScript, st *state, neg bool, args []string) {
	const cmd = "cluster-start"
	noNeg(ts, neg, cmd)
	name, args := nameArg(ts, cmd, args)
	opts := clusterharness.Options{Masters: 3, Replicas: 1}
	fs := newFlagSet(cmd)
	fs.StringVar(&opts.Node.Password, "pass", "", "requirepass of every node")
	args = parseFlags(ts, cmd, fs, args)
	if len(args) > 2 {
		usage(ts, cmd)
	}
	if len(args) > 0 {
		n, err := strconv.Atoi(args[0])
		if err != nil || n < 1 {
			usagef(ts, cmd, "MASTERS must be a number >= 1, not %q", args[0])
		}
		opts.Masters = n
	}
	if len(args) > 1 {
		n, err := strconv.Atoi(args[1])
		if err != nil || n < 0 {
			usagef(ts, cmd, "REPLICAS must be a number >= 0, not %q", args[1])
		}
		opts.Replicas = n
		if n == 0 {
			opts.Replicas = -1 // clusterharness: negative means none
		}
	}
	replicas := max(opts.Replicas, 0)
	// MASTERS × (1 + REPLICAS) could overflow: compare with a quotient.
	if replicas >= MaxClusterNodes || opts.Masters > MaxClusterNodes/(1+replicas) {
		usagef(ts, cmd, "%d masters with %d replicas each: want at most %d nodes in all", opts.Masters, replicas, MaxClusterNodes)
	}
	st.claimAddrName(ts, cmd, name, "cluster")
	ctx, cancel := st.opContext(DefaultClusterTimeout)
	defer cancel()
	c, err := clusterharness.Start(ctx, opts)
	if err != nil {
		delete(st.addrNames, name)
		ts.Fatalf("%s %s: %v", cmd, name, err)
	}
	st.clusters[name] = &clusterEntry{c: c}
	ts.Setenv(name+"_ADDR", strings.Join(c.Addrs(), ","))
	ts.Logf("%s: %s at %s", cmd, name, strings.Join(c.Addrs(), ","))
}

// cluster returns the cluster called name.
func (st *state) cluster(ts *testscript.TestScript, cmd, name string) *clusterEntry {
	checkName(ts, cmd, name)
	ce := st.clusters[name]
	if ce == nil {
		ts.Fatalf("%s: no cluster called %s (start it with cluster-start)", cmd, name)
	}
	return ce
}

// node finds a NODE of a cluster: master:KEY (the master that owns KEY's
// slot), replica:KEY (the first replica of that master), or the node's
// address, HOST:PORT.
func node(ts *testscript.TestScript, cmd string, c *clusterharness.Cluster, sel string) *clusterharness.Node {
	kind, key, _ := strings.Cut(sel, ":")
	switch kind {
	case "master", "replica":
		m := c.SlotOwner(clusterharness.KeySlot(key))
		if m == nil {
			ts.Fatalf("%s: no master owns the slot of %q", cmd, key)
		}
		if kind == "master" {
			return m
		}
		reps := c.ReplicasOf(m)
		if len(reps) == 0 {
			ts.Fatalf("%s: the master of %q (%s) has no live replica", cmd, key, m)
		}
		return reps[0]
	}
	for _, n := range c.Nodes() {
		if n.Addr() == sel {
			return n
		}
	}
	ts.Fatalf("%s: no node %q: use master:KEY, replica:KEY or a node's address", cmd, sel)
	return nil
}

// cmdClusterStop: cluster-stop NAME.
func cmdClusterStop(ts *testscript.TestScript, st *state, neg bool, args []string) {
	const cmd = "cluster-stop"
	noNeg(ts, neg, cmd)
	if len(args) != 1 {
		usage(ts, cmd)
	}
	ce := st.cluster(ts, cmd, args[0])
	ctx, cancel := st.opContext(DefaultClusterTimeout)
	defer cancel()
	if err := ce.c.Stop(ctx); err != nil {
		ts.Fatalf("%s %s: %v", cmd, args[0], err)
	}
}

// clusterNodeOp returns cluster-kill, -restart, -pause or -resume NAME NODE:
// each returns once the cluster is stable again.
func clusterNodeOp(cmd string) func(*testscript.TestScript, *state, bool, []string) {
	return func(ts *testscript.TestScript, st *state, neg bool, args []string) {
		noNeg(ts, neg, cmd)
		if len(args) != 2 {
			usage(ts, cmd)
		}
		ce := st.cluster(ts, cmd, args[0])
		n := node(ts, cmd, ce.c, args[1])
		ctx, cancel := st.opContext(DefaultClusterTimeout)
		defer cancel()
		var err error
		switch cmd {
		case "cluster-kill":
			err = ce.c.Kill(ctx, n)
		case "cluster-restart":
			err = ce.c.Restart(ctx, n)
		case "cluster-pause":
			err = ce.c.Pause(ctx, n)
		case "cluster-resume":
			err = ce.c.Resume(ctx, n)
		}
		if err != nil {
			ts.Fatalf("%s %s %s: %v", cmd, args[0], args[1], err)
		}
		ts.Logf("%s: %s", cmd, n)
	}
}

// cmdClusterFailover: cluster-failover NAME REPLICA [default|force|takeover].
func cmdClusterFailover(ts *testscript.TestScript, st *state, neg bool, args []string) {
	const cmd = "cluster-failover"
	noNeg(ts, neg, cmd)
	if len(args) != 2 && len(args) != 3 {
		usage(ts, cmd)
	}
	mode := clusterharness.FailoverDefault
	if len(args) == 3 {
		switch args[2] {
		case "default":
		case "force":
			mode = clusterharness.FailoverForce
		case "takeover":
			mode = clusterharness.FailoverTakeover
		default:
			usagef(ts, cmd, "unknown mode %q", args[2])
		}
	}
	ce := st.cluster(ts, cmd, args[0])
	n := node(ts, cmd, ce.c, args[1])
	ctx, cancel := st.opContext(DefaultClusterTimeout)
	defer cancel()
	if err := ce.c.Failover(ctx, n, mode); err != nil {
		ts.Fatalf("%s %s %s: %v", cmd, args[0], args[1], err)
	}
	ts.Logf("%s: %s promoted", cmd, n.Addr())
}

// cmdClusterMigrate:
//
//	cluster-migrate NAME SLOTKEY TO         move SLOTKEY's slot, with its keys, to the master TO
//	cluster-migrate NAME -begin SLOTKEY TO  only put the slot in the migrating state (clients see ASK)
//	cluster-migrate NAME -keys [KEY...]     move these keys of the migration (all when none)
//	cluster-migrate NAME -finish            move the rest and give the slot to TO
//	cluster-migrate NAME -abort             end it with the slot still the source's
//
// Each but -abort prints how many keys it moved ("moved 2 keys"). Keys
// moved before an abort stay on TO, out of clients' reach, until the slot
// migrates there again.
func cmdClusterMigrate(ts *testscript.TestScript, st *state, neg bool, args []string) {
	const cmd = "cluster-migrate"
	noNeg(ts, neg, cmd)
	name, args := nameArg(ts, cmd, args)
	var begin, keys, finish, abort bool
	fs := newFlagSet(cmd)
	fs.BoolVar(&begin, "begin", false, "begin the migration only")
	fs.BoolVar(&keys, "keys", false, "move keys of the migration")
	fs.BoolVar(&finish, "finish", false, "finish the migration")
	fs.BoolVar(&abort, "abort", false, "abort the migration")
	args = parseFlags(ts, cmd, fs, args)
	ce := st.cluster(ts, cmd, name)
	ctx, cancel := st.opContext(DefaultClusterTimeout)
	defer cancel()
	modes := 0
	for _, b := range []bool{begin, keys, finish, abort} {
		if b {
			modes++
		}
	}
	if modes > 1 {
		usagef(ts, cmd, "-begin, -keys, -finish and -abort exclude each other")
	}
	var (
		moved int
		err   error
	)
	switch {
	case keys || finish || abort:
		if ce.mig == nil {
			ts.Fatalf("%s: no migration in progress in %s (cluster-migrate %s -begin SLOTKEY TO)", cmd, name, name)
		}
		switch {
		case abort:
			if len(args) != 0 {
				usage(ts, cmd)
			}
			if err = ce.mig.Abort(ctx); err == nil {
				ce.mig = nil
			}
		case finish:
			if len(args) != 0 {
				usage(ts, cmd)
			}
			if moved, err = ce.mig.Finish(ctx); err == nil {
				ce.mig = nil
			}
		default:
			moved, err = ce.mig.MoveKeys(ctx, args...)
		}
	default:
		if len(args) != 2 {
			usage(ts, cmd)
		}
		if ce.mig != nil {
			ts.Fatalf("%s: a migration is in progress in %s: finish or abort it first", cmd, name)
		}
		from := node(ts, cmd, ce.c, "master:"+args[0])
		to := node(ts, cmd, ce.c, args[1])
		if from == to {
			ts.Fatalf("%s: %s already owns the slot of %q", cmd, to, args[0])
		}
		slots := []int{clusterharness.KeySlot(args[0])}
		if begin {
			ce.mig, err = ce.c.BeginMigration(ctx, from, to, slots)
		} else {
			moved, err = ce.c.MigrateSlots(ctx, from, to, slots)
		}
	}
	if err != nil {
		ts.Fatalf("%s %s: %v", cmd, name, err)
	}
	if !begin && !abort {
		writeOut(ts, fmt.Sprintf("moved %d keys", moved))
	}
}

// cmdClusterAddr: cluster-addr NAME NODE VAR sets $VAR to the node's
// address.
func cmdClusterAddr(ts *testscript.TestScript, st *state, neg bool, args []string) {
	const cmd = "cluster-addr"
	noNeg(ts, neg, cmd)
	if len(args) != 3 {
		usage(ts, cmd)
	}
	checkName(ts, cmd, args[2])
	ce := st.cluster(ts, cmd, args[0])
	ts.Setenv(args[2], node(ts, cmd, ce.c, args[1]).Addr())
}

// cmdClusterRole: cluster-role NAME NODE prints "master" or "replica"
// (or "down", for a node killed, paused or partitioned), as of the last
// time the cluster was seen stable.
func cmdClusterRole(ts *testscript.TestScript, st *state, neg bool, args []string) {
	const cmd = "cluster-role"
	noNeg(ts, neg, cmd)
	if len(args) != 2 {
		usage(ts, cmd)
	}
	ce := st.cluster(ts, cmd, args[0])
	n := node(ts, cmd, ce.c, args[1])
	if n.State() != clusterharness.StateUp {
		writeOut(ts, "down")
		return
	}
	writeOut(ts, n.Role().String())
}
