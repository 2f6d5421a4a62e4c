package cluster

import (
	"errors"
	"strings"
	"testing"

	"github.com/respring/respring/internal/redistest"
	"github.com/respring/respring/parser"
)

// bulks returns strs as an Array of bulk strings.
func bulks(strs ...string) parser.Value {
	vs := make([]parser.Value, len(strs))
	for i, s := range strs {
		vs[i] = parser.NewBulkString(s)
	}
	return parser.NewArray(vs...)
}

// pre7Sort is a command table as a server without key specifications (before 7)
// gives it: SORT and SORT_RO with their first/last/step (1, 1, 1) only.
func pre7Sort() commandTable {
	entry := func(name string, flags ...string) parser.Value {
		return parser.NewArray(parser.NewBulkString(name), parser.NewInteger(-2), bulks(flags...),
			parser.NewInteger(1), parser.NewInteger(1), parser.NewInteger(1), bulks("@slow"))
	}
	return parseCommands(parser.NewArray(entry("sort", "write", "denyoom", "movablekeys"), entry("sort_ro", "readonly", "movablekeys")))
}

// SORT's STORE destination is a key too, found where the server finds it (its key
// spec says "unknown"): in the slot check, so a destination in another slot is
// ErrCrossSlot before anything is sent, and in the keys. SORT_RO has no STORE. With
// the server's table (checked against its COMMAND GETKEYS) and with one from a server
// before 7 (first/last/step only), alike.
func TestSortStoreKeys(t *testing.T) {
	s := redistest.Start(t)
	tables := map[string]commandTable{"server": parseCommands(s.MustDo("COMMAND")), "before 7": pre7Sort()}
	if len(tables["server"]) < 100 {
		t.Fatalf("the server's command table has %d commands", len(tables["server"]))
	}
	for _, c := range []struct {
		cmd   string
		keys  string // comma-separated
		cross bool
	}{
		{"SORT {t}a", "{t}a", false},
		{"SORT {t}a STORE {t}b", "{t}a,{t}b", false},
		{"sort {t}a sTorE {t}b LIMIT 0 1", "{t}a,{t}b", false},
		{"SORT {t}a LIMIT 0 1 STORE {t}b", "{t}a,{t}b", false},
		{"SORT {t}a BY {t}w_* GET # GET {t}o_* DESC ALPHA store {t}b", "{t}a,{t}b", false},
		{"SORT a STORE b", "a,b", true},
		{"SORT {t}a LIMIT 0 10 STORE {u}b", "{t}a,{u}b", true},
		// The last STORE names the destination, as the server takes it.
		{"SORT {t}a STORE {u}b STORE {t}c", "{t}a,{t}c", false},
		{"SORT {t}a STORE {t}b STORE {u}c", "{t}a,{u}c", true},
		// STORE as an option's argument, or with nothing after it, is no destination.
		{"SORT {t}a BY store", "{t}a", false},
		{"SORT {t}a GET STORE", "{t}a", false},
		{"SORT {t}a LIMIT store 1", "{t}a", false},
		{"SORT {t}a STORE", "{t}a", false},
		// SORT_RO stays single-key.
		{"SORT_RO {t}a", "{t}a", false},
		{"SORT_RO {t}a BY {t}w_* GET #", "{t}a", false},
		{"SORT_RO {t}a STORE {u}b", "{t}a", false},
	} {
		f := strings.Fields(c.cmd)
		args := make([]any, len(f))
		for i, a := range f {
			args[i] = a
		}
		want := strings.Split(c.keys, ",")
		var server []string
		for _, e := range s.MustDo(append([]string{"COMMAND", "GETKEYS"}, f...)...).Elems() {
			server = append(server, e.Text())
		}
		if strings.Join(server, ",") != c.keys {
			t.Fatalf("%s: the server's keys are %q, the case says %q", c.cmd, server, want)
		}
		for name, tab := range tables {
			var got []string
			for _, k := range tab.keysOf(args) {
				got = append(got, string(k))
			}
			if strings.Join(got, ",") != c.keys {
				t.Errorf("%s (%s table): keys %q, want %q", c.cmd, name, got, want)
			}
			slot, _, err := tab.slotOf(args)
			switch {
			case c.cross && !errors.Is(err, ErrCrossSlot):
				t.Errorf("%s (%s table): slot %d, %v; want ErrCrossSlot", c.cmd, name, slot, err)
			case !c.cross && (err != nil || slot != KeySlotString(want[0])):
				t.Errorf("%s (%s table): slot %d, %v; want %d", c.cmd, name, slot, err, KeySlotString(want[0]))
			}
		}
	}
}
