package clusterharness_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/justredis/justredis/clusterharness"
	"github.com/justredis/justredis/resp"
)

// Start a cluster of three masters with one replica each, kill a master and
// see its replica take over. In a test, clusterharness.Run(t, opts) starts
// the cluster and stops it at the end of the test.
func ExampleStart() {
	ctx := context.Background()
	c, err := clusterharness.Start(ctx, clusterharness.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Stop(ctx)
	fmt.Println(len(c.Masters()), "masters,", len(c.Replicas()), "replicas")

	master := c.SlotOwner(clusterharness.KeySlot("greeting"))
	replica := c.ReplicasOf(master)[0]
	if err := c.Kill(ctx, master); err != nil { // returns once the replica took over
		log.Fatal(err)
	}
	fmt.Println("the replica is now a", replica.Role())
	fmt.Println("it owns the key's slot:", c.SlotOwner(clusterharness.KeySlot("greeting")) == replica)
	// Output:
	// 3 masters, 3 replicas
	// the replica is now a master
	// it owns the key's slot: true
}

// Hold a slot in the migrating state to see the ASK redirection a client
// has to follow, then finish the migration.
func ExampleCluster_BeginMigration() {
	ctx := context.Background()
	c, err := clusterharness.Start(ctx, clusterharness.Options{Replicas: -1})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Stop(ctx)

	slot := clusterharness.KeySlot("moving")
	from, to := c.SlotOwner(slot), c.Masters()[0]
	if from == to {
		to = c.Masters()[1]
	}
	from.Server().Do(ctx, "SET", "moving", "1")
	m, err := c.BeginMigration(ctx, from, to, []int{slot})
	if err != nil {
		log.Fatal(err)
	}
	n, _ := m.MoveKeys(ctx, "moving")
	fmt.Println("moved", n, "key")

	_, err = from.Server().Do(ctx, "GET", "moving")
	var rerr *resp.Error
	if errors.As(err, &rerr) {
		fmt.Println(rerr.Prefix, "to the target:", rerr.Addr == to.Addr())
	}
	if _, err := m.Finish(ctx); err != nil {
		log.Fatal(err)
	}
	_, err = from.Server().Do(ctx, "GET", "moving")
	if errors.As(err, &rerr) {
		fmt.Println(rerr.Prefix, "to the target:", rerr.Addr == to.Addr())
	}
	// Output:
	// moved 1 key
	// ASK to the target: true
	// MOVED to the target: true
}
