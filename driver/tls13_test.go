package driver

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/respring/respring/internal/redistest"
	"github.com/respring/respring/parser"
	"github.com/respring/respring/writer"
)

// TLS 1.3 key updates from the server, driven on the loop: a KeyUpdate that asks for
// one back makes read return the client's own KeyUpdate (sealed with the old write
// key), to be sent, after which the client reads with the server's next key and
// writes with its own next key; one that asks for none moves only the read key on.
// crypto/tls as a server never sends a KeyUpdate, so the test seals the server's
// records itself with the session's secrets (the server's key log) and opens the
// client's the same way.
func TestTLS13KeyUpdate(t *testing.T) {
	bothInputs(t, func(t *testing.T) {
		ts, srv, cli := handedOverTLS13(t)
		keyUpdate := func(requested byte) []byte { return []byte{24, 0, 0, 1, requested} }

		got, reply, err := decrypt(ts, nil, srv.seal(22, keyUpdate(1)))
		if err != nil || len(got) != 0 {
			t.Fatalf("KeyUpdate (update requested): %q, %v", got, err)
		}
		if typ, body := cli.open(t, reply); typ != 22 || !bytes.Equal(body, keyUpdate(0)) {
			t.Fatalf("the client answered %d %x, want its KeyUpdate (handshake, update not requested)", typ, body)
		}
		if err := errors.Join(srv.next(), cli.next()); err != nil {
			t.Fatal(err)
		}
		got, reply, err = decrypt(ts, got, srv.seal(23, []byte("+PONG\r\n")))
		if err != nil || string(got) != "+PONG\r\n" || len(reply) != 0 {
			t.Fatalf("a reply under the server's next key: %q, %v (answered %d bytes)", got, err, len(reply))
		}
		out, err := ts.encrypt([]byte("*1\r\n$4\r\nPING\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		if typ, body := cli.open(t, out); typ != 23 || string(body) != "*1\r\n$4\r\nPING\r\n" {
			t.Fatalf("a command after the update: %d %q, want it under the client's next key", typ, body)
		}

		// No update asked for: the client answers nothing and writes on with its key.
		got, reply, err = decrypt(ts, got[:0], srv.seal(22, keyUpdate(0)))
		if err != nil || len(got) != 0 || len(reply) != 0 {
			t.Fatalf("KeyUpdate (no update requested): %q, %v, answered %d bytes", got, err, len(reply))
		}
		if err := srv.next(); err != nil {
			t.Fatal(err)
		}
		if got, _, err = decrypt(ts, got, srv.seal(23, []byte("$1\r\nx\r\n"))); err != nil || string(got) != "$1\r\nx\r\n" {
			t.Fatalf("a reply after the second update: %q, %v", got, err)
		}
		if out, err = ts.encrypt([]byte("PING\r\n")); err != nil {
			t.Fatal(err)
		}
		if typ, body := cli.open(t, out); typ != 23 || string(body) != "PING\r\n" {
			t.Fatalf("a command after the second update: %d %q", typ, body)
		}
	})
}

// The same end to end, on a PairedConn's loop: a server asks for a key update in the
// middle of the replies (the record written to its socket under crypto/tls's
// server), and the connection goes on: the reply after it is read under the server's
// next key, the client's KeyUpdate reaches the server (whose crypto/tls then reads the
// client's next commands under the client's next key), and pipelined commands after
// it get their replies, in order.
func TestTLS13KeyUpdateOnLoop(t *testing.T) { bothInputs(t, keyUpdateOnLoop) }

func keyUpdateOnLoop(t *testing.T) {
	cfg, served := keyUpdateServer(t, nil)
	ctx := testCtx(t, 20*time.Second)
	c, err := PairedConnect(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, arg := range []string{"before", "update", "after"} {
		if got, err := c.Send("ECHO", arg).String(ctx); err != nil || got != arg {
			t.Fatalf("ECHO %s = %q, %v", arg, got, err)
		}
	}
	fs := make([]Future, 200)
	for i := range fs {
		fs[i] = c.Send("ECHO", "p"+strconv.Itoa(i))
	}
	for i, f := range fs {
		if got, err := f.String(ctx); err != nil || got != "p"+strconv.Itoa(i) {
			t.Fatalf("pipelined ECHO %d after the update = %q, %v", i, got, err)
		}
	}
	if n := c.Reconnects(); n != 0 {
		t.Fatalf("the connection was re-established %d times", n)
	}
	c.Close()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
}

// keyUpdateServer starts serveKeyUpdate (with pause) for one connection, on a
// loopback listener closed when the test ends, and returns the client's Config for it
// and where serveKeyUpdate's result arrives.
func keyUpdateServer(t *testing.T, pause func()) (Config, <-chan error) {
	t.Helper()
	certs := redistest.NewCerts(t)
	cert, ln := tlsListen(t, certs)
	var keyLog bytes.Buffer
	scfg := &tls.Config{Certificates: []tls.Certificate{cert}, KeyLogWriter: &keyLog,
		SessionTicketsDisabled: true, MinVersion: tls.VersionTLS13}
	served := make(chan error, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		defer nc.Close()
		served <- serveKeyUpdate(tls.Server(nc, scfg), nc, &keyLog, pause)
	}()
	return Config{Addr: ln.Addr().String(), TLS: &tls.Config{RootCAs: certs.CAPool}}, served
}

// serveKeyUpdate serves tc (over the socket nc): HELLO refused (RESP2), ECHO echoed,
// anything else +OK. At ECHO update it writes a KeyUpdate asking for one back to nc
// itself, sealed as tc would seal its next record, in one write with the replies
// that follow it, and from then on seals its replies itself under its next key (tc's
// crypto/tls never sends one); it reads through tc all along. pause, if not nil, runs
// before that write. It returns nil once the client closed the connection.
func serveKeyUpdate(tc *tls.Conn, nc net.Conn, keyLog *bytes.Buffer, pause func()) error {
	defer tc.Close()
	if err := tc.Handshake(); err != nil {
		return err
	}
	var own *trafficKeys // set once the server seals its records itself
	var records uint64   // the records tc wrote after the handshake
	var p parser.Parser
	var buf, update []byte // update: the KeyUpdate record, until written
	chunk := make([]byte, 64<<10)
	for {
		m, err := tc.Read(chunk)
		if err != nil {
			return nil // the client closed
		}
		buf = append(buf, chunk[:m]...)
		var out []byte
		for {
			v, n, err := p.Parse(buf)
			if err != nil {
				break // incomplete
			}
			buf = buf[n:]
			var args []string
			for _, e := range v.Elems() {
				args = append(args, string(e.Bytes()))
			}
			switch {
			case strings.EqualFold(args[0], "HELLO"):
				out = append(out, "-ERR unknown command 'HELLO'\r\n"...)
			case strings.EqualFold(args[0], "ECHO") && len(args) == 2:
				if args[1] == "update" && own == nil {
					if own, err = logged(keyLog, tc, "SERVER_TRAFFIC_SECRET_0"); err != nil {
						return err
					}
					if len(out) > 0 { // what was due before, as tc would have sealed it
						if _, err := tc.Write(out); err != nil {
							return err
						}
						records++
						out = out[:0]
					}
					own.seq = records
					update = own.seal(22, []byte{24, 0, 0, 1, 1})
					if err := own.next(); err != nil {
						return err
					}
				}
				out = writer.AppendValue(out, parser.NewBulkString(args[1]))
			default:
				out = append(out, "+OK\r\n"...)
			}
		}
		if len(out) == 0 {
			continue
		}
		if own != nil {
			if update != nil && pause != nil {
				pause()
			}
			_, err = nc.Write(append(update, own.seal(23, out)...))
			update = nil
		} else {
			_, err = tc.Write(out)
			records++
		}
		if err != nil {
			return err
		}
	}
}

// logged returns the record protection of the traffic secret named name in keyLog.
func logged(keyLog *bytes.Buffer, tc *tls.Conn, name string) (*trafficKeys, error) {
	var h func() hash.Hash
	var keyLen int
	switch suite := tc.ConnectionState().CipherSuite; suite {
	case tls.TLS_AES_128_GCM_SHA256:
		h, keyLen = sha256.New, 16
	case tls.TLS_AES_256_GCM_SHA384:
		h, keyLen = sha512.New384, 32
	default:
		return nil, errors.New("cipher suite " + tls.CipherSuiteName(suite) + ": the test seals AES-GCM only")
	}
	for _, line := range strings.Split(keyLog.String(), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == name {
			secret, err := hex.DecodeString(f[2])
			if err != nil {
				return nil, err
			}
			return newTrafficKeys(h, keyLen, secret)
		}
	}
	return nil, errors.New("no " + name + " in the key log")
}

// handedOverTLS13 is handOver for TLS 1.3 with no session tickets, and the record
// protection of both directions of its application data (from the server's key log).
func handedOverTLS13(t *testing.T) (*tlsState, *trafficKeys, *trafficKeys) {
	t.Helper()
	var keyLog bytes.Buffer
	ts, _ := handOver(t, &tls.Config{KeyLogWriter: &keyLog, SessionTicketsDisabled: true, MinVersion: tls.VersionTLS13},
		&tls.Config{MinVersion: tls.VersionTLS13}, nil, func(*tls.Conn) error { return nil })
	srv, err := logged(&keyLog, ts.tc, "SERVER_TRAFFIC_SECRET_0")
	if err != nil {
		t.Fatal(err)
	}
	cli, err := logged(&keyLog, ts.tc, "CLIENT_TRAFFIC_SECRET_0")
	if err != nil {
		t.Fatal(err)
	}
	return ts, srv, cli
}

// trafficKeys protects one direction's records of a TLS 1.3 session (RFC 8446 5.2,
// 7.1-7.3): the traffic secret, the AEAD made from it and the record sequence number.
type trafficKeys struct {
	h      func() hash.Hash
	keyLen int
	secret []byte
	aead   cipher.AEAD
	iv     []byte
	seq    uint64
}

func newTrafficKeys(h func() hash.Hash, keyLen int, secret []byte) (*trafficKeys, error) {
	k := &trafficKeys{h: h, keyLen: keyLen}
	return k, k.use(secret)
}

// expandLabel is HKDF-Expand-Label (RFC 8446 7.1) with an empty context.
func (k *trafficKeys) expandLabel(secret []byte, label string, n int) ([]byte, error) {
	info := binary.BigEndian.AppendUint16(nil, uint16(n))
	info = append(info, byte(len("tls13 ")+len(label)))
	info = append(info, "tls13 "+label...)
	info = append(info, 0)
	return hkdf.Expand(k.h, secret, string(info), n)
}

// use sets the keys of secret, from sequence number 0.
func (k *trafficKeys) use(secret []byte) error {
	key, err := k.expandLabel(secret, "key", k.keyLen)
	if err != nil {
		return err
	}
	iv, err := k.expandLabel(secret, "iv", 12)
	if err != nil {
		return err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return err
	}
	if k.aead, err = cipher.NewGCM(block); err != nil {
		return err
	}
	k.secret, k.iv, k.seq = secret, iv, 0
	return nil
}

// next moves to the next traffic secret, as a KeyUpdate does.
func (k *trafficKeys) next() error {
	secret, err := k.expandLabel(k.secret, "traffic upd", k.h().Size())
	if err != nil {
		return err
	}
	return k.use(secret)
}

func (k *trafficKeys) nonce() []byte {
	n := append([]byte(nil), k.iv...)
	for i := range 8 {
		n[len(n)-1-i] ^= byte(k.seq >> (8 * i))
	}
	k.seq++
	return n
}

// seal returns the record of content type typ holding body.
func (k *trafficKeys) seal(typ byte, body []byte) []byte {
	inner := append(append([]byte(nil), body...), typ)
	n := len(inner) + k.aead.Overhead()
	hdr := []byte{23, 3, 3, byte(n >> 8), byte(n)}
	return k.aead.Seal(hdr, k.nonce(), inner, hdr)
}

// open returns the content type and body of the one record rec holds.
func (k *trafficKeys) open(t *testing.T, rec []byte) (byte, []byte) {
	t.Helper()
	if len(rec) < recordHeaderLen || recordHeaderLen+recordLen(rec) != len(rec) {
		t.Fatalf("not one record: %d bytes", len(rec))
	}
	inner, err := k.aead.Open(nil, k.nonce(), rec[recordHeaderLen:], rec[:recordHeaderLen])
	if err != nil {
		t.Fatalf("the record does not open with the expected key: %v", err)
	}
	inner = bytes.TrimRight(inner, "\x00")
	return inner[len(inner)-1], inner[:len(inner)-1]
}
