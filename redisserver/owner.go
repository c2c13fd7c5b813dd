package redisserver

import (
	"os"
	"strconv"
	"strings"
	"sync"
)

// Labels on everything redisserver creates in Docker. The owner labels say
// which process created a container or network, so that a later process can
// tell whether its creator is gone (killed before its cleanup ran) and
// remove it: see ReapOrphans.
const (
	// LabelMarker is on every container, network and image redisserver
	// creates. Its value is "server", "network" or "image".
	LabelMarker = "org.justredis.redisserver"
	// LabelOwnerHost is the creating process's host name.
	LabelOwnerHost = "org.justredis.redisserver.owner.host"
	// LabelOwnerBoot is the boot ID of the creating process's machine
	// (Linux), so that a reboot is recognised.
	LabelOwnerBoot = "org.justredis.redisserver.owner.boot"
	// LabelOwnerPID is the creating process's ID.
	LabelOwnerPID = "org.justredis.redisserver.owner.pid"
	// LabelOwnerPIDNS is the creating process's PID namespace (Linux: the
	// inode number of /proc/self/ns/pid), in which LabelOwnerPID is
	// meaningful: two test runs in different PID namespaces (containers)
	// sharing a host name and a Docker engine cannot see each other's
	// processes, so neither takes the other's resources for orphans.
	LabelOwnerPIDNS = "org.justredis.redisserver.owner.pidns"
	// LabelOwnerStart is the creating process's start time (Linux: clock
	// ticks since boot), so that a reused PID is recognised.
	LabelOwnerStart = "org.justredis.redisserver.owner.start"
	// LabelRedisVersion is on images: the version of redis-server in them.
	LabelRedisVersion = "org.justredis.redisserver.redis-version"
)

// owner identifies a process.
type owner struct {
	host, boot string
	pidns      string // PID namespace, "" where unknown
	pid        int
	start      string
}

var self = sync.OnceValue(func() owner {
	host, _ := os.Hostname()
	pid := os.Getpid()
	return owner{host: host, boot: bootID(), pidns: pidNamespace(), pid: pid, start: processStart(pid)}
})

// ownerLabels returns the labels for a resource of the given kind created by
// this process.
func ownerLabels(kind string) map[string]string {
	o := self()
	return map[string]string{
		LabelMarker:     kind,
		LabelOwnerHost:  o.host,
		LabelOwnerBoot:  o.boot,
		LabelOwnerPIDNS: o.pidns,
		LabelOwnerPID:   strconv.Itoa(o.pid),
		LabelOwnerStart: o.start,
	}
}

// ownerGone reports whether labels name a creating process that is known to
// be gone. It never says so about another host's process, nor about a
// process of another PID namespace (this process cannot look it up), nor
// when the labels are incomplete. Labels without LabelOwnerPIDNS (made by
// an older redisserver) are judged by host and PID alone, as they were.
func ownerGone(labels map[string]string) bool {
	me := self()
	if labels[LabelOwnerHost] != me.host {
		return false
	}
	pid, err := strconv.Atoi(labels[LabelOwnerPID])
	if err != nil || pid <= 0 {
		return false
	}
	if boot := labels[LabelOwnerBoot]; boot != "" && me.boot != "" && boot != me.boot {
		return true // the machine rebooted since
	}
	if ns := labels[LabelOwnerPIDNS]; ns != "" && ns != me.pidns {
		return false
	}
	if pid == me.pid && labels[LabelOwnerStart] == me.start {
		return false
	}
	return !processAlive(pid, labels[LabelOwnerStart])
}

// statStartTime extracts the start time (field 22) from the text of
// /proc/<pid>/stat.
func statStartTime(stat string) string { return statField(stat, 22) }

// statField returns field n (1-based, n >= 3) of the text of
// /proc/<pid>/stat, or "". The command name (field 2) is in parentheses and
// may hold spaces and parentheses itself, so fields are counted from the
// last ')'.
func statField(stat string, n int) string {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return ""
	}
	fields := strings.Fields(stat[i+1:])
	if k := n - 3; k >= 0 && k < len(fields) { // fields after ')' begin with field 3
		return fields[k]
	}
	return ""
}
