package cluster

import "unsafe"

// Slots is the number of hash slots of a Redis Cluster.
const Slots = 16384

// crcTable is CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0), the checksum
// the cluster specification uses for hash slots.
var crcTable = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i) << 8
		for j := 0; j < 8; j++ {
			if c&0x8000 != 0 {
				c = c<<1 ^ 0x1021
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

func crc16(key []byte) uint16 {
	var c uint16
	for _, b := range key {
		c = c<<8 ^ crcTable[byte(c>>8)^b]
	}
	return c
}

// HashTag returns the part of key that is hashed: the bytes between the first '{' and
// the first '}' after it, if there are any; otherwise the whole key. So "{user1}:a"
// hashes "user1", "foo{}{bar}" hashes all of it (the first braces are empty) and
// "foo{{bar}}zap" hashes "{bar".
func HashTag(key []byte) []byte {
	for i, b := range key {
		if b != '{' {
			continue
		}
		for j := i + 1; j < len(key); j++ {
			if key[j] == '}' {
				if j == i+1 {
					return key // empty tag: the whole key
				}
				return key[i+1 : j]
			}
		}
		return key // no closing brace
	}
	return key
}

// KeySlot returns the hash slot of key: CRC16 of its hash tag (see HashTag) modulo
// 16384.
func KeySlot(key []byte) int { return int(crc16(HashTag(key)) & (Slots - 1)) }

// KeySlotString is KeySlot for a string key; it does not copy the key.
func KeySlotString(key string) int {
	return KeySlot(unsafe.Slice(unsafe.StringData(key), len(key)))
}
