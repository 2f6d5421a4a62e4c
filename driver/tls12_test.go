package driver

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"net"
	"strings"
	"testing"
)

// A TLS 1.2 warning alert between two replies that came in one read: crypto/tls
// reads the alert at the end of the Read that returned the first reply, ignores it,
// and decrypts the second into its plaintext, all in that Read, which did not fill
// its buffer. read must still see that plaintext held. (It took a Read that did not
// fill its buffer to mean none was: with direct input, where the records after the
// first are in rawInput already, the second reply stayed there, and so did every
// later one, the ciphertext piling up behind it.)
func TestTLS12WarningAlertBetweenReplies(t *testing.T) {
	bothInputs(t, func(t *testing.T) {
		ts, record := handedOverTLS12(t)
		var in []byte
		in = append(in, record(23, []byte("+first\r\n"))...)
		in = append(in, record(21, []byte{1, 100})...) // warning: no_renegotiation
		in = append(in, record(23, []byte("+second\r\n"))...)
		got, _, err := decrypt(ts, nil, in)
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if got, _, err = decrypt(ts, got, record(23, []byte("+more\r\n"))); err != nil {
				t.Fatal(err)
			}
		}
		if want := "+first\r\n+second\r\n+more\r\n+more\r\n+more\r\n"; string(got) != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	})
}

// handedOverTLS12 returns the client side of a TLS 1.2 (AES-128-GCM) connection to a
// crypto/tls server, handed over to the loop, and a function that makes the records
// that server would send next (the session's keys come from the server's key log),
// so that a test can send what crypto/tls as a server never does.
func handedOverTLS12(t *testing.T) (*tlsState, func(typ byte, body []byte) []byte) {
	t.Helper()
	var keyLog bytes.Buffer
	var nc *recordingConn
	ts, _ := handOver(t, &tls.Config{KeyLogWriter: &keyLog, SessionTicketsDisabled: true},
		&tls.Config{MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}},
		func(sock net.Conn) net.Conn { nc = &recordingConn{Conn: sock}; return nc },
		func(*tls.Conn) error { return nil })

	// The key block (RFC 5246 6.3) from the master secret and both randoms: the
	// client's from the key log, the server's from its ServerHello, the first record
	// read (5 bytes of record header, 4 of handshake header, 2 of version).
	var master, clientRandom []byte
	for _, line := range strings.Split(keyLog.String(), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "CLIENT_RANDOM" {
			clientRandom, _ = hex.DecodeString(f[1])
			master, _ = hex.DecodeString(f[2])
		}
	}
	if master == nil || len(nc.read) < 43 {
		t.Fatal("no TLS 1.2 master secret logged, or no ServerHello read")
	}
	seed := append([]byte("key expansion"), nc.read[11:43]...)
	keys := prf12(master, append(seed, clientRandom...), 40)
	serverKey, serverIV := keys[16:32], keys[36:40]
	block, err := aes.NewCipher(serverKey)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	seq := uint64(1) // 0 was the server's Finished
	return ts, func(typ byte, body []byte) []byte {
		explicit := binary.BigEndian.AppendUint64(nil, seq)
		seq++
		nonce := append(append([]byte{}, serverIV...), explicit...)
		ad := append(append([]byte{}, explicit...), typ, 3, 3, byte(len(body)>>8), byte(len(body)))
		n := len(explicit) + len(body) + aead.Overhead()
		rec := append([]byte{typ, 3, 3, byte(n >> 8), byte(n)}, explicit...)
		return aead.Seal(rec, nonce, body, ad)
	}
}

// prf12 is TLS 1.2's PRF with SHA-256 (P_SHA256, RFC 5246 5), n bytes of it.
func prf12(secret, seed []byte, n int) []byte {
	var out []byte
	a := seed
	for len(out) < n {
		m := hmac.New(sha256.New, secret)
		m.Write(a)
		a = m.Sum(nil)
		m = hmac.New(sha256.New, secret)
		m.Write(a)
		m.Write(seed)
		out = m.Sum(out)
	}
	return out[:n]
}

// recordingConn keeps a copy of what is read from it.
type recordingConn struct {
	net.Conn
	read []byte
}

func (r *recordingConn) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.read = append(r.read, p[:n]...)
	return n, err
}
