package parser

// Limits bound what Parse accepts from a server. A zero field means its default.
type Limits struct {
	MaxBulkLen int64 // longest bulk, verbatim or streamed string (default 512 MiB, Redis proto-max-bulk-len)
	MaxElems   int64 // most elements in one aggregate, map pairs counted once (default 1<<32 - 1)
	MaxDepth   int   // deepest nesting of aggregates and attributes (default 1024)
	MaxLineLen int   // longest + - : , ( # _ line and header (default 64 KiB)
}

// DefaultLimits are the limits Parse and a Parser with a zero Limits use.
var DefaultLimits = Limits{
	MaxBulkLen: 512 << 20,
	MaxElems:   1<<32 - 1,
	MaxDepth:   1024,
	MaxLineLen: 64 << 10,
}

// withDefaults fills the zero fields of l from DefaultLimits.
func (l Limits) withDefaults() Limits {
	if l.MaxBulkLen <= 0 {
		l.MaxBulkLen = DefaultLimits.MaxBulkLen
	}
	if l.MaxElems <= 0 {
		l.MaxElems = DefaultLimits.MaxElems
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultLimits.MaxDepth
	}
	if l.MaxLineLen <= 0 {
		l.MaxLineLen = DefaultLimits.MaxLineLen
	}
	return l
}
