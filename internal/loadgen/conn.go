package loadgen

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// conn is one keep-alive HTTP/1.1 connection that sends one request at a
// time and reads the whole answer. It is a deliberately small client:
// net/http's spends about as much CPU per request as the server does, so
// a generator built on it, pinned to one core, would measure itself
// instead of the server. This one formats requests into a reused buffer
// and parses only the status line and the framing headers.
type conn struct {
	addr    string
	timeout time.Duration
	nc      net.Conn
	r       *bufio.Reader
	buf     []byte
}

func newConn(addr string, timeout time.Duration) *conn {
	return &conn{addr: addr, timeout: timeout, buf: make([]byte, 0, 1024)}
}

// errMalformed means the server's answer was not HTTP/1.1 as expected.
var errMalformed = errors.New("malformed HTTP response")

// do sends the request in c.buf (built with c.buf = c.buf[:0] and appends)
// and returns the response status. The body is read and dropped. On any
// error the connection is closed; the next do dials again.
func (c *conn) do() (status int, err error) {
	if c.nc == nil {
		if err := c.dial(); err != nil {
			return 0, err
		}
	}
	if c.timeout > 0 {
		c.nc.SetDeadline(time.Now().Add(c.timeout))
	}
	status, keepAlive, err := c.roundTrip()
	if err != nil || !keepAlive {
		c.close()
	}
	return status, err
}

func (c *conn) dial() error {
	nc, err := net.DialTimeout("tcp", c.addr, c.timeout)
	if err != nil {
		return err
	}
	c.nc = nc
	if c.r == nil {
		c.r = bufio.NewReaderSize(nc, 16<<10)
	} else {
		c.r.Reset(nc)
	}
	return nil
}

func (c *conn) close() {
	if c.nc != nil {
		c.nc.Close()
		c.nc = nil
	}
}

func (c *conn) roundTrip() (status int, keepAlive bool, err error) {
	if _, err := c.nc.Write(c.buf); err != nil {
		return 0, false, err
	}
	return c.response()
}

// response reads one response, dropping its body. Apart from roundTrip,
// the watch workload's writer calls it to read the answers to requests
// it pipelines.
func (c *conn) response() (status int, keepAlive bool, err error) {
	line, err := c.line()
	if err != nil {
		return 0, false, err
	}
	// "HTTP/1.1 200 OK"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, false, fmt.Errorf("%w: status line %q", errMalformed, line)
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil || status < 100 || status > 599 {
		return 0, false, fmt.Errorf("%w: status line %q", errMalformed, line)
	}
	keepAlive = line[7] == '1'
	length, chunked := int64(-1), false
	for {
		line, err := c.line()
		if err != nil {
			return 0, false, err
		}
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, false, fmt.Errorf("%w: header %q", errMalformed, line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			length, err = strconv.ParseInt(string(value), 10, 64)
			if err != nil || length < 0 {
				return 0, false, fmt.Errorf("%w: Content-Length %q", errMalformed, value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			keepAlive = !bytes.EqualFold(value, []byte("close"))
		}
	}
	switch {
	case chunked:
		err = c.discardChunks()
	case length >= 0:
		_, err = c.r.Discard(int(length))
	case status == 204 || status == 304 || status/100 == 1:
	default:
		// No framing: the body runs to the end of the connection.
		_, err = io.Copy(io.Discard, c.r)
		keepAlive = false
	}
	if err != nil {
		return 0, false, err
	}
	return status, keepAlive, nil
}

// line returns the next CRLF-terminated line without its ending. It
// aliases the reader's buffer.
func (c *conn) line() ([]byte, error) {
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("%w: header line longer than %d bytes", errMalformed, c.r.Size())
		}
		return nil, err
	}
	return bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r")), nil
}

func (c *conn) discardChunks() error {
	for {
		line, err := c.line()
		if err != nil {
			return err
		}
		size, _, _ := bytes.Cut(line, []byte(";"))
		n, err := strconv.ParseInt(string(bytes.TrimSpace(size)), 16, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("%w: chunk size %q", errMalformed, line)
		}
		if n == 0 {
			// Trailers, then the empty line.
			for {
				line, err := c.line()
				if err != nil {
					return err
				}
				if len(line) == 0 {
					return nil
				}
			}
		}
		if _, err := c.r.Discard(int(n)); err != nil {
			return err
		}
		if line, err := c.line(); err != nil || len(line) != 0 {
			return fmt.Errorf("%w: chunk not followed by CRLF", errMalformed)
		}
	}
}
