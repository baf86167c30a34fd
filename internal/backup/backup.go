// Package backup is gokv's backup format: a versioned stream of records,
// one per entry, that names nothing of the backend it was taken from, so
// that a backup restores into any backend. It knows neither HTTP nor any
// storage engine; docs/backup-format.md describes it byte by byte.
//
// A stream is a header, records, and a trailer:
//
//	header:  magic "GOKVBAK\n", format version (uint16, big endian)
//	record:  tag 'R', bucket, key, content type (each uvarint length +
//	         bytes), expires-at (int64 big endian, Unix seconds, 0 none),
//	         value (uvarint length + bytes)
//	trailer: tag 'E', record count (uint64), store version (uint64),
//	         SHA-256 of every byte before the trailer's own checksum
//
// The checksum is last so that a writer can stream without knowing the
// end in advance, and a reader that reaches it has seen every byte.
package backup

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/gokv-service/gokv/internal/kv"
)

// Magic opens every backup.
const Magic = "GOKVBAK\n"

// FormatVersion is the version of the format this package writes and
// reads.
const FormatVersion = 1

// ContentType is the media type of a backup stream.
const ContentType = "application/vnd.gokv.backup"

// Record tags.
const (
	tagRecord  = 'R'
	tagTrailer = 'E'
)

// maxValueLen bounds a record's value as the reader accepts it. Values are
// bounded by the server's MAX_VALUE_BYTES, far below this; the bound keeps
// a corrupted length from making the reader allocate gigabytes.
const maxValueLen = 1 << 30

// The errors a Reader fails with, for errors.Is.
var (
	// ErrFormat: the stream is not a gokv backup, or one of a format
	// version this build does not read.
	ErrFormat = errors.New("not a gokv backup of a supported format")
	// ErrTruncated: the stream ends before its trailer.
	ErrTruncated = errors.New("backup is truncated")
	// ErrCorrupt: the stream is damaged: a malformed record or a
	// checksum or count that does not match.
	ErrCorrupt = errors.New("backup is corrupt")
	// ErrTooLarge: a record's value is over the limit the reader was
	// given (LimitValues).
	ErrTooLarge = errors.New("backup value too large")
)

// Writer writes a backup stream. Its methods are not safe for concurrent
// use.
type Writer struct {
	w     *bufio.Writer
	sum   hash.Hash
	count uint64
	buf   []byte
	err   error
}

// NewWriter writes the header to w and returns a Writer for the records.
// The caller calls Close to write the trailer; a stream without it reads
// as truncated.
func NewWriter(w io.Writer) (*Writer, error) {
	sum := sha256.New()
	bw := &Writer{w: bufio.NewWriterSize(io.MultiWriter(w, sum), 64<<10), sum: sum}
	bw.buf = append(bw.buf, Magic...)
	bw.buf = binary.BigEndian.AppendUint16(bw.buf, FormatVersion)
	if _, err := bw.w.Write(bw.buf); err != nil {
		return nil, fmt.Errorf("write backup header: %w", err)
	}
	return bw, nil
}

// Write appends one record.
func (w *Writer) Write(r kv.Record) error {
	if w.err != nil {
		return w.err
	}
	b := append(w.buf[:0], tagRecord)
	b = appendString(b, r.Bucket)
	b = appendString(b, r.Key)
	b = appendString(b, r.ContentType)
	var at int64
	if !r.ExpiresAt.IsZero() {
		at = r.ExpiresAt.Unix()
	}
	b = binary.BigEndian.AppendUint64(b, uint64(at))
	b = binary.AppendUvarint(b, uint64(len(r.Value)))
	w.buf = b
	if _, err := w.w.Write(b); err != nil {
		w.err = fmt.Errorf("write backup record: %w", err)
		return w.err
	}
	if _, err := w.w.Write(r.Value); err != nil {
		w.err = fmt.Errorf("write backup record: %w", err)
		return w.err
	}
	w.count++
	return nil
}

// Count is the number of records written so far.
func (w *Writer) Count() uint64 { return w.count }

// Close writes the trailer, saying the backup reflects the store at
// version, and flushes. It does not close the underlying writer.
func (w *Writer) Close(version uint64) error {
	if w.err != nil {
		return w.err
	}
	b := append(w.buf[:0], tagTrailer)
	b = binary.BigEndian.AppendUint64(b, w.count)
	b = binary.BigEndian.AppendUint64(b, version)
	if _, err := w.w.Write(b); err != nil {
		return fmt.Errorf("write backup trailer: %w", err)
	}
	// Everything up to here has passed through the hash once flushed.
	if err := w.w.Flush(); err != nil {
		return fmt.Errorf("write backup trailer: %w", err)
	}
	if _, err := w.w.Write(w.sum.Sum(nil)); err != nil {
		return fmt.Errorf("write backup checksum: %w", err)
	}
	if err := w.w.Flush(); err != nil {
		return fmt.Errorf("write backup checksum: %w", err)
	}
	w.err = errors.New("backup writer is closed")
	return nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// Reader reads a backup stream record by record. Records come before the
// checksum that covers them, so a caller must not act on what it has read
// until Next returns io.EOF: only then is the whole stream verified.
type Reader struct {
	r   *bufio.Reader
	sum hash.Hash
	// in reads from r and feeds the hash; the trailer's checksum is
	// read from r directly.
	in       io.Reader
	count    uint64
	version  uint64
	done     bool
	err      error
	bytes    int64
	maxValue uint64
}

// NewReader reads and checks the header of the stream in r.
func NewReader(r io.Reader) (*Reader, error) {
	br := &Reader{r: bufio.NewReaderSize(r, 64<<10), sum: sha256.New(), maxValue: maxValueLen}
	br.in = io.TeeReader(br.r, br.sum)
	head := make([]byte, len(Magic)+2)
	if _, err := io.ReadFull(br.in, head); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: %w: no complete header", ErrFormat, ErrTruncated)
		}
		return nil, fmt.Errorf("read backup header: %w", err)
	}
	if string(head[:len(Magic)]) != Magic {
		return nil, fmt.Errorf("%w: bad magic", ErrFormat)
	}
	if v := binary.BigEndian.Uint16(head[len(Magic):]); v != FormatVersion {
		return nil, fmt.Errorf("%w: format version %d, this build reads %d", ErrFormat, v, FormatVersion)
	}
	br.bytes = int64(len(head))
	return br, nil
}

// Next returns the next record, or io.EOF once the trailer has been read
// and the checksum and record count match. Any other error is final.
func (r *Reader) Next() (kv.Record, error) {
	if r.err != nil {
		return kv.Record{}, r.err
	}
	rec, err := r.next()
	if err != nil {
		if errors.Is(err, io.EOF) && r.done {
			r.err = io.EOF
			return kv.Record{}, io.EOF
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("%w after %d records (%d bytes): the stream ends before its trailer", ErrTruncated, r.count, r.bytes)
		}
		r.err = err
		return kv.Record{}, err
	}
	r.count++
	return rec, nil
}

func (r *Reader) next() (kv.Record, error) {
	tag, err := r.readByte()
	if err != nil {
		return kv.Record{}, err
	}
	switch tag {
	case tagRecord:
		return r.record()
	case tagTrailer:
		return kv.Record{}, r.trailer()
	default:
		return kv.Record{}, fmt.Errorf("%w: unknown record tag 0x%02x at byte %d", ErrCorrupt, tag, r.bytes-1)
	}
}

func (r *Reader) record() (kv.Record, error) {
	var rec kv.Record
	var err error
	if rec.Bucket, err = r.string(kv.MaxBucketLen, "bucket"); err != nil {
		return rec, err
	}
	if rec.Key, err = r.string(kv.MaxKeyLen, "key"); err != nil {
		return rec, err
	}
	if rec.ContentType, err = r.string(kv.MaxContentTypeLen, "content type"); err != nil {
		return rec, err
	}
	var at [8]byte
	if err := r.full(at[:]); err != nil {
		return rec, err
	}
	if secs := int64(binary.BigEndian.Uint64(at[:])); secs != 0 {
		rec.ExpiresAt = time.Unix(secs, 0)
	}
	n, err := r.length(maxValueLen, "value")
	if err != nil {
		return rec, err
	}
	if n > r.maxValue {
		return rec, fmt.Errorf("%w: record %q/%q has a value of %d bytes, over the limit of %d", ErrTooLarge, rec.Bucket, rec.Key, n, r.maxValue)
	}
	if rec.Value, err = r.value(n); err != nil {
		return rec, err
	}
	return rec, nil
}

// value reads a value of n bytes. A large one grows as its bytes arrive,
// so that a damaged length costs no more memory than the stream holds.
func (r *Reader) value(n uint64) ([]byte, error) {
	if n <= 64<<10 {
		b := make([]byte, n)
		return b, r.full(b)
	}
	var buf bytes.Buffer
	got, err := io.CopyN(&buf, r.in, int64(n))
	r.bytes += got
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf.Bytes(), nil
}

// trailer reads the trailer and checks it against what came before.
func (r *Reader) trailer() error {
	var b [16]byte
	if err := r.full(b[:]); err != nil {
		return err
	}
	count := binary.BigEndian.Uint64(b[:8])
	r.version = binary.BigEndian.Uint64(b[8:])
	want := r.sum.Sum(nil)
	got := make([]byte, sha256.Size)
	if _, err := io.ReadFull(r.r, got); err != nil {
		return err
	}
	r.bytes += sha256.Size
	if !bytes.Equal(got, want) {
		return fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	}
	if count != r.count {
		return fmt.Errorf("%w: trailer counts %d records, the stream holds %d", ErrCorrupt, count, r.count)
	}
	if _, err := r.r.ReadByte(); err != io.EOF {
		if err == nil {
			return fmt.Errorf("%w: data after the trailer", ErrCorrupt)
		}
		return err
	}
	r.done = true
	return io.EOF
}

// LimitValues makes the reader refuse, as ErrTooLarge, a record whose
// value is longer than n bytes, before reading it.
func (r *Reader) LimitValues(n int64) {
	r.maxValue = min(uint64(max(n, 0)), maxValueLen)
}

// Version is the store version the backup reflects, known once Next has
// returned io.EOF.
func (r *Reader) Version() uint64 { return r.version }

// Count is the number of records read so far.
func (r *Reader) Count() uint64 { return r.count }

// Bytes is the number of bytes read so far.
func (r *Reader) Bytes() int64 { return r.bytes }

func (r *Reader) readByte() (byte, error) {
	var b [1]byte
	if err := r.full(b[:]); err != nil {
		return 0, err
	}
	return b[0], nil
}

func (r *Reader) full(b []byte) error {
	n, err := io.ReadFull(r.in, b)
	r.bytes += int64(n)
	if err != nil && n > 0 && errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// length reads a uvarint length no greater than limit.
func (r *Reader) length(limit uint64, what string) (uint64, error) {
	n, err := binary.ReadUvarint(byteReader{r})
	if err != nil {
		if errors.Is(err, io.EOF) {
			return 0, io.ErrUnexpectedEOF
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, err
		}
		return 0, fmt.Errorf("%w: bad %s length at byte %d", ErrCorrupt, what, r.bytes)
	}
	if n > limit {
		return 0, fmt.Errorf("%w: %s length %d over %d at byte %d", ErrCorrupt, what, n, limit, r.bytes)
	}
	return n, nil
}

func (r *Reader) string(limit uint64, what string) (string, error) {
	n, err := r.length(limit, what)
	if err != nil {
		return "", err
	}
	b := make([]byte, n)
	if err := r.full(b); err != nil {
		return "", err
	}
	return string(b), nil
}

// byteReader reads single bytes through the Reader, counting and hashing
// them.
type byteReader struct{ r *Reader }

func (b byteReader) ReadByte() (byte, error) { return b.r.readByte() }
