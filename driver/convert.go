package driver

import (
	"strconv"

	"github.com/respring/respring/parser"
)

// toInt converts a reply to an int64 (see Future.Int).
func toInt(v parser.Value, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	switch v.Kind() {
	case parser.Integer, parser.Boolean:
		return v.Int(), nil
	case parser.Null:
		return 0, ErrNil
	case parser.SimpleError, parser.BulkError:
		return 0, newRedisError(v)
	case parser.SimpleString, parser.BulkString, parser.VerbatimString, parser.BigNumber:
		if n, ok := parser.ParseInt(v.Bytes()); ok {
			return n, nil
		}
	}
	return 0, &TypeError{Want: "integer", Got: v.Kind()}
}

// appendText appends the text of a reply to dst (see Future.String).
func appendText(dst []byte, v parser.Value, err error) ([]byte, error) {
	if err != nil {
		return dst, err
	}
	switch v.Kind() {
	case parser.SimpleString, parser.BulkString, parser.VerbatimString, parser.BigNumber:
		return append(dst, v.Bytes()...), nil
	case parser.Integer:
		return strconv.AppendInt(dst, v.Int(), 10), nil
	case parser.Double:
		return parser.AppendDouble(dst, v.Float()), nil
	case parser.Boolean:
		return strconv.AppendBool(dst, v.Bool()), nil
	case parser.Null:
		return dst, ErrNil
	case parser.SimpleError, parser.BulkError:
		return dst, newRedisError(v)
	}
	return dst, &TypeError{Want: "string", Got: v.Kind()}
}
