package cluster_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/justredis/justredis/client"
	"github.com/justredis/justredis/cluster"
	"github.com/justredis/justredis/clusterharness"
)

// A cluster client has the single-server client's API; keys that must go
// together use a hash tag.
func Example() {
	ctx := context.Background()
	c, err := clusterharness.Start(ctx, clusterharness.Options{Replicas: -1})
	if err != nil {
		panic(err)
	}
	defer c.Stop(ctx)

	mux, err := cluster.New(client.Config{Endpoints: c.Addrs()})
	if err != nil {
		panic(err)
	}
	defer mux.Close()
	db := mux.Database(0)

	_, _ = db.Do(ctx, "SET", "{user:42}.name", "Ada")
	_, _ = db.Do(ctx, "SET", "{user:42}.lang", "Go")
	vals, err := client.Strings(db.Do(ctx, "MGET", "{user:42}.name", "{user:42}.lang"))
	fmt.Println(vals, err)

	_, err = db.Do(ctx, "MGET", "user:1", "user:2")
	fmt.Println(errors.Is(err, cluster.ErrCrossSlot), client.NotExecuted(err))

	masters, _ := cluster.Masters(ctx, mux)
	fmt.Println(len(masters), "masters")
	// Output:
	// [Ada Go] <nil>
	// true true
	// 3 masters
}

// The hash slot of a key, hash tags included.
func ExampleSlot() {
	fmt.Println(cluster.Slot("foo"), cluster.Slot("{user1000}.following") == cluster.Slot("{user1000}.followers"))
	// Output: 12182 true
}
