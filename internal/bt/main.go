package main

import (
	"bytes"
	"fmt"
	"os"
	"time"

	"github.com/ulikunitz/xz/lzma"
)

func main() {
	p, _ := os.ReadFile(os.Args[1])
	for _, m := range []lzma.MatchAlgorithm{lzma.HashTable4, lzma.BinaryTree} {
		var buf bytes.Buffer
		t := time.Now()
		cfg := lzma.Writer2Config{Properties: &lzma.Properties{LC: 3, LP: 0, PB: 2}, DictCap: 4 << 20, Matcher: m}
		w, err := cfg.NewWriter2(&buf)
		if err != nil {
			panic(err)
		}
		w.Write(p)
		w.Close()
		fmt.Println(m, buf.Len(), time.Since(t))
	}
}
