// Command faultproxy serves fault-injecting TCP proxies controlled over
// HTTP/JSON, for tests that are not written in Go. See the documentation of
// package github.com/justredis/justredis/faultinject/control for the API.
//
// Usage:
//
//	faultproxy [-addr 127.0.0.1:8474] [-seed N] [-v] [-proxy name=listen,upstream]...
//
// It prints "faultproxy: listening on http://ADDR" on standard output once
// the control API is up (useful with -addr 127.0.0.1:0), and runs until
// SIGINT or SIGTERM, when it closes every proxy. Each -proxy flag creates a
// proxy at start-up, as POST /proxies would.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/justredis/justredis/faultinject"
	"github.com/justredis/justredis/faultinject/control"
)

// shutdownTimeout bounds the wait for in-flight control requests at exit.
const shutdownTimeout = 5 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "faultproxy:", err)
		os.Exit(2)
	}
}

// proxyFlag is one -proxy name=listen,upstream.
type proxyFlag struct{ name, listen, upstream string }

// run is the program: it serves until ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("faultproxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8474", "`address` of the HTTP control API")
	seed := fs.Int64("seed", faultinject.DefaultSeed, "default `seed` of the proxies' randomness")
	verbose := fs.Bool("v", false, "log proxy events to standard error")
	var proxies []proxyFlag
	fs.Func("proxy", "create a proxy at start-up: `name=listen,upstream` (repeatable)", func(s string) error {
		name, rest, ok1 := strings.Cut(s, "=")
		listen, upstream, ok2 := strings.Cut(rest, ",")
		if !ok1 || !ok2 || name == "" || upstream == "" {
			return errors.New("want name=listen,upstream")
		}
		proxies = append(proxies, proxyFlag{name, listen, upstream})
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}

	opts := []faultinject.Option{faultinject.WithSeed(*seed)}
	if *verbose {
		opts = append(opts, faultinject.WithLogger(log.New(stderr, "", log.LstdFlags|log.Lmicroseconds).Printf))
	}
	h := control.NewHandler(opts...)
	defer h.Close()
	for _, p := range proxies {
		if err := createProxy(h, p); err != nil {
			return err
		}
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "faultproxy: listening on http://%s\n", ln.Addr())

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err = srv.Shutdown(sctx)
	<-served
	return err
}

// createProxy creates a -proxy through the handler, like a client would.
func createProxy(h http.Handler, p proxyFlag) error {
	// encoding/json, not %q: Go's quoting of a control character (\x01)
	// is not JSON.
	body, err := json.Marshal(control.ProxySpec{Name: p.name, Listen: p.listen, Upstream: p.upstream})
	if err != nil {
		return fmt.Errorf("-proxy %s: %w", p.name, err)
	}
	req, err := http.NewRequest(http.MethodPost, "/proxies", bytes.NewReader(body))
	if err != nil {
		return err
	}
	rec := &recorder{header: http.Header{}}
	h.ServeHTTP(rec, req)
	if rec.status != http.StatusCreated {
		return fmt.Errorf("-proxy %s: %s", p.name, strings.TrimSpace(rec.body.String()))
	}
	return nil
}

// recorder is a minimal http.ResponseWriter (net/http/httptest is for tests).
type recorder struct {
	header http.Header
	status int
	body   strings.Builder
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}
