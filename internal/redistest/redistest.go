// Package redistest starts throwaway redis-server processes for tests.
//
// Start launches one on a free loopback port and a unix socket in a temporary
// directory, with persistence off (--save "" --appendonly no) and DEBUG enabled, and
// returns once it answers PING. The server is stopped when the test ends. When
// REDIS_TEST_ADDR is set, tests use that server instead and nothing is started (tests
// that must restart the server skip). When redis-server is missing the test is
// skipped, except under CI=true, where that is a failure.
package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/respring/respring/parser"
	"github.com/respring/respring/writer"
)

// Server is a redis-server started for one test (or an external one, see package doc).
type Server struct {
	Addr string // "127.0.0.1:port"
	Sock string // unix socket path ("" for an external server)
	Port int

	t       testing.TB
	dir     string
	args    []string
	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	managed bool
	// sentinel is the configuration a sentinel starts from (written to its
	// directory once; the sentinel rewrites it), "" for a data node.
	sentinel string
	// password is the server's requirepass (from the arguments or the sentinel
	// configuration): Do authenticates with it first.
	password string
}

// readyTimeout bounds how long a started server may take to answer PING.
const readyTimeout = 15 * time.Second

// ErrNoServer is returned by New when redis-server is not installed.
var ErrNoServer = errors.New("redistest: redis-server not installed")

// Start starts a throwaway redis-server for t, stopped when t ends; extra are more
// "--name value" arguments. A missing redis-server skips t, or fails it under CI=true.
func Start(t testing.TB, extra ...string) *Server {
	t.Helper()
	s, err := New(extra...)
	if errors.Is(err, ErrNoServer) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v (CI=true: this is a failure)", err)
		}
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	s.t = t
	t.Cleanup(s.Close)
	return s
}

// New starts a throwaway redis-server (or attaches to REDIS_TEST_ADDR) without a test,
// for TestMain; the caller must Close it.
func New(extra ...string) (*Server, error) { return newServer("", extra...) }

// newServer is New; a non-empty sentinel starts a sentinel with that configuration.
func newServer(sentinel string, extra ...string) (*Server, error) {
	if addr := os.Getenv("REDIS_TEST_ADDR"); addr != "" {
		s := &Server{Addr: addr}
		if err := s.waitReady(); err != nil {
			return nil, fmt.Errorf("redistest: REDIS_TEST_ADDR %s: %w", addr, err)
		}
		return s, nil
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, ErrNoServer
	}
	dir, err := os.MkdirTemp("", "respring-redis-")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, managed: true, Sock: filepath.Join(dir, "redis.sock"), sentinel: sentinel}
	for i := 0; i+1 < len(extra); i++ {
		if extra[i] == "--requirepass" {
			s.password = extra[i+1]
		}
	}
	for _, line := range strings.Split(sentinel, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "requirepass" {
			s.password = f[1]
		}
	}
	if sentinel != "" {
		if err := os.WriteFile(filepath.Join(dir, "sentinel.conf"), []byte(sentinel), 0o600); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	s.args = append([]string{bin}, extra...)
	var lastErr error
	pick := freePort
	for _, a := range extra {
		if a == "--cluster-enabled" {
			pick = freeClusterPort // its bus port is port+10000
		}
	}
	for attempt := 0; attempt < 5; attempt++ {
		port, err := pick()
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		s.Port = port
		s.Addr = "127.0.0.1:" + strconv.Itoa(port)
		if lastErr = s.launch(); lastErr == nil {
			return s, nil
		}
	}
	os.RemoveAll(dir)
	return nil, fmt.Errorf("redistest: could not start redis-server: %w", lastErr)
}

// Close stops a started server and removes its directory.
func (s *Server) Close() {
	s.Stop()
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// freeClusterPort returns a free loopback port p below 55536 whose cluster bus port,
// p+10000, is free too.
func freeClusterPort() (int, error) {
	for i := 0; i < 100; i++ {
		p, err := freePort()
		if err != nil {
			return 0, err
		}
		if p+10000 > 65535 {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+10000))
		if err != nil {
			continue
		}
		l.Close()
		return p, nil
	}
	return 0, errors.New("redistest: no free port pair for a cluster node")
}

// launch starts the process on s.Port and waits for PING.
func (s *Server) launch() error {
	args := append([]string{}, s.args[1:]...)
	args = append([]string{
		"--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1",
		"--unixsocket", s.Sock, "--unixsocketperm", "700",
		"--save", "", "--appendonly", "no", "--dir", s.dir,
		"--enable-debug-command", "yes", "--protected-mode", "no",
		"--logfile", filepath.Join(s.dir, "redis.log"),
	}, args...)
	if s.sentinel != "" {
		// The configuration file comes first; a sentinel takes no persistence flags.
		args = append([]string{filepath.Join(s.dir, "sentinel.conf"), "--sentinel"}, args...)
		args = dropFlag(dropFlag(args, "--save"), "--appendonly")
	}
	cmd := exec.Command(s.args[0], args...)
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	if err := s.waitReady(); err != nil {
		s.Stop()
		log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
		return fmt.Errorf("%w; log:\n%s", err, log)
	}
	return nil
}

// dropFlag removes "--name value" from args.
func dropFlag(args []string, name string) []string {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == name {
			return append(args[:i:i], args[i+2:]...)
		}
	}
	return args
}

// waitReady polls PING until the server answers +PONG.
func (s *Server) waitReady() error {
	deadline := time.Now().Add(readyTimeout)
	var err error
	for time.Now().Before(deadline) {
		s.mu.Lock()
		exited := s.exited
		s.mu.Unlock()
		if exited != nil {
			select {
			case <-exited:
				return errors.New("redis-server exited")
			default:
			}
		}
		var v parser.Value
		if v, err = s.Do("PING"); err == nil && v.Text() == "PONG" {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("no PONG within %v: %v", readyTimeout, err)
}

// Do sends one command on a fresh connection and returns the reply (owned).
func (s *Server) Do(args ...string) (parser.Value, error) {
	c, err := net.DialTimeout("tcp", s.Addr, time.Second)
	if err != nil {
		return parser.Value{}, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var out []byte
	if s.password != "" {
		out = writer.AppendCommand(out, "AUTH", s.password)
	}
	if _, err := c.Write(writer.AppendCommand(out, args...)); err != nil {
		return parser.Value{}, err
	}
	r := bufio.NewReader(c)
	var buf []byte
	var p parser.Parser
	skip := s.password != "" // AUTH's reply
	for {
		v, n, err := p.Parse(buf)
		if err == nil && skip {
			if v.IsError() {
				return v.Clone(), nil
			}
			skip, buf = false, buf[n:]
			continue
		}
		if err == nil {
			return v.Clone(), nil
		}
		if !errors.Is(err, parser.ErrIncomplete) {
			return parser.Value{}, err
		}
		chunk := make([]byte, 4096)
		n, err = r.Read(chunk)
		if err != nil {
			return parser.Value{}, err
		}
		buf = append(buf, chunk[:n]...)
	}
}

// MustDo is Do that fails the test on a transport error (a server error reply is
// returned as a value).
func (s *Server) MustDo(args ...string) parser.Value {
	v, err := s.Do(args...)
	if err != nil {
		if s.t == nil {
			panic(fmt.Sprintf("redistest: %s: %v", strings.Join(args, " "), err))
		}
		s.t.Helper()
		s.t.Fatalf("redistest: %s: %v", strings.Join(args, " "), err)
	}
	return v
}

// Stop kills the server (no-op for an external one) and waits for it to exit.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

// Restart stops the server and starts it again on the same port and socket. The test
// is skipped for an external server.
func (s *Server) Restart() {
	s.t.Helper()
	if !s.managed {
		s.t.Skip("redistest: cannot restart REDIS_TEST_ADDR")
	}
	s.Stop()
	var err error
	for attempt := 0; attempt < 50; attempt++ { // the port may linger briefly
		if err = s.launch(); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("redistest: restart: %v", err)
}

// Managed reports whether the server was started by Start (false for REDIS_TEST_ADDR).
func (s *Server) Managed() bool { return s.managed }
