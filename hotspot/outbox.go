package hotspot

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hexfield/hexfield/radio/semtech"
	"github.com/hexfield/hexfield/wire"
)

// The outbox keeps every signed report on disk from before it is first sent
// until every configured oracle has acknowledged it.
//
// Layout: the directory holds numbered segments. Segment N is two files:
//
//	seg-N.log  records: u32 body length | u32 CRC-32C(body) | body
//	           body = u64 seq | i64 created unix ms | report bytes
//	seg-N.ack  records: u64 seq | 32-byte oracle key | u32 CRC-32C of the 40 bytes
//
// An ack record with the key dropKey marks a report dropped by the size
// bound. A report is done when every configured oracle has acked it or it
// was dropped; a segment whose reports are all done is deleted (both
// files), which is also how the ack files are compacted. A torn record at the
// tail of a file (power loss mid-write) fails its CRC and the file is
// truncated there on open. Appends are written at once and fsynced in
// batches; a report becomes visible to the senders only once it is durable.
//
// Eviction order. When the files exceed MaxBytes, the oldest segment is
// retired. Its witness reports (and anything that is not a recognised
// report) are dropped: witnesses go first, oldest first, since segments are
// in age order and a witness is the cheapest report to lose (and the only
// kind anyone with a radio can make the hotspot sign). Its packet reports
// and the hotspot's own beacon reports are carried forward instead: copied
// to the current segment, fsynced, and only then retired in the old one, so
// a flood of witnesses never evicts them. Only when the reports carried
// forward would fill more than half of MaxBytes are the oldest segment's
// ones dropped as well: packet reports before beacon reports, and in either
// case only after every witness report in the outbox was dropped.
//
// Held reports. AppendHeld writes a report, fsyncs it, and keeps it from
// the senders until Release (or Cancel, which drops it durably). The
// beaconer uses it to have its beacon report on disk before the beacon is
// transmitted and still send the oracles only a report that is true. Held
// is a state in memory only: after a restart every report on disk is sent.

const (
	maxOracles      = 64
	recHeaderLen    = 8
	recBodyFixedLen = 16
	ackRecLen       = 44
	maxReportLen    = wire.MaxFrameSize
)

var (
	crcTable = crc32.MakeTable(crc32.Castagnoli)
	// dropKey marks a report dropped by the size bound in an ack file.
	dropKey = [32]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
)

// ErrOutboxClosed is returned by Append after the outbox was closed.
var ErrOutboxClosed = errors.New("outbox closed")

// OutboxConfig configures an Outbox.
type OutboxConfig struct {
	// Dir is the outbox directory; it is created if missing. Required.
	Dir string
	// MaxBytes bounds the files on disk. Default DefaultOutboxMaxBytes.
	MaxBytes int64
	// SegmentBytes is the size at which a segment is closed and a new one
	// started. Default MaxBytes/16, between 16 KiB and 4 MiB.
	SegmentBytes int64
	// SyncInterval is the fsync batching period. Default
	// DefaultOutboxSyncInterval.
	SyncInterval time.Duration
	// Oracles are the keys whose acks are all needed before a report is
	// removed. With none, reports stay until dropped by the bound.
	Oracles []wire.PublicKey
	// Now is the clock; default time.Now.
	Now func() time.Time
}

func (c *OutboxConfig) setDefaults() {
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultOutboxMaxBytes
	}
	if c.SegmentBytes == 0 {
		c.SegmentBytes = min(max(c.MaxBytes/16, 16<<10), 4<<20)
	}
	if c.SyncInterval == 0 {
		c.SyncInterval = DefaultOutboxSyncInterval
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate checks a defaulted OutboxConfig.
func (c *OutboxConfig) Validate() error {
	if c.Dir == "" {
		return errors.New("outbox: no directory")
	}
	if len(c.Oracles) > maxOracles {
		return fmt.Errorf("outbox: %d oracles, at most %d", len(c.Oracles), maxOracles)
	}
	if c.SegmentBytes <= 0 || c.MaxBytes < 2*c.SegmentBytes {
		return fmt.Errorf("outbox: max bytes %d must be at least two segments of %d", c.MaxBytes, c.SegmentBytes)
	}
	return nil
}

// Outbox is the durable report queue. Its methods are safe for concurrent
// use. Run performs the batched fsyncs and must run while the outbox is used.
type Outbox struct {
	cfg     OutboxConfig
	log     *slog.Logger
	m       *outboxMetrics
	full    uint64 // ack mask meaning "every oracle acked"
	oracleI map[[32]byte]int

	mu         sync.Mutex
	entries    []*outboxEntry // by seq; done entries are trimmed from the front
	segs       []*segment     // by id; the last is the one appended to
	nextSeq    uint64
	durableSeq uint64 // every seq ≤ durableSeq is on disk
	live       int
	liveBytes  [numClasses]int64 // record bytes of live entries, by class
	diskBytes  int64
	dirty      bool // unsynced writes exist
	syncing    bool // Sync is running without the lock
	closeLater []*segment
	syncMu     sync.Mutex // serialises Sync
	dirSync    bool       // a file was created or removed since the last sync
	changed    chan struct{}
	kick       chan struct{}
	closed     bool

	// Rate limits of log lines a flood could repeat; the events are
	// counted in metrics.
	dropLog, writeLog semtech.LogLimiter
}

type outboxEntry struct {
	seq     uint64
	seg     *segment
	off     int64 // offset of the report bytes in seg.data
	size    int
	created int64 // unix ms
	acked   uint64
	class   reportClass
	done    bool
	held    bool         // written and durable, not yet handed to senders
	movedTo *outboxEntry // the copy made when the entry was carried forward
}

// recordLen is the entry's record size in its segment file.
func (e *outboxEntry) recordLen() int64 { return int64(recHeaderLen + recBodyFixedLen + e.size) }

// reportClass ranks reports for eviction: lower classes go first.
type reportClass uint8

const (
	classWitness reportClass = iota // witness reports and anything unrecognised
	classPacket                     // packet reports: data-transfer earnings
	classBeacon                     // the hotspot's own beacon reports
	numClasses
)

// classOf reads the kind of a signed report from its envelope: a
// canonical envelope starts with field 1's tag (0x08) and the kind as a
// one-byte varint (every kind is below 128).
func classOf(report []byte) reportClass {
	if len(report) >= 2 && report[0] == 0x08 {
		switch wire.Kind(report[1]) {
		case wire.Kind_KIND_BEACON_REPORT:
			return classBeacon
		case wire.Kind_KIND_PACKET_REPORT:
			return classPacket
		}
	}
	return classWitness
}

type segment struct {
	id    uint64
	data  *os.File
	ack   *os.File
	size  int64 // bytes in data
	asize int64 // bytes in ack
	live  int
}

// OutboxItem is one report handed to a sender.
type OutboxItem struct {
	Seq       uint64
	Report    []byte
	CreatedMs int64
}

// OpenOutbox opens (or creates) the outbox in cfg.Dir and loads what is
// there. Metrics are registered on reg when it is not nil.
func OpenOutbox(cfg OutboxConfig, log *slog.Logger, m *outboxMetrics) (*Outbox, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if m == nil {
		m = newOutboxMetrics(nil)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("open outbox: %w", err)
	}
	o := &Outbox{
		cfg:      cfg,
		log:      log,
		m:        m,
		oracleI:  map[[32]byte]int{},
		changed:  make(chan struct{}),
		kick:     make(chan struct{}, 1),
		nextSeq:  1,
		dropLog:  semtech.LogLimiter{Burst: 5, Interval: time.Minute, Now: cfg.Now},
		writeLog: semtech.LogLimiter{Burst: 5, Interval: time.Minute, Now: cfg.Now},
	}
	for i, k := range cfg.Oracles {
		o.oracleI[k] = i
		o.full |= 1 << i
	}
	if err := o.load(); err != nil {
		o.closeFiles()
		return nil, fmt.Errorf("open outbox %s: %w", cfg.Dir, err)
	}
	o.durableSeq = o.nextSeq - 1
	o.updateGauges()
	return o, nil
}

func segName(dir string, id uint64, ext string) string {
	return filepath.Join(dir, fmt.Sprintf("seg-%016d.%s", id, ext))
}

func (o *Outbox) load() error {
	names, err := filepath.Glob(filepath.Join(o.cfg.Dir, "seg-*.log"))
	if err != nil {
		return err
	}
	var ids []uint64
	for _, n := range names {
		s := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(n), "seg-"), ".log")
		id, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			continue
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if err := o.loadSegment(id); err != nil {
			return err
		}
	}
	// Remove segments left fully done (except the last, appended to).
	for i := 0; i < len(o.segs)-1; i++ {
		if s := o.segs[i]; s.live == 0 {
			o.removeSegment(s)
			i--
		}
	}
	if len(o.segs) == 0 || o.segs[len(o.segs)-1].size >= o.cfg.SegmentBytes {
		var id uint64 = 1
		if len(o.segs) > 0 {
			id = o.segs[len(o.segs)-1].id + 1
		}
		if err := o.newSegment(id); err != nil {
			return err
		}
	}
	o.trimFront()
	return nil
}

func (o *Outbox) loadSegment(id uint64) error {
	data, err := os.OpenFile(segName(o.cfg.Dir, id, "log"), os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	ack, err := os.OpenFile(segName(o.cfg.Dir, id, "ack"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		data.Close()
		return err
	}
	s := &segment{id: id, data: data, ack: ack}
	o.segs = append(o.segs, s)
	raw, err := io.ReadAll(data)
	if err != nil {
		return err
	}
	first := len(o.entries)
	off := 0
	for off+recHeaderLen <= len(raw) {
		n := int(binary.LittleEndian.Uint32(raw[off:]))
		sum := binary.LittleEndian.Uint32(raw[off+4:])
		if n < recBodyFixedLen || n > recBodyFixedLen+maxReportLen || off+recHeaderLen+n > len(raw) {
			break
		}
		body := raw[off+recHeaderLen : off+recHeaderLen+n]
		if crc32.Checksum(body, crcTable) != sum {
			break
		}
		seq := binary.LittleEndian.Uint64(body)
		if seq < o.nextSeq {
			break // sequence went backwards: corrupt
		}
		o.entries = append(o.entries, &outboxEntry{
			seq:     seq,
			seg:     s,
			off:     int64(off + recHeaderLen + recBodyFixedLen),
			size:    n - recBodyFixedLen,
			created: int64(binary.LittleEndian.Uint64(body[8:])),
			class:   classOf(body[recBodyFixedLen:]),
		})
		o.nextSeq = seq + 1
		off += recHeaderLen + n
	}
	if off != len(raw) {
		o.log.Warn("outbox: truncating torn segment tail", "segment", id, "at", off, "size", len(raw))
		if err := data.Truncate(int64(off)); err != nil {
			return err
		}
	}
	s.size = int64(off)
	if _, err := data.Seek(s.size, io.SeekStart); err != nil {
		return err
	}
	mine := o.entries[first:]
	araw, err := io.ReadAll(ack)
	if err != nil {
		return err
	}
	aoff := 0
	for ; aoff+ackRecLen <= len(araw); aoff += ackRecLen {
		rec := araw[aoff : aoff+ackRecLen]
		if crc32.Checksum(rec[:40], crcTable) != binary.LittleEndian.Uint32(rec[40:]) {
			break
		}
		seq := binary.LittleEndian.Uint64(rec)
		var key [32]byte
		copy(key[:], rec[8:40])
		i := sort.Search(len(mine), func(i int) bool { return mine[i].seq >= seq })
		if i == len(mine) || mine[i].seq != seq {
			continue
		}
		if key == dropKey {
			mine[i].done = true
			continue
		}
		if oi, ok := o.oracleI[key]; ok {
			mine[i].acked |= 1 << oi
		}
	}
	if aoff != len(araw) {
		if err := ack.Truncate(int64(aoff)); err != nil {
			return err
		}
	}
	s.asize = int64(aoff)
	if _, err := ack.Seek(s.asize, io.SeekStart); err != nil {
		return err
	}
	for _, e := range mine {
		if o.full != 0 && e.acked&o.full == o.full {
			e.done = true
		}
		if !e.done {
			s.live++
			o.live++
			o.liveBytes[e.class] += e.recordLen()
		}
	}
	o.diskBytes += s.size + s.asize
	return nil
}

func (o *Outbox) newSegment(id uint64) error {
	data, err := os.OpenFile(segName(o.cfg.Dir, id, "log"), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("new segment: %w", err)
	}
	ack, err := os.OpenFile(segName(o.cfg.Dir, id, "ack"), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		data.Close()
		return fmt.Errorf("new segment: %w", err)
	}
	o.segs = append(o.segs, &segment{id: id, data: data, ack: ack})
	o.dirSync = true
	return nil
}

// removeSegment closes and deletes a segment. Caller holds mu (or is
// loading).
func (o *Outbox) removeSegment(s *segment) {
	if o.syncing {
		// Sync is fsyncing these files outside the lock: close them
		// when it is done. Unlinking an open file is fine.
		o.closeLater = append(o.closeLater, s)
	} else {
		s.data.Close()
		s.ack.Close()
	}
	if err := os.Remove(segName(o.cfg.Dir, s.id, "log")); err != nil {
		o.log.Warn("outbox: remove segment", "segment", s.id, "err", err)
	}
	if err := os.Remove(segName(o.cfg.Dir, s.id, "ack")); err != nil && !errors.Is(err, os.ErrNotExist) {
		o.log.Warn("outbox: remove segment", "segment", s.id, "err", err)
	}
	o.diskBytes -= s.size + s.asize
	o.segs = slices.DeleteFunc(o.segs, func(x *segment) bool { return x == s })
	o.dirSync = true
}

func (o *Outbox) trimFront() {
	i := 0
	for i < len(o.entries) && o.entries[i].done {
		i++
	}
	if i > 0 {
		clear(o.entries[:i])
		o.entries = o.entries[i:]
	}
}

// Append writes report to the outbox and returns its sequence number. The
// report is handed to senders once its batched fsync is done.
func (o *Outbox) Append(report []byte) (uint64, error) {
	if len(report) == 0 || len(report) > maxReportLen {
		return 0, fmt.Errorf("outbox append: report of %d bytes", len(report))
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return 0, ErrOutboxClosed
	}
	e, err := o.appendLocked(report, o.cfg.Now().UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("outbox append: %w", err)
	}
	o.m.appended.Inc()
	o.enforceBound()
	o.updateGauges()
	select {
	case o.kick <- struct{}{}:
	default:
	}
	return e.seq, nil
}

// HeldReport is a report written by AppendHeld, durable and kept from the
// senders until Release or Cancel.
type HeldReport struct {
	e *outboxEntry
}

// entry follows the report to where it lives now. Caller holds mu.
func (h *HeldReport) entry() *outboxEntry {
	e := h.e
	for e.movedTo != nil {
		e = e.movedTo
	}
	return e
}

// AppendHeld writes report, fsyncs the outbox and returns once the report
// is on disk. Senders do not see it (nor any report after it) until
// Release; Cancel drops it. Reports appended while it is held keep their
// batched fsync but wait for the Release or Cancel to be sent, so the hold
// must be short (the beaconer holds a report for one TX_ACK wait).
func (o *Outbox) AppendHeld(report []byte) (*HeldReport, error) {
	if len(report) == 0 || len(report) > maxReportLen {
		return nil, fmt.Errorf("outbox append: report of %d bytes", len(report))
	}
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return nil, ErrOutboxClosed
	}
	e, err := o.appendLocked(report, o.cfg.Now().UnixMilli())
	if err != nil {
		o.mu.Unlock()
		return nil, fmt.Errorf("outbox append: %w", err)
	}
	e.held = true
	o.m.appended.Inc()
	o.enforceBound()
	o.updateGauges()
	o.mu.Unlock()
	h := &HeldReport{e: e}
	if err := o.Sync(); err != nil {
		o.Cancel(h)
		return nil, err
	}
	return h, nil
}

// Release hands a held report to the senders.
func (o *Outbox) Release(h *HeldReport) {
	o.mu.Lock()
	defer o.mu.Unlock()
	e := h.entry()
	if !e.held {
		return
	}
	e.held = false
	if !o.closed {
		close(o.changed)
		o.changed = make(chan struct{})
	}
}

// Cancel drops a held report durably: it is never sent, not even after a
// restart, once Cancel returns nil.
func (o *Outbox) Cancel(h *HeldReport) error {
	o.mu.Lock()
	e := h.entry()
	wasHeld := e.held
	e.held = false
	if !e.done && !o.closed {
		o.writeAck(e, dropKey)
		o.markDone(e)
		o.trimFront()
		o.updateGauges()
	}
	if wasHeld && !o.closed {
		close(o.changed) // reports queued behind it may go now
		o.changed = make(chan struct{})
	}
	o.mu.Unlock()
	return o.Sync()
}

// appendLocked writes one record to the current segment (starting a new
// one when it is full) and adds its entry. Caller holds mu.
func (o *Outbox) appendLocked(report []byte, created int64) (*outboxEntry, error) {
	cur := o.segs[len(o.segs)-1]
	if cur.size >= o.cfg.SegmentBytes {
		if err := o.newSegment(cur.id + 1); err != nil {
			return nil, err
		}
		cur = o.segs[len(o.segs)-1]
	}
	seq := o.nextSeq
	n := recBodyFixedLen + len(report)
	buf := make([]byte, recHeaderLen+n)
	binary.LittleEndian.PutUint32(buf, uint32(n))
	binary.LittleEndian.PutUint64(buf[recHeaderLen:], seq)
	binary.LittleEndian.PutUint64(buf[recHeaderLen+8:], uint64(created))
	copy(buf[recHeaderLen+recBodyFixedLen:], report)
	binary.LittleEndian.PutUint32(buf[4:], crc32.Checksum(buf[recHeaderLen:], crcTable))
	if _, err := cur.data.WriteAt(buf, cur.size); err != nil {
		// Undo a partial write so the file stays parseable.
		_ = cur.data.Truncate(cur.size)
		return nil, err
	}
	e := &outboxEntry{
		seq:     seq,
		seg:     cur,
		off:     cur.size + recHeaderLen + recBodyFixedLen,
		size:    len(report),
		created: created,
		class:   classOf(report),
	}
	o.entries = append(o.entries, e)
	cur.size += int64(len(buf))
	cur.live++
	o.live++
	o.liveBytes[e.class] += e.recordLen()
	o.nextSeq++
	o.diskBytes += int64(len(buf))
	o.dirty = true
	return e, nil
}

// enforceBound retires the oldest segments while the files exceed
// MaxBytes, in the eviction order described at the top of this file.
// Caller holds mu.
func (o *Outbox) enforceBound() {
	// Each round retires one segment; carrying forward moves bytes
	// rather than freeing them, so after a few rounds through every
	// segment without getting under the bound, drop instead of carrying.
	rounds := 0
	for o.diskBytes > o.cfg.MaxBytes && len(o.segs) > 1 {
		rounds++
		mayCarry := rounds <= 2*len(o.segs)+2
		s := o.segs[0]
		var mine []*outboxEntry
		for _, e := range o.entries {
			if e.seg != s {
				break
			}
			if !e.done {
				mine = append(mine, e)
			}
		}
		reserve := o.cfg.MaxBytes / 2
		var carry []*outboxEntry
		dropped := 0
		for _, e := range mine {
			if e.done {
				continue // dropped below, as a lower class
			}
			keep := false
			switch e.class {
			case classPacket:
				keep = mayCarry && o.liveBytes[classPacket]+o.liveBytes[classBeacon] <= reserve
			case classBeacon:
				keep = mayCarry && o.liveBytes[classBeacon] <= reserve
			}
			if keep {
				carry = append(carry, e)
				continue
			}
			if e.class != classWitness {
				// Dropping a valuable report: every lower class goes first.
				dropped += o.dropClassesBelow(e.class)
			}
			o.writeAck(e, dropKey)
			o.markDone(e)
			dropped++
		}
		if len(carry) > 0 && !o.carryForward(carry) {
			for _, e := range carry {
				if !e.done {
					o.writeAck(e, dropKey)
					o.markDone(e)
					dropped++
				}
			}
		}
		if dropped > 0 {
			o.m.dropped.Add(float64(dropped))
			o.dropLog.Log(o.log, slog.LevelWarn, "outbox full: dropped oldest reports", "dropped", dropped, "max_bytes", o.cfg.MaxBytes)
		}
		if len(o.segs) > 0 && o.segs[0] == s && s.live == 0 && len(o.segs) > 1 {
			o.removeSegment(s)
		}
		o.trimFront()
	}
}

// dropClassesBelow drops every live report of a class below c, oldest
// first, and returns how many. Caller holds mu.
func (o *Outbox) dropClassesBelow(c reportClass) int {
	n := 0
	for _, e := range o.entries {
		if !e.done && e.class < c {
			o.writeAck(e, dropKey)
			o.markDone(e)
			n++
		}
	}
	return n
}

// carryForward copies entries (live, of the oldest segment) to the current
// segment, fsyncs it, and only then retires the originals, so a power cut
// at any point leaves at least one copy on disk (two copies are sent twice
// and acked as duplicates). It reports whether the copies were made.
// Caller holds mu; the fsync under the lock is rare (only a full outbox
// with reports worth keeping in its oldest segment).
func (o *Outbox) carryForward(entries []*outboxEntry) bool {
	copies := make([]*outboxEntry, 0, len(entries))
	for _, e := range entries {
		buf := make([]byte, e.size)
		if _, err := e.seg.data.ReadAt(buf, e.off); err != nil {
			o.writeLog.Log(o.log, slog.LevelWarn, "outbox: read report to carry forward", "seq", e.seq, "err", err)
			return false
		}
		c, err := o.appendLocked(buf, e.created)
		if err != nil {
			o.writeLog.Log(o.log, slog.LevelWarn, "outbox: carry report forward", "seq", e.seq, "err", err)
			return false
		}
		c.held = e.held
		copies = append(copies, c)
	}
	synced := map[*os.File]bool{}
	for _, c := range copies {
		if f := c.seg.data; !synced[f] {
			if err := f.Sync(); err != nil {
				o.writeLog.Log(o.log, slog.LevelWarn, "outbox: sync carried reports", "err", err)
				return false
			}
			synced[f] = true
		}
	}
	for i, e := range entries {
		c := copies[i]
		for oi, key := range o.cfg.Oracles {
			if e.acked&(1<<oi) != 0 {
				c.acked |= 1 << oi
				o.writeAck(c, key)
			}
		}
		e.movedTo = c
		e.held = false
		o.writeAck(e, dropKey)
		o.markDone(e)
	}
	o.m.carried.Add(float64(len(entries)))
	return true
}

func (o *Outbox) writeAck(e *outboxEntry, key [32]byte) {
	var rec [ackRecLen]byte
	binary.LittleEndian.PutUint64(rec[:], e.seq)
	copy(rec[8:40], key[:])
	binary.LittleEndian.PutUint32(rec[40:], crc32.Checksum(rec[:40], crcTable))
	s := e.seg
	if _, err := s.ack.WriteAt(rec[:], s.asize); err != nil {
		// The ack is kept in memory; after a restart the report is sent
		// again and the oracle acks it as a duplicate.
		o.m.writeErrs.Inc()
		o.writeLog.Log(o.log, slog.LevelWarn, "outbox: write ack", "segment", s.id, "err", err)
		_ = s.ack.Truncate(s.asize)
		return
	}
	s.asize += ackRecLen
	o.diskBytes += ackRecLen
	o.dirty = true
}

// markDone retires an entry; caller holds mu.
func (o *Outbox) markDone(e *outboxEntry) {
	if e.done {
		return
	}
	e.done = true
	e.seg.live--
	o.live--
	o.liveBytes[e.class] -= e.recordLen()
	if e.seg.live == 0 && e.seg != o.segs[len(o.segs)-1] {
		o.removeSegment(e.seg)
	}
}

// Ack records that oracle i (its index in OutboxConfig.Oracles) stored the
// report seq. It returns whether the report is now done.
func (o *Outbox) Ack(seq uint64, oracle int) bool {
	if oracle < 0 || oracle >= len(o.cfg.Oracles) {
		return false
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	e := o.find(seq)
	if e == nil || e.done || e.acked&(1<<oracle) != 0 {
		return e == nil || e.done
	}
	e.acked |= 1 << oracle
	o.writeAck(e, o.cfg.Oracles[oracle])
	if e.acked&o.full == o.full {
		o.markDone(e)
		o.m.completed.Inc()
		o.m.hold.Observe(float64(o.cfg.Now().UnixMilli()-e.created) / 1000)
		o.trimFront()
		o.updateGauges()
		return true
	}
	return false
}

func (o *Outbox) find(seq uint64) *outboxEntry {
	i := sort.Search(len(o.entries), func(i int) bool { return o.entries[i].seq >= seq })
	if i == len(o.entries) || o.entries[i].seq != seq {
		return nil
	}
	return o.entries[i]
}

// Next returns up to max durable reports with seq > after that oracle i has
// not acked, oldest first.
func (o *Outbox) Next(oracle int, after uint64, max int) ([]OutboxItem, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil, ErrOutboxClosed
	}
	i := sort.Search(len(o.entries), func(i int) bool { return o.entries[i].seq > after })
	var out []OutboxItem
	for ; i < len(o.entries) && len(out) < max; i++ {
		e := o.entries[i]
		if e.seq > o.durableSeq || (e.held && !e.done) {
			break // not durable yet, or held: nothing after it goes either
		}
		if e.done || e.acked&(1<<oracle) != 0 {
			continue
		}
		buf := make([]byte, e.size)
		if _, err := e.seg.data.ReadAt(buf, e.off); err != nil {
			return out, fmt.Errorf("outbox read %d: %w", e.seq, err)
		}
		out = append(out, OutboxItem{Seq: e.seq, Report: buf, CreatedMs: e.created})
	}
	return out, nil
}

// Changed returns a channel closed when new reports become durable or the
// outbox closes.
func (o *Outbox) Changed() <-chan struct{} {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.changed
}

// OutboxStats is a snapshot of the outbox.
type OutboxStats struct {
	Reports   int    `json:"reports"`    // reports not yet acked by every oracle
	DiskBytes int64  `json:"disk_bytes"` // bytes of segment and ack files
	OldestMs  int64  `json:"oldest_ms"`  // creation time of the oldest pending report, 0 if none
	LastSeq   uint64 `json:"last_seq"`
}

// Stats returns a snapshot.
func (o *Outbox) Stats() OutboxStats {
	o.mu.Lock()
	defer o.mu.Unlock()
	st := OutboxStats{Reports: o.live, DiskBytes: o.diskBytes, LastSeq: o.nextSeq - 1}
	for _, e := range o.entries {
		if !e.done {
			st.OldestMs = e.created
			break
		}
	}
	return st
}

func (o *Outbox) updateGauges() {
	o.m.reports.Set(float64(o.live))
	o.m.bytes.Set(float64(o.diskBytes))
}

// Sync makes every appended report and every recorded ack durable now.
// The fsyncs run without the outbox lock, so appends and acks go on while
// a slow SD card syncs.
func (o *Outbox) Sync() error {
	o.syncMu.Lock()
	defer o.syncMu.Unlock()
	o.mu.Lock()
	if o.closed || (!o.dirty && !o.dirSync) {
		o.mu.Unlock()
		return nil
	}
	upTo := o.nextSeq - 1
	files := make([]*os.File, 0, 2*len(o.segs))
	for _, s := range o.segs {
		files = append(files, s.data, s.ack)
	}
	dirSync := o.dirSync
	o.dirty, o.dirSync = false, false
	o.syncing = true
	o.mu.Unlock()

	var err error
	for _, f := range files {
		if e := f.Sync(); e != nil && err == nil {
			err = e
		}
	}
	if dirSync && err == nil {
		err = syncDir(o.cfg.Dir)
	}

	o.mu.Lock()
	defer o.mu.Unlock()
	o.syncing = false
	for _, s := range o.closeLater {
		s.data.Close()
		s.ack.Close()
	}
	o.closeLater = nil
	if err != nil {
		o.dirty, o.dirSync = true, o.dirSync || dirSync
		return fmt.Errorf("outbox sync: %w", err)
	}
	o.m.syncs.Inc()
	if upTo > o.durableSeq {
		o.durableSeq = upTo
		close(o.changed)
		o.changed = make(chan struct{})
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Run performs the batched fsyncs until ctx ends, then syncs once more and
// closes the files.
func (o *Outbox) Run(ctx context.Context) error {
	t := time.NewTicker(o.cfg.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			err := o.Close()
			return err
		case <-t.C:
		case <-o.kick:
			// Wait for the batch to fill; the ticker bounds the delay.
			select {
			case <-ctx.Done():
				return o.Close()
			case <-t.C:
			}
		}
		if err := o.Sync(); err != nil {
			o.log.Error("outbox sync", "err", err)
		}
	}
}

// Close syncs and closes the outbox. Further appends fail.
func (o *Outbox) Close() error {
	err := o.Sync()
	o.syncMu.Lock() // no Sync may be fsyncing the files closed below
	defer o.syncMu.Unlock()
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return err
	}
	o.closed = true
	o.closeFiles()
	close(o.changed)
	o.changed = make(chan struct{})
	return err
}

func (o *Outbox) closeFiles() {
	for _, s := range o.segs {
		s.data.Close()
		s.ack.Close()
	}
}
