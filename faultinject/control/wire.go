package control

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// ProxySpec is the body of POST /proxies.
type ProxySpec struct {
	// Name identifies the proxy in URLs: non-empty, without "/".
	Name string `json:"name"`
	// Listen is the address to listen on; "127.0.0.1:0" (the default when
	// empty) picks a free port, reported as listen in ProxyState.
	Listen string `json:"listen,omitempty"`
	// Upstream is the server address connections are forwarded to.
	Upstream string `json:"upstream"`
	// Seed, if set, seeds the proxy's randomness (faultinject.WithSeed).
	Seed *int64 `json:"seed,omitempty"`
}

// ProxyPatch is the body of PATCH /proxies/{proxy}. Absent fields are left
// as they are. The changes are applied in field order; when one fails, the
// request changes nothing.
type ProxyPatch struct {
	// Upstream sets the address for new connections (Proxy.SetUpstream).
	Upstream *string `json:"upstream,omitempty"`
	// Refuse takes the listener down (true) or up again (false)
	// (Proxy.RefuseNew).
	Refuse *bool `json:"refuse,omitempty"`
	// Paused holds (true) or releases (false) all traffic (Proxy.Pause,
	// Proxy.Resume).
	Paused *bool `json:"paused,omitempty"`
}

// CutRequest is the optional body of POST /proxies/{proxy}/cut.
type CutRequest struct {
	// Reset closes the client connections with RST instead of FIN
	// (Proxy.ResetAll instead of Proxy.CutAll).
	Reset bool `json:"reset,omitempty"`
}

// ProxyState describes a proxy in responses.
type ProxyState struct {
	// Name is the proxy's name.
	Name string `json:"name"`
	// Listen is the address the proxy listens on: connect clients here.
	Listen string `json:"listen"`
	// Upstream is the address new connections are forwarded to.
	Upstream string `json:"upstream"`
	// Seed is the seed of the proxy's randomness.
	Seed int64 `json:"seed"`
	// Refusing is true while new connections are refused.
	Refusing bool `json:"refusing"`
	// Paused is true while all traffic is held.
	Paused bool `json:"paused"`
	// Conns is the number of open connections.
	Conns int `json:"conns"`
	// Stats are the proxy's counters.
	Stats Stats `json:"stats"`
	// Toxics lists the toxics in the order they apply.
	Toxics []ToxicSpec `json:"toxics"`
}

// Stats mirrors faultinject.Stats.
type Stats struct {
	// Accepted is the number of connections accepted.
	Accepted int64 `json:"accepted"`
	// Upstream counts the client → server direction.
	Upstream DirStats `json:"upstream"`
	// Downstream counts the server → client direction.
	Downstream DirStats `json:"downstream"`
}

// DirStats mirrors faultinject.DirStats.
type DirStats struct {
	// Read is the number of bytes read from the source side.
	Read int64 `json:"read"`
	// Written is the number of bytes written to the destination side.
	Written int64 `json:"written"`
	// Swallowed is the number of bytes dropped by blackhole toxics.
	Swallowed int64 `json:"swallowed"`
}

// ToxicSpec is a toxic on the wire: the body of POST /proxies/{proxy}/toxics
// and of responses. In PATCH /proxies/{proxy}/toxics/{toxic} every field is
// optional: name and direction cannot change, an absent type keeps the kind,
// an absent toxicity keeps it, and attributes are merged into the current
// ones (all reset to zero when the type changes).
type ToxicSpec struct {
	// Name identifies the toxic within its proxy: non-empty, without "/".
	Name string `json:"name,omitempty"`
	// Type is the toxic's kind: latency, bandwidth, slicer, limit_data,
	// blackhole, reset_peer or slow_close.
	Type string `json:"type,omitempty"`
	// Direction is "upstream" (client → server) or "downstream".
	Direction string `json:"direction,omitempty"`
	// Toxicity is the probability, in [0, 1], that the toxic applies to a
	// connection; absent means 1 when adding.
	Toxicity *float64 `json:"toxicity,omitempty"`
	// Attributes holds the kind's settings; see the package documentation.
	Attributes json.RawMessage `json:"attributes,omitempty"`
}

// ErrorBody is the body of every error response.
type ErrorBody struct {
	// Error describes what went wrong.
	Error string `json:"error"`
}

// Duration is a time.Duration on the wire. It is written as a Go duration
// string ("150ms", "1.5s", "0s") and read from such a string or from a
// number of milliseconds (150, 0.5).
type Duration time.Duration

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a duration string or a number of milliseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("invalid duration %q: %w", s, err)
		}
		*d = Duration(v)
		return nil
	}
	ms, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(ms) || math.IsInf(ms, 0) || math.Abs(ms) > float64(math.MaxInt64/int64(time.Millisecond)) {
		return fmt.Errorf("invalid duration %s: want a string such as \"100ms\" or a number of milliseconds", b)
	}
	*d = Duration(ms * float64(time.Millisecond))
	return nil
}
