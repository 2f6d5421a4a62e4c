//go:build !purego

package driver

// tlsBigValue is the large value of the TLS test: 64 MiB, as the issue asks.
const tlsBigValue = 64 << 20
