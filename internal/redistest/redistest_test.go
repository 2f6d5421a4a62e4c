package redistest

import "testing"

func TestStartRestart(t *testing.T) {
	s := Start(t)
	if v := s.MustDo("SET", "k", "v"); v.Text() != "OK" {
		t.Fatalf("SET: %v", v)
	}
	if v := s.MustDo("GET", "k"); v.Text() != "v" {
		t.Fatalf("GET: %v", v)
	}
	if !s.Managed() {
		return
	}
	s.Restart()
	// Persistence is off: a restart starts empty.
	if v := s.MustDo("GET", "k"); !v.IsNull() {
		t.Fatalf("GET after restart: %v", v)
	}
	if v := s.MustDo("CONFIG", "GET", "save"); len(v.Elems()) != 2 || v.Elems()[1].Text() != "" {
		t.Fatalf("save config: %v", v)
	}
}
