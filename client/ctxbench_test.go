package client

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/justredis/justredis/redisserver"
)

// BenchmarkDoContext: BenchmarkDo's load at 256 and 2048 goroutines, with a
// context that can never end (Background) and with one shared cancellable
// context, as workers under a common shutdown context use: the difference
// is the cost of waiting for the reply or the context.
func BenchmarkDoContext(b *testing.B) {
	srv := startServer(b, redisserver.Options{})
	m := newMux(b, Config{Endpoints: []string{srv.Addr()}})
	db := m.Database(0)
	val := strings.Repeat("v", 16)
	cctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, conc := range []int{256, 2048} {
		for _, c := range []struct {
			name string
			ctx  context.Context
		}{{"background", context.Background()}, {"cancellable", cctx}} {
			b.Run(c.name+"/goroutines="+strconv.Itoa(conc), func(b *testing.B) {
				keys := make([]string, conc)
				for i := range keys {
					keys[i] = "bench:" + strconv.Itoa(i)
				}
				set, get := make([][]any, conc), make([][]any, conc)
				for g := range keys {
					set[g], get[g] = []any{"SET", keys[g], val}, []any{"GET", keys[g]}
				}
				defer measure(b, m, srv)()
				runConcurrent(b, conc, func(g int, i int) {
					args := set[g]
					if i%2 == 1 {
						args = get[g]
					}
					if _, err := db.Do(c.ctx, args...); err != nil {
						b.Error(err)
					}
				})
			})
		}
	}
}
