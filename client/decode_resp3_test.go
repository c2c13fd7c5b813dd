package client

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/justredis/justredis/redisserver"
	"github.com/justredis/justredis/resp"
)

// helperFunc is a typed helper with its result as an any.
type helperFunc func(resp.Value, error) (any, error)

func asAny[T any](h func(resp.Value, error) (T, error)) helperFunc {
	return func(v resp.Value, err error) (any, error) { return h(v, err) }
}

// The typed helpers give the same result on RESP2 and RESP3 for the same
// command, against a real server: RESP3's arrays of pairs, doubles,
// booleans, big numbers and verbatim strings read as RESP2's flat arrays
// and bulk strings do.
func TestHelpersSameOnBothProtocols(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	ctx := testCtx(t)
	var (
		str     = asAny(String)
		i64     = asAny(Int64)
		f64     = asAny(Float64)
		boolean = asAny(Bool)
		strs    = asAny(Strings)
		i64s    = asAny(Int64s)
		smap    = asAny(StringMap)
	)
	// Scores whose 17 significant digits (Redis 7.0's RESP2 form) are
	// also their shortest.
	zadd := []any{"ZADD", "z", 1.5, "a", math.Inf(1), "b", -2, "c", 1e20, "d", 100000, "e", 1e16, "f", 1e17, "g", 0.0001, "h"}
	zRange := []string{"c", "-2", "h", "0.0001", "a", "1.5", "e", "100000", "f", "10000000000000000", "g", "1e+17", "d", "1e+20", "b", "inf"}
	zMap := map[string]string{}
	for i := 0; i < len(zRange); i += 2 {
		zMap[zRange[i]] = zRange[i+1]
	}
	setup := [][]any{
		zadd,
		{"ZADD", "z1", 2.5, "only"},
		{"ZADD", "zn", 10, 1, 20, 2},
		{"ZADD", "zp", 1, "a", 2, "b", 3, "c"},
		{"ZADD", "zq", 1, "a", 5, "b"},
		{"HSET", "h", "f", "v", "g", "w"},
		{"HSET", "h1", "f", "v"},
		{"SET", "s", "x"},
		{"SADD", "set", "m"},
	}
	const luaTrue = "redis.setresp(3); return redis.call('EXISTS', KEYS[1]) == 1"
	tests := []struct {
		name    string
		helper  helperFunc
		cmd     []any
		want    any
		wantErr error
	}{
		{"Strings ZRANGE WITHSCORES", strs, []any{"ZRANGE", "z", 0, -1, "WITHSCORES"}, zRange, nil},
		{"StringMap ZRANGE WITHSCORES", smap, []any{"ZRANGE", "z", 0, -1, "WITHSCORES"}, zMap, nil},
		{"StringMap ZRANGEBYSCORE WITHSCORES", smap, []any{"ZRANGEBYSCORE", "zq", "-inf", "+inf", "WITHSCORES"}, map[string]string{"a": "1", "b": "5"}, nil},
		{"StringMap ZUNION WITHSCORES", smap, []any{"ZUNION", 2, "zq", "z1", "WITHSCORES"}, map[string]string{"a": "1", "only": "2.5", "b": "5"}, nil},
		{"StringMap ZINTER WITHSCORES", smap, []any{"ZINTER", 2, "zq", "zp", "WITHSCORES"}, map[string]string{"a": "2", "b": "7"}, nil},
		{"Strings ZRANDMEMBER WITHSCORES", strs, []any{"ZRANDMEMBER", "z1", 1, "WITHSCORES"}, []string{"only", "2.5"}, nil},
		{"StringMap ZRANDMEMBER WITHSCORES", smap, []any{"ZRANDMEMBER", "z1", -3, "WITHSCORES"}, map[string]string{"only": "2.5"}, nil},
		{"StringMap HRANDFIELD WITHVALUES", smap, []any{"HRANDFIELD", "h1", 1, "WITHVALUES"}, map[string]string{"f": "v"}, nil},
		{"Strings HRANDFIELD WITHVALUES", strs, []any{"HRANDFIELD", "h1", -2, "WITHVALUES"}, []string{"f", "v", "f", "v"}, nil},
		{"StringMap ZPOPMIN count", smap, []any{"ZPOPMIN", "zp", 2}, map[string]string{"a": "1", "b": "2"}, nil},
		{"Strings ZPOPMAX count 1", strs, []any{"ZPOPMAX", "zp", 1}, []string{"c", "3"}, nil},
		{"Strings ZPOPMIN", strs, []any{"ZPOPMIN", "zp"}, []string{"a", "1"}, nil},
		{"Int64s ZRANGE WITHSCORES", i64s, []any{"ZRANGE", "zn", 0, -1, "WITHSCORES"}, []int64{1, 10, 2, 20}, nil},
		{"Int64s ZRANGE WITHSCORES fraction", i64s, []any{"ZRANGE", "zq", 0, -1, "WITHSCORES"}, ([]int64)(nil), ErrUnexpectedReply},
		{"StringMap HGETALL", smap, []any{"HGETALL", "h"}, map[string]string{"f": "v", "g": "w"}, nil},
		{"Strings HGETALL", strs, []any{"HGETALL", "h"}, []string{"f", "v", "g", "w"}, nil},
		{"Strings MGET", strs, []any{"MGET", "s", "nokey"}, []string{"x", ""}, nil},
		{"Strings SMEMBERS", strs, []any{"SMEMBERS", "set"}, []string{"m"}, nil},
		{"String ZSCORE inf", str, []any{"ZSCORE", "z", "b"}, "inf", nil},
		{"String ZSCORE 1e20", str, []any{"ZSCORE", "z", "d"}, "1e+20", nil},
		{"String ZSCORE 1e16", str, []any{"ZSCORE", "z", "f"}, "10000000000000000", nil},
		{"String ZINCRBY", str, []any{"ZINCRBY", "zc", 2, "m"}, "2", nil},
		{"String EVAL double", str, []any{"EVAL", "return {double=1.5}", 0}, "1.5", nil},
		{"String EVAL true", str, []any{"EVAL", luaTrue, 1, "h"}, "1", nil},
		{"String EVAL big number", str, []any{"EVAL", "return {big_number='12345678901234567890123'}", 0}, "12345678901234567890123", nil},
		{"String EVAL verbatim", str, []any{"EVAL", "return {verbatim_string={format='txt', string='hi'}}", 0}, "hi", nil},
		{"Int64 ZINCRBY", i64, []any{"ZINCRBY", "zc", 2, "m"}, int64(2), nil},
		{"Int64 ZINCRBY fraction", i64, []any{"ZINCRBY", "zc", 1.5, "m"}, int64(0), ErrUnexpectedReply},
		{"Int64 ZSCORE 1e20", i64, []any{"ZSCORE", "z", "d"}, int64(0), ErrUnexpectedReply},
		{"Int64 ZSCORE inf", i64, []any{"ZSCORE", "z", "b"}, int64(0), ErrUnexpectedReply},
		{"Int64 EVAL double", i64, []any{"EVAL", "return {double=3}", 0}, int64(3), nil},
		{"Int64 EVAL big number", i64, []any{"EVAL", "return {big_number='123'}", 0}, int64(123), nil},
		{"Int64 EVAL big number beyond", i64, []any{"EVAL", "return {big_number='12345678901234567890123'}", 0}, int64(0), ErrUnexpectedReply},
		{"Int64 EVAL verbatim", i64, []any{"EVAL", "return {verbatim_string={format='txt', string='42'}}", 0}, int64(42), nil},
		{"Int64 EVAL true", i64, []any{"EVAL", luaTrue, 1, "h"}, int64(1), nil},
		{"Float64 ZSCORE inf", f64, []any{"ZSCORE", "z", "b"}, math.Inf(1), nil},
		{"Float64 EVAL true", f64, []any{"EVAL", luaTrue, 1, "h"}, 1.0, nil},
		{"Float64 EVAL big number", f64, []any{"EVAL", "return {big_number='123'}", 0}, 123.0, nil},
		{"Float64 EVAL verbatim", f64, []any{"EVAL", "return {verbatim_string={format='txt', string='2.5'}}", 0}, 2.5, nil},
		{"Bool EVAL true", boolean, []any{"EVAL", luaTrue, 1, "h"}, true, nil},
		{"Bool SET", boolean, []any{"SET", "s2", "y"}, true, nil},
		{"Bool EXISTS", boolean, []any{"EXISTS", "s"}, true, nil},
		{"Bool PING", boolean, []any{"PING"}, false, ErrUnexpectedReply},
		{"Bool GET", boolean, []any{"GET", "s"}, false, ErrUnexpectedReply},
	}
	for _, proto := range []int{2, 3} {
		db := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}, Protocol: proto}).Database(0)
		for _, tt := range tests {
			t.Run(fmt.Sprintf("RESP%d/%s", proto, tt.name), func(t *testing.T) {
				if _, err := db.Do(ctx, "FLUSHDB"); err != nil {
					t.Fatal(err)
				}
				for _, cmd := range setup {
					if _, err := db.Do(ctx, cmd...); err != nil {
						t.Fatalf("%v: %v", cmd, err)
					}
				}
				raw, rerr := db.Do(ctx, tt.cmd...)
				got, err := tt.helper(raw, rerr)
				if tt.wantErr != nil {
					if !errors.Is(err, tt.wantErr) {
						t.Fatalf("%v = %#v, %v (reply %v); want an error matching %v", tt.cmd, got, err, raw, tt.wantErr)
					}
					return
				}
				if err != nil || !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("%v = %#v, %v (reply %v); want %#v", tt.cmd, got, err, raw, tt.want)
				}
			})
		}
	}
}

// The edge values of the helpers, as RESP3 sends them and as RESP2 would.
func TestHelperEdgeValues(t *testing.T) {
	for _, tt := range []struct {
		f    float64
		want string
	}{
		{1.5, "1.5"}, {0.1, "0.1"}, {-2, "-2"}, {0, "0"}, {math.Copysign(0, -1), "-0"},
		{1e6, "1000000"}, {1e16, "10000000000000000"}, {99999999999999984, "99999999999999980"},
		{1e17, "1e+17"}, {1e20, "1e+20"}, {1.2345e300, "1.2345e+300"}, {math.MaxFloat64, "1.7976931348623157e+308"},
		{0.0001, "0.0001"}, {0.00012, "0.00012"}, {1e-5, "1e-05"}, {9.9999e-5, "9.9999e-05"}, {5e-324, "5e-324"},
		{math.Inf(1), "inf"}, {math.Inf(-1), "-inf"}, {math.NaN(), "nan"},
	} {
		if got, err := String(resp.Double(tt.f), nil); err != nil || got != tt.want {
			t.Errorf("String(double %v) = %q, %v; want %q", tt.f, got, err, tt.want)
		}
		if m, err := StringMap(resp.Map(resp.Double(tt.f), resp.Double(tt.f)), nil); err != nil || m[tt.want] != tt.want {
			t.Errorf("StringMap({%v: %v}) = %q, %v; want the key and value %q", tt.f, tt.f, m, err, tt.want)
		}
		if !math.IsNaN(tt.f) {
			if back, err := Float64(resp.Bulk(tt.want), nil); err != nil || back != tt.f || math.Signbit(back) != math.Signbit(tt.f) {
				t.Errorf("Float64(%q) = %v, %v; want %v", tt.want, back, err, tt.f)
			}
		}
	}
	for v, want := range map[*resp.Value]string{{Type: resp.TypeBoolean, Int: 1}: "1", {Type: resp.TypeBoolean}: "0"} {
		if got, err := String(*v, nil); err != nil || got != want {
			t.Errorf("String(%v) = %q, %v; want %q", *v, got, err, want)
		}
	}

	ints := []struct {
		v       resp.Value
		want    int64
		wantErr error
	}{
		{resp.Double(2), 2, nil},
		{resp.Double(-3), -3, nil},
		{resp.Double(math.Copysign(0, -1)), 0, nil},
		{resp.Double(-9223372036854775808), math.MinInt64, nil},
		{resp.Double(9223372036854774784), 9223372036854774784, nil}, // the largest float64 below 2^63
		{resp.Double(9223372036854775808), 0, ErrUnexpectedReply},    // 2^63
		{resp.Double(-9223372036854777856), 0, ErrUnexpectedReply},   // below -2^63
		{resp.Double(1.5), 0, ErrUnexpectedReply},
		{resp.Double(-0.5), 0, ErrUnexpectedReply},
		{resp.Double(math.Inf(1)), 0, ErrUnexpectedReply},
		{resp.Double(math.Inf(-1)), 0, ErrUnexpectedReply},
		{resp.Double(math.NaN()), 0, ErrUnexpectedReply},
		{resp.BigNumber("9223372036854775807"), math.MaxInt64, nil},
		{resp.BigNumber("-9223372036854775808"), math.MinInt64, nil},
		{resp.BigNumber("9223372036854775808"), 0, ErrUnexpectedReply},
		{resp.BigNumber("-12345678901234567890123"), 0, ErrUnexpectedReply},
		{resp.Verbatim("txt", "42"), 42, nil},
		{resp.Verbatim("txt", "4x"), 0, ErrUnexpectedReply},
		{resp.SimpleString("7"), 7, nil},
		{resp.Bulk("9223372036854775807"), math.MaxInt64, nil},
		{resp.Bulk("9223372036854775808"), 0, ErrUnexpectedReply},
		{resp.Bulk("1e+17"), 0, ErrUnexpectedReply}, // text is an integer or nothing
		{resp.Bulk("3.0"), 0, ErrUnexpectedReply},
		{resp.Bulk("2"), 2, nil},
		{resp.Bulk("1e+20"), 0, ErrUnexpectedReply},
		{resp.Bulk("1.5"), 0, ErrUnexpectedReply},
		{resp.Bulk("inf"), 0, ErrUnexpectedReply},
		{resp.Bulk("nan"), 0, ErrUnexpectedReply},
		{resp.Bulk("0x10"), 0, ErrUnexpectedReply},
		{resp.Bulk(""), 0, ErrUnexpectedReply},
		{resp.Bool(false), 0, nil},
	}
	for _, tt := range ints {
		got, err := Int64(tt.v, nil)
		if got != tt.want || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
			t.Errorf("Int64(%v) = %d, %v; want %d, %v", tt.v, got, err, tt.want, tt.wantErr)
		}
	}
	if _, err := Int64(resp.Double(1.5), nil); err == nil || !strings.Contains(err.Error(), "1.5") {
		t.Errorf("Int64(1.5): %v; want an error naming the value", err)
	}

	floats := []struct {
		v    resp.Value
		want float64
	}{
		{resp.Bool(true), 1}, {resp.Bool(false), 0}, {resp.BigNumber("123"), 123},
		{resp.BigNumber("12345678901234567890123"), 12345678901234567890123}, {resp.Verbatim("txt", "-2.5"), -2.5},
	}
	for _, tt := range floats {
		if got, err := Float64(tt.v, nil); err != nil || got != tt.want {
			t.Errorf("Float64(%v) = %v, %v; want %v", tt.v, got, err, tt.want)
		}
	}

	for _, tt := range []struct {
		v       resp.Value
		want    bool
		wantErr error
	}{
		{resp.SimpleString("OK"), true, nil},
		{resp.SimpleString("PONG"), false, ErrUnexpectedReply},
		{resp.SimpleString("QUEUED"), false, ErrUnexpectedReply},
		{resp.SimpleString(""), false, ErrUnexpectedReply},
		{resp.Bulk("OK"), false, ErrUnexpectedReply},
		{resp.Null(), false, ErrNil},
		{resp.Bool(true), true, nil},
		{resp.Int(2), true, nil},
	} {
		got, err := Bool(tt.v, nil)
		if got != tt.want || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
			t.Errorf("Bool(%v) = %v, %v; want %v, %v", tt.v, got, err, tt.want, tt.wantErr)
		}
	}

	pair := func(k, v resp.Value) resp.Value { return resp.Array(k, v) }
	lists := []struct {
		name string
		v    resp.Value
		strs []string
		smap map[string]string
		err  bool // StringMap refuses it
	}{
		{"array of pairs", resp.Array(pair(resp.Bulk("a"), resp.Double(1.5)), pair(resp.Bulk("b"), resp.Double(math.Inf(1)))),
			[]string{"a", "1.5", "b", "inf"}, map[string]string{"a": "1.5", "b": "inf"}, false},
		{"one pair", resp.Array(pair(resp.Bulk("a"), resp.Bulk("1"))), []string{"a", "1"}, map[string]string{"a": "1"}, false},
		{"flat pair", resp.Array(resp.Bulk("a"), resp.Double(2)), []string{"a", "2"}, map[string]string{"a": "2"}, false},
		{"map", resp.Map(resp.Bulk("a"), resp.Double(2), resp.Bool(true), resp.Null()), []string{"a", "2", "1", ""}, map[string]string{"a": "2", "1": ""}, false},
		{"pair with null", resp.Array(pair(resp.Bulk("a"), resp.Null())), []string{"a", ""}, map[string]string{"a": ""}, false},
		{"repeated key", resp.Array(pair(resp.Bulk("a"), resp.Bulk("1")), pair(resp.Bulk("a"), resp.Bulk("2"))),
			[]string{"a", "1", "a", "2"}, map[string]string{"a": "2"}, false},
		{"empty", resp.Array(), []string{}, map[string]string{}, false},
		// Not every element a pair: nothing is flattened, and the arrays
		// are not strings.
		{"mixed", resp.Array(pair(resp.Bulk("a"), resp.Bulk("1")), resp.Bulk("b")), nil, nil, true},
		{"triple", resp.Array(resp.Array(resp.Bulk("a"), resp.Bulk("b"), resp.Bulk("c"))), nil, nil, true},
		// A map's values are not flattened.
		{"map of pairs", resp.Map(resp.Bulk("k"), pair(resp.Bulk("a"), resp.Bulk("1"))), nil, nil, true},
		{"pairs of pairs", resp.Array(pair(pair(resp.Bulk("a"), resp.Bulk("1")), resp.Bulk("x"))), nil, nil, true},
	}
	for _, tt := range lists {
		got, err := Strings(tt.v, nil)
		if tt.strs == nil {
			if !errors.Is(err, ErrUnexpectedReply) {
				t.Errorf("%s: Strings = %q, %v; want ErrUnexpectedReply", tt.name, got, err)
			}
		} else if err != nil || !reflect.DeepEqual(got, tt.strs) {
			t.Errorf("%s: Strings = %q, %v; want %q", tt.name, got, err, tt.strs)
		}
		m, err := StringMap(tt.v, nil)
		if tt.err {
			if !errors.Is(err, ErrUnexpectedReply) {
				t.Errorf("%s: StringMap = %q, %v; want ErrUnexpectedReply", tt.name, m, err)
			}
		} else if err != nil || !reflect.DeepEqual(m, tt.smap) {
			t.Errorf("%s: StringMap = %q, %v; want %q", tt.name, m, err, tt.smap)
		}
	}
	if got, err := Int64s(resp.Array(pair(resp.Bulk("1"), resp.Double(10)), pair(resp.Int(2), resp.Double(20))), nil); err != nil || !reflect.DeepEqual(got, []int64{1, 10, 2, 20}) {
		t.Errorf("Int64s(pairs) = %v, %v", got, err)
	}
	// Values gives the reply as sent.
	v := resp.Array(pair(resp.Bulk("a"), resp.Bulk("1")))
	if got, err := Values(v, nil); err != nil || len(got) != 1 || !got[0].Equal(v.Elems[0]) {
		t.Errorf("Values(pairs) = %v, %v; want them unflattened", got, err)
	}
}

// Floats as command arguments are integers to Redis where they are
// integral ("1000000", not "1e+06"), and round-trip through the server
// at the ends of float64's range.
func TestFloatArgsOnServer(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	ctx := testCtx(t)
	for _, proto := range []int{2, 3} {
		db := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}, Protocol: proto}).Database(0)
		t.Run("RESP"+strconv.Itoa(proto), func(t *testing.T) {
			if _, err := db.Do(ctx, "SET", "n", 1e6); err != nil {
				t.Fatal(err)
			}
			if n, err := Int64(db.Do(ctx, "INCRBY", "n", 1)); err != nil || n != 1000001 {
				t.Fatalf("INCRBY after SET 1e6 = %d, %v; want 1000001", n, err)
			}
			if n, err := Int64(db.Do(ctx, "INCRBY", "n", 1e17)); err != nil || n != 1e17+1000001 {
				t.Fatalf("INCRBY n 1e17 = %d, %v", n, err)
			}
			if _, err := db.Do(ctx, "SET", "n32", float32(1e7)); err != nil {
				t.Fatal(err)
			}
			if n, err := Int64(db.Do(ctx, "INCRBY", "n32", 1)); err != nil || n != 10000001 {
				t.Fatalf("INCRBY after SET float32(1e7) = %d, %v", n, err)
			}
			if _, err := db.Do(ctx, "SET", "s", "hello world"); err != nil {
				t.Fatal(err)
			}
			if n, err := Int64(db.Do(ctx, "SETRANGE", "s", 5.0, "!")); err != nil || n != 11 {
				t.Fatalf("SETRANGE s 5.0 = %d, %v", n, err)
			}
			if s, err := String(db.Do(ctx, "GET", "s")); err != nil || s != "hello!world" {
				t.Fatalf("GET s = %q, %v", s, err)
			}
			if ok, err := Bool(db.Do(ctx, "EXPIRE", "s", 1e6)); err != nil || !ok {
				t.Fatalf("EXPIRE s 1e6 = %v, %v", ok, err)
			}
			if ttl, err := Int64(db.Do(ctx, "TTL", "s")); err != nil || ttl <= 0 || ttl > 1e6 {
				t.Fatalf("TTL s = %d, %v", ttl, err)
			}
			for _, f := range []float64{1e300, -1e300, 1e-300, 5e-324, math.MaxFloat64, 1e21, 1e-7, 0.1, 1e20} {
				if _, err := db.Do(ctx, "SET", "f", f); err != nil {
					t.Fatal(err)
				}
				s, err := String(db.Do(ctx, "GET", "f"))
				if err != nil {
					t.Fatal(err)
				}
				if back, err := strconv.ParseFloat(s, 64); err != nil || back != f {
					t.Errorf("SET f %v; GET f = %q, which reads as %v, %v", f, s, back, err)
				}
				// Redis reads it as the same double.
				if _, err := db.Do(ctx, "ZADD", "zf", f, "m"); err != nil {
					t.Fatal(err)
				}
				if got, err := Float64(db.Do(ctx, "ZSCORE", "zf", "m")); err != nil || got != f {
					t.Errorf("ZADD zf %v m; ZSCORE = %v, %v", f, got, err)
				}
			}
		})
	}
}
