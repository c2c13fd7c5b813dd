package client

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/justredis/justredis/redisserver"
)

// receiveN reads n messages (of kind message or pmessage) from ps.
func receiveN(t *testing.T, ctx context.Context, ps *PubSub, n int) []Message {
	t.Helper()
	var out []Message
	for len(out) < n {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		msg, err := ps.Receive(rctx)
		cancel()
		if err != nil {
			t.Fatalf("Receive after %d of %d messages: %v", len(out), n, err)
		}
		if msg.Kind == KindMessage || msg.Kind == KindPMessage {
			out = append(out, msg)
		}
	}
	return out
}

// expectNothing checks that ps receives no message for a moment.
func expectNothing(t *testing.T, ps *PubSub) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if msg, err := ps.Receive(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("unexpected %v %+v", err, msg)
	}
}

func describe(msgs []Message) string {
	var s []string
	for _, m := range msgs {
		s = append(s, m.Pattern+"|"+m.Channel+"|"+m.Payload)
	}
	sort.Strings(s)
	return strings.Join(s, " ")
}

func TestPubSubRouting(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	for _, proto := range []int{2, 3} {
		t.Run(fmt.Sprint("RESP", proto), func(t *testing.T) {
			m := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}, Protocol: proto})
			ctx := testCtx(t)
			db := m.Database(0)
			a := m.PubSub(PubSubOptions{})
			b := m.PubSub(PubSubOptions{Decoder: DecodeInt64})
			c := m.PubSub(PubSubOptions{Confirmations: true})
			for _, err := range []error{
				a.Subscribe(ctx, "ch1"),
				b.Subscribe(ctx, "ch2"), b.PSubscribe(ctx, "news.*"),
				c.Subscribe(ctx, "ch1"), c.PSubscribe(ctx, "news.*"),
			} {
				if err != nil {
					t.Fatal(err)
				}
			}
			if msg, err := c.Receive(ctx); err != nil || msg.Kind != KindSubscribe || msg.Channel != "ch1" {
				t.Fatalf("confirmation: %+v %v", msg, err)
			}
			if msg, err := c.Receive(ctx); err != nil || msg.Kind != KindSubscribe || msg.Channel != "news.*" {
				t.Fatalf("confirmation: %+v %v", msg, err)
			}
			for _, p := range [][2]string{{"ch1", "1"}, {"ch2", "2"}, {"news.tech", "3"}, {"other", "4"}} {
				if _, err := db.Do(ctx, "PUBLISH", p[0], p[1]); err != nil {
					t.Fatal(err)
				}
			}
			if got := describe(receiveN(t, ctx, a, 1)); got != "|ch1|1" {
				t.Errorf("a got %s", got)
			}
			bm := receiveN(t, ctx, b, 2)
			if got := describe(bm); got != "news.*|news.tech|3 |ch2|2" {
				t.Errorf("b got %s", got)
			}
			if bm[0].Data != int64(2) && bm[1].Data != int64(2) {
				t.Errorf("b's decoder was not applied: %+v", bm)
			}
			if got := describe(receiveN(t, ctx, c, 2)); got != "news.*|news.tech|3 |ch1|1" {
				t.Errorf("c got %s", got)
			}
			expectNothing(t, a)
			expectNothing(t, b)
			expectNothing(t, c)

			// Unsubscribing one subscriber leaves the other's subscription.
			if err := a.Unsubscribe(ctx, "ch1"); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Do(ctx, "PUBLISH", "ch1", "5"); err != nil {
				t.Fatal(err)
			}
			if got := describe(receiveN(t, ctx, c, 1)); got != "|ch1|5" {
				t.Errorf("c got %s", got)
			}
			expectNothing(t, a)
			if err := c.Ping(ctx, "hi"); err != nil {
				t.Fatalf("Ping: %v", err)
			}
			for _, ps := range []*PubSub{a, b, c} {
				if err := ps.Close(); err != nil {
					t.Fatal(err)
				}
				if _, err := ps.Receive(ctx); !errors.Is(err, ErrClosed) {
					t.Fatalf("Receive after Close: %v", err)
				}
			}
		})
	}
}

// A subscriber that does not read loses messages beyond its buffer, and is
// told how many; the fast subscriber and the shared connection's commands
// are not slowed down.
func TestPubSubSlowSubscriber(t *testing.T) {
	_, m := serverMux(t)
	ctx := testCtx(t)
	db := m.Database(0)
	slow := m.PubSub(PubSubOptions{BufferSize: 10})
	fast := m.PubSub(PubSubOptions{BufferSize: 2000})
	if err := slow.Subscribe(ctx, "firehose"); err != nil {
		t.Fatal(err)
	}
	if err := fast.Subscribe(ctx, "firehose"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Do(ctx, "SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	baseline := getLatencies(t, ctx, db, 2000)
	done := make(chan latencies, 1)
	go func() { done <- getLatencies(t, ctx, db, 2000) }()
	const n = 1000
	for i := 0; i < n; i++ {
		if _, err := db.Do(ctx, "PUBLISH", "firehose", fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	during := <-done
	got := receiveN(t, ctx, fast, n)
	if got[0].Payload != "0" || got[n-1].Payload != fmt.Sprint(n-1) {
		t.Fatalf("the fast subscriber got %s...%s", got[0].Payload, got[n-1].Payload)
	}
	t.Logf("GET latency without messages: p50 %v p99 %v; during 1k messages to a stalled subscriber: p50 %v p99 %v",
		baseline.p(50), baseline.p(99), during.p(50), during.p(99))
	// The slow one: its 10 buffered messages, then the loss report.
	_, err := slow.Receive(ctx)
	var oe *OverflowError
	if !errors.As(err, &oe) || !errors.Is(err, ErrOverflow) || oe.Dropped != n-10 {
		t.Fatalf("slow subscriber: %v, want an OverflowError of %d", err, n-10)
	}
	if msgs := receiveN(t, ctx, slow, 10); msgs[0].Payload != "0" || msgs[9].Payload != "9" {
		t.Fatalf("slow subscriber kept %s...%s", msgs[0].Payload, msgs[9].Payload)
	}
}

// Kill and restart the server: the subscriber is told it reconnected, its
// subscriptions are back, and new messages arrive.
func TestPubSubReconnect(t *testing.T) {
	srv, m := serverMux(t)
	ctx := testCtx(t)
	db := m.Database(0)
	ps := m.PubSub(PubSubOptions{})
	if err := ps.Subscribe(ctx, "ch"); err != nil {
		t.Fatal(err)
	}
	if err := ps.PSubscribe(ctx, "p.*"); err != nil {
		t.Fatal(err)
	}
	msgs := ps.Channel()
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case msg := <-msgs:
		if msg.Kind != KindReconnected {
			t.Fatalf("first message after the restart: %+v, want KindReconnected", msg)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no reconnect event")
	}
	for _, p := range [][2]string{{"ch", "after"}, {"p.x", "pattern after"}} {
		if _, err := db.Do(ctx, "PUBLISH", p[0], p[1]); err != nil {
			t.Fatal(err)
		}
	}
	var got []Message
	for len(got) < 2 {
		select {
		case msg := <-msgs:
			got = append(got, msg)
		case <-time.After(10 * time.Second):
			t.Fatalf("after the restart got only %+v", got)
		}
	}
	if d := describe(got); d != "p.*|p.x|pattern after |ch|after" {
		t.Fatalf("after the restart: %s", d)
	}
	if err := ps.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case _, ok := <-msgs:
		if ok {
			t.Fatal("Channel delivered after Close")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Channel not closed after Close")
	}
}

// One subscriber leaves a channel while another joins it, over and over:
// the server must end up subscribed whenever Subscribe said so (the hub's
// SUBSCRIBE and UNSUBSCRIBE reach the server in the order it decided them).
func TestPubSubJoinWhileLeaving(t *testing.T) {
	_, m := serverMux(t)
	ctx := testCtx(t)
	db := m.Database(0)
	for i := 0; i < 300; i++ {
		ch := fmt.Sprint("ch", i)
		a := m.PubSub(PubSubOptions{})
		b := m.PubSub(PubSubOptions{})
		if err := a.Subscribe(ctx, ch); err != nil {
			t.Fatal(err)
		}
		errs := make(chan error, 2)
		go func() { errs <- a.Unsubscribe(ctx, ch) }()
		go func() { errs <- b.Subscribe(ctx, ch) }()
		for j := 0; j < 2; j++ {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		if n, err := Int64(db.Do(ctx, "PUBLISH", ch, "hello")); err != nil || n != 1 {
			t.Fatalf("round %d: PUBLISH reached %d subscribers (%v), want 1", i, n, err)
		}
		if got := receiveN(t, ctx, b, 1); got[0].Payload != "hello" {
			t.Fatalf("round %d: got %+v", i, got)
		}
		_ = a.Close()
		_ = b.Close()
	}
}

// Shard channels on a single server (Redis 7 has SSUBSCRIBE there too).
func TestPubSubShardChannels(t *testing.T) {
	_, m := serverMux(t)
	ctx := testCtx(t)
	ps := m.PubSub(PubSubOptions{})
	if err := ps.SSubscribe(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	if n, err := Int64(m.Database(0).Do(ctx, "SPUBLISH", "orders", "o1")); err != nil || n != 1 {
		t.Fatalf("SPUBLISH reached %d, %v", n, err)
	}
	msg, err := ps.Receive(ctx)
	if err != nil || msg.Kind != KindSMessage || msg.Channel != "orders" || msg.Payload != "o1" {
		t.Fatalf("got %+v, %v", msg, err)
	}
	if err := ps.SUnsubscribe(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	if n, _ := Int64(m.Database(0).Do(ctx, "SPUBLISH", "orders", "o2")); n != 0 {
		t.Fatalf("still subscribed: %d", n)
	}
	_ = ps.Close()
}
