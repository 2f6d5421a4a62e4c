package driver

import "time"

// Fewer, larger TLS records while the server is behind.
//
// Over plain TCP the server reads whatever its socket holds, however many writes of
// ours it came in. Over TLS it does not: redis-server (OpenSSL, no read-ahead) reads
// one record per pass of its event loop, header then body, and answers it before the
// next: a pass costs it an epoll_wait, two reads and a write whatever the record
// holds. Every batch the loop writes is one record (up to 16 KiB). At 512 goroutines
// a batch held about 60 GETs, and the server spent 724 ns of CPU per GET over TLS
// against 438 ns over TCP (bench/RESULTS.md).
//
// So while the server is behind, the loop holds the next batch back until a reply
// comes, and the commands Sent meanwhile go out with it in one record. It is behind
// when at least batchBehind of the link's writes are still unanswered and the oldest
// of them has waited more than twice the shortest time this connection has taken to
// answer a write: it is queueing our records, so the held ones would not have been
// read sooner, and the ones still unanswered keep it busy while the held batch
// travels. On a network whose round trip, not the server, sets the time of an answer,
// the oldest write is not that late and nothing is held.
//
// Only a PairedConn on a shared connection holds batches back: there every written
// command is answered, in order, so a reply always comes (or the health check finds
// the connection dead, and what was held waits for the next one, unwritten). Not a
// dedicated connection (CLIENT REPLY can turn replies off), a Conn (the caller matches
// replies; there may be none) nor a PubsubConn.

// batchBehind is how many unanswered writes (records) make the server count as
// behind, with the oldest late (see above).
const batchBehind = 4

// batchMarks is how many unanswered writes tlsBatch remembers; later ones are not
// recorded until older ones are answered (the count stays at least batchBehind).
const batchMarks = 8

// replyMarks is a session whose written commands are all answered in order (see
// above); ok is false where they may not be.
type replyMarks interface {
	// marks returns the seq the next write starts from and the seq of the command
	// the next reply goes to (written when no written command awaits one). Loop only.
	marks() (written, next uint64, ok bool)
}

// tlsBatch tracks a TLS link's unanswered writes to tell when to hold a batch back.
// Loop-owned, like the link's TLS state it is part of.
type tlsBatch struct {
	// end and at are the unanswered writes, oldest first from head (a ring of n): the
	// seq after the write's last command, and when it was written (nanoseconds since
	// clockBase, monotonic).
	end  [batchMarks]uint64
	at   [batchMarks]int64
	head int
	n    int
	// fastest is the shortest time from a write to the reply of its last command seen
	// on this connection; 0 until one was answered.
	fastest int64
	// held says a write was held back: the link writes once the next input was read.
	held bool
	// from is where the batch being written starts (see holdBack).
	from uint64
}

// clockBase is where tlsBatch's clock starts.
var clockBase = time.Now()

// clock reads tlsBatch's clock.
func clock() int64 { return int64(time.Since(clockBase)) }

// settle forgets the writes answered up to next (the seq the next reply goes to),
// and times the answer of each.
func (b *tlsBatch) settle(next uint64, now int64) {
	for b.n > 0 && b.end[b.head] <= next {
		if d := max(now-b.at[b.head], 1); b.fastest == 0 || d < b.fastest {
			b.fastest = d
		}
		b.head = (b.head + 1) % batchMarks
		b.n--
	}
}

// behind reports whether the server is behind (see above), after settle.
func (b *tlsBatch) behind(now int64) bool {
	return b.n >= batchBehind && b.fastest > 0 && now-b.at[b.head] > 2*b.fastest
}

// wrote records a write whose last command came before seq end.
func (b *tlsBatch) wrote(end uint64, now int64) {
	if b.n == batchMarks {
		return // the older marks are what counts
	}
	i := (b.head + b.n) % batchMarks
	b.end[i], b.at[i] = end, now
	b.n++
}

// holdBack is called by write before it collects a TLS link's batch: it reports
// whether to hold the batch back (see above), and if so notes that the link is to
// write once its next input was read (see traffic). If not, write calls wroteBatch
// once the batch was written.
func (l *link) holdBack() bool {
	if l.marks == nil {
		return false
	}
	written, next, ok := l.marks.marks()
	if !ok {
		return false
	}
	b := &l.tls.batch
	now := clock()
	b.settle(next, now)
	if b.behind(now) {
		b.held = true
		return true
	}
	b.from = written
	return false
}

// wroteBatch records the write that holdBack let through, if it wrote anything.
func (l *link) wroteBatch() {
	if l.marks == nil {
		return
	}
	b := &l.tls.batch
	if written, _, ok := l.marks.marks(); ok && written > b.from {
		b.wrote(written, clock())
	}
}
