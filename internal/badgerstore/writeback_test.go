package badgerstore

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestValueLogIsWrittenBack: without SyncWrites, values written to the
// value log do not stay dirty in memory until Badger rotates the file
// (whose msync would then write them all back while every write waits):
// the write-back (writeback.go) has started writing them within a few
// intervals. Dirty pages are read from /proc/self/smaps, where Badger's
// mapping of the file lives.
func TestValueLogIsWrittenBack(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	value := bytes.Repeat([]byte("v"), 4<<10)
	for i := range 2048 { // 8 MiB of values, all in the value log
		mustPut(t, s, "b", fmt.Sprint("k", i), Entry{Value: value})
	}
	deadline := time.Now().Add(20 * writebackInterval)
	for {
		dirty := valueLogDirtyKiB(t)
		if dirty < 1024 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d KiB of the value log still dirty %s after writing 8 MiB", dirty, 20*writebackInterval)
		}
		time.Sleep(writebackInterval)
	}
}

// valueLogDirtyKiB sums the dirty pages of this process's mappings of
// value-log files.
func valueLogDirtyKiB(t testing.TB) int {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("no /proc/self/smaps: %v", err)
	}
	defer f.Close()
	var dirty int
	inVlog := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if strings.Contains(fields[0], "-") && len(fields) >= 5 {
			inVlog = strings.HasSuffix(fields[len(fields)-1], vlogExt)
			continue
		}
		if inVlog && (fields[0] == "Private_Dirty:" || fields[0] == "Shared_Dirty:") {
			n, _ := strconv.Atoi(fields[1])
			dirty += n
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return dirty
}
