package writer_test

import (
	"errors"
	"fmt"

	"github.com/respring/respring/parser"
	"github.com/respring/respring/writer"
)

func ExampleAppendCommand() {
	buf := writer.AppendCommand(nil, "SET", "greeting", "hello")
	fmt.Printf("%q\n", buf)
	// Output:
	// "*3\r\n$3\r\nSET\r\n$8\r\ngreeting\r\n$5\r\nhello\r\n"
}

func ExampleAppendCommand_pipeline() {
	// Commands appended one after another are a pipeline; reuse the buffer with buf[:0].
	var buf []byte
	buf = writer.AppendCommand(buf, "INCR", "n")
	buf = writer.AppendCommand(buf, "GET", "n")
	fmt.Printf("%q\n", buf)
	// Output:
	// "*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n*2\r\n$3\r\nGET\r\n$1\r\nn\r\n"
}

func ExampleAppendArgs() {
	buf, err := writer.AppendArgs(nil, "ZADD", "scores", 1.5, []byte("ann"), -2, "bob")
	fmt.Printf("%q %v\n", buf, err)
	// Output:
	// "*6\r\n$4\r\nZADD\r\n$6\r\nscores\r\n$3\r\n1.5\r\n$3\r\nann\r\n$2\r\n-2\r\n$3\r\nbob\r\n" <nil>
}

func ExampleAppendArgs_error() {
	buf := []byte("pending")
	buf, err := writer.AppendArgs(buf, "DEL", []string{"a", "b"})
	var ae *writer.ArgError
	if errors.As(err, &ae) {
		fmt.Println(ae.Index, ae.Type)
	}
	fmt.Println(err)
	fmt.Printf("%q\n", buf) // unchanged
	// Output:
	// 1 []string
	// writer: argument 1 ([]string): unsupported type
	// "pending"
}

func ExampleAppendValue() {
	// A fake server's reply to HGETALL over RESP3, and a RESP2 null.
	reply := parser.NewMap(
		parser.NewBulkString("field"), parser.NewBulkString("value"),
		parser.NewBulkString("n"), parser.NewInteger(3),
	)
	buf := writer.AppendValue(nil, reply)
	buf = writer.AppendValue(buf, parser.NewNullBulk())
	fmt.Printf("%q\n", buf)
	// Output:
	// "%2\r\n$5\r\nfield\r\n$5\r\nvalue\r\n$1\r\nn\r\n:3\r\n$-1\r\n"
}

func ExampleAppendValue_attributes() {
	v := parser.NewDouble(0.5).WithAttrs(parser.NewSimpleString("ttl"), parser.NewInteger(10))
	fmt.Printf("%q\n", writer.AppendValue(nil, v))
	// Output:
	// "|1\r\n+ttl\r\n:10\r\n,0.5\r\n"
}
