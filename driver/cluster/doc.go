// Package cluster is a Redis Cluster client built on the driver's PairedConn.
//
// Connect fetches the slot map from a seed node and keeps one driver.PairedConn per
// node, on the driver's shared event loops: the cluster client, like the driver, has
// no goroutine per connection (it has one of its own, which refreshes the map).
//
// # Routing
//
// A command goes to the master of the hash slot of its keys: CRC16 of the key's hash
// tag (see HashTag) modulo 16384. Where the keys are comes from the server's own
// command table (COMMAND, fetched once at Connect), whose key specifications cover
// keys in odd places: EVAL's numkeys, XREAD's STREAMS, ZUNIONSTORE's destination and
// numkeys, OBJECT ENCODING, MEMORY USAGE and so on. A command whose keys are in
// different slots fails with ErrCrossSlot before anything is sent; a command with no
// key goes to any master; a command the table does not know is routed by its second
// argument. With Config.ReadFromReplicas, commands the table flags read-only go to a
// replica on a READONLY connection.
//
// # Redirects and retries
//
// Every command keeps its encoded form in its ring slot until its reply was read
// (driver.PairedConn.SendRouted), so following a redirect copies nothing up front
// and the happy path of Send("GET", k) + AppendBytes allocates nothing. Redirects are
// followed inside the Future's methods, on the caller's goroutine and within its
// context:
//   - MOVED: the command is sent to the named node and the map is updated for that
//     slot, then refreshed in the background;
//   - ASK: ASKING and the command go to the named node together, the map unchanged;
//   - TRYAGAIN, CLUSTERDOWN, LOADING, MASTERDOWN, READONLY: these replies prove the
//     command did not run; it is sent again after a backoff and a refresh, up to
//     Config.MaxRetries times.
//
// Nothing else is ever sent again: a command cut by a broken connection fails with
// driver.ErrConnLost, as on one node. After Config.MaxRedirects redirects the caller
// gets the last reply as a *driver.RedisError. A SendAndForget command's redirects
// are followed too, in the background, and its final failure counted in
// ForgottenErrors. A blocking command (BLPOP, BLMOVE, XREAD BLOCK, ...) runs on its
// node's dedicated pool and follows its redirects there, as the others' (after ASK,
// ASKING and the command on one dedicated connection), through Do, Send's Future and
// SendAndForget alike.
// A transaction (SendTx) whose slot moved is sent again whole, once for all its
// Futures; a batch (SendBatch) is split by node, and each command follows its own
// redirects. Commands on a Dedicated connection follow none (fn may have done
// something already): a MOVED in fn's error updates the map, so that Dedicated called
// again normally runs on the slot's new master.
//
// Order: a redirected command is sent again when one of its Future's methods first
// sees the redirect. The redirected commands of one SendBatch (on one node) go again
// in the batch's order, whichever Future is read first; separate Sends redirected
// together (a pipeline sent while their slot moved) go again in the order their
// Futures are read. Commands that must run in order whatever happens go in one SendTx.
//
// # Topology
//
// The map comes from CLUSTER SLOTS (CLUSTER SHARDS has had bugs after failovers and
// during migrations on servers before 7.2; see topology.go). It is fetched again after
// a MOVED, when a node connection is lost, after a retried reply, every
// Config.RefreshInterval, and every 200 ms or so while a master's connection is down,
// so that the promotion of a replica is seen without waiting for the dead node:
// measured on this machine with cluster-node-timeout 1000 ms, a kill -9 of a master
// under load stopped producing errors 2.4-2.6 s after the kill, 0.3 s after the
// replica's promotion (TestFaultsUnderLoad). Refreshes are single flight, spaced by
// 50-75 ms, so a burst of redirects makes one or two. Commands queued for a node
// that is down wait for its return or for their context; when the map drops the
// node (a failed master, once its replica took over), those never written go where
// their slot is served now (Stats.Resent), since the server never saw them: when
// their Future is read, as redirects are followed; one sent with SendAndForget in the
// background (one whose Future nobody reads is not sent again). Those written before
// the node went down fail with driver.ErrConnLost.
//
// # Pub/sub
//
// Subscribe and PSubscribe use one connection to some master and move to another
// when it is lost. SSubscribe (sharded channels) uses a connection to the slot's
// master, and follows the slot through migrations and failovers.
package cluster
