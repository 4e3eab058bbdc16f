package maps

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The stored form of the aggregator, in the Store's key space:
//
//	'c' ‖ cell u64 (big-endian)   a res-9 cell, encoded by encodeCell
//	'a' ‖ hotspot (UTF-8)         the hotspot's last activity, Unix ms as a uvarint
//
// A cell is: version (2), the last journal batch folded into it (uvarint;
// version 1 has none: 0), then per hearing hotspot its name
// (uvarint length ‖ bytes; empty = "other hotspots"), its old stat and its
// hourly buckets (uvarint count, then hour ‖ stat each). A stat is source
// flags (a byte), then n,
// zigzag RSSI, zigzag SNR, last ms and the histogram (uvarint count, then
// bin<<24|count each), all varints.
const (
	keyCell      byte = 'c'
	keyActive    byte = 'a'
	cellVersion  byte = 2
	maxBuckets        = 31 * 24
	maxStoredHit      = maxHeardBy + 1
)

var errCorrupt = errors.New("corrupt stored value")

func cellKey(c uint64) []byte { return binary.BigEndian.AppendUint64([]byte{keyCell}, c) }

func activeKey(name string) []byte { return append([]byte{keyActive}, name...) }

func decodeU64(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

func encodeActive(ms int64) []byte { return binary.AppendUvarint(nil, uint64(ms)) }

func decodeActive(b []byte) (int64, error) {
	v, n := binary.Uvarint(b)
	if n <= 0 || n != len(b) || v > 1<<62 {
		return 0, fmt.Errorf("maps: activity: %w", errCorrupt)
	}
	return int64(v), nil
}

func appendStat(b []byte, s *stat) []byte {
	b = append(b, byte(s.src))
	b = binary.AppendUvarint(b, uint64(s.n))
	b = binary.AppendVarint(b, int64(s.rssi))
	b = binary.AppendVarint(b, int64(s.snr))
	b = binary.AppendUvarint(b, uint64(s.last))
	b = binary.AppendUvarint(b, uint64(len(s.h)))
	for _, e := range s.h {
		b = binary.AppendUvarint(b, uint64(e))
	}
	return b
}

func (a *Aggregator) encodeCell(cl *cell9) []byte {
	b := []byte{cellVersion}
	b = binary.AppendUvarint(b, cl.seq)
	b = binary.AppendUvarint(b, uint64(len(cl.heard)))
	for i := range cl.heard {
		h := &cl.heard[i]
		name := ""
		if h.hs != otherID {
			name = a.names[h.hs]
		}
		b = binary.AppendUvarint(b, uint64(len(name)))
		b = append(b, name...)
		b = appendStat(b, &h.old)
		b = binary.AppendUvarint(b, uint64(len(h.b)))
		for j := range h.b {
			b = binary.AppendUvarint(b, uint64(h.b[j].hour))
			b = appendStat(b, &h.b[j].stat)
		}
	}
	return b
}

// reader decodes varints, remembering the first error.
type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint(limit uint64) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 || v > limit {
		r.err = errCorrupt
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint(lo, hi int64) int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 || v < lo || v > hi {
		r.err = errCorrupt
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if uint64(len(r.b)) < n {
		r.err = errCorrupt
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) stat(s *stat) {
	if r.err == nil {
		if len(r.b) == 0 || r.b[0] > byte(SourcePoC|SourceMapper) {
			r.err = errCorrupt
			return
		}
		s.src = Source(r.b[0])
		r.b = r.b[1:]
	}
	s.n = uint32(r.uvarint(1<<32 - 1))
	s.rssi = int16(r.varint(-1<<15, 1<<15-1))
	s.snr = int16(r.varint(-1<<15, 1<<15-1))
	s.last = int64(r.uvarint(1 << 62))
	nh := r.uvarint(histBins)
	if r.err != nil {
		return
	}
	s.h = make(hist, 0, nh)
	for range nh {
		e := uint32(r.uvarint(1<<32 - 1))
		if r.err != nil {
			return
		}
		if e>>24 >= histBins || (len(s.h) > 0 && e>>24 <= s.h[len(s.h)-1]>>24) {
			r.err = errCorrupt
			return
		}
		s.h = append(s.h, e)
	}
}

func (a *Aggregator) decodeCell(b []byte) (*cell9, error) {
	if len(b) < 1 || b[0] < 1 || b[0] > cellVersion {
		return nil, errCorrupt
	}
	cl := &cell9{}
	r := &reader{b: b[1:]}
	if b[0] >= 2 {
		cl.seq = r.uvarint(1<<63 - 1)
	}
	nh := r.uvarint(maxStoredHit)
	for range nh {
		name := r.bytes(r.uvarint(maxName))
		if r.err != nil {
			break
		}
		h := heard{hs: otherID}
		if len(name) > 0 {
			h.hs = a.intern(string(name))
		}
		r.stat(&h.old)
		nb := r.uvarint(maxBuckets)
		for range nb {
			var bk bucket
			bk.hour = uint32(r.uvarint(1<<32 - 1))
			r.stat(&bk.stat)
			if r.err != nil {
				break
			}
			if len(h.b) > 0 && bk.hour <= h.b[len(h.b)-1].hour {
				r.err = errCorrupt
				break
			}
			h.b = append(h.b, bk)
		}
		if r.err != nil {
			break
		}
		cl.heard = append(cl.heard, h)
	}
	if r.err == nil && len(r.b) != 0 {
		r.err = errCorrupt
	}
	if r.err != nil {
		return nil, r.err
	}
	return cl, nil
}
