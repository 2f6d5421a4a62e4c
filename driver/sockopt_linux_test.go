package driver

import (
	"net"
	"syscall"
	"testing"
	"time"
)

// Every socket dial makes carries TCP keepalive paced by the health check, and
// TCP_USER_TIMEOUT at twice it (at least 10 s): read back from the kernel.
func TestSocketLiveness(t *testing.T) {
	s := startServer(t)
	cases := []struct {
		hc                 time.Duration
		idle, intvl, count int // seconds, seconds, probes
		user               int // TCP_USER_TIMEOUT, ms (0: not set)
	}{
		{0, 5, 5, 3, 10000}, // the default health check, 5 s
		{500 * time.Millisecond, 1, 1, 3, 10000},
		{2 * time.Second, 2, 2, 3, 10000},
		{30 * time.Second, 15, 15, 3, 60000},
		{-1, 15, 15, 9, 0}, // health check off: Go's keepalive defaults, no user timeout
	}
	for _, tc := range cases {
		cfg, err := Config{Addr: s.Addr, HealthCheck: tc.hc}.withDefaults()
		if err != nil {
			t.Fatal(err)
		}
		nc, _, _, _, err := dial(testCtx(t, 10*time.Second), &cfg)
		if err != nil {
			t.Fatalf("hc %v: dial: %v", tc.hc, err)
		}
		raw, err := nc.(*net.TCPConn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		opts := []struct {
			name       string
			level, opt int
		}{
			{"SO_KEEPALIVE", syscall.SOL_SOCKET, syscall.SO_KEEPALIVE},
			{"TCP_KEEPIDLE", syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE},
			{"TCP_KEEPINTVL", syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL},
			{"TCP_KEEPCNT", syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT},
			{"TCP_USER_TIMEOUT", syscall.IPPROTO_TCP, tcpUserTimeout},
		}
		_ = raw.Control(func(fd uintptr) {
			for _, o := range opts {
				v, err := syscall.GetsockoptInt(int(fd), o.level, o.opt)
				if err != nil {
					t.Errorf("hc %v: getsockopt %s: %v", tc.hc, o.name, err)
				}
				got[o.name] = v
			}
		})
		nc.Close()
		want := map[string]int{"SO_KEEPALIVE": 1, "TCP_KEEPIDLE": tc.idle, "TCP_KEEPINTVL": tc.intvl,
			"TCP_KEEPCNT": tc.count, "TCP_USER_TIMEOUT": tc.user}
		for k, w := range want {
			if got[k] != w {
				t.Errorf("hc %v: %s = %d, want %d", tc.hc, k, got[k], w)
			}
		}
	}
}
