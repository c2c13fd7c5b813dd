package faultinject_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/justredis/justredis/faultinject"
)

// startEcho starts a TCP echo server on a free port; stop closes it.
func startEcho() (addr string, stop func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = io.Copy(c, c)
				_ = c.Close()
			}()
		}
	}()
	return ln.Addr().String(), func() {
		_ = ln.Close()
		mu.Lock()
		for c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}
}

// roundTrip writes msg on c and reads len(msg) bytes back.
func roundTrip(c net.Conn, msg string) (string, error) {
	if _, err := c.Write([]byte(msg)); err != nil {
		return "", err
	}
	buf := make([]byte, len(msg))
	_, err := io.ReadFull(c, buf)
	return string(buf), err
}

// A proxy with no toxics forwards bytes unchanged.
func ExampleNew() {
	server, stop := startEcho()
	defer stop()

	p, err := faultinject.New("127.0.0.1:0", server)
	if err != nil {
		panic(err)
	}
	defer p.Close()

	c, err := net.Dial("tcp", p.Addr()) // connect to the proxy, not the server
	if err != nil {
		panic(err)
	}
	defer c.Close()
	reply, err := roundTrip(c, "hello")
	fmt.Println(reply, err)
	// Output: hello <nil>
}

// LimitData cuts a connection after exactly N bytes: here the reply is cut
// after three bytes, which a client sees as a short read and end of file.
func ExampleProxy_AddToxic() {
	server, stop := startEcho()
	defer stop()
	p, err := faultinject.New("127.0.0.1:0", server)
	if err != nil {
		panic(err)
	}
	defer p.Close()

	if err := p.AddToxic("cut reply", faultinject.Downstream, faultinject.LimitData{Bytes: 3}, 1); err != nil {
		panic(err)
	}
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("hello")); err != nil {
		panic(err)
	}
	got, err := io.ReadAll(c)
	fmt.Printf("%q %v\n", got, err)
	// Output: "hel" <nil>
}

// Latency on both directions adds up on every request/reply round trip.
func ExampleLatency() {
	server, stop := startEcho()
	defer stop()
	p, err := faultinject.New("127.0.0.1:0", server)
	if err != nil {
		panic(err)
	}
	defer p.Close()

	lat := faultinject.Latency{Delay: 20 * time.Millisecond}
	_ = p.AddToxic("slow requests", faultinject.Upstream, lat, 1)
	_ = p.AddToxic("slow replies", faultinject.Downstream, lat, 1)

	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	start := time.Now()
	if _, err := roundTrip(c, "ping"); err != nil {
		panic(err)
	}
	fmt.Println("at least 40ms:", time.Since(start) >= 40*time.Millisecond)
	// Output: at least 40ms: true
}

// RefuseNew simulates a server that is down: new connections are refused
// until the listener comes back, on the same address.
func ExampleProxy_RefuseNew() {
	server, stop := startEcho()
	defer stop()
	p, err := faultinject.New("127.0.0.1:0", server)
	if err != nil {
		panic(err)
	}
	defer p.Close()

	_ = p.RefuseNew(true)
	_, err = net.Dial("tcp", p.Addr())
	fmt.Println("refused:", errors.Is(err, syscall.ECONNREFUSED))

	_ = p.RefuseNew(false)
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	reply, _ := roundTrip(c, "back")
	fmt.Println("then:", reply)
	// Output:
	// refused: true
	// then: back
}

// CutAll breaks the open connections; a client library under test must
// notice and reconnect.
func ExampleProxy_CutAll() {
	server, stop := startEcho()
	defer stop()
	p, err := faultinject.New("127.0.0.1:0", server)
	if err != nil {
		panic(err)
	}
	defer p.Close()

	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	_, _ = roundTrip(c, "hi")
	p.CutAll()
	_, err = c.Read(make([]byte, 1))
	fmt.Println("old connection:", err)

	c2, err := net.Dial("tcp", p.Addr())
	if err != nil {
		panic(err)
	}
	defer c2.Close()
	reply, _ := roundTrip(c2, "new")
	fmt.Println("new connection:", reply)
	// Output:
	// old connection: EOF
	// new connection: new
}

// With a toxicity below 1 a toxic applies to some connections only. Which
// ones depends only on the seed, the connections' order and the toxic's
// name, so the pattern below is the same on every run.
func ExampleWithSeed() {
	server, stop := startEcho()
	defer stop()
	p, err := faultinject.New("127.0.0.1:0", server, faultinject.WithSeed(42))
	if err != nil {
		panic(err)
	}
	defer p.Close()

	// LimitData{0} closes a connection at its first byte.
	_ = p.AddToxic("flaky", faultinject.Upstream, faultinject.LimitData{Bytes: 0}, 0.5)
	for i := range 8 {
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			panic(err)
		}
		_, err = roundTrip(c, "?")
		_ = c.Close()
		fmt.Printf("connection %d cut: %v\n", i, err != nil)
	}
	// Output:
	// connection 0 cut: false
	// connection 1 cut: false
	// connection 2 cut: false
	// connection 3 cut: true
	// connection 4 cut: true
	// connection 5 cut: false
	// connection 6 cut: false
	// connection 7 cut: true
}
