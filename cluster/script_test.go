package cluster

import (
	"context"
	"strconv"
	"testing"

	"github.com/justredis/justredis/client"
	"github.com/justredis/justredis/clusterharness"
)

// TestScriptsAcrossASK: a script whose key has moved to the importing node
// of a migrating slot runs there, once, whether the client has to load it
// (SCRIPT LOAD in front of the EVALSHA) or not, through Script.Run, EVAL
// by Do and a transaction. Outside MULTI the server's ASKING covers only
// the next command: put in front of SCRIPT LOAD, the SCRIPT LOAD used it
// up and the EVALSHA bounced between the two nodes until the redirection
// cap (Script.Run failed with "ASK ..."; the transaction with MOVED).
func TestScriptsAcrossASK(t *testing.T) {
	c := startCluster(t)
	m := newClient(t, c)
	ctx := testCtx(t)
	db := m.Database(0)
	slot := c.Masters()[0].Slots()[0].Start
	keys := make([]string, 4)
	for i := range keys {
		keys[i] = "{" + keyInSlot(slot) + "}:" + strconv.Itoa(i)
		if _, err := db.Do(ctx, "SET", keys[i], "0"); err != nil {
			t.Fatal(err)
		}
	}
	// The source knows incr (run once before the migration); neither node
	// knows the others.
	incr := client.NewScript("return redis.call('INCR', KEYS[1])")
	if _, err := incr.Run(ctx, db, keys[:1]); err != nil {
		t.Fatal(err)
	}
	mig := moveMidMigration(ctx, t, c, slot, keys...)

	fresh := client.NewScript("return redis.call('INCR', KEYS[1]) -- fresh")
	if v, err := fresh.Run(ctx, db, keys[1:2]); err != nil || v.Int != 1 {
		t.Errorf("a script neither node knows, on a key moved mid-migration: %v, %v; want 1", v, err)
	}
	if v, err := incr.Run(ctx, db, keys[:1]); err != nil || v.Int != 2 {
		t.Errorf("a script the source knows, on a key moved mid-migration: %v, %v; want 2", v, err)
	}
	if v, err := db.Do(ctx, "EVAL", "return redis.call('INCR', KEYS[1]) -- eval", 1, keys[2]); err != nil || v.Int != 1 {
		t.Errorf("EVAL through Do: %v, %v; want 1", v, err)
	}
	tx := db.Multi()
	inTx := client.NewScript("return redis.call('INCR', KEYS[1]) -- in a transaction")
	f := inTx.Command(tx, keys[3:4])
	if err := tx.Exec(ctx); err != nil {
		t.Errorf("a transaction running a script the target does not know: %v", err)
	} else if v, err := f.Reply(ctx); err != nil || v.Int != 1 {
		t.Errorf("the script in the transaction: %v, %v; want 1", v, err)
	}

	if _, err := mig.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	// Each ran exactly once: no try ran it and then bounced.
	for i, want := range []string{"2", "1", "1", "1"} {
		if s, err := client.String(db.Do(ctx, "GET", keys[i])); err != nil || s != want {
			t.Errorf("%s = %q, %v; want %s", keys[i], s, err, want)
		}
	}
}

// moveMidMigration begins moving slot from the first master to the second
// and moves keys (of that slot) already: commands on them are answered ASK
// by the first master until the returned migration is finished.
func moveMidMigration(ctx context.Context, t *testing.T, c *clusterharness.Cluster, slot int, keys ...string) *clusterharness.Migration {
	t.Helper()
	mig, err := c.BeginMigration(ctx, c.Masters()[0], c.Masters()[1], []int{slot})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mig.MoveKeys(ctx, keys...); err != nil {
		t.Fatal(err)
	}
	return mig
}
