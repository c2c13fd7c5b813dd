// Command quickstart walks through justredis's client against a private
// redis-server (started here with the redisserver harness), or against the
// server at $REDIS_ADDR when it is set. `make run` runs it.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/justredis/justredis/client"
	"github.com/justredis/justredis/redisserver"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	addr := os.Getenv("REDIS_ADDR")
	if addr == "" {
		srv, err := redisserver.Start(ctx, redisserver.Options{})
		if err != nil {
			return fmt.Errorf("starting a private redis-server: %w", err)
		}
		defer srv.Stop(context.Background())
		addr = srv.Addr()
		fmt.Println("started a private redis-server at", addr)
	}

	// One Mux for the whole program: every goroutine shares its connection.
	mux, err := client.New(client.Config{Endpoints: []string{addr}})
	if err != nil {
		return err
	}
	defer mux.Close()
	db := mux.Database(0)

	// Send and wait (Python justredis's commandreply).
	if _, err := db.Do(ctx, "SET", "Hello", "World!"); err != nil {
		return err
	}
	hello, err := client.String(db.Do(ctx, "GET", "Hello"))
	if err != nil {
		return err
	}
	fmt.Println("Hello,", hello)

	// Pipelined: send now, wait later (Python justredis's command).
	f := db.Command(ctx, "GET", "Hello")
	n := db.Command(ctx, "INCR", "visits")
	got, err := client.String(f.Reply(ctx))
	if err != nil {
		return err
	}
	visits, err := client.Int64(n.Reply(ctx))
	if err != nil {
		return err
	}
	fmt.Println("pipelined GET:", got, "| pipelined INCR:", visits)

	// MULTI/EXEC as one unit: never interleaved with other callers.
	tx := db.Multi()
	tx.Command("SET", "Hello", "World, atomically!")
	atomic := tx.Command("GET", "Hello")
	if err := tx.Exec(ctx); err != nil {
		return err
	}
	if hello, err = client.String(atomic.Reply(ctx)); err != nil {
		return err
	}
	fmt.Println("Atomic Hello,", hello)

	// Two databases on the same connection.
	db1 := mux.Database(1)
	if _, err := db1.Do(ctx, "SET", "Hello", "database one"); err != nil {
		return err
	}
	for _, d := range []client.Database{db, db1} {
		v, err := client.String(d.Do(ctx, "GET", "Hello"))
		if err != nil {
			return err
		}
		fmt.Printf("db %d: %s\n", d.Number(), v)
	}

	// Typed decoding: a missing key is ErrNil, not "".
	if _, err := client.String(db.Do(ctx, "GET", "no such key")); errors.Is(err, client.ErrNil) {
		fmt.Println("missing key: client.ErrNil")
	}
	counters, err := db.With(client.Decoder(client.DecodeStrings)).Call(ctx, "MGET", "visits", "Hello")
	if err != nil {
		return err
	}
	fmt.Printf("MGET decoded as []string: %q\n", counters)

	// Blocking commands run on a dedicated connection, beside the shared one.
	popped := db.Command(ctx, "BLPOP", "queue", 5)
	if _, err := db.Do(ctx, "RPUSH", "queue", "job-1"); err != nil {
		return err
	}
	job, err := client.Strings(popped.Reply(ctx))
	if err != nil {
		return err
	}
	fmt.Printf("BLPOP got %q\n", job)

	// Errors say whether the command ran.
	_, err = db.Do(ctx, "WATCH", "Hello")
	fmt.Println("WATCH on the shared connection:", err, "| not executed:", client.NotExecuted(err))
	s := mux.Stats()
	fmt.Printf("%d commands in %d writes\n", s.Commands, s.Writes)
	return nil
}
