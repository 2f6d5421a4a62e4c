// Package bench compares respring with the Go Redis clients people use today
// (rueidis, go-redis v9, redigo), side by side, against one local redis-server.
//
// Everything lives in the _test.go files of this package: parallel GET and SET (also
// over TLS), GET and SET of large values, batches and transactions, pipelines from one goroutine, round-trip latency, many idle
// connections, pub/sub receive rate. Each benchmark's last name component is
// client=NAME, so benchstat can put the clients in columns (benchstat -col /client).
// The benchmarks skip unless REDIS_BENCH_ADDR names a server, and the TLS ones unless
// REDIS_BENCH_TLS_ADDR names its TLS port (REDIS_BENCH_TLS_CA: the CA's PEM file);
// run.sh starts a throwaway server with both ports and sets all three.
//
// This is its own module (github.com/respring/respring/bench): the peers never enter
// the main module's go.sum. See README.md for how to run it and read the results.
package bench
