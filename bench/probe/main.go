// Command probe measures the two machine costs that bound gokv's write
// path in docs/performance.md, apart from gokv:
//
//   - flush: what one fdatasync costs after appending through a shared
//     mapping, as Badger writes its logs (the durable-write bound, §7);
//   - fault: what new memory costs when it arrives one page fault at a
//     time, as Badger's writer takes it for its logs and memtables,
//     against the kernel filling it in one call (the PUT tail, §8).
//
// Usage: probe [-dir DIR] [-duration 2s]
//
// Run it pinned where gokv would run (taskset -c 0), with DIR on gokv's
// filesystem. It prints one line per measurement.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"
	"unsafe"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "probe: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", os.TempDir(), "directory on the filesystem to measure")
	duration := fs.Duration("duration", 2*time.Second, "how long each flush measurement runs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *duration <= 0 {
		return errors.New("-duration must be positive")
	}
	for _, size := range []int{0, 1 << 10} {
		f, err := measureFlush(*dir, size, *duration)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "flush: fdatasync after %d bytes appended through a shared mapping: %.3f ms each (%d flushes)\n",
			size, ms(f.perFlush), f.flushes)
	}
	const anonSize = 8 << 20
	faulted, err := faultAnonymous(anonSize)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "fault: 8 MiB of new anonymous memory, one fault per page: %.1f ms (%.1f µs a page)\n",
		ms(faulted), float64(faulted.Nanoseconds())/1e3/(anonSize/pageSize))
	populated, err := populateAnonymous(anonSize)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "fault: the same 8 MiB filled by the kernel in one call (MAP_POPULATE): %.1f ms\n", ms(populated))
	for _, random := range []bool{false, true} {
		w, err := firstWrites(*dir, 64<<20, random)
		if err != nil {
			return err
		}
		advice := "default read-ahead"
		if random {
			advice = "MADV_RANDOM"
		}
		fmt.Fprintf(stdout, "fault: first writes to a 64 MiB sparse file's shared mapping, %s: %.1f ms in all, the slowest %.2f ms, %d pages resident after the first\n",
			advice, ms(w.total), ms(w.slowest), w.residentAfterFirst)
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

type flushResult struct {
	perFlush time.Duration
	flushes  int
}

// measureFlush appends size bytes through a shared mapping of one file and
// fdatasyncs it, again and again for d.
func measureFlush(dir string, size int, d time.Duration) (flushResult, error) {
	const fileSize = 256 << 20
	m, f, err := mapSparse(dir, fileSize)
	if err != nil {
		return flushResult{}, err
	}
	defer unmap(m, f)

	value := make([]byte, size)
	for i := range value {
		value[i] = byte(i)
	}
	var r flushResult
	var inFlush time.Duration
	deadline := time.Now().Add(d)
	for at := 0; at+size <= fileSize && time.Now().Before(deadline); at += size {
		copy(m[at:], value)
		start := time.Now()
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			return flushResult{}, fmt.Errorf("fdatasync %s: %w", f.Name(), err)
		}
		inFlush += time.Since(start)
		r.flushes++
	}
	if r.flushes == 0 {
		return flushResult{}, errors.New("no flush finished")
	}
	r.perFlush = inFlush / time.Duration(r.flushes)
	return r, nil
}

// faultAnonymous touches every page of n bytes of new anonymous memory,
// one fault each.
func faultAnonymous(n int) (time.Duration, error) {
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return 0, fmt.Errorf("mmap: %w", err)
	}
	defer syscall.Munmap(b)
	start := time.Now()
	for i := 0; i < n; i += pageSize {
		b[i] = 1
	}
	return time.Since(start), nil
}

// populateAnonymous maps n bytes of anonymous memory filled in by the
// kernel at once.
func populateAnonymous(n int) (time.Duration, error) {
	start := time.Now()
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_POPULATE)
	took := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("mmap: %w", err)
	}
	return took, syscall.Munmap(b)
}

const pageSize = 4096

type writesResult struct {
	total, slowest     time.Duration
	residentAfterFirst int
}

// firstWrites writes one page at a time, in order, through a shared mapping
// of a new sparse file of n bytes, as Badger fills a log.
func firstWrites(dir string, n int, random bool) (writesResult, error) {
	m, f, err := mapSparse(dir, n)
	if err != nil {
		return writesResult{}, err
	}
	defer unmap(m, f)
	if random {
		if err := syscall.Madvise(m, syscall.MADV_RANDOM); err != nil {
			return writesResult{}, fmt.Errorf("madvise: %w", err)
		}
	}
	page := make([]byte, pageSize)
	var r writesResult
	for at := 0; at < n; at += pageSize {
		start := time.Now()
		copy(m[at:at+pageSize], page)
		m[at] = 1
		took := time.Since(start)
		r.total += took
		r.slowest = max(r.slowest, took)
		if at == 0 {
			if r.residentAfterFirst, err = resident(m); err != nil {
				return writesResult{}, err
			}
		}
	}
	return r, nil
}

// mapSparse creates a sparse file of n bytes in dir and maps it shared.
func mapSparse(dir string, n int) ([]byte, *os.File, error) {
	f, err := os.CreateTemp(dir, "probe-*")
	if err != nil {
		return nil, nil, err
	}
	fail := func(err error) ([]byte, *os.File, error) {
		f.Close()
		os.Remove(f.Name())
		return nil, nil, err
	}
	if err := f.Truncate(int64(n)); err != nil {
		return fail(fmt.Errorf("size %s: %w", filepath.Base(f.Name()), err))
	}
	m, err := syscall.Mmap(int(f.Fd()), 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return fail(fmt.Errorf("mmap %s: %w", filepath.Base(f.Name()), err))
	}
	return m, f, nil
}

// unmap undoes mapSparse.
func unmap(m []byte, f *os.File) {
	syscall.Munmap(m)
	f.Close()
	os.Remove(f.Name())
}

// resident counts the pages of m in memory (mincore).
func resident(m []byte) (int, error) {
	vec := make([]byte, (len(m)+pageSize-1)/pageSize)
	_, _, errno := syscall.Syscall(syscall.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0])))
	if errno != 0 {
		return 0, fmt.Errorf("mincore: %w", errno)
	}
	n := 0
	for _, v := range vec {
		n += int(v & 1)
	}
	return n, nil
}
