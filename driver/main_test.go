package driver

import (
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/respring/respring/internal/redistest"
)

// exampleAddr is the address of the server the runnable examples talk to.
var exampleAddr string

// TestMain starts one throwaway redis-server for the examples (each test starts its
// own). Without redis-server the package is skipped, except under CI=true.
func TestMain(m *testing.M) {
	s, err := redistest.New()
	if err != nil {
		if errors.Is(err, redistest.ErrNoServer) && os.Getenv("CI") != "true" {
			fmt.Println("driver: redis-server not installed: tests and examples skipped")
			os.Exit(0)
		}
		fmt.Println(err)
		os.Exit(1)
	}
	exampleAddr = s.Addr
	code := m.Run()
	s.Close()
	os.Exit(code)
}

// startServerB returns the TestMain server's address for benchmarks.
func startServerB(b *testing.B) string {
	b.Helper()
	if exampleAddr == "" {
		b.Skip("no server")
	}
	return exampleAddr
}
