package badgerstore

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"strconv"
	"syscall"
)

// Badger replays its write-ahead logs (the memtable's .mem files and the
// newest .vlog file) at Open and truncates each at the first entry it
// cannot read, without a word. After a crash that is right for a torn
// tail: the entry being written when the process died, followed only by
// the zeros of the preallocated file. Anywhere else it silently drops
// acknowledged writes, so gokv reads the logs first, read-only, and tells
// the two apart. The format is Badger v4's (value.go: safeRead.Entry,
// memtable.go: logFile.iterate, structs.go: header):
//
//	file:   keyID (8 bytes) | baseIV (12 bytes) | entry...
//	entry:  meta | userMeta | uvarint klen | uvarint vlen | uvarint expiresAt
//	        | key | value | crc32-Castagnoli of all before it, big endian
//
// Entries of a transaction carry bitTxn and end with an entry carrying
// bitFinTxn whose value is the commit timestamp; Badger keeps only whole
// transactions.
const (
	logHeaderSize = 20      // badger: vlogHeaderSize
	maxKeyLen     = 1 << 16 // badger rejects longer keys as a torn entry
	bitTxn        = 1 << 6  // badger: bitTxn
	bitFinTxn     = 1 << 7  // badger: bitFinTxn
	seekData      = 3       // lseek SEEK_DATA: the next offset that is not a hole
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// logScan is what scanLog found in one log file.
type logScan struct {
	// ValidEnd is where Badger will truncate the file: the end of the
	// last whole transaction (or entry outside one).
	ValidEnd int64
	// Size is the file's size.
	Size int64
	// Damaged is set when something other than a torn tail follows
	// ValidEnd: truncating there would drop entries that were written
	// whole. Reason says what was found where.
	Damaged bool
	Reason  string
}

// HasData reports whether the file holds any entry Badger would replay.
func (s logScan) HasData() bool { return s.ValidEnd > logHeaderSize }

// scanLog reads the log file at path the way Badger replays it.
func scanLog(path string) (logScan, error) {
	f, err := os.Open(path)
	if err != nil {
		return logScan{}, fmt.Errorf("scan log: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return logScan{}, fmt.Errorf("scan log: %w", err)
	}
	res := logScan{ValidEnd: logHeaderSize, Size: fi.Size()}
	if res.Size <= logHeaderSize {
		res.ValidEnd = res.Size
		return res, nil
	}
	r := bufio.NewReaderSize(f, 64<<10)
	if _, err := r.Discard(logHeaderSize); err != nil {
		return logScan{}, fmt.Errorf("scan log %s: %w", path, err)
	}
	var (
		off     int64  = logHeaderSize
		txnTs   uint64 // commit timestamp of the open transaction, 0 if none
		scratch []byte
	)
	for {
		e, err := readEntry(r, res.Size-off, &scratch)
		if err != nil || len(e.key) == 0 {
			// Badger stops here: fine for a torn tail only.
			return checkTail(path, f, off, e.length, res)
		}
		switch {
		case e.meta&bitTxn != 0:
			ts := keyTs(e.key)
			if txnTs == 0 {
				txnTs = ts
			}
			if ts != txnTs {
				return damaged(res, off, "an entry of another transaction inside a transaction"), nil
			}
		case e.meta&bitFinTxn != 0:
			ts, perr := strconv.ParseUint(string(e.value), 10, 64)
			if perr != nil || ts != txnTs {
				return damaged(res, off, "a commit marker that closes no open transaction"), nil
			}
			txnTs = 0
			res.ValidEnd = off + e.length
		default:
			if txnTs != 0 {
				return damaged(res, off, "an entry outside a transaction inside a transaction"), nil
			}
			res.ValidEnd = off + e.length
		}
		off += e.length
	}
}

func damaged(res logScan, off int64, what string) logScan {
	res.Damaged = true
	res.Reason = fmt.Sprintf("%s at offset %d", what, off)
	return res
}

// checkTail decides whether what follows off, where Badger stops
// reading, is a torn tail: the entry a crash cut short, then zeros. It is
// damage instead when data follows the failed entry's extent (length
// bytes, when its header could be read), or when a whole entry can be read
// anywhere after off: a corrupt header may claim an extent that covers
// the entries after it.
func checkTail(path string, f *os.File, off, length int64, res logScan) (logScan, error) {
	end, err := nonZeroEnd(f, off, res.Size)
	if err != nil {
		return res, fmt.Errorf("scan log %s: %w", path, err)
	}
	switch {
	case end <= off:
		return res, nil
	case length > 0 && off+length < end:
		return damaged(res, off, fmt.Sprintf("an unreadable entry followed by data up to offset %d", end)), nil
	case end-off > maxTornTail:
		return damaged(res, off, fmt.Sprintf("an unreadable entry followed by %d bytes of data", end-off)), nil
	}
	tail := make([]byte, end-off)
	if _, err := f.ReadAt(tail, off); err != nil {
		return res, fmt.Errorf("scan log %s: %w", path, err)
	}
	for i := 1; i < len(tail); i++ {
		if wholeEntryAt(tail[i:]) {
			return damaged(res, off, fmt.Sprintf("an unreadable entry followed by a whole one at offset %d", off+int64(i))), nil
		}
	}
	return res, nil
}

// maxTornTail bounds what a torn tail can hold: one entry, whose value is
// at most the largest MAX_VALUE_BYTES allows (16 MiB, config.MaxValueLimit)
// plus its key. More data after an unreadable entry is damage.
const maxTornTail = 17 << 20

// nonZeroEnd returns the offset after the last non-zero byte of f in
// [off, size), or off if there is none.
func nonZeroEnd(f *os.File, off, size int64) (int64, error) {
	end := off
	buf := make([]byte, 64<<10)
	for pos := off; pos < size; {
		// Badger's logs are preallocated sparse files: skip the holes
		// instead of reading megabytes of zeros where the kernel can.
		next, err := f.Seek(pos, seekData)
		if errors.Is(err, syscall.ENXIO) {
			break
		}
		if err == nil {
			pos = next
		}
		n, err := f.ReadAt(buf, pos)
		for i := n - 1; i >= 0; i-- {
			if buf[i] != 0 {
				end = pos + int64(i) + 1
				break
			}
		}
		pos += int64(n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, err
		}
	}
	return end, nil
}

// wholeEntryAt reports whether b starts with an entry Badger would read:
// a versioned key and a matching checksum.
func wholeEntryAt(b []byte) bool {
	i := 2 // meta, userMeta
	var lens [3]uint64
	for j := range lens {
		if i >= len(b) {
			return false
		}
		v, n := binary.Uvarint(b[i:])
		if n <= 0 {
			return false
		}
		lens[j], i = v, i+n
	}
	klen, vlen := lens[0], lens[1]
	if klen < 8 || klen > maxKeyLen || vlen > uint64(len(b)) || uint64(i)+klen+vlen+crc32.Size > uint64(len(b)) {
		return false
	}
	n := i + int(klen+vlen)
	return crc32.Checksum(b[:n], castagnoli) == binary.BigEndian.Uint32(b[n:])
}

type logEntry struct {
	meta       byte
	key, value []byte
	length     int64 // header + key + value + checksum; 0 if the header was unreadable
}

// readEntry reads one entry of at most room bytes. An error means Badger
// would stop reading here too.
func readEntry(r *bufio.Reader, room int64, scratch *[]byte) (logEntry, error) {
	// Room for corrupt varints of 10 bytes each, beyond Badger's 22.
	var hdr [2 + 3*binary.MaxVarintLen64]byte
	n := 0
	next := func() (byte, error) {
		b, err := r.ReadByte()
		if err == nil {
			hdr[n] = b
			n++
		}
		return b, err
	}
	var e logEntry
	var err error
	if e.meta, err = next(); err != nil {
		return e, err
	}
	if _, err = next(); err != nil { // userMeta
		return e, err
	}
	var lens [3]uint64 // klen, vlen, expiresAt
	for i := range lens {
		if lens[i], err = readUvarint(next); err != nil {
			return e, err
		}
	}
	klen, vlen := lens[0], lens[1]
	if klen > maxKeyLen || int64(klen)+int64(vlen)+crc32.Size > room-int64(n) {
		return e, errors.New("entry does not fit")
	}
	e.length = int64(n) + int64(klen) + int64(vlen) + crc32.Size
	size := int(klen + vlen + crc32.Size)
	if cap(*scratch) < size {
		*scratch = make([]byte, size)
	}
	buf := (*scratch)[:size]
	if _, err := io.ReadFull(r, buf); err != nil {
		return e, err
	}
	body := buf[:klen+vlen]
	sum := crc32.Update(crc32.Checksum(hdr[:n], castagnoli), castagnoli, body)
	if sum != binary.BigEndian.Uint32(buf[klen+vlen:]) {
		return e, errors.New("checksum mismatch")
	}
	e.key, e.value = body[:klen], body[klen:]
	return e, nil
}

// readUvarint is binary.ReadUvarint, feeding the bytes it reads to the
// checksum through next.
func readUvarint(next func() (byte, error)) (uint64, error) {
	var x uint64
	for shift := uint(0); shift < 64; shift += 7 {
		b, err := next()
		if err != nil {
			return 0, err
		}
		if b < 0x80 {
			return x | uint64(b)<<shift, nil
		}
		x |= uint64(b&0x7f) << shift
	}
	return 0, errors.New("varint overflows")
}

// keyTs is the version Badger appends to every key: the last 8 bytes,
// big endian, inverted (badger y.ParseTs).
func keyTs(key []byte) uint64 {
	if len(key) < 8 {
		return 0
	}
	return ^binary.BigEndian.Uint64(key[len(key)-8:])
}
