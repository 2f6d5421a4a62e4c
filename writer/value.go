package writer

import (
	"strconv"

	"github.com/respring/respring/parser"
)

// AppendValue appends v in RESP3 wire form to dst and returns the extended slice. It
// is meant for fake servers and tests; it writes every kind, and the attributes of v
// (and of its elements) as an attribute map (|) before the value they belong to.
//
//	SimpleString  +text          SimpleError   -text
//	Integer       :n             BulkString    $len text
//	BulkError     !len text      VerbatimString =len fmt:text (len counts "fmt:")
//	Double        ,inf ,-inf ,nan ,-0 ,1e+10 ... (parser.AppendDouble)
//	BigNumber     (digits        Boolean       #t #f
//	Array         *n ...         Set           ~n ...
//	Push          >n ...         Map           %pairs k1 v1 ...
//	Null          $-1 if built by parser.NewNullBulk or read as $-1, *-1 if built by
//	              parser.NewNullArray or read as *-1, _ otherwise
//
// Simple strings and simple errors are written as given: a CR or LF in them breaks the
// stream, and keeping them out is the caller's job. The zero Value (kind Invalid) has no
// wire form; it is written as the RESP3 null "_" so that an enclosing aggregate keeps
// its element count.
//
// With enough spare capacity in dst AppendValue allocates nothing.
func AppendValue(dst []byte, v parser.Value) []byte {
	if attrs := v.Attrs(); attrs != nil {
		dst = appendPairs(dst, '|', attrs)
	}
	switch v.Kind() {
	case parser.SimpleString:
		dst = append(dst, '+')
		dst = append(dst, v.Bytes()...)
		return append(dst, '\r', '\n')
	case parser.SimpleError:
		dst = append(dst, '-')
		dst = append(dst, v.Bytes()...)
		return append(dst, '\r', '\n')
	case parser.Integer:
		dst = append(dst, ':')
		dst = strconv.AppendInt(dst, v.Int(), 10)
		return append(dst, '\r', '\n')
	case parser.BulkString:
		return appendBlob(dst, '$', v.Bytes())
	case parser.BulkError:
		return appendBlob(dst, '!', v.Bytes())
	case parser.VerbatimString:
		text := v.Bytes()
		dst = appendHeader(dst, '=', len(text)+4)
		dst = append(dst, v.Format()...)
		dst = append(dst, ':')
		dst = append(dst, text...)
		return append(dst, '\r', '\n')
	case parser.Double:
		dst = append(dst, ',')
		dst = parser.AppendDouble(dst, v.Float())
		return append(dst, '\r', '\n')
	case parser.BigNumber:
		dst = append(dst, '(')
		dst = append(dst, v.Bytes()...)
		return append(dst, '\r', '\n')
	case parser.Boolean:
		if v.Bool() {
			return append(dst, "#t\r\n"...)
		}
		return append(dst, "#f\r\n"...)
	case parser.Null:
		switch {
		case v.IsNullBulk():
			return append(dst, "$-1\r\n"...)
		case v.IsNullArray():
			return append(dst, "*-1\r\n"...)
		}
		return append(dst, "_\r\n"...)
	case parser.Array:
		return appendElems(dst, '*', v.Elems())
	case parser.Set:
		return appendElems(dst, '~', v.Elems())
	case parser.Push:
		return appendElems(dst, '>', v.Elems())
	case parser.Map:
		return appendPairs(dst, '%', v.Elems())
	}
	return append(dst, "_\r\n"...)
}

// appendBlob appends a length-prefixed string: $len\r\nb\r\n or !len\r\nb\r\n.
func appendBlob(dst []byte, prefix byte, b []byte) []byte {
	dst = appendHeader(dst, prefix, len(b))
	dst = append(dst, b...)
	return append(dst, '\r', '\n')
}

// appendElems appends an aggregate header with len(elems) and the elements.
func appendElems(dst []byte, prefix byte, elems []parser.Value) []byte {
	dst = appendHeader(dst, prefix, len(elems))
	for i := range elems {
		// Bulk strings without attributes, the common element, skip the call.
		if e := &elems[i]; e.Kind() == parser.BulkString && e.Attrs() == nil {
			dst = appendBlob(dst, '$', e.Bytes())
		} else {
			dst = AppendValue(dst, *e)
		}
	}
	return dst
}

// appendPairs appends a map or attribute header with the number of pairs in kv
// (k1, v1, k2, v2, ...) and the pairs. An odd trailing key is not written.
func appendPairs(dst []byte, prefix byte, kv []parser.Value) []byte {
	kv = kv[:len(kv)&^1]
	dst = appendHeader(dst, prefix, len(kv)/2)
	for _, e := range kv {
		dst = AppendValue(dst, e)
	}
	return dst
}
