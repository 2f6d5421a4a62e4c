//go:build purego

package driver

// tlsBigValue is smaller under purego, where crypto/aes has no assembly either and
// 64 MiB under -race takes minutes.
const tlsBigValue = 4 << 20
