package driver

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"reflect"
	"sync/atomic"
	"unsafe"

	"github.com/panjf2000/gnet/v2"
)

// TLS on the event loops, with no goroutine per connection.
//
// gnet has no TLS, so the standard library's crypto/tls is driven from the loop. The
// TLS handshake and the RESP handshake run on the dialling goroutine with blocking I/O
// over the socket, as for plain TCP. Then the socket is handed to gnet, and the same
// *tls.Conn is driven through an in-memory transport (tlsTransport): the loop appends
// the ciphertext it receives and calls Read as long as a record can be finished (the
// transport hands crypto/tls one record at a time, so the loop knows); to write, it
// encrypts the batch with Write, which appends the records to the transport's output,
// and writes that.
//
// This relies on one property of crypto/tls, pinned by TestTLSTemporaryReadError: when
// the transport's Read returns an error that is a net.Error whose Temporary() is true,
// crypto/tls returns it without recording it as the connection's permanent error, and
// keeps the bytes of a partial record for the next Read (conn.go, readRecordOrCCS:
// "if e, ok := err.(net.Error); !ok || !e.Temporary() { c.in.setErrorLocked(err) }").
// So a record split over several reads, and post-handshake messages (TLS 1.3 session
// tickets, key updates, whose answers Read writes to the transport), work as they do
// on a blocking socket. The non-blocking fork of crypto/tls that other event-loop
// libraries use is not needed.
//
// Input without crypto/tls's allocation (direct input). crypto/tls reads a record
// from its transport only when its own buffer of raw input (Conn.rawInput) holds less
// than the record, and each such read costs it an allocation (readFromUntil's
// &atLeastReader{}): one per reply at one goroutine, where every reply is a record of
// its own. So on the loop the ciphertext is appended to that buffer itself, found
// once with reflect (tlsFields: a field rawInput of type bytes.Buffer, and input, the
// bytes.Reader of decrypted plaintext that aliases rawInput's memory) and reached with
// unsafe; crypto/tls then finds every whole record already there. It is appended only
// while no plaintext waits in input (crypto/tls's own rule: rawInput "is not read from
// or written to until c.input is drained"); ciphertext that comes meanwhile waits in
// the transport (pending) until it is. Where the fields are not as expected (another
// Go release), the loop falls back to feeding crypto/tls through the transport, one
// record at a time, as described above: correct, one allocation per record read from
// an empty buffer. TestTLSDirectInput fails if this toolchain's crypto/tls is not
// driven directly; the fallback is tested too (tlsForceTransport).

// errWouldBlock is what the in-memory transport's Read returns when it has no more
// ciphertext: a temporary net.Error, which crypto/tls does not treat as fatal.
var errWouldBlock error = wouldBlockError{}

type wouldBlockError struct{}

func (wouldBlockError) Error() string   { return "respring: no TLS input buffered" }
func (wouldBlockError) Timeout() bool   { return false }
func (wouldBlockError) Temporary() bool { return true }

// tlsTransport is the net.Conn under a TLS connection's *tls.Conn. Until onLoop is
// set it passes reads and writes to the socket (the dial's blocking handshakes); from
// then on only the event loop uses it, in memory.
//
// Its Read hands crypto/tls the bytes of one record at a time, never the start of the
// next one, so that what crypto/tls holds and has not decrypted is never more than
// the rest of the record it reads (see tlsState.read). Over the socket this costs two
// reads per record, during the handshakes only.
type tlsTransport struct {
	net.Conn        // the socket; after the hand-over only for its addresses
	onLoop   bool   // set before the socket is handed to gnet
	in       []byte // ciphertext received and not yet read by crypto/tls
	inOff    int
	out      []byte // ciphertext crypto/tls wrote, for the loop to send
	// rec is how much of the current record crypto/tls has still to read; 0 at a
	// record's start. hdr gathers a header read from the socket in parts.
	rec  int
	hdr  [recordHeaderLen]byte
	hdrN int
	// vers is the version every record of the session names in its header (TLS 1.3
	// records name 1.2), and maxLen the largest body crypto/tls accepts in it; both
	// set at the hand-over.
	vers   uint16
	maxLen int
	// direct says crypto/tls's rawInput is fed directly (tlsState.raw): in then holds
	// only what waits for plaintext to be drained, and Read gives nothing.
	direct bool
}

// recordHeaderLen is the size of a TLS record's header: type, version, length.
const recordHeaderLen = 5

// recordLen is the length of the record whose header is h (its body, after h).
func recordLen(h []byte) int { return int(h[3])<<8 | int(h[4]) }

func (t *tlsTransport) Read(p []byte) (int, error) {
	if !t.onLoop {
		return t.readSocket(p)
	}
	if t.direct {
		// crypto/tls reads no record while plaintext is held, and pending input
		// goes into rawInput once none is (tlsState.whole).
		return 0, errWouldBlock
	}
	avail := t.in[t.inOff:]
	if t.rec == 0 {
		if len(avail) < recordHeaderLen {
			return 0, errWouldBlock // not even a header: none of it yet
		}
		t.rec = recordHeaderLen + recordLen(avail)
	}
	if len(avail) == 0 {
		return 0, errWouldBlock
	}
	n := copy(p, avail[:min(len(avail), t.rec)])
	t.inOff += n
	t.rec -= n
	return n, nil
}

// readSocket is Read over the socket: a record's header first, then its body.
func (t *tlsTransport) readSocket(p []byte) (int, error) {
	if t.rec == 0 {
		// The header, maybe in parts; the body once it is whole.
		n, err := t.Conn.Read(p[:min(len(p), recordHeaderLen-t.hdrN)])
		copy(t.hdr[t.hdrN:], p[:n])
		if t.hdrN += n; t.hdrN == recordHeaderLen {
			t.rec, t.hdrN = recordLen(t.hdr[:]), 0
		}
		return n, err
	}
	n, err := t.Conn.Read(p[:min(len(p), t.rec)])
	t.rec -= n
	return n, err
}

// whole reports whether crypto/tls can finish a record from what the transport
// holds: the rest of the one it reads, or a next one that came whole. A header that
// crypto/tls rejects as soon as it sees it (another version than the session's, a
// length beyond the largest record) counts too: the error need not wait for a body.
func (t *tlsTransport) whole() bool {
	avail := len(t.in) - t.inOff
	if t.rec > 0 {
		return avail >= t.rec
	}
	return t.starts(t.in[t.inOff:])
}

// starts reports whether b, input at a record's start, begins with a whole record
// or with a header crypto/tls rejects as soon as it sees it.
func (t *tlsTransport) starts(b []byte) bool {
	if len(b) < recordHeaderLen {
		return false
	}
	n := recordLen(b)
	return len(b) >= recordHeaderLen+n || n > t.maxLen || uint16(b[1])<<8|uint16(b[2]) != t.vers
}

// The largest record body crypto/tls accepts (maxCiphertext, maxCiphertextTLS13).
const (
	maxRecord   = 16384 + 2048
	maxRecord13 = 16384 + 256
)

func (t *tlsTransport) Write(p []byte) (int, error) {
	if !t.onLoop {
		return t.Conn.Write(p)
	}
	t.out = append(t.out, p...)
	return len(p), nil
}

// tlsFields are the offsets in a tls.Conn of its raw input buffer (rawInput) and of
// its decrypted input (input); ok is false where this Go's crypto/tls has no such
// fields of those types (direct input is then off).
var tlsFields = func() (f struct {
	raw, plain uintptr
	ok         bool
}) {
	t := reflect.TypeFor[tls.Conn]()
	raw, ok1 := t.FieldByName("rawInput")
	plain, ok2 := t.FieldByName("input")
	if ok1 && ok2 && len(raw.Index) == 1 && len(plain.Index) == 1 &&
		raw.Type == reflect.TypeFor[bytes.Buffer]() && plain.Type == reflect.TypeFor[bytes.Reader]() {
		f.raw, f.plain, f.ok = raw.Offset, plain.Offset, true
	}
	return f
}()

// tlsForceTransport turns direct input off for the connections dialled while it is
// set: a test seam, for the tests of the fallback.
var tlsForceTransport atomic.Bool

// tlsState is a link's TLS session: the *tls.Conn and its transport.
type tlsState struct {
	tc *tls.Conn
	tr *tlsTransport
	// raw and plain are tc's rawInput and input, for direct input; nil when it is off
	// (the transport's in is then what crypto/tls reads, and else what waits for
	// plain to be drained).
	raw   *bytes.Buffer
	plain *bytes.Reader
	// more says crypto/tls may hold plaintext not read yet (see held). Set at the
	// hand-over too (what the dial did not read).
	more bool
	// batch tracks the unanswered writes, to hold batches back while the server
	// is behind (tlsbatch.go).
	batch tlsBatch
}

// errTLSStalled fails a TLS connection whose crypto/tls would take no more input (a
// state the loop cannot get it out of); it is the cause of the ErrConnLost errors.
var errTLSStalled = errors.New("respring: TLS: the session takes no more input")

// tlsKeep is the capacity above which the transport's buffers are dropped once empty.
const tlsKeep = 256 << 10

// tlsClient starts TLS on the socket nc and runs the TLS handshake (bounded by ctx).
func tlsClient(ctx context.Context, nc net.Conn, cfg *Config) (*tlsState, error) {
	tr := &tlsTransport{Conn: nc}
	tc := tls.Client(tr, tlsConfig(cfg))
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, &HandshakeError{Step: "TLS", Err: err}
	}
	return &tlsState{tc: tc, tr: tr}, nil
}

// tlsConfig returns the crypto/tls configuration of a connection for cfg: a clone of
// cfg.TLS with ServerName set from the address's host unless given, and renegotiation
// refused whatever cfg.TLS says. A TLS 1.2 renegotiation runs a handshake inside Read,
// which the loop cannot drive: its reads would find the transport empty, crypto/tls
// would keep that error for good, and the connection would stall. Refused, it fails
// the connection with a clear error ("tls: no renegotiation"). Redis never asks for
// one.
func tlsConfig(cfg *Config) *tls.Config {
	tcfg := cfg.TLS.Clone()
	tcfg.Renegotiation = tls.RenegotiateNever
	if tcfg.ServerName == "" && cfg.network() == "tcp" {
		if host, _, err := net.SplitHostPort(cfg.Addr); err == nil {
			tcfg.ServerName = host
		}
	}
	return tcfg
}

// toLoop switches the transport to memory: the caller hands the socket to gnet next.
func (s *tlsState) toLoop() {
	s.tr.onLoop, s.more = true, true
	if tlsFields.ok && !tlsForceTransport.Load() {
		p := unsafe.Pointer(s.tc)
		s.raw = (*bytes.Buffer)(unsafe.Add(p, tlsFields.raw))
		s.plain = (*bytes.Reader)(unsafe.Add(p, tlsFields.plain))
		s.tr.direct = true
		s.more = s.held(true)
	}
	s.tr.vers, s.tr.maxLen = s.tc.ConnectionState().Version, maxRecord
	if s.tr.vers == tls.VersionTLS13 {
		s.tr.vers, s.tr.maxLen = tls.VersionTLS12, maxRecord13
	}
}

// encrypt writes plain through TLS and returns the ciphertext to send (valid until
// the next encrypt or read).
func (s *tlsState) encrypt(plain []byte) ([]byte, error) {
	s.tr.out = s.tr.out[:0]
	if _, err := s.tc.Write(plain); err != nil {
		return nil, err
	}
	return s.tr.out, nil
}

// feed hands ciphertext to TLS, for read to decrypt: with direct input into
// crypto/tls's rawInput, unless plaintext is held (then it waits in the transport).
func (s *tlsState) feed(cipher []byte) {
	t := s.tr
	if s.raw != nil {
		if len(t.in) == 0 && s.plain.Len() == 0 {
			s.put(cipher)
		} else {
			t.in = append(t.in, cipher...) // pending: plaintext is held
		}
		return
	}
	if t.inOff > 0 {
		// What is left is part of a record: to the front, and the rest after it.
		k := copy(t.in, t.in[t.inOff:])
		t.in, t.inOff = t.in[:k], 0
	}
	t.in = append(t.in, cipher...)
}

// read appends the plaintext TLS can produce from what was fed to *dst, up to its
// capacity; full says it stopped there, and more may follow once the caller made
// room (TLS keeps the rest of a record). Records that are not complete yet wait for
// more ciphertext. Anything TLS has to answer (a key update) is returned in reply, to
// be sent.
//
// read calls Read only when a record can be finished (or TLS holds plaintext): a Read
// that finds no whole record costs crypto/tls an allocation (readFromUntil's reader).
// With direct input, read sees what crypto/tls holds (rawInput); without it, the
// transport hands out one record at a time (tlsTransport.Read), so TLS holds no whole
// record that read would not see. A Read can still find no whole record (after a
// post-handshake message, TLS reads on); that is the temporary error crypto/tls does
// not record (TestTLSTemporaryReadError).
func (s *tlsState) read(dst *[]byte) (full bool, reply []byte, err error) {
	s.tr.out = s.tr.out[:0]
	d := *dst
	defer func() { *dst = d }()
	for len(d) < cap(d) {
		whole, at := s.whole()
		if !s.more && !whole {
			s.idle()
			return false, s.tr.out, nil
		}
		n, err := s.tc.Read(d[len(d):cap(d)])
		d = d[:len(d)+n]
		s.more = s.held(len(d) == cap(d))
		if err != nil {
			// Our own error as it is, not wrapped (a copy crypto/tls kept for good
			// would be wrapped: that is fatal).
			if err != errWouldBlock {
				return false, nil, err
			}
			if whole && n == 0 && s.pos() == at {
				// A whole record was there and TLS took none of it: it is stuck.
				return false, nil, errTLSStalled
			}
			s.idle()
			return false, s.tr.out, nil
		}
	}
	return true, s.tr.out, nil
}

// whole reports whether crypto/tls can finish a record from the input it was given
// (see tlsTransport.whole), and where that input stands: a position that moves when
// crypto/tls takes some of it. With direct input, ciphertext pending in the
// transport goes into rawInput first if no plaintext is held.
func (s *tlsState) whole() (bool, int) {
	if s.raw == nil {
		return s.tr.whole(), s.pos()
	}
	if t := s.tr; len(t.in) > 0 && s.plain.Len() == 0 {
		s.put(t.in)
		t.in = t.in[:0]
	}
	return s.tr.starts(s.raw.Bytes()), s.pos()
}

// put appends cipher to rawInput (direct input; no plaintext is held). Where it does
// not fit after what rawInput holds, what it holds moves to the front or into a
// buffer of the size needed, with room for a record more: bytes.Buffer's own growth
// doubles, and past tlsKeep the buffer would be dropped (idle) and grown again for
// every large reply.
func (s *tlsState) put(cipher []byte) {
	b := s.raw
	if len(cipher) > b.Available() {
		held := b.Bytes()
		if need := len(held) + len(cipher); need > b.Cap() {
			nb := make([]byte, len(held), need+maxRecord)
			copy(nb, held)
			*b = *bytes.NewBuffer(nb)
		} else {
			b.Reset() // the bytes stay where they are; written again at the front
			b.Write(held)
		}
	}
	b.Write(cipher)
}

// held reports whether crypto/tls may hold plaintext not read yet, after a Read that
// filled its buffer or not. With direct input it is known: a Read that returned
// less than asked can still leave plaintext (after the reply it returned, Read reads
// on when an alert is next in rawInput; a TLS 1.2 warning alert is then dropped and
// the record after it decrypted, TestTLS12WarningAlertBetweenReplies). Through the
// transport no record follows in rawInput, so only a full buffer can.
func (s *tlsState) held(filled bool) bool {
	if s.plain != nil {
		return s.plain.Len() > 0
	}
	return filled
}

// pos is where the input crypto/tls was given stands (see whole).
func (s *tlsState) pos() int {
	if s.raw == nil {
		return s.tr.inOff
	}
	return -s.raw.Len() // moves up as crypto/tls takes input
}

// idle resets the transport's input buffer once all of it was read (dropping it if
// it grew large); with direct input, crypto/tls's own too.
func (s *tlsState) idle() {
	t := s.tr
	if s.raw != nil {
		if s.raw.Len() == 0 && s.plain.Len() == 0 && s.raw.Cap() > tlsKeep {
			// input is drained but still refers to the buffer's memory.
			*s.raw = bytes.Buffer{}
			s.plain.Reset(nil)
		}
		if len(t.in) == 0 && cap(t.in) > tlsKeep {
			t.in = nil
		}
		return
	}
	if t.inOff < len(t.in) {
		return
	}
	if cap(t.in) > tlsKeep {
		t.in = nil
	}
	t.in, t.inOff = t.in[:0], 0
}

// trim drops the transport's output buffer if it grew large (after a write).
func (s *tlsState) trim() {
	if cap(s.tr.out) > tlsKeep {
		s.tr.out = nil
	}
}

// tlsFirst is the most plaintext a TLS link decrypts into a fresh buffer before it
// parsed what comes (link.fresh): after a large reply was handed over with its buffer,
// the next one starts in a small buffer, not one the size of a whole read (which cost
// 46-80 KB per 1 MiB GET).
const tlsFirst = 4 << 10

// tlsTraffic is link.traffic for a TLS connection: it decrypts all the input, answers
// what TLS must answer, and parses the plaintext, kept in acc between reads.
func (l *link) tlsTraffic(c gnet.Conn, n int) gnet.Action {
	cipher, err := c.Next(n)
	if err != nil {
		return l.fail(err)
	}
	l.tls.feed(cipher)
	for {
		// Room for what this input can hold (plaintext is shorter than its
		// ciphertext), within what the partial value needs (see growAcc): a large
		// reply gets one buffer of its size, and what follows it waits in TLS until
		// the reply was parsed out of acc, instead of growing acc past it.
		room := n
		switch {
		case l.need > len(l.acc):
			room = min(room, l.need-len(l.acc))
		case l.fresh:
			// The last buffer was handed over with a large reply: the next one
			// stays small until the header of what comes says how large it is.
			room = min(room, max(tlsFirst-len(l.acc), 1))
		}
		l.acc = l.growAcc(l.acc, room)
		full, reply, err := l.tls.read(&l.acc)
		if err != nil {
			// The replies that came before the end (a server's close_notify right
			// after its last reply) are delivered first, as over plain TCP.
			if act := l.parseAcc(); act != gnet.None {
				return act
			}
			return l.fail(err)
		}
		// The replies decrypted are delivered before TLS's answer is sent: if that
		// write fails, gnet closes the connection inside it (the session is then
		// no longer the link's), and replies that arrived would fail as lost. No
		// record is encrypted in between, so the answer still precedes whatever
		// the next key seals.
		if len(l.acc) >= l.need {
			if act := l.parseAcc(); act != gnet.None {
				return act
			}
		}
		if len(reply) > 0 {
			if act := l.sendRaw(c, reply); act != gnet.None {
				return act
			}
		}
		if !full {
			return gnet.None
		}
	}
}
