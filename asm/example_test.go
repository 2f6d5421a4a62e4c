package asm_test

import (
	"fmt"

	"github.com/respring/respring/asm"
)

// ExampleScanner walks the header lines of a RESP stream, skipping the bulk
// payload by its length instead of scanning it.
func ExampleScanner() {
	buf := []byte("+OK\r\n:42\r\n$7\r\nhi\r\nyou\r\n*2\r\n")
	var sc asm.Scanner
	sc.Reset(buf)
	for pos := 0; pos < len(buf); {
		i := sc.Next(pos)
		if i < 0 || i+1 >= len(buf) || buf[i+1] != '\n' {
			fmt.Println("incomplete or malformed")
			return
		}
		header := buf[pos:i]
		fmt.Printf("header %q\n", header)
		pos = i + 2
		if header[0] == '$' {
			n, ok := asm.ParseUint(header[1:])
			if !ok {
				fmt.Println("bad length")
				return
			}
			fmt.Printf("payload %q\n", buf[pos:pos+int(n)])
			pos += int(n) + 2
		}
	}
	// Output:
	// header "+OK"
	// header ":42"
	// header "$7"
	// payload "hi\r\nyou"
	// header "*2"
}

func ExampleMask64() {
	b := []byte("+OK\r\n:1\r\n" + "................................" + "......................\n")
	fmt.Printf("%064b\n", asm.Mask64(b))
	// Output:
	// 1000000000000000000000000000000000000000000000000000000110011000
}
