package control

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/justredis/justredis/faultinject"
)

// TestOutOfRangeToxicOverHTTP checks that the HTTP API answers 400 to
// toxic settings beyond faultinject's bounds, on add and on update, and
// that the proxy keeps forwarding. Such settings used to be accepted, and
// the first byte through the proxy then panicked its forwarding goroutine,
// killing the faultproxy daemon.
func TestOutOfRangeToxicOverHTTP(t *testing.T) {
	t.Parallel()
	h := newHandler(t)
	var st ProxyState
	doJSON(t, h, "POST", "/proxies", `{"name":"p","upstream":"`+startEcho(t)+`"}`, http.StatusCreated, &st)
	doJSON(t, h, "POST", "/proxies/p/toxics", `{"name":"lat","type":"latency","direction":"upstream","attributes":{"delay":"1ms"}}`, http.StatusCreated, nil)
	doJSON(t, h, "POST", "/proxies/p/toxics", `{"name":"sl","type":"slicer","direction":"downstream","attributes":{"average_size":2}}`, http.StatusCreated, nil)

	tests := []struct {
		name, method, path, body, contains string
	}{
		{"add jitter", "POST", "/proxies/p/toxics",
			`{"name":"x","type":"latency","direction":"upstream","attributes":{"jitter":"2562047h"}}`,
			"jitter must be between 0 and 24h0m0s"},
		{"add delay", "POST", "/proxies/p/toxics",
			`{"name":"x","type":"latency","direction":"upstream","attributes":{"delay":"25h"}}`,
			"delay must be between 0 and 24h0m0s"},
		{"add size variation", "POST", "/proxies/p/toxics",
			`{"name":"x","type":"slicer","direction":"upstream","attributes":{"average_size":10,"size_variation":4611686018427387905}}`,
			"size variation must be between 0 and 1073741824"},
		{"add average size", "POST", "/proxies/p/toxics",
			`{"name":"x","type":"slicer","direction":"upstream","attributes":{"average_size":1073741825}}`,
			"average size must be between 1 and 1073741824"},
		{"add reset timeout", "POST", "/proxies/p/toxics",
			`{"name":"x","type":"reset_peer","direction":"upstream","attributes":{"timeout":"100000h"}}`,
			"timeout must be between 0 and 24h0m0s"},
		{"update jitter", "PATCH", "/proxies/p/toxics/lat", `{"attributes":{"jitter":"2562047h"}}`,
			"jitter must be between 0 and 24h0m0s"},
		{"update size variation", "PATCH", "/proxies/p/toxics/sl", `{"attributes":{"size_variation":4611686018427387905}}`,
			"size variation must be between 0 and 1073741824"},
	}
	for _, tt := range tests {
		code, body := do(t, h, tt.method, tt.path, tt.body)
		assert.Equal(t, http.StatusBadRequest, code, "%s: %s", tt.name, body)
		assert.Contains(t, body, tt.contains, tt.name)
		assert.Contains(t, body, faultinject.ErrInvalidToxic.Error(), tt.name)
	}

	p, ok := h.Proxy("p")
	require.True(t, ok)
	require.Len(t, p.Toxics(), 2, "a refused toxic was added")
	info, _ := p.Toxic("lat")
	assert.Equal(t, faultinject.Latency{Delay: time.Millisecond}, info.Toxic, "a refused update changed the toxic")
	info, _ = p.Toxic("sl")
	assert.Equal(t, faultinject.Slicer{AverageSize: 2}, info.Toxic, "a refused update changed the toxic")
	echoOnce(t, st.Listen, "still forwarding through both toxics")
}
