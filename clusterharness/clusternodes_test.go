package clusterharness

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseClusterNodes(t *testing.T) {
	t.Parallel()
	const text = `07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@31004,host-a slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 4 connected
67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1:30002@31002 master - 0 1426238316232 2 connected 5461-10922
292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f 127.0.0.1:30003@31003 master,fail - 1426238316232 0 3 disconnected
6ec23923021cf3ffec47632106199cb7f496ce01 127.0.0.1:30005@31005 slave,fail? 67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 0 1426238316232 5 connected
824fe116063bc5fcf9f4ffd895bc17aee7731ac3 :0@0 handshake,noaddr - 0 0 0 disconnected
e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@31001 myself,master - 0 0 1 connected 0-5460 10923 [5462->-67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1] [93-<-292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f]
`
	es, err := parseClusterNodes(text)
	require.NoError(t, err)
	require.Len(t, es, 6)

	assert.Equal(t, "127.0.0.1:30004", es[0].addr, "bus port and hostname dropped")
	assert.True(t, es[0].replica)
	assert.Equal(t, "e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca", es[0].masterID)
	assert.True(t, es[0].connected)

	assert.True(t, es[1].master)
	assert.Empty(t, es[1].masterID)
	assert.Equal(t, []SlotRange{{5461, 10922}}, es[1].slots)

	assert.True(t, es[2].fail)
	assert.False(t, es[2].connected)
	assert.True(t, es[3].pfail)
	assert.False(t, es[3].fail)
	assert.True(t, es[4].handshake)
	assert.True(t, es[4].noaddr)
	assert.Equal(t, ":0", es[4].addr)

	me := es[5]
	assert.True(t, me.myself)
	assert.True(t, me.master)
	assert.Equal(t, []SlotRange{{0, 5460}, {10923, 10923}}, me.slots)
	assert.Equal(t, map[int]string{5462: "67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1"}, me.migrating)
	assert.Equal(t, map[int]string{93: "292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f"}, me.importing)
}

func TestParseClusterNodesErrors(t *testing.T) {
	t.Parallel()
	for _, line := range []string{
		"id 127.0.0.1:1@2 master - 0 0",                    // too few fields
		"id 127.0.0.1:1@2 master - 0 0 1 connected x",      // not a slot
		"id 127.0.0.1:1@2 master - 0 0 1 connected 5-3",    // backwards
		"id 127.0.0.1:1@2 master - 0 0 1 connected 16384",  // out of range
		"id 127.0.0.1:1@2 master - 0 0 1 connected [5~id]", // unknown form
		"id 127.0.0.1:1@2 master - 0 0 1 connected [x->-id]",
	} {
		_, err := parseClusterNodes(line)
		assert.Error(t, err, line)
	}
	es, err := parseClusterNodes("\n\n")
	require.NoError(t, err)
	assert.Empty(t, es)
}

func TestParseInfo(t *testing.T) {
	t.Parallel()
	m := parseInfo("# Replication\r\nrole:slave\r\nmaster_host:127.0.0.1\r\nmaster_port:7000\r\n\r\nmaster_link_status:up\r\n")
	assert.Equal(t, map[string]string{"role": "slave", "master_host": "127.0.0.1", "master_port": "7000", "master_link_status": "up"}, m)
}
