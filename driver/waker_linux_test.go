package driver

import (
	"syscall"
	"testing"
)

// A wake after the waker was closed writes nothing, even to a file that took its
// socket's number meanwhile (the engine stopping while a sender, the output poller or
// a health check wakes a link).
func TestWakerClosedWritesNothing(t *testing.T) {
	var pair [2]int
	if err := syscall.Pipe2(pair[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(pair[0])
	defer syscall.Close(pair[1])
	wfd, err := syscall.Dup(pair[1])
	if err != nil {
		t.Fatal(err)
	}
	w := &waker{wfd: wfd}
	w.schedule(&link{}) // open: the wake byte goes out
	buf := make([]byte, 8)
	if n, err := syscall.Read(pair[0], buf); n != 1 || err != nil {
		t.Fatalf("wake of an open waker: read %d, %v; want its byte", n, err)
	}
	w.close()
	// Another file takes the closed number: the pipe again.
	if err := syscall.Dup3(pair[1], wfd, 0); err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(wfd)
	w.armed.Store(false)
	w.schedule(&link{})
	if n, err := syscall.Read(pair[0], buf); n > 0 || err != syscall.EAGAIN {
		t.Fatalf("wake of a closed waker: read %d, %v; want nothing (EAGAIN)", n, err)
	}
	w.close() // idempotent: the number is not closed again
	if _, err := syscall.Write(wfd, []byte{0}); err != nil {
		t.Fatalf("the file that took the number was closed by a second close: %v", err)
	}
}
