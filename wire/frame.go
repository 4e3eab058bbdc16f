package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"google.golang.org/protobuf/proto"
)

// Stream framing.
//
// A QUIC stream between a hotspot and an oracle carries a sequence of
// frames. Each frame is a 4-byte big-endian length n followed by n bytes of
// an encoded Frame message:
//
//	+--------+--------+--------+--------+=================+
//	|      length n (u32, big-endian)   |  Frame (n bytes) |
//	+--------+--------+--------+--------+=================+
//
// n is at most MaxFrameSize. A Frame must have exactly one message set.
//
// Errors: a length over MaxFrameSize is ErrFrameTooLarge; a stream that ends
// inside a frame, or bytes that do not decode as a Frame, are
// ErrMalformedFrame. After ErrFrameTooLarge or a truncated frame the stream
// is out of step and the reader keeps returning that error; the caller
// should answer (Ack CODE_OVERSIZE or CODE_MALFORMED) and close it. After a
// frame that was complete but did not decode, the next frame can be read.

// MaxFrameSize is the largest encoded Frame accepted or sent, in bytes,
// not counting the 4-byte length prefix.
const MaxFrameSize = 64 << 10

// frameHeaderSize is the length prefix's size.
const frameHeaderSize = 4

var (
	// ErrFrameTooLarge is returned (wrapped) for a frame whose length
	// exceeds MaxFrameSize.
	ErrFrameTooLarge = errors.New("frame too large")
	// ErrMalformedFrame is returned (wrapped) for a truncated frame or one
	// that does not decode.
	ErrMalformedFrame = errors.New("malformed frame")
)

// AppendFrame appends f, length prefix included, to b.
func AppendFrame(b []byte, f *Frame) ([]byte, error) {
	if f.GetMsg() == nil {
		return b, fmt.Errorf("append frame: %w: no message set", ErrMalformedFrame)
	}
	start := len(b)
	b = append(b, 0, 0, 0, 0)
	b, err := proto.MarshalOptions{Deterministic: true}.MarshalAppend(b, f)
	if err != nil {
		return b[:start], fmt.Errorf("append frame: %w", err)
	}
	n := len(b) - start - frameHeaderSize
	if n > MaxFrameSize {
		return b[:start], fmt.Errorf("append frame: %w: %d bytes, max %d", ErrFrameTooLarge, n, MaxFrameSize)
	}
	binary.BigEndian.PutUint32(b[start:], uint32(n))
	return b, nil
}

// WriteFrame writes f to w with a single Write call.
func WriteFrame(w io.Writer, f *Frame) error {
	b, err := AppendFrame(make([]byte, 0, frameHeaderSize+proto.Size(f)), f)
	if err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("write frame: %w", err)
	}
	return nil
}

// DecodeFrame decodes one frame's payload (without the length prefix).
func DecodeFrame(payload []byte) (*Frame, error) {
	f := new(Frame)
	if err := decodeFrameInto(payload, f); err != nil {
		return nil, err
	}
	return f, nil
}

func decodeFrameInto(payload []byte, f *Frame) error {
	if len(payload) > MaxFrameSize {
		return fmt.Errorf("decode frame: %w: %d bytes, max %d", ErrFrameTooLarge, len(payload), MaxFrameSize)
	}
	if err := proto.Unmarshal(payload, f); err != nil {
		return fmt.Errorf("decode frame: %w: %w", ErrMalformedFrame, err)
	}
	if f.GetMsg() == nil {
		return fmt.Errorf("decode frame: %w: no message set", ErrMalformedFrame)
	}
	return nil
}

// ReadFrame reads one frame from r. It returns io.EOF, unwrapped, when r
// ends cleanly between frames. For many frames on one stream use a
// FrameReader, which buffers.
func ReadFrame(r io.Reader) (*Frame, error) {
	var hdr [frameHeaderSize]byte
	n, err := readLength(r, hdr[:])
	if err != nil {
		return nil, err
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return nil, truncated(err, n)
	}
	return DecodeFrame(payload)
}

// readLength reads and checks a length prefix.
func readLength(r io.Reader, hdr []byte) (int, error) {
	if _, err := io.ReadFull(r, hdr); err != nil {
		if err == io.EOF {
			return 0, io.EOF
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, fmt.Errorf("read frame: %w: truncated length prefix", ErrMalformedFrame)
		}
		return 0, fmt.Errorf("read frame: %w", err)
	}
	n := binary.BigEndian.Uint32(hdr)
	if n > MaxFrameSize {
		return 0, fmt.Errorf("read frame: %w: %d bytes, max %d", ErrFrameTooLarge, n, MaxFrameSize)
	}
	return int(n), nil
}

func truncated(err error, n int) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || err == io.EOF {
		return fmt.Errorf("read frame: %w: truncated: stream ended inside a %d-byte frame", ErrMalformedFrame, n)
	}
	return fmt.Errorf("read frame: %w", err)
}

// readerBufferSize is the FrameReader's read buffer: small, because an
// oracle holds one per hotspot stream.
const readerBufferSize = 4 << 10

// keepPayloadBuffer is the largest payload buffer a FrameReader keeps
// between frames; a rare larger frame gets a buffer that is dropped after.
const keepPayloadBuffer = 8 << 10

// FrameReader reads frames from a stream through a small buffer, reusing
// its payload buffer, so reading many small frames costs few system calls
// and allocations. It is not safe for concurrent use.
type FrameReader struct {
	r   *bufio.Reader
	buf []byte
	err error // sticky: the stream is out of step
}

// NewFrameReader returns a FrameReader reading from r.
func NewFrameReader(r io.Reader) *FrameReader {
	return &FrameReader{r: bufio.NewReaderSize(r, readerBufferSize)}
}

// Next reads the next frame and returns its payload without decoding it.
// The payload is only valid until the next call. It returns io.EOF at a
// clean end of stream.
func (fr *FrameReader) Next() ([]byte, error) {
	if fr.err != nil {
		return nil, fr.err
	}
	var hdr [frameHeaderSize]byte
	n, err := readLength(fr.r, hdr[:])
	if err != nil {
		fr.err = err
		return nil, err
	}
	buf := fr.buf
	if cap(buf) < n {
		buf = make([]byte, n)
		if n <= keepPayloadBuffer {
			fr.buf = buf
		}
	}
	buf = buf[:n]
	if _, err := io.ReadFull(fr.r, buf); err != nil {
		fr.err = truncated(err, n)
		return nil, fr.err
	}
	return buf, nil
}

// Read reads and decodes the next frame. After an ErrMalformedFrame for a
// frame that did not decode, reading can go on.
func (fr *FrameReader) Read() (*Frame, error) {
	f := new(Frame)
	if err := fr.ReadInto(f); err != nil {
		return nil, err
	}
	return f, nil
}

// ReadInto reads the next frame into f, replacing its contents. Decoded
// bytes fields are copies and stay valid after later reads.
func (fr *FrameReader) ReadInto(f *Frame) error {
	payload, err := fr.Next()
	if err != nil {
		return err
	}
	return decodeFrameInto(payload, f)
}

// writerBufferSize is the FrameWriter's buffer.
const writerBufferSize = 16 << 10

// FrameWriter writes frames to a stream through a buffer; call Flush to
// send what is buffered. It is not safe for concurrent use.
type FrameWriter struct {
	w   *bufio.Writer
	buf []byte
}

// NewFrameWriter returns a FrameWriter writing to w.
func NewFrameWriter(w io.Writer) *FrameWriter {
	return &FrameWriter{w: bufio.NewWriterSize(w, writerBufferSize)}
}

// Write encodes f into the buffer, writing the buffer out when it fills.
func (fw *FrameWriter) Write(f *Frame) error {
	b, err := AppendFrame(fw.buf[:0], f)
	if err != nil {
		return err
	}
	if cap(b) <= keepPayloadBuffer {
		fw.buf = b
	}
	if _, err := fw.w.Write(b); err != nil {
		return fmt.Errorf("write frame: %w", err)
	}
	return nil
}

// Flush writes any buffered frames to the underlying writer.
func (fw *FrameWriter) Flush() error {
	if err := fw.w.Flush(); err != nil {
		return fmt.Errorf("flush frames: %w", err)
	}
	return nil
}

// Buffered returns the number of bytes written but not yet flushed.
func (fw *FrameWriter) Buffered() int {
	return fw.w.Buffered()
}
