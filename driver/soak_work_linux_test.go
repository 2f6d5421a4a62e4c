package driver

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/respring/respring/parser"
)

// Pub/sub bookkeeping.

// soakPub is one publisher's record (under soak.pubMu): what became of each PUBLISH,
// and what the subscriber received.
type soakPub struct {
	id, server string
	status     []uint8 // pubPending, pubOK, pubUnsure
	got        []bool
	maxGot     int
	lastLink   *link // the link that delivered the last message received
	lastSeq    int   // the highest seq received through lastLink
}

const (
	pubPending uint8 = iota
	pubOK
	pubUnsure // failed: it may have run (ErrConnLost, a ctx that ended after it was written)
)

func (s *soak) addPub(id, server string) *soakPub {
	p := &soakPub{id: id, server: server, maxGot: -1, lastSeq: -1}
	s.pubMu.Lock()
	s.pubs[id] = p
	s.pubMu.Unlock()
	return p
}

// received checks one message against what was published. Messages may be lost
// (while the subscription is down, or with a failed PUBLISH), and a PUBLISH that
// failed may have run late (a stalled write reaching the server after a later
// PUBLISH on a new connection). But a message is never received twice, never out of
// order unless its PUBLISH failed, and not missing between two messages the same
// link delivered when the first one's PUBLISH succeeded: the link was subscribed
// throughout, and a PUBLISH that succeeded in between ran in between.
func (s *soak) received(server string, m Message) {
	payload := string(m.Payload)
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	if s.gotMsg == nil {
		s.gotMsg = map[string]int{}
	}
	s.gotMsg[server]++
	l, tapped := s.linkOf[payload]
	delete(s.linkOf, payload)
	if !tapped {
		s.unseen++
	}
	if m.Channel != soakChannel {
		s.problem("pubsub %s: message on channel %q, want %q (payload %q)", server, m.Channel, soakChannel, payload)
		return
	}
	if strings.HasPrefix(payload, "final|") {
		if ch := s.finals[payload]; ch != nil {
			close(ch)
			delete(s.finals, payload)
		}
		return
	}
	f := strings.Split(payload, "|")
	var seq int
	var err error
	var p *soakPub
	if len(f) == 3 && f[0] == "P" {
		p = s.pubs[f[1]]
		seq, err = strconv.Atoi(f[2])
	}
	switch {
	case p == nil || err != nil:
		s.problem("pubsub %s: unknown message %q", server, payload)
		return
	case p.server != server:
		s.problem("pubsub %s: message %q published on the other server", server, payload)
		return
	case seq < 0 || seq >= len(p.status):
		s.problem("pubsub %s: message %q never published (%d published)", server, payload, len(p.status))
		return
	case p.got[seq]:
		s.problem("pubsub %s: message %q received twice", server, payload)
		return
	}
	p.got[seq] = true
	if seq < p.maxGot {
		s.late++
	}
	if seq < p.maxGot && p.status[seq] != pubUnsure {
		s.problem("pubsub %s: message %q (status %d) received after %s|%d", server, payload, p.status[seq], p.id, p.maxGot)
	}
	p.maxGot = max(p.maxGot, seq)
	if !tapped {
		p.lastLink, p.lastSeq = nil, -1
		return
	}
	if l != p.lastLink {
		p.lastLink, p.lastSeq = l, seq
		return
	}
	if prev := p.lastSeq; seq > prev && p.status[prev] == pubOK {
		s.sameLink++
		var missing []int
		for i := prev + 1; i < seq; i++ {
			if p.status[i] == pubOK && !p.got[i] {
				missing = append(missing, i)
			}
		}
		if len(missing) > 0 {
			s.problem("pubsub %s: publisher %s: messages %v (their PUBLISH succeeded) missing between %d and %d, both delivered by the same link", server, p.id, missing, prev, seq)
		}
	}
	p.lastSeq = max(p.lastSeq, seq)
}

// Workers.

type soakWorker struct {
	s       *soak
	sc      *soakConn
	id      string
	rng     *rand.Rand
	n       int
	incrKey string
	lastInc int64
	dedKey  string
	lastDed int64
	pub     *soakPub
	big     []byte // random bytes, the source of values
	buf     []byte
}

func (w *soakWorker) token(kind string) string {
	w.n++
	return "soak:" + kind + ":" + w.id + ":" + strconv.Itoa(w.n)
}

func (w *soakWorker) who() string { return w.id }

// value returns a value for key: mostly small, sometimes 10-100 KiB, rarely 300 KiB
// to 4 MiB; a []byte or a string. Its first bytes are the key.
func (w *soakWorker) value(key string, allowBig bool) (any, []byte) {
	var n int
	switch r := w.rng.IntN(100); {
	case allowBig && r < 3:
		n = 300<<10 + w.rng.IntN(4<<20-300<<10)
		w.s.count("setget big value")
	case r < 10:
		n = 10<<10 + w.rng.IntN(90<<10)
	default:
		n = 1 + w.rng.IntN(2000)
	}
	if w.big == nil {
		w.big = make([]byte, 4<<20+4096)
		for i := 0; i+8 <= len(w.big); i += 8 {
			binary.LittleEndian.PutUint64(w.big[i:], w.rng.Uint64())
		}
	}
	off := w.rng.IntN(len(w.big) - n - len(key))
	b := make([]byte, 0, n+len(key)+1)
	b = append(append(append(b, key...), '='), w.big[off:off+n]...)
	if w.rng.IntN(2) == 0 {
		return b, b
	}
	return string(b), b
}

func (w *soakWorker) loop() {
	type op struct {
		name   string
		weight int
		fn     func(ctx context.Context)
	}
	ops := []op{
		{"echo", 20, w.echo},
		{"setget", 15, w.setGet},
		{"incr", 10, w.incr},
		{"burst", 10, w.burst},
		{"batch", 8, w.batch},
		{"tx", 8, w.tx},
		{"forget", 6, w.forget},
		{"blpop", 6, w.blpop},
		{"publish", 12, w.publish},
		{"dedicated", 3, w.dedicated},
	}
	total := 0
	for _, o := range ops {
		total += o.weight
	}
	for !w.s.stop.Load() {
		r := w.rng.IntN(total)
		for _, o := range ops {
			if r < o.weight {
				w.s.run(o.name, w.who(), o.fn)
				break
			}
			r -= o.weight
		}
		if d := w.rng.IntN(3); d > 0 {
			time.Sleep(time.Duration(d) * time.Millisecond)
		}
	}
}

func (w *soakWorker) checkEcho(op, want string, got parser.Value) {
	if got.Text() != want || got.IsError() || got.IsAggregate() {
		w.s.problem("%s on %s: ECHO %q answered %v %q", op, w.who(), want, got.Kind(), got.Text())
	}
}

func (w *soakWorker) checkIncr(op string, n int64) {
	if n <= w.lastInc {
		w.s.problem("%s on %s: INCR %s = %d after %d", op, w.who(), w.incrKey, n, w.lastInc)
	}
	w.lastInc = n
}

func (w *soakWorker) echo(ctx context.Context) {
	tok := w.token("e")
	v, err := w.sc.c.Do(ctx, "ECHO", tok)
	if err != nil {
		w.s.failed("echo", w.who(), err)
		return
	}
	w.checkEcho("echo", tok, v)
}

func (w *soakWorker) incr(ctx context.Context) {
	n, err := w.sc.c.Send("INCR", w.incrKey).Int(ctx)
	if err != nil {
		w.s.failed("incr", w.who(), err)
		return
	}
	w.checkIncr("incr", n)
}

// checkGet checks a GET reply of key: want, or (when the SET failed and may not
// have run) nil.
func (w *soakWorker) checkGet(op, key string, want []byte, setOK bool, got []byte, err error) {
	switch {
	case errors.Is(err, ErrNil) && !setOK:
	case err != nil:
		w.s.failed(op+"/GET", w.who(), err)
	case !bytes.Equal(got, want):
		w.s.problem("%s on %s: GET %s: %d bytes %q..., want %d bytes %q... (SET ok: %v)",
			op, w.who(), key, len(got), head(got), len(want), head(want), setOK)
	}
}

func head(b []byte) []byte { return b[:min(len(b), 60)] }

func (w *soakWorker) setGet(ctx context.Context) {
	c := w.sc.c
	key := w.token("k")
	val, want := w.value(key, true)
	v, err := c.Do(ctx, "SET", key, val)
	setOK := err == nil
	if err != nil {
		w.s.failed("setget/SET", w.who(), err)
	} else if v.Text() != "OK" {
		w.s.problem("setget on %s: SET %s answered %v %q", w.who(), key, v.Kind(), head(v.Bytes()))
	}
	if ctx.Err() == nil {
		var gerr error
		w.buf, gerr = c.Send("GET", key).AppendBytes(ctx, w.buf[:0])
		w.checkGet("setget", key, want, setOK, w.buf, gerr)
	}
	if cap(w.buf) > 1<<20 {
		w.buf = nil
	}
	c.SendAndForget("DEL", key)
}

func (w *soakWorker) burst(ctx context.Context) {
	c := w.sc.c
	n := 2 + w.rng.IntN(47)
	type item struct {
		f    Future
		echo string // "" for INCR
	}
	items := make([]item, n)
	for i := range items {
		if w.rng.IntN(4) == 0 {
			items[i] = item{f: c.Send("INCR", w.incrKey)}
		} else {
			tok := w.token("b")
			items[i] = item{f: c.Send("ECHO", tok), echo: tok}
		}
	}
	for _, it := range items {
		v, err := it.f.Wait(ctx)
		switch {
		case err != nil:
			w.s.failed("burst", w.who(), err)
		case it.echo != "":
			w.checkEcho("burst", it.echo, v)
		case v.Kind() != parser.Integer:
			w.s.problem("burst on %s: INCR answered %v %q", w.who(), v.Kind(), v.Text())
		default:
			w.checkIncr("burst", v.Int())
		}
	}
}

// waitAll waits for the replies of fs, the parts of one slot (a batch, a transaction),
// counts their errors, and checks their outcomes.
func (w *soakWorker) waitAll(ctx context.Context, op string, fs []Future) ([]parser.Value, []error) {
	errs := make([]error, len(fs))
	vals := make([]parser.Value, len(fs))
	for i, f := range fs {
		vals[i], errs[i] = f.Wait(ctx)
		if errs[i] != nil {
			w.s.failed(op, w.who(), errs[i])
		}
	}
	w.outcomes(op, errs)
	return vals, errs
}

// outcomes checks that the parts of one slot (a batch, a transaction) all succeeded
// or all failed: one got a reply and another ErrConnLost means the pairing of
// replies broke.
func (w *soakWorker) outcomes(op string, errs []error) {
	ok, lost := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrConnLost):
			lost++
		}
	}
	if ok > 0 && lost > 0 {
		w.s.problem("%s on %s: %d parts answered and %d lost: %v", op, w.who(), ok, lost, errs)
	}
}

func (w *soakWorker) batch(ctx context.Context) {
	c := w.sc.c
	key := w.token("bk")
	val, want := w.value(key, false)
	t1, t2 := w.token("be"), w.token("be")
	var b Batch
	b.Queue("ECHO", t1)
	b.Queue("SET", key, val)
	b.Queue("GET", key)
	b.Queue("ECHO", t2)
	b.Queue("INCR", w.incrKey)
	fs := c.SendBatch(nil, &b)
	vals, errs := w.waitAll(ctx, "batch", fs)
	if errs[0] == nil {
		w.checkEcho("batch", t1, vals[0])
	}
	if errs[1] == nil && vals[1].Text() != "OK" {
		w.s.problem("batch on %s: SET answered %v %q", w.who(), vals[1].Kind(), head(vals[1].Bytes()))
	}
	if errs[2] == nil {
		var gerr error
		if vals[2].IsNull() {
			gerr = ErrNil
		}
		w.checkGet("batch", key, want, errs[1] == nil, vals[2].Bytes(), gerr)
	}
	if errs[3] == nil {
		w.checkEcho("batch", t2, vals[3])
	}
	if errs[4] == nil {
		if vals[4].Kind() != parser.Integer {
			w.s.problem("batch on %s: INCR answered %v %q", w.who(), vals[4].Kind(), vals[4].Text())
		} else {
			w.checkIncr("batch", vals[4].Int())
		}
	}
	c.SendAndForget("DEL", key)
}

func (w *soakWorker) tx(ctx context.Context) {
	c := w.sc.c
	key := w.token("tk")
	val, want := w.value(key, false)
	tok := w.token("te")
	var b Batch
	b.Queue("INCR", w.incrKey)
	b.Queue("ECHO", tok)
	b.Queue("SET", key, val)
	b.Queue("GET", key)
	fs := c.SendTx(nil, &b)
	vals, errs := w.waitAll(ctx, "tx", fs)
	if errs[0] == nil {
		if vals[0].Kind() != parser.Integer {
			w.s.problem("tx on %s: INCR answered %v %q", w.who(), vals[0].Kind(), vals[0].Text())
		} else {
			w.checkIncr("tx", vals[0].Int())
		}
	}
	if errs[1] == nil {
		w.checkEcho("tx", tok, vals[1])
	}
	if errs[2] == nil && vals[2].Text() != "OK" {
		w.s.problem("tx on %s: SET answered %v %q", w.who(), vals[2].Kind(), head(vals[2].Bytes()))
	}
	if errs[3] == nil && !bytes.Equal(vals[3].Bytes(), want) {
		// In a transaction the GET follows its SET: never nil.
		w.s.problem("tx on %s: GET %s: %v %d bytes %q..., want %d bytes", w.who(), key, vals[3].Kind(), len(vals[3].Bytes()), head(vals[3].Bytes()), len(want))
	}
	c.SendAndForget("DEL", key)
}

func (w *soakWorker) forget(ctx context.Context) {
	c := w.sc.c
	key := w.token("fk")
	val, want := w.value(key, false)
	c.SendAndForget("SET", key, val)
	c.SendAndForget("INCR", "soak:ff:"+w.id)
	v, err := c.Send("GET", key).Wait(ctx)
	switch {
	case err != nil:
		w.s.failed("forget/GET", w.who(), err)
	case v.IsNull():
		// The SET was lost with a connection (it may not have run).
	case !bytes.Equal(v.Bytes(), want):
		w.s.problem("forget on %s: GET %s after SendAndForget SET: %v %d bytes %q..., want %d bytes", w.who(), key, v.Kind(), len(v.Bytes()), head(v.Bytes()), len(want))
	}
	c.SendAndForget("DEL", key)
}

func (w *soakWorker) blpop(ctx context.Context) {
	c := w.sc.c
	key := w.token("l")
	tok := w.token("lv")
	pushFirst := w.rng.IntN(3) == 0
	var pushErr error
	if pushFirst {
		_, pushErr = c.Do(ctx, "RPUSH", key, tok)
	}
	f := c.Send("BLPOP", key, "0.5")
	if !pushFirst {
		_, pushErr = c.Do(ctx, "RPUSH", key, tok)
	}
	if pushErr != nil {
		w.s.failed("blpop/RPUSH", w.who(), pushErr)
	}
	v, err := f.Wait(ctx)
	switch {
	case err != nil:
		w.s.failed("blpop", w.who(), err)
	case v.IsNull():
		w.s.count("blpop timed out")
		// Timed out: the RPUSH came later, or failed.
		if pushFirst && pushErr == nil {
			w.s.problem("blpop on %s: BLPOP %s after a successful RPUSH timed out (nil)", w.who(), key)
		}
	case len(v.Elems()) != 2 || v.Elems()[0].Text() != key || v.Elems()[1].Text() != tok:
		w.s.problem("blpop on %s: BLPOP %s answered %v %s, want [%s %s]", w.who(), key, v.Kind(), v.String(), key, tok)
	}
	c.SendAndForget("DEL", key)
}

func (w *soakWorker) publish(ctx context.Context) {
	p := w.pub
	w.s.pubMu.Lock()
	seq := len(p.status)
	p.status = append(p.status, pubPending)
	p.got = append(p.got, false)
	w.s.pubMu.Unlock()
	payload := "P|" + p.id + "|" + strconv.Itoa(seq)
	// The count of receivers says nothing here: 0 while the subscription is down,
	// more than 1 while the server still counts a connection the client gave up (a
	// blackholed one). Int checks that the reply is an integer.
	_, err := w.sc.c.Send("PUBLISH", soakChannel, payload).Int(ctx)
	st := pubOK
	if err != nil {
		w.s.failed("publish", w.who(), err)
		st = pubUnsure
	}
	w.s.pubMu.Lock()
	p.status[seq] = st
	w.s.pubMu.Unlock()
}

// dedicated runs WATCH, GET, MULTI SET n+1 EXEC on a dedicated connection. Nobody
// else writes the key, so a value read is never below the last one written, and one
// written is above it; a conflict may come from an EXEC of an earlier attempt that
// failed with ErrConnLost and ran late.
func (w *soakWorker) dedicated(ctx context.Context) {
	c := w.sc.c
	var wrote int64
	var conflict bool
	err := c.Dedicated(ctx, func(d *DedicatedConn) error {
		if _, err := d.Do(ctx, "WATCH", w.dedKey); err != nil {
			return err
		}
		v, err := d.Do(ctx, "GET", w.dedKey)
		if err != nil {
			return err
		}
		var n int64
		if !v.IsNull() {
			if n, err = strconv.ParseInt(v.Text(), 10, 64); err != nil {
				w.s.problem("dedicated on %s: GET %s answered %v %q", w.who(), w.dedKey, v.Kind(), v.Text())
				return nil
			}
		}
		if n < w.lastDed {
			w.s.problem("dedicated on %s: GET %s = %d after %d was written", w.who(), w.dedKey, n, w.lastDed)
		}
		var b Batch
		b.Queue("SET", w.dedKey, n+1)
		fs := d.SendTx(nil, &b)
		v, err = fs[0].Wait(ctx)
		switch {
		case errors.Is(err, ErrWatchConflict):
			conflict = true
			return nil
		case err != nil:
			return err
		case v.Text() != "OK":
			w.s.problem("dedicated on %s: SET in EXEC answered %v %q", w.who(), v.Kind(), v.Text())
			return nil
		}
		wrote = n + 1
		return nil
	})
	switch {
	case err != nil:
		w.s.failed("dedicated", w.who(), err)
	case conflict:
		w.s.count("dedicated watch conflict")
	case wrote != 0:
		if wrote <= w.lastDed {
			w.s.problem("dedicated on %s: wrote %d after %d", w.who(), wrote, w.lastDed)
		}
		w.lastDed = wrote
	}
}
