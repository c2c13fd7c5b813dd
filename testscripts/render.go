package testscripts

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/justredis/justredis/client"
	"github.com/justredis/justredis/resp"
)

// Render returns the text form in which the commands print a reply, the
// way redis-cli prints replies, one value per line:
//
//	OK                          simple string, as is
//	"a\r\nb"                    bulk string or verbatim text, quoted (see Quote)
//	(integer) 5                 integer
//	(double) 3.5                double (inf, -inf, nan)
//	(big number) 1234567890123  big number
//	(true) / (false)            boolean
//	(nil)                       null (RESP2's null bulk string and null array too)
//	(error) ERR message         error reply inside a reply (EXEC, rpipe)
//	1) "a"                      array or push, one numbered element per line;
//	2) 1) (integer) 1           nested aggregates are indented under their number
//	   2) (integer) 2
//	(empty array)               an empty array or push
//	1~ "a"                      set; (empty set)
//	1# "key" => "value"         map or attribute; (empty hash)
//
// Attributes the server sends in front of a value are not shown. Numbers of
// aggregates are right-aligned to the widest one ( 9) ... 10)). The output
// has no trailing newline.
func Render(v resp.Value) string {
	return renderValue(v, 0)
}

// renderValue renders v; trunc > 0 abbreviates longer strings (see Quote).
func renderValue(v resp.Value, trunc int) string {
	var b strings.Builder
	writeValue(&b, v, "", trunc)
	return b.String()
}

// writeValue writes v; indent is the prefix of every line after the first.
func writeValue(b *strings.Builder, v resp.Value, indent string, trunc int) {
	switch v.Type {
	case resp.TypeSimpleString:
		b.WriteString(v.Str)
	case resp.TypeBulkString:
		b.WriteString(quote(v.Str, trunc))
	case resp.TypeVerbatim:
		b.WriteString(quote(v.Text(), trunc))
	case resp.TypeInteger:
		b.WriteString("(integer) " + strconv.FormatInt(v.Int, 10))
	case resp.TypeDouble:
		text, _ := client.String(v, nil) // as Redis writes it in RESP2: "inf", "1000000"
		b.WriteString("(double) " + text)
	case resp.TypeBigNumber:
		b.WriteString("(big number) " + v.Str)
	case resp.TypeBoolean:
		if v.Int != 0 {
			b.WriteString("(true)")
		} else {
			b.WriteString("(false)")
		}
	case resp.TypeNull:
		b.WriteString("(nil)")
	case resp.TypeError, resp.TypeBlobError:
		b.WriteString("(error) " + v.Str)
	case resp.TypeArray, resp.TypePush:
		writeElems(b, v.Elems, ")", "(empty array)", indent, trunc)
	case resp.TypeSet:
		writeElems(b, v.Elems, "~", "(empty set)", indent, trunc)
	case resp.TypeMap, resp.TypeAttribute:
		writeMap(b, v.Elems, indent, trunc)
	default:
		fmt.Fprintf(b, "(unknown type %q)", byte(v.Type))
	}
}

// writeElems writes the elements of an array or set, numbered.
func writeElems(b *strings.Builder, elems []resp.Value, mark, empty, indent string, trunc int) {
	if len(elems) == 0 {
		b.WriteString(empty)
		return
	}
	width := len(strconv.Itoa(len(elems)))
	for i, e := range elems {
		if i > 0 {
			b.WriteString("\n" + indent)
		}
		num := fmt.Sprintf("%*d%s ", width, i+1, mark)
		b.WriteString(num)
		writeValue(b, e, indent+strings.Repeat(" ", len(num)), trunc)
	}
}

// writeMap writes the pairs of a map, numbered: 1# key => value.
func writeMap(b *strings.Builder, kv []resp.Value, indent string, trunc int) {
	if len(kv) == 0 {
		b.WriteString("(empty hash)")
		return
	}
	n := len(kv) / 2
	width := len(strconv.Itoa(n))
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString("\n" + indent)
		}
		num := fmt.Sprintf("%*d# ", width, i+1)
		b.WriteString(num)
		key := renderValue(kv[2*i], trunc)
		b.WriteString(key + " => ")
		writeValue(b, kv[2*i+1], indent+strings.Repeat(" ", len(num)+len(key)+4), trunc)
	}
}

// Quote returns s in double quotes as redis-cli prints strings: printable
// ASCII as is, except \" and \\; \n, \r, \t, \a, \b as such; every other
// byte as \xhh.
func Quote(s string) string {
	return quote(s, 0)
}

// quote is Quote; when trunc > 0 and s is longer than trunc bytes, only
// its first trunc bytes are shown, followed by "... (N bytes)".
func quote(s string, trunc int) string {
	suffix := ""
	if trunc > 0 && len(s) > trunc {
		suffix = fmt.Sprintf("... (%d bytes)", len(s))
		s = s[:trunc]
	}
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\\', '"':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\a':
			b.WriteString(`\a`)
		case '\b':
			b.WriteString(`\b`)
		default:
			if c >= 0x20 && c < 0x7f {
				b.WriteByte(c)
			} else {
				fmt.Fprintf(&b, `\x%02x`, c)
			}
		}
	}
	b.WriteByte('"')
	return b.String() + suffix
}

// The classes of failures, as RenderError prints them.
const (
	ClassError         = "error"          // the server replied with an error: the command ran and failed
	ClassNotExecuted   = "not-executed"   // client.NotExecuted: the server did not run it, for certain
	ClassMaybeExecuted = "maybe-executed" // client.MaybeExecuted: sent, no reply: it may have run
	ClassFailed        = "failed"         // any other error of the client (a bad argument, a reply of the wrong type, ...)
)

// ErrorClass returns the class of an error returned by the client, which
// answers the question "did the server run the command?": ClassNotExecuted
// when client.NotExecuted says it did not, ClassMaybeExecuted when
// client.MaybeExecuted says it may have, ClassError for an error reply of
// the server (it ran and failed), and ClassFailed for anything else. The
// client's answers come first: a failed handshake that wraps the server's
// WRONGPASS reply is not-executed.
func ErrorClass(err error) string {
	var se *resp.Error
	switch {
	case client.NotExecuted(err):
		return ClassNotExecuted
	case client.MaybeExecuted(err):
		return ClassMaybeExecuted
	case errors.As(err, &se):
		return ClassError
	default:
		return ClassFailed
	}
}

// RenderError returns the one-line text form of an error returned by the
// client: its class in parentheses, then the message; for a server error
// reply, the message is the server's ("(error) WRONGTYPE Operation against a
// key holding the wrong kind of value"), as redis-cli prints it.
func RenderError(err error) string {
	class := ErrorClass(err)
	msg := err.Error()
	if class == ClassError {
		var se *resp.Error
		if errors.As(err, &se) && se.Error() == msg {
			msg = se.Msg
		}
	}
	return "(" + class + ") " + strings.ReplaceAll(msg, "\n", " ")
}

// renderMessage returns the text form of a pub/sub message.
func renderMessage(m client.Message) string {
	switch m.Kind {
	case client.KindMessage:
		return "message " + Quote(m.Channel) + " " + Quote(m.Payload)
	case client.KindPMessage:
		return "pmessage " + Quote(m.Pattern) + " " + Quote(m.Channel) + " " + Quote(m.Payload)
	case client.KindSMessage:
		return "smessage " + Quote(m.Channel) + " " + Quote(m.Payload)
	case client.KindSubscribe:
		return "subscribe " + Quote(m.Channel)
	case client.KindUnsubscribe:
		return "unsubscribe " + Quote(m.Channel)
	case client.KindReconnected:
		return "reconnected"
	case client.KindOverflow:
		return "overflow " + strconv.FormatInt(m.Dropped, 10)
	}
	return "(unknown message kind " + m.Kind.String() + ")"
}
