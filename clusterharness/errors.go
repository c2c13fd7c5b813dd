package clusterharness

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Sentinel errors. Errors returned by this package wrap one of them, a
// context error, an error of the redisserver package, or a Redis error reply
// (a *resp.Error); test them with errors.Is and errors.As.
var (
	// ErrInvalidOptions: the Options cannot describe a cluster (a negative
	// count, a fixed port, ...).
	ErrInvalidOptions = errors.New("clusterharness: invalid options")
	// ErrNotStable: the cluster did not become stable before the context
	// ended. The error is a *StabilityError saying which condition was not
	// met on which node.
	ErrNotStable = errors.New("clusterharness: cluster not stable")
	// ErrStopped: the cluster was stopped with Stop, before or during the
	// operation.
	ErrStopped = errors.New("clusterharness: cluster stopped")
	// ErrUnknownNode: the node is not part of this cluster (nil, another
	// cluster's, or removed with RemoveNode).
	ErrUnknownNode = errors.New("clusterharness: node not in this cluster")
	// ErrNodeNotLive: the operation needs a live node, and this one is
	// killed, paused or partitioned.
	ErrNodeNotLive = errors.New("clusterharness: node not live")
	// ErrWrongRole: the node has the wrong role for the operation, such as
	// Failover of a master (or, but with FailoverTakeover, of the replica of
	// a master without slots) or a migration from a replica.
	ErrWrongRole = errors.New("clusterharness: node has the wrong role")
	// ErrInvalidSlot: a slot is out of range, not owned by the migration's
	// source, or already part of an open migration with another source,
	// target or set of slots.
	ErrInvalidSlot = errors.New("clusterharness: invalid slot")
	// ErrNodeInUse: RemoveNode of a node that still owns slots, has
	// replicas, or takes part in an open migration.
	ErrNodeInUse = errors.New("clusterharness: node in use")
	// ErrMigrationFinished: a Migration was used after Finish succeeded or
	// after Abort.
	ErrMigrationFinished = errors.New("clusterharness: migration already finished")
	// ErrMigrationAssigning: Abort of a Migration whose Finish (or
	// MigrateSlots) failed after it had begun giving the slots to the
	// target. The target may own them already, with a newer config epoch
	// than the source's, so no SETSLOT STABLE gives them back: call Finish
	// (or MigrateSlots with the same arguments) again to complete it.
	ErrMigrationAssigning = errors.New("clusterharness: migration half given to its target")
)

// StabilityError reports a wait for stability (WaitStable, or the wait at
// the end of an operation) that ended before the cluster was stable. It
// matches ErrNotStable and the context's error under errors.Is.
type StabilityError struct {
	// Problems are the conditions that were not met at the last complete
	// check, one per entry, each naming the node it concerns, such as
	// "127.0.0.1:7001: cluster_state:fail".
	Problems []string
	// Err is the context's error.
	Err error
}

// Error implements error: the cause, then one problem per line.
func (e *StabilityError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v: %v", ErrNotStable, e.Err)
	if len(e.Problems) == 0 {
		b.WriteString(" (no check completed)")
	}
	for _, p := range e.Problems {
		b.WriteString("\n\t")
		b.WriteString(p)
	}
	return b.String()
}

// Unwrap returns ErrNotStable and the context's error.
func (e *StabilityError) Unwrap() []error { return []error{ErrNotStable, e.Err} }

// StartError reports a Start that failed once nodes had started (while
// building the cluster or waiting for it to be stable). Start stops those
// nodes, and their logs go with them, so the error keeps the end of each.
type StartError struct {
	// Err is the cause, such as a *StabilityError.
	Err error
	// LogTails maps the address of each node started to the last lines
	// of its log.
	LogTails map[string]string
}

// Error implements error: the cause, then each node's log tail, indented,
// in the order of the addresses.
func (e *StartError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "clusterharness: start: %v", e.Err)
	for _, addr := range slices.Sorted(maps.Keys(e.LogTails)) {
		fmt.Fprintf(&b, "\n\tnode %s: log (last lines):", addr)
		for line := range strings.SplitSeq(strings.TrimSpace(e.LogTails[addr]), "\n") {
			b.WriteString("\n\t\t")
			b.WriteString(line)
		}
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *StartError) Unwrap() error { return e.Err }
