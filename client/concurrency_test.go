package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/justredis/justredis/redisserver"
	"github.com/justredis/justredis/resp"
)

// 10,000 goroutines × 100 commands on one connection, every result checked.
func TestTenThousandGoroutines(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	m := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}})
	// A million commands under -race on a loaded 2-core machine can take
	// minutes: the bound is generous, the work is what is tested.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	db := m.Database(0)
	// 100 commands each: 50 SET + 50 GET; fewer goroutines under the slicer.
	goroutines, pairs := scaled(10000), 50
	var failed atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < pairs; i++ {
				key := fmt.Sprintf("k:%d", g)
				val := fmt.Sprintf("v:%d:%d", g, i)
				if _, err := db.Do(ctx, "SET", key, val); err != nil {
					if failed.Add(1) < 5 {
						t.Errorf("SET: %v", err)
					}
					return
				}
				got, err := String(db.Do(ctx, "GET", key))
				if err != nil || got != val {
					if failed.Add(1) < 5 {
						t.Errorf("GET %s = %q, %v; want %q", key, got, err, val)
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d goroutines failed", n)
	}
	if n, err := Int64(db.Do(ctx, "DBSIZE")); err != nil || n != int64(goroutines) {
		t.Fatalf("DBSIZE = %d, %v", n, err)
	}
}

// The ownership property: thousands of goroutines SET and GET their own
// keys in three databases while their contexts end at random moments (before,
// during and after sending). Every reply a goroutine receives must be one it
// could have caused: a value it wrote to that key, never another caller's,
// never a reply of the wrong shape. And the connection keeps working.
func TestRepliesNeverReachTheWrongCaller(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	m := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}})
	ctx := testCtx(t)
	goroutines, ops := scaled(2000), 60 // fewer goroutines under the slicer
	var violations, cancelled, completed atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			db := m.Database(g % 3)
			key := fmt.Sprintf("own:%d", g)
			// possible holds every value the key may hold now: a SET that
			// failed with MaybeExecuted adds its value, one that certainly
			// ran replaces them, one that certainly did not changes nothing.
			possible := map[string]bool{"": true} // "" stands for "no value"
			for i := 0; i < ops; i++ {
				opCtx, cancel := randomDeadline(ctx, rng)
				if rng.IntN(2) == 0 {
					val := fmt.Sprintf("%d:%d", g, i)
					v, err := db.Do(opCtx, "SET", key, val)
					switch {
					case err == nil:
						if v.Type != resp.TypeSimpleString || v.Str != "OK" {
							violations.Add(1)
							t.Errorf("SET got %v", v)
						}
						possible = map[string]bool{val: true}
						completed.Add(1)
					case MaybeExecuted(err):
						possible[val] = true
						cancelled.Add(1)
					case NotExecuted(err):
						cancelled.Add(1)
					default:
						violations.Add(1)
						t.Errorf("SET: unclassified error %v", err)
					}
				} else {
					v, err := db.Do(opCtx, "GET", key)
					switch {
					case err == nil:
						got := ""
						if v.Type == resp.TypeBulkString {
							got = v.Str
						} else if !v.IsNull() {
							violations.Add(1)
							t.Errorf("goroutine %d: GET got %v", g, v)
						}
						if !possible[got] {
							violations.Add(1)
							t.Errorf("goroutine %d: GET %s = %q, which it never wrote (possible: %v)", g, key, got, possible)
						}
						possible = map[string]bool{got: true}
						completed.Add(1)
					case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
						cancelled.Add(1)
					default:
						violations.Add(1)
						t.Errorf("GET: %v", err)
					}
				}
				cancel()
			}
		}()
	}
	wg.Wait()
	t.Logf("%d completed, %d cancelled, %d violations", completed.Load(), cancelled.Load(), violations.Load())
	if violations.Load() != 0 {
		t.Fatal("replies reached the wrong callers")
	}
	if cancelled.Load() == 0 || completed.Load() == 0 {
		t.Fatalf("the test did not exercise both outcomes: %d completed, %d cancelled", completed.Load(), cancelled.Load())
	}
	// The connection is still the same one and still works.
	if s, err := String(m.Database(0).Do(ctx, "ECHO", "still fine")); err != nil || s != "still fine" {
		t.Fatalf("after the storm: %q, %v", s, err)
	}
}

// randomDeadline returns a context that ends at a random moment: often
// before the command can be sent, often while it is in flight, sometimes not
// at all within the operation.
func randomDeadline(parent context.Context, rng *rand.Rand) (context.Context, context.CancelFunc) {
	switch rng.IntN(4) {
	case 0:
		return context.WithTimeout(parent, time.Duration(rng.IntN(50))*time.Microsecond)
	case 1:
		return context.WithTimeout(parent, time.Duration(rng.IntN(2000))*time.Microsecond)
	case 2:
		ctx, cancel := context.WithCancel(parent)
		cancel() // already over
		return ctx, cancel
	}
	return context.WithTimeout(parent, time.Minute)
}
