package redisserver_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"time"

	"github.com/justredis/justredis/redisserver"
)

// Start a private server from the local redis-server binary, talk to it, and
// stop it. In a test, redisserver.Run(t, opts) does the same and stops the
// server at the end of the test.
func ExampleStart() {
	ctx := context.Background()
	s, err := redisserver.Start(ctx, redisserver.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Stop(ctx)

	if _, err := s.Do(ctx, "SET", "greeting", "hello"); err != nil {
		log.Fatal(err)
	}
	v, err := s.Do(ctx, "GET", "greeting")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(v.Str)
	// Output: hello
}

// Several commands in one round trip: an error reply is a reply like the
// others.
func ExampleServer_DoAll() {
	ctx := context.Background()
	s, err := redisserver.Start(ctx, redisserver.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Stop(ctx)

	replies, err := s.DoAll(ctx, []any{"SET", "n", 41}, []any{"INCR", "n"}, []any{"LPOP", "n"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(replies[0].Str, replies[1].Int, replies[2].IsError())
	// Output: OK 42 true
}

// A password, and an ACL user that Do authenticates as.
func ExampleOptions_users() {
	ctx := context.Background()
	s, err := redisserver.Start(ctx, redisserver.Options{
		Password:  "default's password",
		Users:     []redisserver.User{{Name: "reader", Password: "r", Rules: []string{"~*", "+@read", "+acl"}}},
		AdminUser: "reader",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Stop(ctx)

	who, _ := s.Do(ctx, "ACL", "WHOAMI")
	fmt.Println("Do runs as", who.Str)
	_, err = s.Do(ctx, "SET", "k", "v")
	fmt.Println("reader may not write:", err != nil)
	// Output:
	// Do runs as reader
	// reader may not write: true
}

// Restart keeps the port and loses the data (no persistence); Kill is a
// crash, after which Restart brings the server back.
func ExampleServer_Restart() {
	ctx := context.Background()
	s, err := redisserver.Start(ctx, redisserver.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Stop(ctx)
	addr := s.Addr()
	s.Do(ctx, "SET", "k", "v")

	if err := s.Restart(ctx); err != nil {
		log.Fatal(err)
	}
	v, _ := s.Do(ctx, "GET", "k")
	fmt.Println("same address:", s.Addr() == addr, "- data kept:", !v.IsNull())

	s.Kill()
	_, err = s.Do(ctx, "PING")
	fmt.Println("killed server answers:", err == nil)
	if err := s.Restart(ctx); err != nil {
		log.Fatal(err)
	}
	v, _ = s.Do(ctx, "PING")
	fmt.Println("after restart:", v.Str)
	// Output:
	// same address: true - data kept: false
	// killed server answers: false
	// after restart: PONG
}

// A paused server accepts connections but answers nothing: a client's
// timeout fires. Resume brings it back.
func ExampleServer_Pause() {
	ctx := context.Background()
	s, err := redisserver.Start(ctx, redisserver.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Stop(ctx)

	if err := s.Pause(); err != nil {
		log.Fatal(err)
	}
	tctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	_, err = s.Do(tctx, "PING")
	cancel()
	fmt.Println("timed out:", errors.Is(err, context.DeadlineExceeded))

	if err := s.Resume(); err != nil {
		log.Fatal(err)
	}
	v, _ := s.Do(ctx, "PING")
	fmt.Println(v.Str)
	// Output:
	// timed out: true
	// PONG
}

// Two cluster-mode nodes meet. Cluster mode keeps each node's bus port
// (Port+10000) free as well; with containers, nodes announce the address the
// test process uses, so the same addresses work from everywhere.
func ExampleOptions_cluster() {
	ctx := context.Background()
	opts := redisserver.Options{Cluster: true}
	a, err := redisserver.Start(ctx, opts)
	if err != nil {
		log.Fatal(err)
	}
	defer a.Stop(ctx)
	b, err := redisserver.Start(ctx, opts)
	if err != nil {
		log.Fatal(err)
	}
	defer b.Stop(ctx)

	if _, err := a.Do(ctx, "CLUSTER", "MEET", b.Host(), b.Port()); err != nil {
		log.Fatal(err)
	}
	// Gossip takes a moment: wait (bounded) until b knows a.
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, err := b.Do(ctx, "CLUSTER", "INFO")
		if err == nil && strings.Contains(v.Text(), "cluster_known_nodes:2") {
			break
		}
		if time.Now().After(deadline) {
			log.Fatal("the nodes did not meet")
		}
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Println("the nodes know each other")
	// Output: the nodes know each other
}

// A server that speaks only TLS, with a throwaway certificate authority.
// ClientTLSConfig is the configuration a client of it needs (Do uses it).
func ExampleNewTestTLS() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "tls")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	tlsOpts, err := redisserver.NewTestTLS(dir)
	if err != nil {
		log.Fatal(err)
	}
	// The binary backend: a container's address (a gateway's) is not one
	// the certificate names (give NewTestTLS that host for containers).
	s, err := redisserver.Start(ctx, redisserver.Options{Backend: redisserver.BackendBinary, TLS: tlsOpts})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Stop(ctx)

	cfg, err := tlsOpts.ClientTLSConfig()
	if err != nil {
		log.Fatal(err)
	}
	conn, err := tls.Dial("tcp", s.Addr(), cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		log.Fatal(err)
	}
	reply := make([]byte, 7)
	if _, err := io.ReadFull(conn, reply); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q\n", reply)
	// Output: "+PONG\r\n"
}
