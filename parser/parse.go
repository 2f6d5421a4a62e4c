package parser

import (
	"unsafe"

	"github.com/valyala/bytebufferpool"
)

// Frame kinds beyond the RESP kinds: an attribute map being read, and a streamed string.
const (
	attrFrame  Kind = 100
	chunkFrame Kind = 101
)

// frame is an aggregate (or streamed string) whose header was read and whose end was not.
type frame struct {
	kind     Kind
	streamed bool   // count unknown: ends with '.' (aggregates) or ';0' (strings)
	remain   int64  // elements still expected (not streamed)
	count    int64  // elements read so far
	base     int    // first child in Parser.stack; for a chunkFrame, first byte in chunks
	start    int    // offset of the header, for errors
	attrs    *Value // attributes that came before the header (never for an attrFrame)
	pendLo   int    // attrFrame: Parser.pendLo to restore when it finishes
}

// arenaKeep is the capacity (in values) above which a Parser drops its arenas when it
// starts a new value, so one huge reply does not pin its memory forever.
const arenaKeep = 64 << 10

// chunkKeep is the capacity above which the streamed-string buffer is not returned to
// the pool.
const chunkKeep = 1 << 20

// Parser is a streaming RESP2/RESP3 parser that reuses its memory from one value to
// the next. The zero Parser uses DefaultLimits. A Parser is not safe for concurrent use.
type Parser struct {
	// Limits bound what the parser accepts; zero fields mean DefaultLimits.
	Limits Limits

	lim    Limits  // Limits with defaults filled in
	limSrc Limits  // the Limits lim was computed from
	stack  []Value // children of open frames, in order
	store  []Value // children of finished nested aggregates
	frames []frame
	chunks *bytebufferpool.ByteBuffer // streamed string bytes; from the pool while in use

	// Attribute maps read and not yet attached. runs[pendLo:] wait for the next value,
	// oldest first; an open attribute frame keeps the maps that came before it below
	// pendLo, and the map it makes joins them when it finishes (its own contents have
	// attached whatever was pending inside it by then). takeAttrs concatenates a run
	// once, when it attaches: merging map by map as each arrives would copy the run so
	// far every time, quadratic in a stream of attributes.
	runs   []*Value
	pendLo int

	resuming bool    // the last call returned ErrIncomplete; its state is kept
	pos      int     // where the next item starts
	base     uintptr // address of buf[0] in the call that returned ErrIncomplete
	blen     int     // len(buf) in that call
	need     int     // see NeedBytes
	scan     lineScanner

	items int // items read since the Parser was made (tests check linearity with it)
}

// Parse decodes one complete value at the start of buf.
//
// Complete: it returns the value and the number of bytes it took. The value may alias
// buf and the parser's arena until the next call to Parse or Reset; Clone it to keep it.
//
// Incomplete: (Value{}, 0, ErrIncomplete). Call Parse again with the same bytes followed
// by more: the parser keeps what it already read and resumes where it stopped, so a
// large reply arriving in pieces costs time linear in its size. The bytes may be moved
// to a new buffer between calls (values already read are re-pointed, at a cost linear
// in them: grow such a buffer geometrically). NeedBytes tells how long buf must be
// before another call can finish the value. To parse something else instead, call Reset.
//
// Malformed input or input over a Limit: an error matching *ProtocolError. The stream
// cannot be parsed past it.
//
// Parse never panics, never allocates from a declared length beyond what buf holds, and
// rejects nesting deeper than MaxDepth without recursion.
func (p *Parser) Parse(buf []byte) (Value, int, error) {
	p.scan.reset(buf)
	return p.parse(buf)
}

// ParseEach parses every complete value at the start of buf and calls fn with each;
// a value is valid only during its fn call. It returns the bytes the values took and:
// nil when buf was used up, ErrIncomplete when a partial value remains at buf[n:] (call
// again with those bytes followed by more, as for Parse), a *ProtocolError, or the
// error fn returned (the value fn failed on is counted in n). Parsing many small values
// this way scans the buffer once.
func (p *Parser) ParseEach(buf []byte, fn func(Value) error) (int, error) {
	p.scan.reset(buf)
	used := 0
	for used < len(buf) {
		p.scan.off = used
		v, n, err := p.parse(buf[used:])
		if err != nil {
			return used, err
		}
		used += n
		if err := fn(v); err != nil {
			return used, err
		}
	}
	return used, nil
}

func (p *Parser) parse(buf []byte) (Value, int, error) {
	if !p.resuming {
		p.limits()
		if v, n, ok := p.scalar(buf); ok {
			p.resetArena()
			return v, n, nil
		}
	}
	if p.resuming {
		switch {
		case len(buf) < p.blen:
			p.reset() // not a continuation of the same bytes: start over
		case p.blen > 0 && uintptr(unsafe.Pointer(unsafe.SliceData(buf))) != p.base:
			p.rebase(buf)
		}
	} else {
		p.reset()
	}
	var v Value
	n, err := p.run(buf, &v)
	if err == ErrIncomplete {
		p.resuming = true
		p.base = uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
		p.blen = len(buf)
		return Value{}, 0, err
	}
	p.resuming = false
	return v, n, err
}

// Parse decodes one complete value at the start of buf with DefaultLimits and a fresh
// Parser. See Parser.Parse.
func Parse(buf []byte) (Value, int, error) {
	var p Parser
	return p.Parse(buf)
}

// NeedBytes returns, after Parse returned ErrIncomplete, the length buf must reach
// before another call can complete the value: at least one more byte than was given,
// and for a bulk string whose header was read, the header, payload and CRLF. A caller
// reading from a socket can wait for that many bytes instead of retrying on each read.
func (p *Parser) NeedBytes() int {
	if !p.resuming {
		return 0
	}
	return p.need
}

// Reset drops any partly parsed value, so the next Parse starts afresh.
func (p *Parser) Reset() {
	p.resuming = false
	p.reset()
}

// resetArena starts a value read by the fast path: the arena of earlier values may be
// reused, as by reset, which it calls only when there is something to drop.
func (p *Parser) resetArena() {
	if len(p.stack) != 0 || len(p.store) != 0 || p.chunks != nil || len(p.frames) != 0 || len(p.runs) != 0 {
		p.reset()
	}
}

func (p *Parser) reset() {
	p.limits()
	if cap(p.stack) > arenaKeep {
		p.stack = nil
	}
	if cap(p.store) > arenaKeep {
		p.store = nil
	}
	p.stack = p.stack[:0]
	p.store = p.store[:0]
	p.frames = p.frames[:0]
	clear(p.runs)
	p.runs = p.runs[:0]
	p.pendLo = 0
	p.pos = 0
	p.need = 0
	if p.chunks != nil {
		if cap(p.chunks.B) <= chunkKeep {
			bytebufferpool.Put(p.chunks)
		}
		p.chunks = nil
	}
}

// limits refreshes p.lim when p.Limits changed (or on first use).
func (p *Parser) limits() {
	if p.Limits != p.limSrc || p.lim.MaxDepth == 0 {
		p.limSrc = p.Limits
		p.lim = p.Limits.withDefaults()
	}
}

// scalar is the fast path for the most common replies: a complete top-level simple
// string, error, integer or bulk string with no attribute before it. ok is false
// whenever anything else is at buf[0] (aggregates, streamed or null strings, an
// incomplete or malformed value): the general path then reads it and reports errors.
func (p *Parser) scalar(buf []byte) (v Value, n int, ok bool) {
	if len(buf) < 3 {
		return Value{}, 0, false
	}
	t := buf[0]
	if t != '+' && t != '-' && t != ':' && t != '$' {
		return Value{}, 0, false
	}
	end := p.scan.index(1, min(len(buf), 1+p.lim.MaxLineLen))
	if end < 0 || end+1 >= len(buf) || buf[end] != '\r' || buf[end+1] != '\n' {
		return Value{}, 0, false
	}
	line := buf[1:end:end]
	switch t {
	case '+':
		return mkStr(SimpleString, line), end + 2, true
	case '-':
		return mkStr(SimpleError, line), end + 2, true
	case ':':
		i, ok := parseInt(line)
		if !ok {
			return Value{}, 0, false
		}
		return Value{kind: Integer, num: i}, end + 2, true
	}
	size, ok := parseInt(line)
	if !ok || size < 0 || size > p.lim.MaxBulkLen || int64(len(buf)-end-4) < size {
		return Value{}, 0, false
	}
	start, stop := end+2, end+2+int(size)
	if buf[stop] != '\r' || buf[stop+1] != '\n' {
		return Value{}, 0, false
	}
	return mkStr(BulkString, buf[start:stop:stop]), stop + 2, true
}

// step results
const (
	gotValue = iota // an item produced a value to deliver
	gotMore         // an item opened a frame or was consumed into one; parse on
)

func (p *Parser) run(buf []byte, out *Value) (int, error) {
	pos := p.pos
	for {
		var v Value
		st, err := p.item(buf, &pos, &v)
		if err != nil {
			return 0, err
		}
		if st == gotMore {
			continue
		}
		// Deliver v to the innermost open frame, finishing frames as they fill.
		for {
			n := len(p.frames)
			if n == 0 {
				*out = v
				return pos, nil
			}
			f := &p.frames[n-1]
			p.stack = append(p.stack, v)
			f.count++
			if f.streamed {
				if f.count > p.lim.MaxElems {
					return 0, protoErr(buf, f.start, "streamed aggregate has more elements than MaxElems")
				}
				break
			}
			f.remain--
			if f.remain > 0 {
				break
			}
			var isAttr bool
			v, isAttr = p.finish()
			if isAttr {
				p.addPending(v)
				break
			}
		}
	}
}

// item reads one item at *pos. Before returning ErrIncomplete it records where to resume.
func (p *Parser) item(buf []byte, pos *int, out *Value) (int, error) {
	start := *pos
	p.items++
	if n := len(p.frames); n > 0 && p.frames[n-1].kind == chunkFrame {
		return p.chunk(buf, pos, out)
	}
	if start >= len(buf) {
		return p.incomplete(start, start+1)
	}
	t := buf[start]
	end, err := p.lineEnd(buf, start)
	if err != nil {
		return 0, err
	}
	line := buf[start+1 : end : end]
	next := end + 2
	var v Value
	switch t {
	case '+':
		v = mkStr(SimpleString, line)
	case '-':
		v = mkStr(SimpleError, line)
	case ':':
		n, ok := parseInt(line)
		if !ok {
			return 0, protoErr(buf, start, "invalid integer")
		}
		v = Value{kind: Integer, num: n}
	case '_':
		if len(line) != 0 {
			return 0, protoErr(buf, start, "invalid null")
		}
		v = Value{kind: Null}
	case '#':
		if len(line) != 1 || (line[0] != 't' && line[0] != 'f') {
			return 0, protoErr(buf, start, "invalid boolean")
		}
		v = NewBool(line[0] == 't')
	case ',':
		f, ok := parseDouble(line)
		if !ok {
			return 0, protoErr(buf, start, "invalid double")
		}
		v = NewDouble(f)
	case '(':
		if !validBig(line) {
			return 0, protoErr(buf, start, "invalid big number")
		}
		v = mkStr(BigNumber, line)
	case '$', '!', '=':
		if t == '$' && len(line) == 1 && line[0] == '?' {
			if err := p.open(buf, start, chunkFrame, true, 0); err != nil {
				return 0, err
			}
			*pos = next
			return gotMore, nil
		}
		n, ok := parseInt(line)
		if !ok || n < -1 || (n == -1 && t != '$') {
			return 0, protoErr(buf, start, "invalid string length")
		}
		if n == -1 {
			v = Value{kind: Null, flag: nullBulk}
			break
		}
		if n > p.lim.MaxBulkLen {
			return 0, protoErr(buf, start, "string length over MaxBulkLen")
		}
		if int64(len(buf)-next) < n+2 {
			return p.incomplete(start, next+int(n)+2)
		}
		data := buf[next : next+int(n) : next+int(n)]
		next += int(n)
		if buf[next] != '\r' || buf[next+1] != '\n' {
			return 0, protoErr(buf, next, "string not followed by CRLF")
		}
		next += 2
		switch t {
		case '$':
			v = mkStr(BulkString, data)
		case '!':
			v = mkStr(BulkError, data)
		default:
			if n < 4 || data[3] != ':' {
				return 0, protoErr(buf, start, "verbatim string without a format prefix")
			}
			v = mkStr(VerbatimString, data[4:])
			v.num = int64(data[0])<<16 | int64(data[1])<<8 | int64(data[2])
		}
	case '*', '%', '~', '>', '|':
		k := aggKind(t)
		if k == Push && len(p.frames) > 0 {
			return 0, protoErr(buf, start, "push inside an aggregate")
		}
		if len(line) == 1 && line[0] == '?' {
			if err := p.open(buf, start, k, true, 0); err != nil {
				return 0, err
			}
			*pos = next
			return gotMore, nil
		}
		n, ok := parseInt(line)
		if !ok || n < -1 || (n == -1 && t != '*') {
			return 0, protoErr(buf, start, "invalid aggregate length")
		}
		if n == -1 {
			v = Value{kind: Null, flag: nullArray}
			break
		}
		if n > p.lim.MaxElems {
			return 0, protoErr(buf, start, "aggregate length over MaxElems")
		}
		if k == Map || k == attrFrame {
			n *= 2
		}
		if n == 0 {
			if k == attrFrame {
				*pos = next // an empty attribute attaches nothing
				return gotMore, nil
			}
			v = Value{kind: k}
			break
		}
		if err := p.open(buf, start, k, false, n); err != nil {
			return 0, err
		}
		*pos = next
		return gotMore, nil
	case '.':
		nf := len(p.frames)
		if nf == 0 || !p.frames[nf-1].streamed {
			return 0, protoErr(buf, start, "end marker outside a streamed aggregate")
		}
		if len(line) != 0 {
			return 0, protoErr(buf, start, "invalid end marker")
		}
		if len(p.runs) > p.pendLo {
			return 0, protoErr(buf, start, "attribute not followed by a value")
		}
		if f := p.frames[nf-1]; (f.kind == Map || f.kind == attrFrame) && f.count%2 != 0 {
			return 0, protoErr(buf, start, "streamed map with an odd number of elements")
		}
		*pos = next
		v, isAttr := p.finish()
		if isAttr {
			p.addPending(v)
			return gotMore, nil
		}
		*out = v
		return gotValue, nil
	case ';':
		return 0, protoErr(buf, start, "chunk outside a streamed string")
	default:
		return 0, protoErr(buf, start, "unknown type byte")
	}
	if len(p.runs) > p.pendLo {
		v.attrs = p.takeAttrs()
	}
	*pos = next
	*out = v
	return gotValue, nil
}

func aggKind(t byte) Kind {
	switch t {
	case '*':
		return Array
	case '%':
		return Map
	case '~':
		return Set
	case '>':
		return Push
	}
	return attrFrame
}

// incomplete records where to resume and how many bytes the item needs.
func (p *Parser) incomplete(start, need int) (int, error) {
	p.pos = start
	p.need = need
	return 0, ErrIncomplete
}

// lineEnd returns the index of the CR ending the line whose type byte is at start.
func (p *Parser) lineEnd(buf []byte, start int) (int, error) {
	from := start + 1
	limit := len(buf)
	if max := from + p.lim.MaxLineLen + 1; max < limit {
		limit = max
	}
	i := p.scan.index(from, limit)
	if i < 0 {
		if len(buf)-from > p.lim.MaxLineLen {
			return 0, protoErr(buf, start, "line longer than MaxLineLen")
		}
		p.pos, p.need = start, len(buf)+1
		return 0, ErrIncomplete
	}
	if buf[i] == '\n' {
		return 0, protoErr(buf, start, "LF without CR in a line")
	}
	if i+1 >= len(buf) {
		p.pos, p.need = start, len(buf)+1
		return 0, ErrIncomplete
	}
	if buf[i+1] != '\n' {
		return 0, protoErr(buf, start, "CR without LF in a line")
	}
	return i, nil
}

// open starts a frame for an aggregate, an attribute or a streamed string.
func (p *Parser) open(buf []byte, start int, k Kind, streamed bool, n int64) error {
	if len(p.frames) >= p.lim.MaxDepth {
		return protoErr(buf, start, "nesting deeper than MaxDepth")
	}
	f := frame{kind: k, streamed: streamed, remain: n, base: len(p.stack), start: start}
	if k == attrFrame {
		// The maps pending before this one stay pending, below its contents.
		f.pendLo = p.pendLo
		p.pendLo = len(p.runs)
	} else if len(p.runs) > p.pendLo {
		f.attrs = p.takeAttrs()
	}
	if k == chunkFrame {
		if p.chunks == nil {
			p.chunks = bytebufferpool.Get()
			p.chunks.B = p.chunks.B[:0]
		}
		f.base = len(p.chunks.B)
	}
	p.frames = append(p.frames, f)
	return nil
}

// finish closes the innermost frame and returns its value; isAttr says it was an
// attribute map, which attaches to the next value instead of being delivered.
func (p *Parser) finish() (v Value, isAttr bool) {
	n := len(p.frames) - 1
	f := p.frames[n]
	p.frames = p.frames[:n]
	children := p.stack[f.base:]
	var elems []Value
	if n == 0 && f.kind != attrFrame {
		// The outermost value: its children may stay on the stack, which is not
		// touched again until the next Parse.
		elems = children[:len(children):len(children)]
	} else {
		s := len(p.store)
		p.store = append(p.store, children...)
		elems = p.store[s:len(p.store):len(p.store)]
		p.stack = p.stack[:f.base]
	}
	k := f.kind
	if k == attrFrame {
		k = Map
		isAttr = true
		p.pendLo = f.pendLo
	}
	v = mkAgg(k, elems)
	v.attrs = f.attrs
	return v, isAttr
}

// addPending makes the attribute map a wait for the next value, after any maps that
// came before it.
func (p *Parser) addPending(a Value) {
	p.store = append(p.store, a)
	p.runs = append(p.runs, &p.store[len(p.store)-1])
}

// takeAttrs removes the pending attribute maps and returns them as one map: the only
// one as it is, or several concatenated in order, each copied once.
func (p *Parser) takeAttrs() *Value {
	run := p.runs[p.pendLo:]
	a := run[0]
	if len(run) > 1 {
		s := len(p.store)
		for _, m := range run {
			p.store = append(p.store, m.elems()...)
		}
		p.store = append(p.store, mkAgg(Map, p.store[s:len(p.store):len(p.store)]))
		a = &p.store[len(p.store)-1]
	}
	clear(run)
	p.runs = p.runs[:p.pendLo]
	return a
}

// chunk reads one ';' chunk of the streamed string in the innermost frame.
func (p *Parser) chunk(buf []byte, pos *int, out *Value) (int, error) {
	start := *pos
	if start >= len(buf) {
		return p.incomplete(start, start+1)
	}
	if buf[start] != ';' {
		return 0, protoErr(buf, start, "streamed string chunk expected")
	}
	end, err := p.lineEnd(buf, start)
	if err != nil {
		return 0, err
	}
	n, ok := parseInt(buf[start+1 : end])
	if !ok || n < 0 {
		return 0, protoErr(buf, start, "invalid chunk length")
	}
	next := end + 2
	f := &p.frames[len(p.frames)-1]
	if n == 0 {
		*pos = next
		b := p.chunks.B[f.base:len(p.chunks.B):len(p.chunks.B)]
		v := mkStr(BulkString, b)
		v.attrs = f.attrs
		p.frames = p.frames[:len(p.frames)-1]
		*out = v
		return gotValue, nil
	}
	if int64(len(p.chunks.B)-f.base)+n > p.lim.MaxBulkLen {
		return 0, protoErr(buf, start, "streamed string longer than MaxBulkLen")
	}
	if int64(len(buf)-next) < n+2 {
		return p.incomplete(start, next+int(n)+2)
	}
	data := buf[next : next+int(n)]
	next += int(n)
	if buf[next] != '\r' || buf[next+1] != '\n' {
		return 0, protoErr(buf, next, "chunk not followed by CRLF")
	}
	p.chunks.B = append(p.chunks.B, data...)
	*pos = next + 2
	return gotMore, nil
}

// rebase re-points the values read before ErrIncomplete from the old buffer to buf,
// which holds the same bytes at the same offsets.
func (p *Parser) rebase(buf []byte) {
	old, n := p.base, uintptr(p.blen)
	nb := unsafe.SliceData(buf)
	var walk func(v *Value)
	walk = func(v *Value) {
		if v.attrs != nil {
			walk(v.attrs)
		}
		if v.ptr == nil {
			return
		}
		if !v.IsAggregate() {
			a := uintptr(v.ptr)
			if a >= old && a < old+n {
				v.ptr = unsafe.Add(unsafe.Pointer(nb), a-old)
			}
		} else {
			e := v.elems()
			for i := range e {
				walk(&e[i])
			}
		}
	}
	for i := range p.stack {
		walk(&p.stack[i])
	}
	for _, a := range p.runs {
		walk(a)
	}
	for i := range p.frames {
		if p.frames[i].attrs != nil {
			walk(p.frames[i].attrs)
		}
	}
}
