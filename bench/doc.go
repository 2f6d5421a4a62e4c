// Package bench compares respring with the Go Redis clients people use today
// (rueidis, go-redis v9, redigo), side by side, against one local redis-server.
//
// Everything lives in the _test.go files of this package: parallel GET and SET,
// batches and transactions, pipelines from one goroutine, round-trip latency, many idle
// connections, pub/sub receive rate. Each benchmark's last name component is
// client=NAME, so benchstat can put the clients in columns (benchstat -col /client).
// The benchmarks skip unless REDIS_BENCH_ADDR names a server; run.sh starts a
// throwaway one and sets it.
//
// This is its own module (github.com/respring/respring/bench): the peers never enter
// the main module's go.sum. See README.md for how to run it and read the results.
package bench
