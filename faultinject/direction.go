package faultinject

import "fmt"

// Direction is the way bytes flow through a proxied connection. Every toxic
// is attached to exactly one direction.
type Direction uint8

const (
	// Upstream is client → server: bytes the client writes to the proxy and
	// the proxy writes to the upstream server.
	Upstream Direction = iota
	// Downstream is server → client: the upstream server's replies.
	Downstream
)

// numDirections is the number of valid Direction values.
const numDirections = 2

// String returns "upstream" or "downstream".
func (d Direction) String() string {
	switch d {
	case Upstream:
		return "upstream"
	case Downstream:
		return "downstream"
	}
	return fmt.Sprintf("Direction(%d)", uint8(d))
}

// valid reports whether d is Upstream or Downstream.
func (d Direction) valid() bool { return d < numDirections }

// MarshalText encodes d as "upstream" or "downstream".
func (d Direction) MarshalText() ([]byte, error) {
	if !d.valid() {
		return nil, fmt.Errorf("%w: %d", ErrInvalidDirection, uint8(d))
	}
	return []byte(d.String()), nil
}

// UnmarshalText accepts "upstream" or "downstream".
func (d *Direction) UnmarshalText(text []byte) error {
	switch string(text) {
	case "upstream":
		*d = Upstream
	case "downstream":
		*d = Downstream
	default:
		return fmt.Errorf("%w: %q (want \"upstream\" or \"downstream\")", ErrInvalidDirection, text)
	}
	return nil
}
