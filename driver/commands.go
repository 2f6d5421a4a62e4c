package driver

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/respring/respring/parser"
)

// This file is the one table of commands the driver treats specially, and the
// classification of a command by its name (and, for a few, a later argument).
//
// Sources: the Redis command reference (redis.io/commands, 7.x) and the flags of
// COMMAND INFO. Blocking commands are those whose COMMAND INFO flags include
// "blocking" (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN, BZPOPMAX, BZMPOP,
// XREAD and XREADGROUP, WAIT, WAITAOF); XREAD and XREADGROUP block only with a BLOCK
// argument, so they are classified by their arguments. Session commands change the
// state of the connection they run on (database, user, protocol, reply mode,
// transaction, subscriptions) in a way that would either break the pairing of replies
// or silently vanish on a reconnect. TestCommandTableMatchesServer checks this table
// against the COMMAND INFO of the test server.

// cmdClass says how the driver treats a command.
type cmdClass uint8

const (
	clsPlain    cmdClass = iota // any other command: sent as it is
	clsBlocking                 // may block the connection: a dedicated connection
	clsWatch                    // WATCH, UNWATCH: only on a DedicatedConn
	clsSession                  // changes the connection's state: refused
	clsReply                    // CLIENT REPLY: only on a DedicatedConn, which tracks it
	clsEmpty                    // no command name at all: refused
)

// cmdInfo is one entry of the table: the class and, for refused commands, what to use
// instead.
type cmdInfo struct {
	class cmdClass
	use   string
	// bareOK: the command alone, without arguments, changes nothing (HELLO then only
	// reports the connection's properties).
	bareOK bool
	// timeout says where a blocking command's timeout is (see blockLimit).
	timeout timeoutArg
}

// timeoutArg is where a blocking command gives its timeout, after which the server
// answers it on its own (a null reply, WAIT's count).
type timeoutArg uint8

const (
	toNone    timeoutArg = iota
	toLast               // the last argument, in seconds (BLPOP, BLMOVE, ...)
	toFirst              // the first after the name, in seconds (BLMPOP, BZMPOP)
	toLastMs             // the last argument, in milliseconds (WAIT, WAITAOF)
	toBlockMs            // after BLOCK, before STREAMS, in milliseconds (XREAD, XREADGROUP)
)

// commandTable holds every command name (lower case) the driver treats specially.
// CLIENT and XREAD/XREADGROUP are refined by their arguments (see classify).
var commandTable = map[string]cmdInfo{
	"blpop":      {class: clsBlocking, timeout: toLast},
	"brpop":      {class: clsBlocking, timeout: toLast},
	"blmove":     {class: clsBlocking, timeout: toLast},
	"brpoplpush": {class: clsBlocking, timeout: toLast},
	"blmpop":     {class: clsBlocking, timeout: toFirst},
	"bzpopmin":   {class: clsBlocking, timeout: toLast},
	"bzpopmax":   {class: clsBlocking, timeout: toLast},
	"bzmpop":     {class: clsBlocking, timeout: toFirst},
	"wait":       {class: clsBlocking, timeout: toLastMs},
	"waitaof":    {class: clsBlocking, timeout: toLastMs},
	"xread":      {class: clsBlocking, timeout: toBlockMs}, // with BLOCK (see hasBlockArg)
	"xreadgroup": {class: clsBlocking, timeout: toBlockMs}, // with BLOCK (see hasBlockArg)

	"watch":   {class: clsWatch, use: "Dedicated"},
	"unwatch": {class: clsWatch, use: "Dedicated"},

	"select":       {class: clsSession, use: "Config.DB"},
	"auth":         {class: clsSession, use: "Config.Username and Config.Password"},
	"hello":        {class: clsSession, use: "Config.Protocol, Config.Username, Config.Password and Config.ClientName", bareOK: true},
	"reset":        {class: clsSession, use: "Connect (a connection whose state you manage)"},
	"quit":         {class: clsSession, use: "Close"},
	"multi":        {class: clsSession, use: "SendTx"},
	"exec":         {class: clsSession, use: "SendTx"},
	"discard":      {class: clsSession, use: "SendTx"},
	"subscribe":    {class: clsSession, use: "PubsubConnect"},
	"psubscribe":   {class: clsSession, use: "PubsubConnect"},
	"ssubscribe":   {class: clsSession, use: "PubsubConnect"},
	"unsubscribe":  {class: clsSession, use: "PubsubConnect"},
	"punsubscribe": {class: clsSession, use: "PubsubConnect"},
	"sunsubscribe": {class: clsSession, use: "PubsubConnect"},
	"monitor":      {class: clsSession, use: "Connect"},
	"client":       {class: clsPlain, use: ""}, // see clientSubcommands
}

// clientSubcommands are the CLIENT subcommands that change the connection's state.
var clientSubcommands = map[string]cmdInfo{
	"reply":    {class: clsReply, use: "Dedicated (on a shared connection it would take other callers' replies away)"},
	"tracking": {class: clsSession, use: "Connect (tracking pushes belong to one connection's reader)"},
	"setname":  {class: clsSession, use: "Config.ClientName (a reconnect would drop the name)"},
}

// nameFilter[c] has bit n set when the table holds a name of length n starting with
// the lower-case letter c: most commands are told apart from the table by their
// first byte and length alone, without a lookup.
var nameFilter [256]uint32

func init() {
	for name := range commandTable {
		nameFilter[name[0]] |= 1 << len(name)
	}
}

// maxNameLen is the longest name in the table.
const maxNameLen = 12

// commandName returns the command name of args (a string or []byte first argument)
// and whether there is one.
func commandName(args []any) (string, []byte, bool) {
	if len(args) == 0 {
		return "", nil, false
	}
	switch a := args[0].(type) {
	case string:
		return a, nil, true
	case []byte:
		return "", a, true
	}
	return "", nil, true // not a name the table can hold: a plain command
}

// lookupName finds name (given as s, or as b when s is empty) in table, case
// insensitively, without allocating.
func lookupName(table map[string]cmdInfo, s string, b []byte) (cmdInfo, bool) {
	n := len(s)
	if b != nil {
		n = len(b)
	}
	if n == 0 || n > maxNameLen {
		return cmdInfo{}, false
	}
	var low [maxNameLen]byte
	for i := 0; i < n; i++ {
		c := byte(0)
		if b != nil {
			c = b[i]
		} else {
			c = s[i]
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		low[i] = c
	}
	info, ok := table[string(low[:n])]
	return info, ok
}

// mayBeSpecial is the inlined first test of every Send: false for a command the table
// cannot hold (the common case, decided by the name's first byte and length).
func mayBeSpecial(args []any) bool {
	if len(args) == 0 {
		return true
	}
	if s, ok := args[0].(string); ok {
		return len(s) > 0 && len(s) <= maxNameLen && nameFilter[s[0]|0x20]&(1<<len(s)) != 0
	}
	return true // []byte or another type: classify decides
}

// classify returns the class of the command args and, for a refused one, what to use
// instead. It allocates nothing.
func classify(args []any) (cmdClass, string) {
	s, b, ok := commandName(args)
	if !ok {
		return clsEmpty, ""
	}
	n := len(s)
	first := byte(0)
	if b != nil {
		n = len(b)
		if n > 0 {
			first = b[0]
		}
	} else if n > 0 {
		first = s[0]
	}
	if n > maxNameLen || nameFilter[first|0x20]&(1<<n) == 0 {
		return clsPlain, ""
	}
	info, found := lookupName(commandTable, s, b)
	if !found {
		return clsPlain, ""
	}
	switch {
	case info.bareOK && len(args) == 1:
		return clsPlain, ""
	case info.class == clsBlocking && (first|0x20) == 'x':
		if !hasBlockArg(args[1:]) {
			return clsPlain, ""
		}
	case info.class == clsPlain: // CLIENT
		if len(args) > 1 {
			if ss, sb, ok := commandName(args[1:]); ok {
				if sub, found := lookupName(clientSubcommands, ss, sb); found {
					return sub.class, sub.use
				}
			}
		}
	}
	return info.class, info.use
}

// hasBlockArg reports whether XREAD/XREADGROUP arguments (after the name) may block:
// they hold BLOCK, read as the server reads them (xreadOptions), or options the
// server would refuse or this driver does not know (run on the pool all the same:
// taken for plain, a blocking one would hold up every caller of the shared
// connection).
func hasBlockArg(args []any) bool {
	block, ok := xreadOptions(len(args), func(i int) xword {
		switch v := args[i].(type) {
		case string:
			return xwordOf(v)
		case []byte:
			return xwordOf(string(v)) // not kept: no allocation
		}
		return xOther
	})
	return block >= 0 || !ok
}

// xword is an option word of XREAD and XREADGROUP.
type xword uint8

const (
	xOther xword = iota
	xBlock
	xCount
	xStreams
	xGroup
	xNoack
)

// xwordOf returns which option word s is, in any case.
func xwordOf(s string) xword {
	switch {
	case len(s) == 5 && strings.EqualFold(s, "BLOCK"):
		return xBlock
	case len(s) == 5 && strings.EqualFold(s, "COUNT"):
		return xCount
	case len(s) == 7 && strings.EqualFold(s, "STREAMS"):
		return xStreams
	case len(s) == 5 && strings.EqualFold(s, "GROUP"):
		return xGroup
	case len(s) == 5 && strings.EqualFold(s, "NOACK"):
		return xNoack
	}
	return xOther
}

// xreadOptions walks the options of XREAD or XREADGROUP, the n arguments after the
// name (word(i) tells the i-th), as the server does: BLOCK and COUNT take a value each
// (a later BLOCK wins), GROUP two names, NOACK none, and STREAMS ends them. It returns
// the index of the BLOCK that counts (-1: none), and ok false when the server would
// answer with a syntax error (a word it does not take there, STREAMS missing) or when
// it is an option this driver does not know.
func xreadOptions(n int, word func(i int) xword) (block int, ok bool) {
	block = -1
	for i := 0; i < n; i++ {
		more := n - i - 1
		switch w := word(i); {
		case w == xBlock && more >= 1:
			block = i + 1
			i++
		case w == xCount && more >= 1:
			i++
		case w == xStreams && more >= 1:
			return block, true
		case w == xGroup && more >= 2:
			i += 2
		case w == xNoack:
		default:
			return block, false
		}
	}
	return block, false
}

// ErrNotOnSharedConn is matched by the error of a command that would change the state
// of a connection other callers share (or, on a DedicatedConn, that the driver
// manages): nothing is sent for it. The error names what to use instead.
var ErrNotOnSharedConn = errors.New("respring: command not allowed on a shared connection")

// errEmptyCommand is the error of a command with no arguments at all: the server
// would not answer it, which would shift every later reply.
var errEmptyCommand = errors.New("respring: empty command: a command needs at least its name")

// NotOnSharedConnError is the error of a refused command (it matches
// ErrNotOnSharedConn).
type NotOnSharedConnError struct {
	Command string // the command as given, upper case
	Use     string // what to use instead
	Where   string // "a shared connection", "a dedicated connection", "a batch"
}

func (e *NotOnSharedConnError) Error() string {
	return "respring: " + e.Command + " is not allowed on " + e.Where + ": use " + e.Use
}

// Is makes the error match ErrNotOnSharedConn.
func (e *NotOnSharedConnError) Is(target error) bool { return target == ErrNotOnSharedConn }

// refusal builds the error of a refused command args.
func refusal(args []any, use, where string) error {
	if len(args) == 0 {
		return errEmptyCommand
	}
	// upper copies: the error must not keep the caller's argument (that would make
	// every Send's arguments escape to the heap).
	s, b, _ := commandName(args)
	if b != nil {
		s = string(b)
	}
	name := upper(s)
	if len(args) > 1 && strings.EqualFold(name, "CLIENT") {
		if ss, sb, ok := commandName(args[1:]); ok {
			if sb != nil {
				ss = string(sb)
			}
			name += " " + upper(ss)
		}
	}
	return &NotOnSharedConnError{Command: name, Use: use, Where: where}
}

// maxLimit bounds the timeouts blockLimit gives: a longer one is taken for no bound.
const maxLimit = 100 * 365 * 24 * time.Hour

// blockLimit returns how long the server may block on buf, one or more encoded
// commands (a batch), before it answers every blocking command among them on its
// own: the sum of their timeouts. It is -1 when there is no bound: a timeout of 0
// (block until served) or up to a millisecond (which some servers take for 0), or
// one this function cannot read, such as "1e400" or one with spaces (the server may
// take it, or answer at once with an error: taking it for no bound errs on the side
// of never declaring a live connection dead).
func blockLimit(buf []byte) time.Duration {
	var sum time.Duration
	for len(buf) > 0 {
		v, n, err := parser.Parse(buf)
		if err != nil {
			return -1
		}
		buf = buf[n:]
		if sum = addLimit(sum, commandLimit(v.Elems())); sum < 0 {
			return -1
		}
	}
	return sum
}

// addLimit returns the limit of two blocking commands run one after the other: -1
// (no bound) if either has none, or past maxLimit.
func addLimit(a, b time.Duration) time.Duration {
	if a < 0 || b < 0 || a+b > maxLimit {
		return -1
	}
	return a + b
}

// commandLimit is blockLimit for one command's arguments: 0 for a command that does
// not block.
func commandLimit(args []parser.Value) time.Duration {
	if len(args) < 2 {
		return 0
	}
	info, _ := lookupName(commandTable, "", args[0].Bytes())
	var arg []byte
	unit := time.Second
	switch info.timeout {
	case toNone:
		return 0
	case toLast:
		arg = args[len(args)-1].Bytes()
	case toFirst:
		arg = args[1].Bytes()
	case toLastMs:
		arg, unit = args[len(args)-1].Bytes(), time.Millisecond
	case toBlockMs:
		unit = time.Millisecond
		opts := args[1:]
		block, ok := xreadOptions(len(opts), func(i int) xword { return xwordOf(string(opts[i].Bytes())) })
		switch {
		case !ok:
			return -1 // refused, or options this driver does not know
		case block < 0:
			return 0 // no BLOCK: it does not block
		}
		arg = opts[block].Bytes()
	}
	f, err := strconv.ParseFloat(string(arg), 64)
	switch {
	case err != nil || f != f:
		return -1 // not readable here
	case f < 0:
		return 0 // answered at once with an error
	case f == 0 || f*float64(unit) > float64(maxLimit):
		return -1 // blocks until served
	case f*float64(unit) <= float64(time.Millisecond):
		return -1 // some servers round it down to 0: until served
	}
	return time.Duration(f * float64(unit))
}
