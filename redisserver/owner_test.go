package redisserver

import (
	"maps"
	"os"
	"runtime"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStatStartTime(t *testing.T) {
	t.Parallel()
	// The command name may hold spaces and parentheses.
	stat := "4242 (a (weird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 50 18446744073709551615"
	assert.Equal(t, "987654", statStartTime(stat))
	assert.Empty(t, statStartTime("garbage"))
	assert.Empty(t, statStartTime("1 (x) S 1"))
	if runtime.GOOS == "linux" {
		assert.NotEmpty(t, processStart(os.Getpid()))
	}
}

func TestOwnerGone(t *testing.T) {
	t.Parallel()
	me := self()
	labels := func(edit func(map[string]string)) map[string]string {
		l := ownerLabels("server")
		edit(l)
		return l
	}
	assert.False(t, ownerGone(ownerLabels("server")), "this process")
	assert.False(t, ownerGone(labels(func(l map[string]string) { l[LabelOwnerHost] = "elsewhere" })), "another host")
	assert.False(t, ownerGone(labels(func(l map[string]string) { l[LabelOwnerPID] = "" })), "incomplete labels")
	assert.False(t, ownerGone(map[string]string{}), "no labels")
	if runtime.GOOS != "linux" {
		return
	}
	assert.True(t, ownerGone(labels(func(l map[string]string) { l[LabelOwnerBoot] = "another-boot" })), "a reboot")
	assert.True(t, ownerGone(labels(func(l map[string]string) { l[LabelOwnerStart] = "1" })), "a reused PID")
	// PID 1 lives, with another start time than ours.
	assert.False(t, ownerGone(labels(func(l map[string]string) {
		l[LabelOwnerPID] = "1"
		l[LabelOwnerStart] = processStart(1)
	})), "a live process")
	// A PID that cannot exist.
	assert.True(t, ownerGone(labels(func(l map[string]string) { l[LabelOwnerPID] = strconv.Itoa(1 << 30) })), "a gone process")
	assert.NotEmpty(t, me.boot)
}

// TestOwnerGoneOtherPIDNamespace: a creator in another PID namespace may be
// alive however this process's /proc looks: not known to be gone.
func TestOwnerGoneOtherPIDNamespace(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("PID namespaces are Linux's")
	}
	require.NotEmpty(t, self().pidns)
	gone := ownerLabels("server")
	gone[LabelOwnerPID] = strconv.Itoa(1 << 30) // no such process here
	require.True(t, ownerGone(gone), "a gone process of this namespace")
	other := maps.Clone(gone)
	other[LabelOwnerPIDNS] = "4026531836999"
	assert.False(t, ownerGone(other), "a process of another namespace")
	other[LabelOwnerBoot] = "another-boot"
	assert.True(t, ownerGone(other), "a process of another namespace, rebooted since")
	old := maps.Clone(gone)
	delete(old, LabelOwnerPIDNS)
	assert.True(t, ownerGone(old), "labels of an older redisserver: host and PID alone")
}
