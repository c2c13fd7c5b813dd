package control

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/justredis/justredis/faultinject"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const testTimeout = 15 * time.Second

// startEcho starts an echo server on 127.0.0.1:0, stopped at cleanup.
func startEcho(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			// One connection at a time is enough for these tests.
			_, _ = io.Copy(c, c)
			_ = c.Close()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
	})
	return ln.Addr().String()
}

// newHandler returns a Handler closed at cleanup.
func newHandler(t *testing.T) *Handler {
	t.Helper()
	h := NewHandler(faultinject.WithLogger(t.Logf))
	t.Cleanup(func() { require.NoError(t, h.Close()) })
	return h
}

// do sends a request to h and returns the status and body.
func do(t *testing.T, h http.Handler, method, path, body string) (int, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

// doJSON is do, decoding a successful reply into out.
func doJSON(t *testing.T, h http.Handler, method, path, body string, want int, out any) {
	t.Helper()
	code, resp := do(t, h, method, path, body)
	require.Equal(t, want, code, "%s %s: %s", method, path, resp)
	if out != nil {
		require.NoError(t, json.Unmarshal([]byte(resp), out), resp)
	}
}

// echoOnce dials addr, writes msg and reads it back.
func echoOnce(t *testing.T, addr, msg string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, testTimeout)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(testTimeout)))
	_, err = c.Write([]byte(msg))
	require.NoError(t, err)
	buf := make([]byte, len(msg))
	_, err = io.ReadFull(c, buf)
	require.NoError(t, err)
	require.Equal(t, msg, string(buf))
}

func TestProxyLifecycle(t *testing.T) {
	t.Parallel()
	h := newHandler(t)
	echo := startEcho(t)

	var st ProxyState
	doJSON(t, h, "POST", "/proxies", `{"name":"redis","upstream":"`+echo+`","seed":7}`, http.StatusCreated, &st)
	assert.Equal(t, "redis", st.Name)
	assert.Equal(t, echo, st.Upstream)
	assert.Equal(t, int64(7), st.Seed)
	assert.NotEmpty(t, st.Listen)
	assert.NotNil(t, st.Toxics)
	p, ok := h.Proxy("redis")
	require.True(t, ok)
	require.Equal(t, st.Listen, p.Addr())

	echoOnce(t, st.Listen, "hello")
	var got ProxyState
	doJSON(t, h, "GET", "/proxies/redis", "", http.StatusOK, &got)
	assert.Equal(t, int64(1), got.Stats.Accepted)
	assert.Equal(t, int64(5), got.Stats.Upstream.Read)

	var list []ProxyState
	doJSON(t, h, "POST", "/proxies", `{"name":"b","listen":"127.0.0.1:0","upstream":"127.0.0.1:1"}`, http.StatusCreated, nil)
	doJSON(t, h, "GET", "/proxies", "", http.StatusOK, &list)
	require.Len(t, list, 2)
	assert.Equal(t, "b", list[0].Name)
	assert.Equal(t, "redis", list[1].Name)

	// Refuse, then accept again.
	doJSON(t, h, "PATCH", "/proxies/redis", `{"refuse":true}`, http.StatusOK, &got)
	assert.True(t, got.Refusing)
	_, err := net.DialTimeout("tcp", st.Listen, testTimeout)
	require.ErrorIs(t, err, syscall.ECONNREFUSED)
	doJSON(t, h, "PATCH", "/proxies/redis", `{"refuse":false,"paused":true}`, http.StatusOK, &got)
	assert.False(t, got.Refusing)
	assert.True(t, got.Paused)
	doJSON(t, h, "PATCH", "/proxies/redis", `{"paused":false,"upstream":"127.0.0.1:2"}`, http.StatusOK, &got)
	assert.False(t, got.Paused)
	assert.Equal(t, "127.0.0.1:2", got.Upstream)
	doJSON(t, h, "PATCH", "/proxies/redis", `{"upstream":"`+echo+`"}`, http.StatusOK, nil)
	echoOnce(t, st.Listen, "again")

	doJSON(t, h, "POST", "/proxies/redis/cut", "", http.StatusNoContent, nil)
	doJSON(t, h, "POST", "/proxies/redis/cut", `{"reset":true}`, http.StatusNoContent, nil)

	doJSON(t, h, "DELETE", "/proxies/redis", "", http.StatusNoContent, nil)
	doJSON(t, h, "GET", "/proxies/redis", "", http.StatusNotFound, nil)
	_, ok = h.Proxy("redis")
	require.False(t, ok)
	_, err = net.DialTimeout("tcp", st.Listen, testTimeout)
	require.ErrorIs(t, err, syscall.ECONNREFUSED)
}

func TestToxicLifecycle(t *testing.T) {
	t.Parallel()
	h := newHandler(t)
	var st ProxyState
	doJSON(t, h, "POST", "/proxies", `{"name":"p","upstream":"`+startEcho(t)+`"}`, http.StatusCreated, &st)

	var tx ToxicSpec
	doJSON(t, h, "POST", "/proxies/p/toxics",
		`{"name":"slow","type":"latency","direction":"downstream","attributes":{"delay":"100ms","jitter":5}}`,
		http.StatusCreated, &tx)
	assert.Equal(t, "slow", tx.Name)
	assert.Equal(t, "latency", tx.Type)
	assert.Equal(t, "downstream", tx.Direction)
	require.NotNil(t, tx.Toxicity)
	assert.Equal(t, 1.0, *tx.Toxicity)
	assert.JSONEq(t, `{"delay":"100ms","jitter":"5ms"}`, string(tx.Attributes))

	// A partial update merges the attributes.
	doJSON(t, h, "PATCH", "/proxies/p/toxics/slow", `{"attributes":{"delay":"1ms"},"toxicity":0.5}`, http.StatusOK, &tx)
	assert.JSONEq(t, `{"delay":"1ms","jitter":"5ms"}`, string(tx.Attributes))
	assert.Equal(t, 0.5, *tx.Toxicity)
	p, _ := h.Proxy("p")
	info, ok := p.Toxic("slow")
	require.True(t, ok)
	assert.Equal(t, faultinject.Latency{Delay: time.Millisecond, Jitter: 5 * time.Millisecond}, info.Toxic)

	// Changing the type starts from zero attributes.
	doJSON(t, h, "PATCH", "/proxies/p/toxics/slow", `{"type":"slicer","attributes":{"average_size":1}}`, http.StatusOK, &tx)
	assert.JSONEq(t, `{"average_size":1,"size_variation":0,"delay":"0s"}`, string(tx.Attributes))

	for _, body := range []string{
		`{"name":"bw","type":"bandwidth","direction":"upstream","attributes":{"bytes_per_second":1048576}}`,
		`{"name":"limit","type":"limit_data","direction":"upstream","toxicity":0,"attributes":{"bytes":10}}`,
		`{"name":"hole","type":"blackhole","direction":"upstream","toxicity":0}`,
		`{"name":"rst","type":"reset_peer","direction":"upstream","toxicity":0,"attributes":{"timeout":"1s"}}`,
		`{"name":"close","type":"slow_close","direction":"downstream","attributes":{"delay":0}}`,
	} {
		doJSON(t, h, "POST", "/proxies/p/toxics", body, http.StatusCreated, nil)
	}
	var list []ToxicSpec
	doJSON(t, h, "GET", "/proxies/p/toxics", "", http.StatusOK, &list)
	var names []string
	for _, x := range list {
		names = append(names, x.Name)
	}
	assert.Equal(t, []string{"slow", "bw", "limit", "hole", "rst", "close"}, names)
	doJSON(t, h, "GET", "/proxies/p/toxics/limit", "", http.StatusOK, &tx)
	assert.JSONEq(t, `{"bytes":10}`, string(tx.Attributes))

	// The toxics work: with toxicity 0 only the harmless ones apply.
	echoOnce(t, st.Listen, "through all the toxics")

	doJSON(t, h, "DELETE", "/proxies/p/toxics/slow", "", http.StatusNoContent, nil)
	doJSON(t, h, "GET", "/proxies/p/toxics/slow", "", http.StatusNotFound, nil)

	// POST /reset clears everything.
	doJSON(t, h, "PATCH", "/proxies/p", `{"refuse":true,"paused":true}`, http.StatusOK, nil)
	doJSON(t, h, "POST", "/reset", "", http.StatusNoContent, nil)
	var got ProxyState
	doJSON(t, h, "GET", "/proxies/p", "", http.StatusOK, &got)
	assert.Empty(t, got.Toxics)
	assert.False(t, got.Refusing)
	assert.False(t, got.Paused)
	echoOnce(t, st.Listen, "clean")
}

func TestLimitDataOverHTTP(t *testing.T) {
	t.Parallel()
	h := newHandler(t)
	var st ProxyState
	doJSON(t, h, "POST", "/proxies", `{"name":"p","upstream":"`+startEcho(t)+`"}`, http.StatusCreated, &st)
	doJSON(t, h, "POST", "/proxies/p/toxics", `{"name":"cut","type":"limit_data","direction":"downstream","attributes":{"bytes":3}}`, http.StatusCreated, nil)
	c, err := net.DialTimeout("tcp", st.Listen, testTimeout)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(testTimeout)))
	_, err = c.Write([]byte("hello"))
	require.NoError(t, err)
	got, err := io.ReadAll(c)
	require.NoError(t, err)
	require.Equal(t, "hel", string(got))
}

func TestErrors(t *testing.T) {
	t.Parallel()
	h := newHandler(t)
	doJSON(t, h, "POST", "/proxies", `{"name":"p","upstream":"127.0.0.1:1"}`, http.StatusCreated, nil)
	doJSON(t, h, "POST", "/proxies/p/toxics", `{"name":"t","type":"blackhole","direction":"upstream"}`, http.StatusCreated, nil)

	tests := []struct {
		name, method, path, body string
		want                     int
		contains                 string
	}{
		{"bad json", "POST", "/proxies", `{`, 400, "invalid JSON"},
		{"trailing data", "POST", "/proxies", `{"name":"x","upstream":"127.0.0.1:1"} {}`, 400, "after the value"},
		{"unknown field", "POST", "/proxies", `{"name":"x","upstream":"127.0.0.1:1","upsteam":"y"}`, 400, "unknown field"},
		{"no name", "POST", "/proxies", `{"upstream":"127.0.0.1:1"}`, 400, "invalid proxy name"},
		{"slash in name", "POST", "/proxies", `{"name":"a/b","upstream":"127.0.0.1:1"}`, 400, "invalid proxy name"},
		{"no upstream", "POST", "/proxies", `{"name":"x"}`, 400, "upstream is required"},
		{"bad listen", "POST", "/proxies", `{"name":"x","listen":"nope","upstream":"127.0.0.1:1"}`, 400, "listen"},
		{"duplicate proxy", "POST", "/proxies", `{"name":"p","upstream":"127.0.0.1:1"}`, 409, "already exists"},
		{"unknown proxy", "GET", "/proxies/nope", ``, 404, "no proxy"},
		{"unknown proxy toxics", "GET", "/proxies/nope/toxics", ``, 404, "no proxy"},
		{"unknown proxy delete", "DELETE", "/proxies/nope", ``, 404, "no proxy"},
		{"unknown proxy cut", "POST", "/proxies/nope/cut", ``, 404, "no proxy"},
		{"empty upstream patch", "PATCH", "/proxies/p", `{"upstream":""}`, 400, "upstream"},
		{"bad cut body", "POST", "/proxies/p/cut", `{"rst":true}`, 400, "unknown field"},
		{"unknown type", "POST", "/proxies/p/toxics", `{"name":"x","type":"lag","direction":"upstream"}`, 400, "unknown toxic type"},
		{"no direction", "POST", "/proxies/p/toxics", `{"name":"x","type":"blackhole"}`, 400, "invalid direction"},
		{"no toxic name", "POST", "/proxies/p/toxics", `{"type":"blackhole","direction":"upstream"}`, 400, "invalid toxic name"},
		{"bad attribute", "POST", "/proxies/p/toxics", `{"name":"x","type":"latency","direction":"upstream","attributes":{"delay":"soon"}}`, 400, "invalid duration"},
		{"unknown attribute", "POST", "/proxies/p/toxics", `{"name":"x","type":"latency","direction":"upstream","attributes":{"latency":5}}`, 400, "unknown field"},
		{"invalid toxic", "POST", "/proxies/p/toxics", `{"name":"x","type":"bandwidth","direction":"upstream"}`, 400, "bytes per second"},
		{"bad toxicity", "POST", "/proxies/p/toxics", `{"name":"x","type":"blackhole","direction":"upstream","toxicity":2}`, 400, "toxicity"},
		{"duplicate toxic", "POST", "/proxies/p/toxics", `{"name":"t","type":"blackhole","direction":"upstream"}`, 409, "already exists"},
		{"unknown toxic", "GET", "/proxies/p/toxics/nope", ``, 404, "not found"},
		{"unknown toxic patch", "PATCH", "/proxies/p/toxics/nope", `{}`, 404, "not found"},
		{"unknown toxic delete", "DELETE", "/proxies/p/toxics/nope", ``, 404, "not found"},
		{"rename", "PATCH", "/proxies/p/toxics/t", `{"name":"u"}`, 400, "renamed"},
		{"change direction", "PATCH", "/proxies/p/toxics/t", `{"direction":"downstream"}`, 400, "direction"},
		{"bad patch type", "PATCH", "/proxies/p/toxics/t", `{"type":"nope"}`, 400, "unknown toxic type"},
		{"bad patch toxicity", "PATCH", "/proxies/p/toxics/t", `{"toxicity":-1}`, 400, "toxicity"},
		{"method", "PUT", "/proxies/p", `{}`, 405, ""},
	}
	for _, tt := range tests {
		code, body := do(t, h, tt.method, tt.path, tt.body)
		assert.Equal(t, tt.want, code, "%s: %s", tt.name, body)
		assert.Contains(t, body, tt.contains, tt.name)
		if tt.want != 405 {
			var e ErrorBody
			assert.NoError(t, json.Unmarshal([]byte(body), &e), tt.name)
			assert.NotEmpty(t, e.Error, tt.name)
		}
	}

	require.NoError(t, h.Close())
	code, body := do(t, h, "POST", "/proxies", `{"name":"late","upstream":"127.0.0.1:1"}`)
	assert.Equal(t, http.StatusServiceUnavailable, code, body)
	code, _ = do(t, h, "GET", "/proxies/p", "")
	assert.Equal(t, http.StatusNotFound, code)
}

func TestDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{`"150ms"`, 150 * time.Millisecond, false},
		{`"1.5s"`, 1500 * time.Millisecond, false},
		{`"0s"`, 0, false},
		{`250`, 250 * time.Millisecond, false},
		{`0.5`, 500 * time.Microsecond, false},
		{`"fast"`, 0, true},
		{`true`, 0, true},
		{`1e300`, 0, true},
	}
	for _, tt := range tests {
		var d Duration
		err := json.Unmarshal([]byte(tt.in), &d)
		if tt.err {
			assert.Error(t, err, tt.in)
			continue
		}
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, time.Duration(d), tt.in)
	}
	b, err := json.Marshal(Duration(1500 * time.Millisecond))
	require.NoError(t, err)
	assert.Equal(t, `"1.5s"`, string(b))
}
