// Package sentinel connects to the master of a group of Redis servers managed by
// Redis Sentinel, and follows it through failovers.
//
// PairedConnect and PubsubConnect return the driver's own connections: they are
// made with three of the driver's hooks, Config.Resolve (the address to dial at every
// connect and reconnect), Config.Verify (a check on each new connection) and
// PairedConn.Reconnect, so there is no second code path.
//
// # Discovery
//
// At every (re)connect the sentinels are asked, in order (the last one that
// answered first), for SENTINEL GET-MASTER-ADDR-BY-NAME, hedged: the next sentinel
// is asked as soon as the ones asked have failed, or 50 ms after the last one was
// asked without an answer, and the first answer is taken (the others' questions are
// cancelled), so a sentinel that accepts connections and never answers does not
// hold up a reconnect by its timeout. The sentinels the answering one knows
// (SENTINEL SENTINELS) join the list; those learnt before that it no longer names
// leave it (and their subscription ends), once it names the master a connection
// confirmed: a sentinel removed from the group (SENTINEL RESET on the others) is not
// retried for good. At most 16 sentinels learnt are listed (one that names hundreds
// does not cost as many connections). The sentinels of Config.Sentinels always stay;
// one given by host name is known by the IP addresses the name resolves to (looked up
// when a sentinel names an address not in the list, at most every 10 s, within
// 500 ms), so that it is not listed, asked and subscribed to a second time. IP
// addresses are compared in their canonical form (an IPv4-mapped IPv6 address as
// IPv4, IPv6 compressed), so a sentinel given in another spelling than the others
// report is listed once too. The list is also refreshed every 10 s by the periodic
// check. The node named is used only if its
// ROLE says master: otherwise the attempt fails with ErrNotMaster and the driver's
// reconnect loop (or PairedConnect, at most once per sentinel) asks again, the
// sentinel that named that node coming last: a stale sentinel first in the list does
// not keep the master out of reach. The same holds for a node named that cannot be
// used before ROLE is asked: the connection refused or timed out (a stale sentinel
// names a master that is gone), TLS or the handshake failed (another server, with
// another password). An address that failed so is not dialled a third time by
// PairedConnect: a master down, or a wrong password, fails it after two dials. The
// sentinels have their own ACL user and password and TLS configuration
// (Config.SentinelUsername, SentinelPassword, SentinelTLS), apart from the data
// nodes' (Config.Node).
//
// # Following failovers
//
// A helper goroutine per connection listens to every sentinel's events (only the
// sentinel leading a failover publishes its steps):
//   - +failover-state-send-slaveof-noone (a replica is about to be promoted): the
//     connection is dropped at once, and the reconnect waits until the sentinels name
//     the new master, for 10 s at most (then the old master is used again). No write
//     lands on the old master while the replica is being detached from it, so a
//     SENTINEL FAILOVER loses no acknowledged write. The event repeated during that
//     wait, or within a minute after a wait that ran out with no end of the failover
//     seen, drops nothing: a sentinel that repeats it does not keep the connection
//     down;
//   - +switch-master: the connection moves to the new master (unless its own last
//     dial found it already: a dial of the dedicated pool that did is not counted);
//   - every Config.CheckInterval (1s) a sentinel is asked again, in case an event was
//     missed (a sentinel connection down during the failover), hedged as at a
//     reconnect; one that failed or was overtaken is asked last for a while.
//
// When the connection moves, commands written to the old master and not answered fail
// with driver.ErrConnLost (they may have run); commands not yet written go to the new
// master. The dedicated pool's connections are retired (driver.PairedConn.Reconnect).
// A PubsubConn subscribes again on the new master; messages published meanwhile are
// not received. A command answered READONLY (a node that stopped being the master) is
// returned as such: READONLY proves it did not run.
//
// ReplicaConnect connects to a replica instead (SENTINEL REPLICAS, healthy ones only,
// chosen by Config.ReplicaSelector, ROLE confirmed), for reads that may lag. The
// sentinels are asked as for the master; one that lists no healthy replica does not
// end the search, and one that listed a node whose ROLE is not slave comes last at
// the next attempt, as does one whose replica could not be reached (that replica is
// not chosen for 10 s while others are listed; ReplicaConnect tries again, at most
// once per sentinel, or per replica not reached). It follows
// the sentinels' events and checks as PairedConnect does, for its replica: when a
// sentinel is about to promote it, has promoted it, or finds it down (+sdown), and
// when a periodic check no longer finds it among the healthy replicas, the connection
// moves to another replica, if one is listed (with none, a working connection stays).
// (The sentinels end a promoted node's client connections themselves; a replica down
// for them only, or removed, they do not.)
//
// Measured on this machine (TestFailoverUnderLoad, 16 goroutines of INCR, SET and GET,
// down-after-milliseconds 1000, one of three sentinels down during the first
// failover): SENTINEL FAILOVER made no error and lost no acknowledged write (commands
// waited while the master moved); after a kill -9 of the master the errors (commands
// cut or timed out on the dead master) stopped 2.0 s after the kill, when the
// sentinels named the new master 2.1-2.3 s after it; no acknowledged write was lost.
package sentinel
