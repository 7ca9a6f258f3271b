// Package fuzz holds the fuzz targets of hermetic-repart and their seed
// corpora (testdata/fuzz/<FuzzName>/). Plain "go test ./fuzz" runs every
// target over its seeds; to fuzz one target:
//
//	go test ./fuzz -run '^$' -fuzz '^FuzzGPTRead$' -fuzztime 30s
//
// A crasher found by the fuzzer is written to testdata/fuzz/<FuzzName>/
// and stays there as a regression input.
package fuzz
