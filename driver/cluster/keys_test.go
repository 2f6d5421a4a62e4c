package cluster

import (
	"errors"
	"strconv"
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

// A COMMAND table from a hostile or broken server: key specs with negative, huge or
// overflowing indexes, steps and limits. The keys found are always arguments of the
// command, and nothing panics (it did: an index out of range in Send, with a negative
// keynumidx or firstkey, or a step that overflowed the loop's index).
func TestHostileKeySpecs(t *testing.T) {
	bulk := func(s string) string { return "$" + strconv.Itoa(len(s)) + "\r\n" + s + "\r\n" }
	// entry is a Redis 7 COMMAND entry for name with one key spec.
	entry := func(name, begin, find string) string {
		return "*1\r\n*10\r\n" + bulk(name) + ":2\r\n*1\r\n+readonly\r\n:1\r\n:1\r\n:1\r\n*0\r\n*0\r\n" +
			"*1\r\n%2\r\n" + bulk("begin_search") + begin + bulk("find_keys") + find + "*0\r\n"
	}
	spec := func(typ string, kv ...string) string {
		s := "%2\r\n" + bulk("type") + bulk(typ) + bulk("spec") + "%" + strconv.Itoa(len(kv)/2) + "\r\n"
		for i := 0; i+1 < len(kv); i += 2 {
			if _, err := strconv.ParseInt(kv[i+1], 10, 64); err == nil {
				s += bulk(kv[i]) + ":" + kv[i+1] + "\r\n"
			} else {
				s += bulk(kv[i]) + bulk(kv[i+1])
			}
		}
		return s
	}
	idx := func(i string) string { return spec("index", "index", i) }
	kw := func(k, from string) string { return spec("keyword", "keyword", k, "startfrom", from) }
	rng := func(last, step, limit string) string {
		return spec("range", "lastkey", last, "keystep", step, "limit", limit)
	}
	keynum := func(idx, first, step string) string {
		return spec("keynum", "keynumidx", idx, "firstkey", first, "keystep", step)
	}
	pre7 := func(name, first, last, step string) string {
		return "*1\r\n*6\r\n" + bulk(name) + ":2\r\n*0\r\n:" + first + "\r\n:" + last + "\r\n:" + step + "\r\n"
	}
	const maxInt, minInt = "9223372036854775807", "-9223372036854775808"
	for _, c := range []struct {
		name, table string
		cmd         string
	}{
		{"keynum negative keynumidx", entry("mget", idx("1"), keynum("-5", "1", "1")), "MGET 1 a"},
		{"keynum negative firstkey", entry("mget", idx("1"), keynum("0", "-4", "1")), "MGET 2 a b"},
		{"keynum huge keynumidx", entry("mget", idx("1"), keynum(maxInt, "1", "1")), "MGET 2 a b"},
		{"keynum huge firstkey", entry("mget", idx("1"), keynum("0", maxInt, "1")), "MGET 2 a b"},
		{"keynum huge step", entry("mget", idx("1"), keynum("0", "1", maxInt)), "MGET 2 a b"},
		{"range huge step", entry("mget", idx("1"), rng("9223372036854775806", maxInt, "0")), "MGET a b"},
		{"range huge lastkey", entry("mget", idx("1"), rng(maxInt, "1", "0")), "MGET a b"},
		{"range negative limit", entry("mget", idx("1"), rng("-1", "1", "-3")), "MGET a b"},
		{"range smallest lastkey", entry("mget", idx("1"), rng(minInt, "1", "0")), "MGET a b"},
		{"keyword smallest startfrom", entry("mget", kw("x", minInt), rng("0", "1", "0")), "MGET x a"},
		{"keyword huge startfrom", entry("mget", kw("x", maxInt), rng("0", "1", "0")), "MGET x a"},
		{"keyword startfrom -1", entry("mget", kw("mget", "-1"), rng("0", "1", "0")), "MGET x a"},
		{"index huge", entry("mget", idx(maxInt), rng("0", "1", "0")), "MGET a"},
		{"index negative", entry("mget", idx("-1"), rng("0", "1", "0")), "MGET a"},
		{"pre-7 huge step", pre7("mget", "1", "9223372036854775806", maxInt), "MGET a b"},
		{"pre-7 last before first", pre7("mget", "3", "1", "1"), "MGET a b c"},
		{"pre-7 negative step", pre7("mget", "1", "-1", "-5"), "MGET a b"},
		{"subcommand huge step", "*1\r\n*10\r\n" + bulk("object") + ":2\r\n*0\r\n:0\r\n:0\r\n:0\r\n*0\r\n*0\r\n*0\r\n" +
			"*1\r\n*6\r\n" + bulk("object|encoding") + ":3\r\n*0\r\n:2\r\n:2\r\n" + ":" + maxInt + "\r\n", "OBJECT ENCODING a"},
	} {
		t.Run(c.name, func(t *testing.T) {
			v, _, err := parser.Parse([]byte(c.table))
			if err != nil {
				t.Fatalf("the table does not parse: %v", err)
			}
			tab := parseCommands(v)
			f := strings.Fields(c.cmd)
			args := make([]any, len(f))
			for i, a := range f {
				args[i] = a
			}
			for _, k := range tab.keysOf(args) {
				if !strings.Contains(" "+strings.Join(f[1:], " ")+" ", " "+string(k)+" ") {
					t.Errorf("key %q is no argument of %s", k, c.cmd)
				}
			}
			if slot, _, err := tab.slotOf(args); slot < noKey || slot >= 16384 || (err != nil && !errors.Is(err, ErrCrossSlot)) {
				t.Errorf("slot %d, %v", slot, err)
			}
		})
	}
}
