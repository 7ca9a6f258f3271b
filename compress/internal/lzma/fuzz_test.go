package lzma

import (
	"bytes"
	"io"
	"testing"

	ulzma "github.com/ulikunitz/xz/lzma"
)

// FuzzEncode round-trips arbitrary input through the encoder and an
// independent decoder, at presets 0-6 (7-9 only add dictionary).
func FuzzEncode(f *testing.F) {
	f.Add(uint8(3), []byte("hello, hello, hello world"))
	f.Add(uint8(6), bytes.Repeat([]byte("abcab"), 5000))
	f.Add(uint8(0), []byte{})
	var encoders [7]*Encoder
	f.Fuzz(func(t *testing.T, preset uint8, data []byte) {
		p := int(preset % 7)
		if encoders[p] == nil {
			e, err := NewEncoder(p)
			if err != nil {
				t.Fatal(err)
			}
			encoders[p] = e
		}
		e := encoders[p]
		out := e.Encode(nil, data)
		r, err := ulzma.Reader2Config{DictCap: e.DictSize()}.NewReader2(bytes.NewReader(out))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("preset %d: decoding %d bytes: %v", p, len(data), err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("preset %d: round trip of %d bytes gives %d different bytes", p, len(data), len(got))
		}
	})
}
