package driver

import (
	"bytes"
	"io"
	"os"
	"syscall"
	"testing"
)

// writeVec writes a batch of buffers in order, stops when the socket is full, and
// reports exactly what it took, so that skipBytes leaves the rest to write on.
func TestWriteVecPartial(t *testing.T) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	w, r := fds[0], os.NewFile(uintptr(fds[1]), "r")
	defer syscall.Close(w)
	defer r.Close()
	if err := syscall.SetsockoptInt(w, syscall.SOL_SOCKET, syscall.SO_SNDBUF, 16<<10); err != nil {
		t.Fatal(err)
	}
	if err := syscall.SetNonblock(w, true); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 40<<10) // 640 KiB
	var vec [][]byte
	var want []byte
	for _, b := range [][]byte{[]byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$655360\r\n"), big, nil, []byte("\r\n"), big[:100]} {
		vec = append(vec, b)
		want = append(want, b...)
	}
	got := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(r)
		got <- b
	}()
	var iov []syscall.Iovec
	rounds, cut := 0, false
	for len(vec) > 0 {
		n, err := writeVec(w, vec, &iov, cut)
		if err != nil {
			t.Fatal(err)
		}
		vec, cut = skipBytes(vec, n)
		for _, v := range iov[:cap(iov)] {
			if v.Base != nil {
				t.Fatal("writeVec left a buffer in its scratch vector")
			}
		}
		if n == 0 {
			// Full: wait until the reader made room.
			var wfds syscall.FdSet
			wfds.Bits[w/64] |= 1 << (uint(w) % 64)
			if _, err := syscall.Select(w+1, nil, &wfds, nil, nil); err != nil && err != syscall.EINTR {
				t.Fatal(err)
			}
		}
		rounds++
	}
	syscall.Shutdown(w, syscall.SHUT_WR)
	if b := <-got; !bytes.Equal(b, want) {
		t.Fatalf("the reader got %d bytes, not the %d written in order", len(b), len(want))
	}
	if rounds < 3 {
		t.Fatalf("%d writes: the socket was never full, the test did not test the partial path", rounds)
	}
}
