package control

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/justredis/justredis/faultinject"
)

// The attributes of each toxic type on the wire.
type (
	latencyAttrs struct {
		Delay  Duration `json:"delay"`
		Jitter Duration `json:"jitter"`
	}
	bandwidthAttrs struct {
		BytesPerSecond int64 `json:"bytes_per_second"`
	}
	slicerAttrs struct {
		AverageSize   int      `json:"average_size"`
		SizeVariation int      `json:"size_variation"`
		Delay         Duration `json:"delay"`
	}
	limitDataAttrs struct {
		Bytes int64 `json:"bytes"`
	}
	blackholeAttrs struct{}
	resetPeerAttrs struct {
		Timeout Duration `json:"timeout"`
	}
	slowCloseAttrs struct {
		Delay Duration `json:"delay"`
	}
)

// codec converts one toxic type between faultinject and its attributes.
type codec struct {
	// attrs returns a pointer to the attributes of t, or zero attributes for
	// a nil t.
	attrs func(t faultinject.Toxic) any
	// toxic builds the toxic from a pointer returned by attrs.
	toxic func(attrs any) faultinject.Toxic
}

// codecs by toxic type name.
var codecs = map[string]codec{
	"latency": {
		attrs: func(t faultinject.Toxic) any {
			v, _ := t.(faultinject.Latency)
			return &latencyAttrs{Delay: Duration(v.Delay), Jitter: Duration(v.Jitter)}
		},
		toxic: func(a any) faultinject.Toxic {
			v := a.(*latencyAttrs)
			return faultinject.Latency{Delay: time.Duration(v.Delay), Jitter: time.Duration(v.Jitter)}
		},
	},
	"bandwidth": {
		attrs: func(t faultinject.Toxic) any {
			v, _ := t.(faultinject.Bandwidth)
			return &bandwidthAttrs{BytesPerSecond: v.BytesPerSecond}
		},
		toxic: func(a any) faultinject.Toxic {
			return faultinject.Bandwidth{BytesPerSecond: a.(*bandwidthAttrs).BytesPerSecond}
		},
	},
	"slicer": {
		attrs: func(t faultinject.Toxic) any {
			v, _ := t.(faultinject.Slicer)
			return &slicerAttrs{AverageSize: v.AverageSize, SizeVariation: v.SizeVariation, Delay: Duration(v.Delay)}
		},
		toxic: func(a any) faultinject.Toxic {
			v := a.(*slicerAttrs)
			return faultinject.Slicer{AverageSize: v.AverageSize, SizeVariation: v.SizeVariation, Delay: time.Duration(v.Delay)}
		},
	},
	"limit_data": {
		attrs: func(t faultinject.Toxic) any {
			v, _ := t.(faultinject.LimitData)
			return &limitDataAttrs{Bytes: v.Bytes}
		},
		toxic: func(a any) faultinject.Toxic { return faultinject.LimitData{Bytes: a.(*limitDataAttrs).Bytes} },
	},
	"blackhole": {
		attrs: func(faultinject.Toxic) any { return &blackholeAttrs{} },
		toxic: func(any) faultinject.Toxic { return faultinject.Blackhole{} },
	},
	"reset_peer": {
		attrs: func(t faultinject.Toxic) any {
			v, _ := t.(faultinject.ResetPeer)
			return &resetPeerAttrs{Timeout: Duration(v.Timeout)}
		},
		toxic: func(a any) faultinject.Toxic {
			return faultinject.ResetPeer{Timeout: time.Duration(a.(*resetPeerAttrs).Timeout)}
		},
	},
	"slow_close": {
		attrs: func(t faultinject.Toxic) any {
			v, _ := t.(faultinject.SlowClose)
			return &slowCloseAttrs{Delay: Duration(v.Delay)}
		},
		toxic: func(a any) faultinject.Toxic {
			return faultinject.SlowClose{Delay: time.Duration(a.(*slowCloseAttrs).Delay)}
		},
	},
}

// typeNames lists the toxic types, for error messages.
func typeNames() []string {
	names := make([]string, 0, len(codecs))
	for n := range codecs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// decodeToxic builds a toxic of type typ from base (nil, or an existing
// toxic whose attributes are the starting point) with raw merged over it.
func decodeToxic(typ string, base faultinject.Toxic, raw json.RawMessage) (faultinject.Toxic, error) {
	c, ok := codecs[typ]
	if !ok {
		return nil, fmt.Errorf("unknown toxic type %q (want one of %v)", typ, typeNames())
	}
	if base != nil && base.Kind() != typ {
		base = nil
	}
	attrs := c.attrs(base)
	if len(bytes.TrimSpace(raw)) > 0 && !bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(attrs); err != nil {
			return nil, fmt.Errorf("%s attributes: %w", typ, err)
		}
	}
	return c.toxic(attrs), nil
}

// encodeToxic returns the wire form of a configured toxic.
func encodeToxic(info faultinject.ToxicInfo) ToxicSpec {
	kind := info.Toxic.Kind()
	attrs, err := json.Marshal(codecs[kind].attrs(info.Toxic))
	if err != nil {
		// The attribute structs always marshal.
		panic(fmt.Sprintf("control: marshal %s attributes: %v", kind, err))
	}
	toxicity := info.Toxicity
	return ToxicSpec{
		Name:       info.Name,
		Type:       kind,
		Direction:  info.Direction.String(),
		Toxicity:   &toxicity,
		Attributes: attrs,
	}
}
