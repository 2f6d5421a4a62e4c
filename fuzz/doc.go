// Package fuzz holds the cross-package fuzz targets of respring (Go native fuzzing):
//
//   - FuzzParse: the parser never panics and allocates within a small multiple of its
//     input, whatever the input.
//   - FuzzSplit: any split of a stream into pieces, fed as a driver feeds it (resuming
//     after ErrIncomplete, sometimes from a moved buffer), yields the same values and
//     the same error as the whole.
//   - FuzzRoundTrip: parse(AppendValue(v)) equals v for values built from the input.
//   - FuzzKernels: every asm level computes what the generic code computes.
//
// Seed corpora live in testdata/fuzz/<Target>; `make fuzz FUZZTIME=10m` runs each
// target, and `make test` runs each for a few seconds.
package fuzz
