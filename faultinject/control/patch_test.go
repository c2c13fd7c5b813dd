package control

import (
	"net"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPatchProxyAllOrNothing checks that a PATCH whose refuse fails leaves
// the upstream it also set as it was: a failed PATCH changes nothing.
func TestPatchProxyAllOrNothing(t *testing.T) {
	t.Parallel()
	const up = "127.0.0.1:1"
	const body = `{"upstream":"127.0.0.1:2","refuse":false}`
	t.Run("port taken", func(t *testing.T) {
		t.Parallel()
		h := newHandler(t)
		var st ProxyState
		doJSON(t, h, "POST", "/proxies", `{"name":"p","upstream":"`+up+`"}`, http.StatusCreated, &st)
		doJSON(t, h, "PATCH", "/proxies/p", `{"refuse":true}`, http.StatusOK, nil)
		// Another socket takes the port: listening again fails.
		ln, err := net.Listen("tcp", st.Listen)
		require.NoError(t, err)
		defer ln.Close()
		code, resp := do(t, h, "PATCH", "/proxies/p", body)
		require.Equal(t, http.StatusInternalServerError, code, resp)
		require.Contains(t, resp, "listen again")
		var got ProxyState
		doJSON(t, h, "GET", "/proxies/p", "", http.StatusOK, &got)
		require.Equal(t, up, got.Upstream)
		require.True(t, got.Refusing)
	})
	t.Run("proxy closed", func(t *testing.T) {
		t.Parallel()
		h := newHandler(t)
		doJSON(t, h, "POST", "/proxies", `{"name":"p","upstream":"`+up+`"}`, http.StatusCreated, nil)
		p, ok := h.Proxy("p")
		require.True(t, ok)
		require.NoError(t, p.Close())
		code, resp := do(t, h, "PATCH", "/proxies/p", `{"upstream":"127.0.0.1:2","refuse":true}`)
		require.Equal(t, http.StatusGone, code, resp)
		require.Equal(t, up, p.Upstream())
	})
}
