//go:build linux

package asm

import (
	"math/rand/v2"
	"syscall"
	"testing"
)

// TestMaskPageBoundary puts the data against inaccessible pages: a kernel
// that reads one byte too many (or too early) faults.
func TestMaskPageBoundary(t *testing.T) {
	ps := syscall.Getpagesize()
	mem, err := syscall.Mmap(-1, 0, 3*ps, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Skipf("mmap: %v", err)
	}
	defer func() {
		if err := syscall.Munmap(mem); err != nil {
			t.Error(err)
		}
	}()
	// [PROT_NONE][read-write][PROT_NONE]
	if err := syscall.Mprotect(mem[:ps], syscall.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mprotect(mem[2*ps:], syscall.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	page := mem[ps : 2*ps : 2*ps]
	r := rand.New(rand.NewPCG(3, 4))
	var sc Scanner
	for n := 0; n <= 512; n++ {
		// Ending exactly at the end of the page, then starting exactly at
		// its beginning.
		for _, s := range [][]byte{page[ps-n : ps : ps], page[:n:n]} {
			fillRandom(r, s)
			checkMasks(t, s)
			for _, l := range Levels() {
				restore := setLevelForTest(l)
				checkScanner(t, &sc, s, r)
				restore()
			}
		}
	}
}
