// Package ring matches pipelined commands with their replies on one Redis connection.
//
// A Ring is a fixed array of Size() slots used in order: the command with sequence
// number seq lives in slot seq mod Size(). Its memory is allocated as the slots are
// first used (see Memory). Many goroutines send commands concurrently;
// one event loop (a single goroutine at a time) writes them to the connection in
// sequence order and hands the replies back in the same order. The driver builds its
// Future on top of (ring, seq). The package imports parser only.
//
// # Life of a command
//
//	sender:  seq, cmd, err := r.Reserve(ctx)   // waits while Size() commands are in flight
//	         *cmd = append(*cmd, encoded...)   // or r.Fail(seq, err) if encoding failed
//	         if r.Publish(seq, false) { wake the loop }
//	loop:    buf, n := r.Collect(buf[:0])      // write buf in one syscall
//	         for each reply v read:  r.Complete(v)
//	future:  r.View(ctx, seq, func(v parser.Value, err error) { copy what you keep })
//
// A done slot keeps its reply until the slot is reused by the command Size() sends later;
// then View returns ErrExpired. So fire-and-forget needs nothing, and a Future waited on
// late still works unless Size() newer commands were reserved since. A large reply the
// driver hands over as it was read (CompleteOwned) is let go of sooner, so that a ring
// does not hold Size() of them: once read, it stays readable until bigKept (4) more
// such replies were read, and its buffer then goes back to the driver (SetRelease).
//
// # Multi-reply commands
//
// PublishMulti publishes a command buffer holding several commands (a batch, or MULTI
// ... EXEC) as one slot that takes several replies, gathered in order into one Array.
// One slot keeps the group contiguous on the wire, cancels it whole or not at all, and
// lets a group of any length through a ring of any size. Its Futures view it part by
// part with ViewPart; its result is parked on reuse until every part was viewed once
// (see multi.go).
//
// # Threading rules
//
// Sender side, any goroutine: Reserve, Publish, Fail, and Attach, Lend and Keep between
// Reserve and Publish. A sequence number belongs to the goroutine that reserved it until
// it calls Publish or Fail, exactly once; only that goroutine may touch *cmd, and only
// until then. A sender that lent bytes (Lend) calls AwaitLent after Publish.
//
// Loop side, one goroutine at a time (the connection's event loop; successive loop
// goroutines must be ordered by the caller, as gnet does): Collect, CollectVec,
// Complete, CompleteOwned, Pending, Unwritten, FailWritten, Hold, Wrote, WakeLent. They
// own the write cursor (next seq to collect), the reply cursor (oldest seq not yet
// passed in reply order), the count of replies due, the held batch (Hold) and each
// slot's "written" flag; no other method reads them.
//
// # Writing from where the bytes are
//
// CollectVec references large commands, attached strings and lent bytes in a vector
// instead of copying them into the batch. A writer that cannot write the whole vector
// at once and keeps it referenced after returning to its loop calls Hold: until Wrote,
// no slot of that batch is reused and no buffer of it let go of, even if a reply to it
// comes first. Lent bytes go back to their sender (AwaitLent returns) once Wrote says
// the batch is written or dropped, once Collect copied them, or when the command fails
// before it was written; a sender whose command is not written yet takes them back
// (a copy) when its context ends or no connection is up.
//
// Any goroutine: View, Done, Close, Err, Size, ForgottenErrors. The fn given to View
// runs while the slot is held against reuse: it must be short and must not call Reserve.
//
// Misuse that would break the pairing of replies (Publish or Fail of a seq that is not
// reserved and unpublished) panics; it is a bug in the driver, never caused by the
// server.
//
// No method takes a mutex on the command path (the park table of unread results,
// context.AfterFunc, once per shared-context watch, and the first View of a large
// reply kept as it was read, see retire, are the exceptions). Coordination
// is by atomics only:
//
//   - tail: next seq to reserve. Reserve advances it by CAS, and only while
//     tail-freed < Size(), so a caller that gives up while waiting never holds a seq.
//   - freed: how many slots, in seq order, have ended their occupancy: done and passed
//     by the reply cursor, and not held (Hold). Only the loop advances it (Collect,
//     Complete, FailWritten, Wrote).
//     When Reserve takes seq, the previous occupant seq-Size() is therefore freed.
//   - wake: a writer wake-up is pending. Publish and Fail set it (Load before CAS) and
//     report whether they set it; Collect clears it before scanning, so a command made
//     ready too late for a scan always reports a wake-up.
//   - one state word per slot: seq<<16 | readers<<3 | phase (seq kept modulo 2^48),
//     where readers counts the View calls running fn on a done slot; and one count per
//     slot of the View calls blocked waiting for it.
//
// # Slot phases
//
//	reserved   --Publish-->                ready
//	reserved   --Fail-->                   completing --> done (error, takes no reply)
//	ready      --Collect-->                written
//	ready      --View cancel, Close-->     completing --> done (error, takes no reply)
//	written    --Complete-->               completing --> done (reply)
//	written    --FailWritten, Close-->     completing --> done (error; reply still due)
//	done       --View (readers+1 / -1)-->  done
//	done       --Reserve of seq+Size()-->  reserved (waits: no readers, no waiters)
//	done       --Reserve, result unread--> parking --> reserved (result moved aside)
//	done       --retire (large reply read)--> parking --> done (reply let go, expired)
//
// Every change of owner is a CAS on the state word, so exactly one party completes a slot:
// a racing cancel, Close and the loop each either win or see that someone else did. The
// winner owns the slot while it is "completing": it writes the value or error, stores
// "done", then posts a token on the slot's signal channel. The loop passes a slot in
// reply order whether it completed it or found it completing or done (a reply is still
// due for a written slot and is dropped), and only then advances freed. A reserver
// that finds the old occupant still completing, with readers, or with viewers that were
// waiting for it and have not woken yet, waits (spin, then runtime.Gosched) before its
// CAS; a View arriving later loses that race cleanly and returns ErrExpired. If nobody
// has viewed the old occupant's result, the reserver parks it (moves it aside, for a
// late View, by swapping the slot's reply store with a park entry's) while the slot is
// locked "parking"; a View that finds that lock spins until the slot is reserved and
// then finds the parked result (or, after a retire, finds it done and expired). It never waits on the slot's
// channel there, so every waiter of a slot is a viewer of the slot's current command.
//
// Collect skips slots that take no reply (failed, cancelled, closed before they were
// written) and moves the reply cursor over leading ones, so their capacity is freed
// even when no reply ever comes.
//
// # Waiting
//
// Each slot has a reusable signal channel of capacity 1, created by the first View that
// has to wait on the slot. A completer stores the state, then posts a token without
// blocking if the slot has a channel; a viewer checks the state, gets the channel
// (creating it if need be), registers in the slot's waiter count, checks again, then
// waits on the channel (and its context, see Context), and re-checks. No wake-up is lost to a missing
// channel: all these steps are sequentially consistent atomics, so either the
// completer's load of the channel pointer comes after the viewer installed it, and it
// posts, or its store of the state comes before the viewer's second check, and the
// viewer does not wait. A token can be stale (left by an older command of the slot): it only
// causes a re-check. A viewer that wakes and finds its seq done posts the token again
// for the other viewers of that seq. Because the slot is not reused while its waiter
// count is non-zero, a token posted for one command is never swallowed by a viewer of
// the next one, and a viewer waiting when its command completes always gets the result.
// Reserve waits the same way on one ring-wide channel, posted by the loop whenever it
// frees space while a Reserve waiter is registered, and on a channel Close closes; a
// waiter that gets space passes the token on if space remains.
//
// # Context
//
// A View that must block waits on its slot's channel alone when its context never
// ends (nil, or Done() nil); otherwise on the channel and ctx.Done() with a select,
// except when other Views are blocked with the same context at the same time: then
// the ring's one watch for that context, a context.AfterFunc, wakes the Views that
// joined it when the context ends, and they wait on their slot's channel alone. This
// keeps hundreds of goroutines waiting with one context (a server's base context, a
// shared deadline) from all queuing on one Done channel, whose lock every wait and
// every wake would take; a context used by one View at a time never gets a watch. A
// watch is replaced only when no View uses it, and Close stops it. See watch.go.
//
// A context only bounds a caller's wait; nil means no bound. Reserve that gives up holds
// no sequence number. View whose context ends cancels a command that was published but
// not yet written; a written command is never un-sent: its reply is read, in order, and
// stored for whoever views it later, so the next caller still gets its own reply. The
// cancellation is the command's, not one viewer's: other viewers of the same seq then
// get the context's error as the slot's error.
//
// # Closing
//
// Close fails every published or written command not yet done with its error and makes
// Reserve fail; Publish after Close fails the command. FailWritten, used when the
// connection is lost, fails only written commands (they are never re-sent) and keeps the
// published ones for the next connection.
//
// # Memory
//
// New allocates the Ring and a table of one pointer per page of 32 slots, nothing per
// slot: under 1 KiB for the default size. The first Reserve of a slot of a page
// allocates the page (about 5 KiB; a ring smaller than a page gets a whole one), and
// the first View that waits on a slot makes its channel. Pages and channels then stay
// until the ring is dropped. Slots are used in turn whatever the concurrency, so a
// ring that has seen n commands holds the pages of its first min(n, Size()) slots:
// one page after a handful of commands, and all Size()/32 of them (about what a ring
// allocated up front would hold) once it has gone round once. Racing first users of a
// page (or of a channel) each allocate one; a CAS keeps the first, and the others drop
// theirs. A missing page means that none of its slots was ever reserved: View of such
// a seq returns ErrNotReserved, and Collect, Unwritten, Done and Close treat it as
// empty.
//
// # Allocation
//
// Reserve, Publish, Collect (with a reused dst), Complete and View (with a fn that does
// not escape) allocate nothing in steady state: command buffers and reply stores are
// reused per slot; buffers over 64 KiB are dropped after use. Only the first use of a
// page (in Reserve) and the first wait on a slot (in View) allocate.
package ring
