package driver

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/respring/respring/parser"
)

// lostSession is a session that has nothing to write and tells lost on a channel.
type lostSession struct{ gone chan error }

func (s *lostSession) collect(dst []byte, vec [][]byte, _ int) ([]byte, [][]byte) { return dst, vec }
func (s *lostSession) deliver(parser.Value) error                                 { return nil }
func (s *lostSession) deliverOwned(parser.Value, []byte) (bool, error)            { return false, nil }
func (s *lostSession) hold()                                                      {}
func (s *lostSession) wrote()                                                     {}
func (s *lostSession) lost(_ *link, err error)                                    { s.gone <- err }

// A link dropped before the loop opened it (Reconnect while a reconnect's connection
// was being enrolled) is closed as soon as it opens: it would otherwise stay up and,
// dropped, write nothing, so its commands would wait forever.
func TestLinkDroppedBeforeOpen(t *testing.T) {
	s := startServer(t)
	ctx := testCtx(t, 10*time.Second)
	cli, wakers, err := sharedEngine.acquire()
	if err != nil {
		t.Fatal(err)
	}
	defer sharedEngine.release()
	nc, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	sess := &lostSession{gone: make(chan error, 1)}
	l := newLink(sess, parser.Limits{}, wakers, nil)
	l.drop(&errReconnect)
	if _, err := cli.EnrollContext(nc, l); err != nil {
		t.Fatalf("EnrollContext: %v", err)
	}
	select {
	case err := <-sess.gone:
		if !errors.Is(err, errReconnect) {
			t.Fatalf("lost with %v, want errReconnect", err)
		}
	case <-ctx.Done():
		t.Fatal("a link dropped before it opened stayed open")
	}
}
