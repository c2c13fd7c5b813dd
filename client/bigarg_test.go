package client

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/justredis/justredis/redisserver"
)

// Big string arguments (bigArgMin and up) are sent from the caller's string:
// with writev on plain TCP and unix sockets, copied into the write buffer
// through TLS. Every way a command can go out must send them whole and in
// their place: direct round trips and pipelined batches, with a SELECT
// injected before them, in Futures, transactions, scripts and blocking
// commands (which write one flat buffer), and around the writer's batch cap.
func TestBigArguments(t *testing.T) {
	serverTLS, clientTLS := testTLS(t)
	plain := startServer(t, redisserver.Options{UnixSocket: true})
	secure := startServer(t, redisserver.Options{TLS: serverTLS})
	for _, tc := range []struct {
		name     string
		cfg      Config
		vectored bool
	}{
		{"tcp", Config{Endpoints: []string{serverAddr(t, plain)}}, true},
		{"unix", Config{Endpoints: []string{"unix:" + plain.UnixSocket()}}, true},
		{"tls", Config{Endpoints: []string{serverAddr(t, secure)}, TLS: clientTLS}, false},
		{"resp2", Config{Endpoints: []string{serverAddr(t, plain)}, Protocol: 2}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMux(t, tc.cfg)
			ctx := testCtx(t)
			if err := m.Ping(ctx); err != nil {
				t.Fatal(err)
			}
			c, err := m.Nodes()[0].conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if c.vectored != tc.vectored {
				t.Fatalf("vectored = %v, want %v", c.vectored, tc.vectored)
			}
			checkBigArguments(t, ctx, m, tc.name)
		})
	}
}

// bigValue is n random letters (a value sent in the wrong place, or cut,
// would not read back equal).
func bigValue(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(rng.IntN(26))
	}
	return string(b)
}

func checkBigArguments(t *testing.T, ctx context.Context, m *Mux, prefix string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := []int{bigArgMin - 1, bigArgMin, bigArgMin + 1, 4096, 100 << 10, maxBatchBytes + 7, 2 << 20}
	if slicing {
		sizes = sizes[:4] // a byte per write: megabytes would take minutes
	}
	pipeSizes := sizes[:min(len(sizes), 6)] // 16 goroutines of up to 256 KiB pass the batch cap
	get := func(db Database, key string) string {
		t.Helper()
		s, err := String(db.Do(ctx, "GET", key))
		if err != nil {
			t.Fatalf("GET %s: %v", key, err)
		}
		return s
	}

	// One caller: direct round trips, in two databases (a SELECT goes in
	// front of the first command in each), through Do and DoStrings, with
	// several big arguments in one command.
	for _, dbn := range []int{0, 1, 0} {
		db := m.Database(dbn)
		for _, n := range sizes {
			key := fmt.Sprintf("%s:direct:%d:%d", prefix, dbn, n)
			v1, v2 := bigValue(rng, n), bigValue(rng, n)
			if _, err := db.Do(ctx, "SET", key, v1); err != nil {
				t.Fatal(err)
			}
			if got := get(db, key); got != v1 {
				t.Fatalf("db %d, %d bytes: GET after Do SET differs", dbn, n)
			}
			if _, err := db.DoStrings(ctx, "SET", key, v2); err != nil {
				t.Fatal(err)
			}
			if got := get(db, key); got != v2 {
				t.Fatalf("db %d, %d bytes: GET after DoStrings SET differs", dbn, n)
			}
			if _, err := db.Do(ctx, "MSET", key+":a", v1, key+":b", "small", key+":c", v2); err != nil {
				t.Fatal(err)
			}
			vs, err := db.Do(ctx, "MGET", key+":a", key+":b", key+":c")
			if err != nil || len(vs.Elems) != 3 || vs.Elems[0].Str != v1 || vs.Elems[1].Str != "small" || vs.Elems[2].Str != v2 {
				t.Fatalf("db %d, %d bytes: MSET/MGET of mixed sizes: %v", dbn, n, err)
			}
		}
	}

	// Many callers at once: pipelined batches that mix big and small
	// commands and databases, and pass the batch cap.
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			db := m.Database(g % 3)
			for i := range 8 {
				key := fmt.Sprintf("%s:pipe:%d:%d", prefix, g, i)
				v := bigValue(rng, pipeSizes[(g+i)%len(pipeSizes)])
				if _, err := db.Do(ctx, "SET", key, v); err != nil {
					errs <- err
					return
				}
				if s, err := String(db.Do(ctx, "GET", key)); err != nil || s != v {
					errs <- fmt.Errorf("goroutine %d, %s: GET differs (%d of %d bytes), %v", g, key, len(s), len(v), err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	db := m.Database(2)
	v := bigValue(rng, 8<<10)

	// Futures from one goroutine: queued, written later.
	var fs []*Future
	for i := range 10 {
		fs = append(fs, db.Command(ctx, "SET", fmt.Sprintf("%s:future:%d", prefix, i), v[i:]))
	}
	for i, f := range fs {
		if _, err := f.Reply(ctx); err != nil {
			t.Fatal(err)
		}
		if got := get(db, fmt.Sprintf("%s:future:%d", prefix, i)); got != v[i:] {
			t.Fatalf("future %d: value differs", i)
		}
	}

	// A []byte is copied when the command is issued: changing it once
	// Command has returned does not change what is sent.
	b := []byte(v)
	f := db.Command(ctx, "SET", prefix+":bytes", b)
	for i := range b {
		b[i] = '!'
	}
	if _, err := f.Reply(ctx); err != nil {
		t.Fatal(err)
	}
	if got := get(db, prefix+":bytes"); got != v {
		t.Fatal("a []byte changed after Command returned changed what was sent")
	}

	// A transaction and a script carry big arguments too.
	tx := db.Multi()
	tx.Command("SET", prefix+":tx", v)
	txGet := tx.Command("GET", prefix+":tx")
	if err := tx.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if s, err := txGet.Result(ctx); err != nil || s != v {
		t.Fatalf("GET in MULTI: %d bytes, %v", len(fmt.Sprint(s)), err)
	}
	script := NewScript("redis.call('SET', KEYS[1], ARGV[1]) return redis.call('STRLEN', KEYS[1])")
	if n, err := Int64(script.Run(ctx, db, []string{prefix + ":script"}, v)); err != nil || n != int64(len(v)) {
		t.Fatalf("script: %d, %v", n, err)
	}

	// A blocking command, on a dedicated connection, with a big key.
	bigKey := prefix + ":list:" + strings.Repeat("k", 3<<10)
	if _, err := db.Do(ctx, "RPUSH", bigKey, v); err != nil {
		t.Fatal(err)
	}
	popped, err := db.Do(ctx, "BLPOP", bigKey, 1)
	if err != nil || len(popped.Elems) != 2 || popped.Elems[0].Str != bigKey || popped.Elems[1].Str != v {
		t.Fatalf("BLPOP with a big key: %v", err)
	}
}

// A request gives its big arguments up when it is recycled, and a flattened
// request is the same bytes as one encoded by copying.
func TestBigArgumentsInRequests(t *testing.T) {
	v := strings.Repeat("x", bigArgMin)
	args := []any{"SET", "k", v, "EX", 10}
	r := getRequest()
	if err := (&Database{}).encodeRequest(r, args); err != nil {
		t.Fatal(err)
	}
	if len(r.big) != 1 || r.bigLen != len(v) || r.size() != len(r.buf)+len(v) {
		t.Fatalf("big = %d pieces, %d bytes; size %d", len(r.big), r.bigLen, r.size())
	}
	want, err := (&Database{}).encode(nil, args)
	if err != nil {
		t.Fatal(err)
	}
	r.setAsking(true) // the offsets move with ASKING in front...
	r.flatten()
	if string(r.buf) != string(askingCommand)+string(want) || len(r.big) != 0 || r.bigLen != 0 {
		t.Fatalf("flattened with ASKING:\n%q\nwant ASKING and\n%q", r.buf, want)
	}
	putRequest(r)
	r = getRequest()
	if err := (&Database{}).encodeRequest(r, args); err != nil {
		t.Fatal(err)
	}
	r.setAsking(true)
	r.setAsking(false) // ...and back
	r.flatten()
	if string(r.buf) != string(want) {
		t.Fatalf("flattened:\n%q\nwant\n%q", r.buf, want)
	}
	putRequest(r)
	r = getRequest()
	if err := (&Database{}).encodeRequest(r, args); err != nil {
		t.Fatal(err)
	}
	big := r.big
	r.dropBig() // what putRequest does first, checked before r goes back to the pool
	if big[:1][0].s != "" {
		t.Fatal("a recycled request still refers to a caller's string")
	}
	putRequest(r)
}

// ASKING goes where askAt says (before the EVALSHA of a script sent with
// its SCRIPT LOAD in front), and off again; big arguments after that point
// move with it, those before it do not.
func TestAskingInsideRequest(t *testing.T) {
	v := strings.Repeat("x", bigArgMin)
	db := &Database{}
	r := getRequest()
	defer putRequest(r)
	if err := db.encodeRequest(r, []any{"ECHO", v}); err != nil { // a big argument before askAt
		t.Fatal(err)
	}
	first := r.appendWire(nil)
	r.askAt = int32(len(r.buf))
	tail := &request{}
	if err := db.encodeRequest(tail, []any{"EVALSHA", "sha", 1, "k", v}); err != nil {
		t.Fatal(err)
	}
	for _, b := range tail.big { // append the second command, big argument and all
		r.big = append(r.big, bigArg{at: len(r.buf) + b.at, s: b.s})
		r.bigLen += len(b.s)
	}
	r.buf = append(r.buf, tail.buf...)
	r.expect = 2
	second := tail.appendWire(nil)

	r.setAsking(true)
	if got, want := string(r.appendWire(nil)), string(first)+string(askingCommand)+string(second); got != want || r.expect != 3 {
		t.Fatalf("with ASKING (expect %d):\n%q\nwant\n%q", r.expect, got, want)
	}
	r.setAsking(true) // no second ASKING
	r.setAsking(false)
	if got, want := string(r.appendWire(nil)), string(first)+string(second); got != want || r.expect != 2 {
		t.Fatalf("without ASKING again (expect %d):\n%q\nwant\n%q", r.expect, got, want)
	}
}
