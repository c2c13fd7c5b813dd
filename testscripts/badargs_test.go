package testscripts_test

import (
	"testing"
)

// TestOutOfRangeArguments runs the scripts of testdata/badargs, each with
// a numeric argument out of range on purpose, and checks that each fails at
// that line with a message that names the argument and its bound (and the
// usage line, for a flag), instead of panicking: these arguments used to
// panic, in the script's goroutine or in one the script started, which
// took every script of the test binary down. The servers the scripts
// started are gone afterwards.
func TestOutOfRangeArguments(t *testing.T) {
	tests := []struct {
		file      string
		want      []string // in the failure log, in this order
		noServers bool     // the script starts no redis-server
	}{{
		file: "rload_rate",
		want: []string{
			`> rload L -addr $R_ADDR -rate 2000000000 -workers 1`,
			"FAIL: testdata/badargs/rload_rate.txtar:5: rload: -rate 2000000000: want 0 (unlimited) to 1000000 writes per second",
			"usage: rload NAME",
		},
	}, {
		file: "rload_workers",
		want: []string{
			`> rload L -addr $R_ADDR -workers 1001 -rate 0`,
			"FAIL: testdata/badargs/rload_workers.txtar:4: rload: -workers 1001: want 1 to 1000",
			"usage: rload NAME",
		},
	}, {
		file: "rpipe_rounds",
		want: []string{
			`> rpipe -addr $R_ADDR -n 9223372036854775807 PING ; PING`,
			"FAIL: testdata/badargs/rpipe_rounds.txtar:5: rpipe: -n 9223372036854775807 rounds of 2 commands: want 1 to 1000000 commands in all",
			"usage: rpipe ",
		},
	}, {
		file: "rpipe_commands",
		want: []string{
			`> rpipe -addr $R_ADDR -n 500000 PING ; PING ; PING`,
			"FAIL: testdata/badargs/rpipe_commands.txtar:4: rpipe: -n 500000 rounds of 3 commands: want 1 to 1000000 commands in all",
		},
	}, {
		file: "rwatch_incr_workers",
		want: []string{
			`> rwatch-incr -addr $R_ADDR -workers 1001 -n 1 k`,
			"FAIL: testdata/badargs/rwatch_incr_workers.txtar:4: rwatch-incr: -workers 1001: want 1 to 1000",
			"usage: rwatch-incr ",
		},
	}, {
		file: "toxic_jitter",
		want: []string{
			`> toxic-add P j latency upstream jitter=2562047h`,
			"FAIL: testdata/badargs/toxic_jitter.txtar:7: toxic-add: faultinject: invalid toxic: latency: jitter must be between 0 and 24h0m0s, not 2562047h0m0s",
		},
	}, {
		file: "toxic_size_variation",
		want: []string{
			`> toxic-update P s size_variation=4611686018427387904`,
			"FAIL: testdata/badargs/toxic_size_variation.txtar:8: toxic-update: faultinject: invalid toxic: slicer: size variation must be between 0 and 1073741824, not 4611686018427387904",
		},
	}, {
		file: "cluster_start_nodes",
		want: []string{
			`> cluster-start C 3 9223372036854775807`,
			"FAIL: testdata/badargs/cluster_start_nodes.txtar:4: cluster-start: 3 masters with 9223372036854775807 replicas each: want at most 100 nodes in all",
			"usage: cluster-start ",
		},
		noServers: true,
	}, {
		file: "cluster_start_many",
		want: []string{
			`> cluster-start C 51 1`,
			"FAIL: testdata/badargs/cluster_start_many.txtar:3: cluster-start: 51 masters with 1 replicas each: want at most 100 nodes in all",
		},
		noServers: true,
	}}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			out := failingScript(t, "testdata/badargs/"+tt.file+".txtar", tt.want)
			if !tt.noServers {
				checkServersGone(t, out)
			}
		})
	}
}
