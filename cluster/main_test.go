package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/justredis/justredis/client"
	"github.com/justredis/justredis/clusterharness"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// startCluster starts a private 3+3 cluster for the test.
func startCluster(t testing.TB) *clusterharness.Cluster {
	t.Helper()
	return clusterharness.Run(t, clusterharness.Options{})
}

// newClient returns a cluster client seeded with the cluster's nodes,
// closed at the end of the test.
func newClient(t testing.TB, c *clusterharness.Cluster, opts ...Option) *client.Mux {
	t.Helper()
	m, err := New(client.Config{Endpoints: c.Addrs()}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
