package parser

import "testing"

// Appended values survive growth of the store's arrays, come back in order, and are
// overwritten only after Rewind.
func TestStoreAppend(t *testing.T) {
	var s Gather
	buf := []byte("*2\r\n$3\r\nabc\r\n%1\r\n+k\r\n:7\r\n")
	v, _, err := Parse(buf)
	if err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 3; round++ {
		s.Rewind()
		var want []Value
		for i := 0; i < 50; i++ {
			e := NewBulkString(string(rune('a' + i%26)))
			if i%3 == 0 {
				e = v
			}
			s.Append(e)
			want = append(want, e.Clone())
		}
		for i := range buf { // the source buffer changes: the copies must not
			buf[i] = 'Z'
		}
		got := s.Appended()
		if !Equal(got, NewArray(want...)) {
			t.Fatalf("round %d: %v", round, got)
		}
		buf = []byte("*2\r\n$3\r\nabc\r\n%1\r\n+k\r\n:7\r\n")
		v, _, _ = Parse(buf)
	}
	s.Rewind()
	if n := s.Appended().Len(); n != 0 {
		t.Fatalf("after Rewind: %d values", n)
	}
}
