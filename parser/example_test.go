package parser_test

import (
	"errors"
	"fmt"

	"github.com/respring/respring/parser"
)

func ExampleParse() {
	v, n, err := parser.Parse([]byte("*2\r\n$5\r\nhello\r\n:42\r\n"))
	fmt.Println(v, n, err)
	fmt.Println(v.Kind(), v.Elems()[0].Kind(), string(v.Elems()[0].Bytes()), v.Elems()[1].Int())
	// Output:
	// ["hello" (integer) 42] 20 <nil>
	// array bulk-string hello 42
}

func ExampleParser_Parse() {
	// A reply arriving in two reads.
	var p parser.Parser
	stream := []byte("$11\r\nhello")
	_, _, err := p.Parse(stream)
	fmt.Println(err, "- need", p.NeedBytes(), "bytes")
	stream = append(stream, " world\r\n+OK\r\n"...)
	for len(stream) > 0 {
		v, n, err := p.Parse(stream)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(v)
		stream = stream[n:]
	}
	// Output:
	// parser: incomplete value - need 18 bytes
	// "hello world"
	// "OK"
}

func ExampleProtocolError() {
	_, _, err := parser.Parse([]byte(":12a\r\n"))
	var pe *parser.ProtocolError
	fmt.Println(errors.As(err, &pe), pe.Offset, pe.Reason)
	// Output:
	// true 0 invalid integer
}

func ExampleValue_Attrs() {
	v, _, _ := parser.Parse([]byte("|1\r\n+ttl\r\n:3600\r\n$2\r\nhi\r\n"))
	fmt.Println(string(v.Bytes()), v.Attrs())
	// Output:
	// hi ["ttl" (integer) 3600]
}
