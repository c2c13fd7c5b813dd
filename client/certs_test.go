package client

import (
	"crypto/tls"
	"testing"

	"github.com/justredis/justredis/redisserver"
)

// testTLS returns a throwaway CA's TLS options for a test server
// (redisserver.NewTestTLS) and a client configuration that trusts it.
func testTLS(t *testing.T) (*redisserver.TLSOptions, *tls.Config) {
	t.Helper()
	opts, err := redisserver.NewTestTLS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := opts.ClientTLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	return opts, cfg
}
