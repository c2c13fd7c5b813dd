//go:build unix

package client

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// TestSpinReader: the reader of plain sockets reads what was sent, in
// pieces as they come, reports a deadline as a timeout and the peer's close
// as io.EOF, and leaves other connections alone.
func TestSpinReader(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	peer, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	defer peer.Close()

	rd := newSpinReader(nc)
	if _, ok := rd.(*spinReader); !ok {
		t.Fatalf("a TCP connection is read by %T, want *spinReader", rd)
	}
	buf := make([]byte, 16)
	for _, msg := range []string{"+OK\r\n", "$3\r\nabc\r\n"} {
		if _, err := peer.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		got := ""
		for len(got) < len(msg) {
			n, err := rd.Read(buf)
			if err != nil {
				t.Fatalf("reading %q: %v", msg, err)
			}
			got += string(buf[:n])
		}
		if got != msg {
			t.Fatalf("read %q, want %q", got, msg)
		}
	}
	if n, err := rd.Read(nil); n != 0 || err != nil {
		t.Fatalf("Read(nil) = %d, %v", n, err)
	}

	_ = nc.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := rd.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) || !isTimeout(err) {
		t.Fatalf("read past the deadline: %v, want a timeout", err)
	}
	_ = nc.SetReadDeadline(time.Time{})

	_ = peer.Close()
	if _, err := rd.Read(buf); err != io.EOF {
		t.Fatalf("read after the peer closed: %v, want io.EOF", err)
	}
	_ = nc.Close()
	if _, err := rd.Read(buf); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after Close: %v, want net.ErrClosed", err)
	}

	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if rd := newSpinReader(a); rd != io.Reader(a) {
		t.Fatalf("a net.Pipe is read by %T, want itself", rd)
	}
}
