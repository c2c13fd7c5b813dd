package cluster

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/justredis/justredis/client"
	"github.com/justredis/justredis/redisserver"
	"github.com/justredis/justredis/resp"
)

// A cluster whose nodes speak only TLS (port 0, tls-port, tls-cluster yes)
// reports no "port" in CLUSTER SHARDS, only "tls-port": a client with
// Config.TLS routes to the TLS ports, and one without gets ErrTopology
// saying why, instead of an empty view.
func TestTLSCluster(t *testing.T) {
	tlsOpts, err := redisserver.NewTestTLS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := redisserver.Run(t, redisserver.Options{Cluster: true, TLS: tlsOpts})
	ctx := testCtx(t)
	if _, err := srv.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", 0, SlotCount-1); err != nil {
		t.Fatal(err)
	}
	for {
		v, err := srv.Do(ctx, "CLUSTER", "INFO")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(v.Str, "cluster_state:ok") {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("cluster_state never ok: %s", v.Str)
		case <-time.After(20 * time.Millisecond):
		}
	}

	cfg, err := tlsOpts.ClientTLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(client.Config{Endpoints: []string{srv.Addr()}, TLS: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	db := m.Database(0)
	for _, k := range []string{"a", "b", "c", "{x}1"} {
		if _, err := db.Do(ctx, "SET", k, "v-"+k); err != nil {
			t.Fatalf("SET %s on a TLS cluster: %v", k, err)
		}
		if v, err := db.Do(ctx, "GET", k); err != nil || v.Str != "v-"+k {
			t.Fatalf("GET %s = %q, %v", k, v.Str, err)
		}
	}
	masters, err := Masters(ctx, m)
	if err != nil || !slices.Equal(masters, []string{srv.Addr()}) {
		t.Fatalf("Masters = %v, %v; want [%s]", masters, err, srv.Addr())
	}

	// The same cluster without Config.TLS: a handshake would fail anyway,
	// but the view must not be taken for an empty cluster.
	topo, err := parseShards(mustShards(t, srv), srv.Addr(), false)
	if !errors.Is(err, ErrTopology) || !strings.Contains(err.Error(), "Config.TLS") {
		t.Fatalf("parseShards without TLS = %v, %v; want ErrTopology naming Config.TLS", topo, err)
	}
}

// mustShards returns the server's CLUSTER SHARDS reply.
func mustShards(t *testing.T, srv *redisserver.Server) resp.Value {
	t.Helper()
	v, err := srv.Do(testCtx(t), "CLUSTER", "SHARDS")
	if err != nil {
		t.Fatal(err)
	}
	return v
}
