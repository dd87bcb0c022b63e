// Command genfile writes a file of pseudo-random bytes, fast enough (several
// GB/s from ChaCha8) that generating the upload benchmark's input is never
// what the benchmark waits for. The bytes do not compress, so no layer of
// the path under test can shortcut them.
//
//	go run ./bench/genfile -size 4294967296 -out /var/tmp/big.bin
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"time"
)

func main() {
	size := flag.Int64("size", 4<<30, "bytes to write")
	out := flag.String("out", "", "file to create (truncated if it exists)")
	seed := flag.Uint64("seed", 1, "seed of the pseudo-random stream")
	flag.Parse()
	if *out == "" || *size < 0 {
		fmt.Fprintln(os.Stderr, "genfile: -out is required and -size must not be negative")
		os.Exit(2)
	}
	if err := generate(*out, *size, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "genfile:", err)
		os.Exit(1)
	}
}

func generate(path string, size int64, seed uint64) error {
	start := time.Now()
	var key [32]byte
	for i := range 8 {
		key[i] = byte(seed >> (8 * i))
	}
	rng := rand.NewChaCha8(key)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	const chunk = 4 << 20
	w := bufio.NewWriterSize(f, chunk)
	buf := make([]byte, chunk)
	for left := size; left > 0; {
		b := buf[:min(int64(len(buf)), left)]
		rng.Read(b) // never fails
		if _, err := w.Write(b); err != nil {
			return err
		}
		left -= int64(len(b))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	secs := time.Since(start).Seconds()
	fmt.Fprintf(os.Stderr, "genfile: wrote %d bytes to %s in %.2fs (%.0f MB/s)\n", size, path, secs, float64(size)/1e6/secs)
	return nil
}
