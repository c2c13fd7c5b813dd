package client_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/justredis/justredis/client"
	"github.com/justredis/justredis/redisserver"
)

// privateServer starts a throwaway redis-server for an example.
func privateServer() (addr string, stop func()) {
	srv, err := redisserver.Start(context.Background(), redisserver.Options{})
	if err != nil {
		panic(err)
	}
	return srv.Addr(), func() { _ = srv.Stop(context.Background()) }
}

// The example of Python justredis's README, in Go: SET, GET, a pipelined
// command, and a transaction.
func Example() {
	addr, stop := privateServer()
	defer stop()
	ctx := context.Background()

	mux, err := client.New(client.Config{Endpoints: []string{addr}})
	if err != nil {
		panic(err)
	}
	defer mux.Close()
	db := mux.Database(0)

	if _, err := db.Do(ctx, "SET", "Hello", "World!"); err != nil {
		panic(err)
	}
	s, err := client.String(db.Do(ctx, "GET", "Hello"))
	fmt.Println("Hello,", s, err)

	f := db.Command(ctx, "GET", "Hello") // sent now...
	s, err = client.String(f.Reply(ctx)) // ...resolved later
	fmt.Println("pipelined:", s, err)

	tx := db.Multi()
	tx.Command("SET", "Hello", "World!")
	hello := tx.Command("GET", "Hello")
	err = tx.Exec(ctx)
	s, _ = client.String(hello.Reply(ctx))
	fmt.Println("Atomic Hello,", s, err)
	// Output:
	// Hello, World! <nil>
	// pipelined: World! <nil>
	// Atomic Hello, World! <nil>
}

// Handles carry options: here a decoder, and no retries.
func ExampleDatabase_With() {
	addr, stop := privateServer()
	defer stop()
	ctx := context.Background()
	mux, _ := client.New(client.Config{Endpoints: []string{addr}})
	defer mux.Close()

	db := mux.Database(3)
	_, _ = db.Do(ctx, "RPUSH", "list", "a", "b", "c")
	strs := db.With(client.Decoder(client.DecodeStrings), client.Retries(0))
	v, err := strs.Call(ctx, "LRANGE", "list", 0, -1)
	fmt.Printf("%q %v\n", v, err)
	// Output: ["a" "b" "c"] <nil>
}

// A nil reply is not an empty string.
func ExampleString() {
	addr, stop := privateServer()
	defer stop()
	ctx := context.Background()
	mux, _ := client.New(client.Config{Endpoints: []string{addr}})
	defer mux.Close()

	_, err := client.String(mux.Database(0).Do(ctx, "GET", "missing"))
	fmt.Println(errors.Is(err, client.ErrNil))
	// Output: true
}

// Every error says whether the command may have run.
func ExampleNotExecuted() {
	addr, stop := privateServer()
	defer stop()
	mux, _ := client.New(client.Config{Endpoints: []string{addr}})
	defer mux.Close()

	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the command will never be sent
	_, err := mux.Database(0).Do(ctx, "INCR", "counter")
	fmt.Println(errors.Is(err, context.Canceled), client.NotExecuted(err), client.MaybeExecuted(err))
	// Output: true true false
}

// A cached script inside an optimistic transaction: Watch sends the
// script's SCRIPT LOAD ahead of MULTI, so EXEC never meets NOSCRIPT.
func ExampleScript_Command() {
	addr, stop := privateServer()
	defer stop()
	ctx := context.Background()
	mux, err := client.New(client.Config{Endpoints: []string{addr}})
	if err != nil {
		panic(err)
	}
	defer mux.Close()
	db := mux.Database(0)

	// Adds ARGV[1] to KEYS[1] unless that would pass ARGV[2].
	add := client.NewScript(`
		local n = tonumber(redis.call('GET', KEYS[1]) or '0') + tonumber(ARGV[1])
		if n > tonumber(ARGV[2]) then return redis.error_reply('LIMIT over ' .. ARGV[2]) end
		redis.call('SET', KEYS[1], n)
		return n`)
	var total *client.Future
	err = db.Watch(ctx, []string{"stock"}, func(tx *client.Tx) error {
		total = add.Command(tx, []string{"stock"}, 5, 100)
		return nil
	})
	n, ferr := client.Int64(total.Reply(ctx))
	fmt.Println(n, ferr, err)

	// A Multi takes the script the same way.
	tx := db.Multi()
	over := add.Command(tx, []string{"stock"}, 500, 100)
	err = tx.Exec(ctx)
	_, ferr = over.Reply(ctx)
	fmt.Println(ferr, err)
	// Output:
	// 5 <nil> <nil>
	// LIMIT over 100 <nil>
}
