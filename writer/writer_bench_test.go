package writer_test

import (
	"strconv"
	"testing"

	"github.com/respring/respring/parser"
	"github.com/respring/respring/writer"
)

var (
	benchKey = "key:000000000001"
	benchVal = "0123456789abcdef" // 16 bytes
)

func BenchmarkAppendCommandGET(b *testing.B) {
	buf := make([]byte, 0, 256)
	b.SetBytes(int64(len(writer.AppendCommand(nil, "GET", benchKey))))
	b.ReportAllocs()
	for b.Loop() {
		buf = writer.AppendCommand(buf[:0], "GET", benchKey)
	}
}

func BenchmarkAppendCommandSET(b *testing.B) {
	buf := make([]byte, 0, 256)
	b.SetBytes(int64(len(writer.AppendCommand(nil, "SET", benchKey, benchVal))))
	b.ReportAllocs()
	for b.Loop() {
		buf = writer.AppendCommand(buf[:0], "SET", benchKey, benchVal)
	}
}

func BenchmarkAppendArgsSET(b *testing.B) {
	buf := make([]byte, 0, 256)
	b.SetBytes(int64(len(writer.AppendCommand(nil, "SET", benchKey, benchVal))))
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = writer.AppendArgs(buf[:0], "SET", benchKey, benchVal)
	}
}

// SET key <[]byte> EX <int> plus ZADD-like float and bool arguments.
func BenchmarkAppendArgsMixed(b *testing.B) {
	buf := make([]byte, 0, 256)
	val := []byte(benchVal)
	ttl, score, flag := 3600, 1.5, true
	out, _ := writer.AppendArgs(nil, "SET", benchKey, val, "EX", ttl, score, flag, int64(-1<<40))
	b.SetBytes(int64(len(out)))
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = writer.AppendArgs(buf[:0], "SET", benchKey, val, "EX", ttl, score, flag, int64(-1<<40))
	}
}

func BenchmarkAppendValueArray10(b *testing.B) {
	elems := make([]parser.Value, 10)
	for i := range elems {
		elems[i] = parser.NewBulkString("value:" + strconv.Itoa(i) + "_abcdefgh")
	}
	v := parser.NewArray(elems...)
	buf := make([]byte, 0, 512)
	b.SetBytes(int64(len(writer.AppendValue(nil, v))))
	b.ReportAllocs()
	for b.Loop() {
		buf = writer.AppendValue(buf[:0], v)
	}
}
