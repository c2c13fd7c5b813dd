package resp_test

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/justredis/justredis/resp"
)

// Encode a command as a client sends it, and decode the reply a server
// might send, from a stream.
func Example() {
	cmd, _ := resp.AppendCommand(nil, "SET", "greeting", "hello", "EX", 60)
	fmt.Printf("%q\n", cmd)

	r := resp.NewReader(bytes.NewReader([]byte("+OK\r\n%1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n")), resp.Limits{})
	for {
		v, err := r.ReadValue()
		if err != nil {
			break
		}
		fmt.Println(v.Type, v)
	}
	// Output:
	// "*5\r\n$3\r\nSET\r\n$8\r\ngreeting\r\n$5\r\nhello\r\n$2\r\nEX\r\n$2\r\n60\r\n"
	// simple string OK
	// map {"role": "master"}
}

// A Decoder works on buffers the caller manages and says when a frame is
// not complete yet.
func ExampleDecoder_Decode() {
	var d resp.Decoder
	buf := []byte("*2\r\n:1\r\n:")
	_, n, err := d.Decode(buf)
	fmt.Println(n, err) // need more

	buf = append(buf, "2\r\n"...)
	v, n, err := d.Decode(buf)
	fmt.Println(v, n, err)
	// Output:
	// 0 <nil>
	// [(integer) 1, (integer) 2] 12 <nil>
}

// Malformed input gives a *ProtocolError that says what and where.
func ExampleProtocolError() {
	d := resp.Decoder{Limits: resp.Limits{MaxBulkLen: 1024}}
	_, _, err := d.Decode([]byte("$4096\r\n"))
	fmt.Println(err)
	fmt.Println(errors.Is(err, resp.ErrProtocol), errors.Is(err, resp.ErrTooLarge))
	// Output:
	// resp: length over limit at offset 1: bulk length 4096
	// true true
}

// Error replies carry their code and, for redirections, slot and address.
func ExampleError() {
	err := resp.ErrorValue("MOVED 3999 127.0.0.1:6381").Err()
	var e *resp.Error
	if errors.As(err, &e) {
		fmt.Println(e.Prefix, e.Slot, e.Addr)
	}
	// Output: MOVED 3999 127.0.0.1:6381
}

// Fake servers write replies with the Append functions, in either protocol.
func ExampleAppendValue() {
	v := resp.Map(resp.Bulk("ok"), resp.Bool(true))
	fmt.Printf("%q\n", resp.AppendValue(nil, v))
	fmt.Printf("%q\n", resp.AppendValueRESP2(nil, v))
	// Output:
	// "%1\r\n$2\r\nok\r\n#t\r\n"
	// "*2\r\n$2\r\nok\r\n:1\r\n"
}
