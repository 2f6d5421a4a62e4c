package cluster

import (
	"strconv"
	"strings"
	"unsafe"

	"github.com/respring/respring/parser"
	"github.com/respring/respring/writer"
)

// Where a command's keys are: the server's own command table (COMMAND), fetched once
// when the client connects. Redis 7 and Valkey describe every key argument with key
// specifications (a begin search by index or by keyword, then a range or a key count),
// which cover the commands with keys in odd places (EVAL's numkeys, XREAD's STREAMS,
// ZUNIONSTORE's destination and numkeys, subcommands such as OBJECT ENCODING and
// MEMORY USAGE). The one key they leave "unknown" is SORT's STORE destination: it is
// found as the server finds it (sortStoreAt). A server without key specifications
// (before 7) gives first/last/step only; then those are used. A command the table does
// not know (the table could not be fetched, or a module added the command later) is
// routed by its second argument, as most commands have their key there; commands the
// table says take no key go to any node.

// Kinds of key spec searches.
const (
	beginIndex = iota + 1
	beginKeyword
	findRange
	findKeynum
)

// keySpec is one key specification of a command.
type keySpec struct {
	begin     int // beginIndex or beginKeyword (0: unknown, the spec is skipped)
	index     int // beginIndex: the argument index
	keyword   string
	startFrom int // beginKeyword: where the search starts (negative: from the end, backwards)

	find      int // findRange or findKeynum (0: unknown: the first key only)
	lastKey   int // findRange: relative to the first key; negative: from the end
	keyStep   int
	limit     int // findRange with lastKey -1: 0 or 1 all, n: a 1/n part of the rest
	keyNumIdx int // findKeynum: where the number of keys is, relative to the begin
	firstKey  int // findKeynum: where the first key is, relative to the begin
}

// cmdInfo is what the client knows of one command.
type cmdInfo struct {
	readonly bool
	specs    []keySpec
	subs     map[string]*cmdInfo // a container command's subcommands ("encoding" of OBJECT)
	// skipEmpty ignores empty key arguments: MIGRATE's key is "" when it moves the
	// keys listed after KEYS.
	skipEmpty bool
	// sortStore adds SORT's STORE destination to the keys (see sortStoreAt): the
	// server's key spec for it is of type "unknown", which no key spec search finds.
	sortStore bool
}

// commandTable maps lower-case command names (and "container|sub") to their info.
type commandTable map[string]*cmdInfo

// parseCommands builds the table from the reply to COMMAND (RESP2 or RESP3).
func parseCommands(v parser.Value) commandTable {
	t := make(commandTable, len(v.Elems()))
	for _, e := range v.Elems() {
		name, info := parseCommand(e)
		if name != "" {
			t[name] = info
		}
	}
	return t
}

// parseCommand reads one entry of COMMAND: name, arity, flags, first, last, step, acl
// categories, tips, key specs, subcommands (the last four from Redis 7 on).
func parseCommand(e parser.Value) (string, *cmdInfo) {
	f := e.Elems()
	if len(f) < 6 {
		return "", nil
	}
	name := strings.ToLower(f[0].Text())
	info := &cmdInfo{
		skipEmpty: name == "migrate",
		sortStore: name == "sort", // not SORT_RO, which has no STORE
	}
	for _, fl := range f[2].Elems() {
		if strings.EqualFold(fl.Text(), "readonly") {
			info.readonly = true
		}
	}
	if len(f) > 8 && len(f[8].Elems()) > 0 {
		for _, ks := range f[8].Elems() {
			info.specs = append(info.specs, parseKeySpec(ks))
		}
	} else if first := int(f[3].Int()); first > 0 {
		// Before key specs: keys from first to last (negative: from the end), by step.
		last, step := int(f[4].Int()), max(int(f[5].Int()), 1)
		spec := keySpec{begin: beginIndex, index: first, find: findRange, keyStep: step}
		if last < 0 {
			spec.lastKey = last
		} else {
			spec.lastKey = last - first
		}
		info.specs = append(info.specs, spec)
	}
	if len(f) > 9 && len(f[9].Elems()) > 0 {
		info.subs = make(map[string]*cmdInfo)
		for _, sub := range f[9].Elems() {
			sn, si := parseCommand(sub)
			if _, after, ok := strings.Cut(sn, "|"); ok && si != nil {
				info.subs[after] = si
			}
		}
	}
	return name, info
}

// field returns the value of key in a RESP3 map or a RESP2 flat key/value array.
func field(v parser.Value, key string) parser.Value {
	e := v.Elems()
	for i := 0; i+1 < len(e); i += 2 {
		if strings.EqualFold(e[i].Text(), key) {
			return e[i+1]
		}
	}
	return parser.Value{}
}

func parseKeySpec(v parser.Value) keySpec {
	var ks keySpec
	bs := field(v, "begin_search")
	spec := field(bs, "spec")
	switch field(bs, "type").Text() {
	case "index":
		ks.begin, ks.index = beginIndex, int(field(spec, "index").Int())
	case "keyword":
		ks.begin = beginKeyword
		ks.keyword = field(spec, "keyword").Text()
		ks.startFrom = int(field(spec, "startfrom").Int())
	}
	fk := field(v, "find_keys")
	spec = field(fk, "spec")
	switch field(fk, "type").Text() {
	case "range":
		ks.find = findRange
		ks.lastKey = int(field(spec, "lastkey").Int())
		ks.keyStep = max(int(field(spec, "keystep").Int()), 1)
		ks.limit = int(field(spec, "limit").Int())
	case "keynum":
		ks.find = findKeynum
		ks.keyNumIdx = int(field(spec, "keynumidx").Int())
		ks.firstKey = int(field(spec, "firstkey").Int())
		ks.keyStep = max(int(field(spec, "keystep").Int()), 1)
	}
	return ks
}

// argBytes returns argument a as the bytes the driver writes for it, without
// allocating for strings and byte slices (the usual keys); buf is scratch space for
// other kinds.
func argBytes(a any, buf []byte) []byte {
	switch x := a.(type) {
	case string:
		return unsafe.Slice(unsafe.StringData(x), len(x))
	case []byte:
		return x
	case int:
		return strconv.AppendInt(buf[:0], int64(x), 10)
	case int64:
		return strconv.AppendInt(buf[:0], x, 10)
	}
	// Anything else as the writer encodes it: one bulk string in an array of one.
	enc, err := writer.AppendArgs(nil, a)
	if err != nil {
		return nil
	}
	v, _, err := parser.Parse(enc)
	if err != nil || len(v.Elems()) != 1 {
		return nil
	}
	return v.Elems()[0].Bytes()
}

// lower writes the lower-case form of b into buf and returns it (b cut to buf's size).
func lower(buf []byte, b []byte) []byte {
	n := copy(buf, b)
	for i := 0; i < n; i++ {
		if c := buf[i]; 'A' <= c && c <= 'Z' {
			buf[i] = c + ('a' - 'A')
		}
	}
	return buf[:n]
}

// lookup returns the info of the command args start with (nil if unknown).
func (t commandTable) lookup(args []any) *cmdInfo {
	if len(args) == 0 || t == nil {
		return nil
	}
	var nb, sb [32]byte
	var scratch [24]byte
	info := t[string(lower(nb[:], argBytes(args[0], scratch[:])))]
	if info != nil && info.subs != nil && len(args) > 1 {
		if sub := info.subs[string(lower(sb[:], argBytes(args[1], scratch[:])))]; sub != nil {
			return sub
		}
	}
	return info
}

// noKey is the slot of a command without keys.
const noKey = -1

// slotOf returns the hash slot of the command's keys (noKey if it has none), whether
// the command only reads, and ErrCrossSlot if its keys are in different slots.
func (t commandTable) slotOf(args []any) (slot int, readonly bool, err error) {
	info := t.lookup(args)
	if info == nil {
		if len(args) < 2 {
			return noKey, false, nil
		}
		var scratch [24]byte
		return KeySlot(argBytes(args[1], scratch[:])), false, nil
	}
	slot = noKey
	var scratch [24]byte
	for i := range info.specs {
		ks := &info.specs[i]
		first, last, step, ok := ks.keys(args)
		if !ok {
			continue
		}
		for j := first; j <= last && j < len(args); j += step {
			k := argBytes(args[j], scratch[:])
			if len(k) == 0 && info.skipEmpty {
				continue
			}
			s := KeySlot(k)
			if slot == noKey {
				slot = s
			} else if s != slot {
				return slot, info.readonly, ErrCrossSlot
			}
		}
	}
	if info.sortStore {
		if j := sortStoreAt(args); j > 0 {
			s := KeySlot(argBytes(args[j], scratch[:]))
			if slot == noKey {
				slot = s
			} else if s != slot {
				return slot, info.readonly, ErrCrossSlot
			}
		}
	}
	return slot, info.readonly, nil
}

// sortStoreAt returns the index of SORT's STORE destination in args, or -1 if there
// is none. The server's table cannot say where it is (its key spec is "unknown": the
// keyword may come anywhere), so the server finds it with code of its own
// (sortGetKeys, src/db.c, as COMMAND GETKEYS shows), which this follows: after the
// sorted key, LIMIT skips two arguments, BY and GET one, and the last STORE that has
// an argument after it names the destination.
func sortStoreAt(args []any) int {
	at := -1
	var scratch [24]byte
	for i := 2; i < len(args); i++ {
		a := argBytes(args[i], scratch[:])
		switch {
		case eqFold(a, "limit"):
			i += 2
		case eqFold(a, "by"), eqFold(a, "get"):
			i++
		case eqFold(a, "store") && i+1 < len(args):
			at = i + 1
		}
	}
	return at
}

// keysOf returns the key arguments of a command (for tests and errors).
func (t commandTable) keysOf(args []any) [][]byte {
	info := t.lookup(args)
	if info == nil {
		if len(args) < 2 {
			return nil
		}
		return [][]byte{argBytes(args[1], nil)}
	}
	var keys [][]byte
	for i := range info.specs {
		first, last, step, ok := info.specs[i].keys(args)
		if !ok {
			continue
		}
		for j := first; j <= last && j < len(args); j += step {
			if k := argBytes(args[j], nil); len(k) > 0 || !info.skipEmpty {
				keys = append(keys, k)
			}
		}
	}
	if info.sortStore {
		if j := sortStoreAt(args); j > 0 {
			keys = append(keys, argBytes(args[j], nil))
		}
	}
	return keys
}

// keys returns the argument indexes of the spec's keys: first to last by step; ok is
// false when the spec finds none in args. The spec comes from the server's COMMAND
// reply, so none of its numbers is trusted: first is always an index of args (at
// least 1), step is 1 to len(args) and last at most start+len(args), so that the
// callers' loops (j from first to last by step, while j < len(args)) neither index
// out of args nor overflow.
func (ks *keySpec) keys(args []any) (first, last, step int, ok bool) {
	var start int
	switch ks.begin {
	case beginIndex:
		start = ks.index
	case beginKeyword:
		start = -1
		var scratch [24]byte
		if ks.startFrom >= 0 {
			for i := ks.startFrom; i < len(args); i++ {
				if eqFold(argBytes(args[i], scratch[:]), ks.keyword) {
					start = i + 1
					break
				}
			}
		} else {
			for i := len(args) + ks.startFrom; i > 0; i-- {
				if eqFold(argBytes(args[i], scratch[:]), ks.keyword) {
					start = i + 1
					break
				}
			}
		}
		if start < 0 {
			return 0, 0, 0, false
		}
	default:
		return 0, 0, 0, false
	}
	if start <= 0 || start >= len(args) {
		return 0, 0, 0, false
	}
	step = min(max(ks.keyStep, 1), len(args))
	switch ks.find {
	case findRange:
		switch {
		case ks.lastKey >= 0:
			last = start + min(ks.lastKey, len(args))
		case ks.lastKey == -1 && ks.limit > 1:
			last = start + (len(args)-start)/ks.limit - 1
		default:
			last = len(args) + ks.lastKey
		}
		return start, last, step, last >= start
	case findKeynum:
		if ks.keyNumIdx < 0 || ks.keyNumIdx >= len(args)-start || ks.firstKey < 0 || ks.firstKey >= len(args)-start {
			return 0, 0, 0, false
		}
		var scratch [24]byte
		n, ok := atoi(argBytes(args[start+ks.keyNumIdx], scratch[:]))
		if !ok || n <= 0 {
			return 0, 0, 0, false
		}
		first = start + ks.firstKey
		return first, first + min(n-1, len(args))*step, step, true
	}
	return start, start, 1, true // unknown find: the first key only
}

// eqFold reports whether b equals s, ignoring ASCII case.
func eqFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// atoi parses a non-negative decimal number of up to 9 digits.
func atoi(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
