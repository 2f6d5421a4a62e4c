package parser

// indexLineEnd returns the index of the first '\r' or '\n' in buf at or after from,
// or -1.
func indexLineEnd(buf []byte, from int) int {
	for i := from; i < len(buf); i++ {
		if c := buf[i]; c == '\r' || c == '\n' {
			return i
		}
	}
	return -1
}
