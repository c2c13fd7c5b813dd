package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/justredis/justredis/faultinject/control"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestRun starts the program on a free port, uses the API and stops it.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, []string{"-addr", "127.0.0.1:0", "-seed", "5", "-proxy", "pre=127.0.0.1:0,127.0.0.1:1"}, pw, io.Discard)
		_ = pw.Close()
		done <- err
	}()

	line, err := bufio.NewReader(pr).ReadString('\n')
	require.NoError(t, err)
	base, ok := strings.CutPrefix(strings.TrimSpace(line), "faultproxy: listening on ")
	require.True(t, ok, line)
	go func() { _, _ = io.Copy(io.Discard, pr) }()

	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	resp, err := client.Get(base + "/proxies")
	require.NoError(t, err)
	var list []control.ProxyState
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&list))
	require.NoError(t, resp.Body.Close())
	require.Len(t, list, 1)
	require.Equal(t, "pre", list[0].Name)
	require.Equal(t, int64(5), list[0].Seed)

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return")
	}
}

func TestRunBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-proxy", "nonsense"},
		{"-nope"},
		{"extra"},
		{"-addr", "127.0.0.1:0", "-proxy", "a=bad-listen,127.0.0.1:1"},
	} {
		err := run(context.Background(), args, io.Discard, io.Discard)
		require.Error(t, err, args)
	}
}

// TestCreateProxyNames checks that -proxy creates proxies whose names hold
// characters that Go's %q quotes differently from JSON (control
// characters, DEL, quotes, non-ASCII).
func TestCreateProxyNames(t *testing.T) {
	h := control.NewHandler()
	defer h.Close()
	for _, name := range []string{"a\x01b", "del\x7f", `q"uote`, "tab\tname", "é\u2028😀"} {
		require.NoError(t, createProxy(h, proxyFlag{name: name, listen: "127.0.0.1:0", upstream: "127.0.0.1:1"}), "%q", name)
		_, ok := h.Proxy(name)
		require.True(t, ok, "no proxy %q", name)
	}
}
