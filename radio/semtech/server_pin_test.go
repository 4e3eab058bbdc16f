package semtech

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"
)

// logCounter is a slog.Handler counting records by message.
type logCounter struct {
	mu   sync.Mutex
	msgs map[string]int
}

func newLogCounter() *logCounter { return &logCounter{msgs: map[string]int{}} }

func (c *logCounter) Enabled(context.Context, slog.Level) bool { return true }
func (c *logCounter) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *logCounter) WithGroup(string) slog.Handler            { return c }
func (c *logCounter) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	c.msgs[r.Message]++
	c.mu.Unlock()
	return nil
}

func (c *logCounter) count(msg string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.msgs[msg]
}

func (c *logCounter) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.msgs {
		n += v
	}
	return n
}

var otherEUI = EUI{0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1}

func pullData(t *testing.T, eui EUI) []byte {
	t.Helper()
	b, err := (&PullData{Version: 2, Token: Token{0x3c, 0x4d}, EUI: eui}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// acker answers every PULL_RESP arriving on f with an accepted TX_ACK from
// the same socket, recording the tokens, until the test ends.
func acker(t *testing.T, f *rawForwarder, eui EUI) (tokens func() []Token) {
	t.Helper()
	var mu sync.Mutex
	var toks []Token
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		buf := make([]byte, MaxDatagramSize)
		for {
			select {
			case <-done:
				return
			default:
			}
			f.conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			n, _, err := f.conn.ReadFrom(buf)
			if err != nil {
				continue
			}
			var pr PullResp
			if pr.UnmarshalBinary(buf[:n]) != nil {
				continue
			}
			mu.Lock()
			toks = append(toks, pr.Token)
			mu.Unlock()
			ack, _ := (&TxAck{Version: 2, Token: pr.Token, EUI: eui}).MarshalBinary()
			f.conn.WriteTo(ack, f.server)
		}
	}()
	t.Cleanup(func() { close(done); <-stopped })
	return func() []Token {
		mu.Lock()
		defer mu.Unlock()
		return append([]Token(nil), toks...)
	}
}

// TestServerPinsFirstForwarder: with PinForwarder, the first forwarder is
// pinned; a second "gateway" with another EUI pulling far more often gets
// no PULL_ACK, no PUSH_ACK, no uplink through and no downlink, is counted,
// and is logged a bounded number of times however long it keeps at it.
func TestServerPinsFirstForwarder(t *testing.T) {
	logs := newLogCounter()
	s := startServerLog(t, ServerConfig{PinForwarder: true, TxAckTimeout: 5 * time.Second}, slog.New(logs))
	real := newRawForwarder(t, s.Addr())
	real.send(unhex(t, specPullData))
	real.expect(time.Second, unhex(t, specPullAck))
	if eui, ok := s.Pinned(); !ok || eui != specEUI {
		t.Fatalf("pinned %v %v", eui, ok)
	}

	rogue := newRawForwarder(t, s.Addr())
	const pulls = 300
	for i := range pulls {
		rogue.send(pullData(t, otherEUI))
		if i%20 == 19 { // paced, so the socket buffer never overflows
			waitMetric(t, s.reg, "hexfield_semtech_dropped_total", dropUnpinned, float64(i+1))
		}
	}
	rogue.send(datagram(t, "02 1A 2B 00 DE AD BE EF 00 00 00 01", specUplinkJSON))
	waitMetric(t, s.reg, "hexfield_semtech_dropped_total", dropUnpinned, pulls+1)
	if b, err := rogue.tryRecv(50 * time.Millisecond); err == nil {
		t.Fatalf("second forwarder got an answer % X", b)
	}
	s.rec.none(t, 20*time.Millisecond)
	if gws := s.Gateways(); len(gws) != 1 || gws[0].EUI != specEUI {
		t.Fatalf("gateways %+v", gws)
	}

	// Downlinks go to the pinned forwarder.
	tokens := acker(t, real, specEUI)
	r, err := s.Send(context.Background(), specEUI, specBeaconTXPK(t))
	if err != nil || !r.Acked || !r.Accepted() || len(tokens()) != 1 {
		t.Fatalf("Send to pinned = %+v, %v (%d PULL_RESP)", r, err, len(tokens()))
	}
	if _, err := s.Send(context.Background(), otherEUI, specBeaconTXPK(t)); !errors.Is(err, ErrUnknownGateway) {
		t.Fatalf("Send to the second forwarder = %v", err)
	}
	if n := logs.count("semtech datagram from a second packet forwarder dropped: only the pinned forwarder is served"); n != 1 {
		t.Fatalf("%d conflict lines for %d datagrams, want 1", n, pulls+1)
	}
	if n := logs.total(); n > 2*logBurst {
		t.Fatalf("%d log lines in all", n)
	}
}

// TestServerPinnedByConfig: a configured EUI is pinned from the start, even
// if another forwarder speaks first.
func TestServerPinnedByConfig(t *testing.T) {
	s := startServer(t, ServerConfig{PinForwarder: true, ForwarderEUI: specEUI})
	rogue := newRawForwarder(t, s.Addr())
	rogue.send(pullData(t, otherEUI))
	waitMetric(t, s.reg, "hexfield_semtech_dropped_total", dropUnpinned, 1)
	real := newRawForwarder(t, s.Addr())
	real.send(unhex(t, specPullData))
	real.expect(time.Second, unhex(t, specPullAck))
	if _, err := NewServer(ServerConfig{Handler: newRecorder(), ForwarderEUI: specEUI}, listenUDP(t), nil, nil); err == nil {
		t.Fatal("ForwarderEUI without PinForwarder accepted")
	}
}

// TestServerPinnedAddressHold: another socket pulling with the pinned EUI
// cannot take the downlinks while the forwarder pulls from its address;
// once the old address has been quiet for AddressHold, a new one is taken
// (a restarted forwarder), counted once.
func TestServerPinnedAddressHold(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	logs := newLogCounter()
	s := startServerLog(t, ServerConfig{PinForwarder: true, Now: clock.Now, AddressHold: 30 * time.Second}, slog.New(logs))
	real := newRawForwarder(t, s.Addr())
	real.send(unhex(t, specPullData))
	real.expect(time.Second, unhex(t, specPullAck))
	spoof := newRawForwarder(t, s.Addr())
	for i := range 100 {
		if i%10 == 0 {
			clock.Add(time.Second)
			real.send(unhex(t, specPullData))
			real.expect(time.Second, unhex(t, specPullAck))
		}
		spoof.send(unhex(t, specPullData))
	}
	waitMetric(t, s.reg, "hexfield_semtech_dropped_total", dropAddressHeld, 100)
	if gw, _ := s.Gateway(specEUI); gw.Addr.String() != real.conn.LocalAddr().String() {
		t.Fatalf("downlink address moved to %v", gw.Addr)
	}
	if metric(t, s.reg, "hexfield_semtech_forwarder_address_changes_total", "") != 0 {
		t.Fatal("address change counted")
	}
	// The forwarder restarts: its old address falls silent.
	clock.Add(31 * time.Second)
	restarted := newRawForwarder(t, s.Addr())
	restarted.send(unhex(t, specPullData))
	restarted.expect(time.Second, unhex(t, specPullAck))
	if gw, _ := s.Gateway(specEUI); gw.Addr.String() != restarted.conn.LocalAddr().String() {
		t.Fatalf("restarted forwarder not taken: %v", gw.Addr)
	}
	waitMetric(t, s.reg, "hexfield_semtech_forwarder_address_changes_total", "", 1)
	if n := logs.total(); n > 3+logBurst {
		t.Fatalf("%d log lines", n)
	}
}

// TestServerSpoofedTxAck: a TX_ACK carrying the right token and EUI but sent
// from another socket than the one the PULL_RESP went to does not complete
// the downlink; the forwarder's own does.
func TestServerSpoofedTxAck(t *testing.T) {
	s := startServer(t, ServerConfig{PinForwarder: true, TxAckTimeout: 10 * time.Second})
	real := newRawForwarder(t, s.Addr())
	real.send(unhex(t, specPullData))
	real.expect(time.Second, unhex(t, specPullAck))
	spoof := newRawForwarder(t, s.Addr())
	type result struct {
		r   TxResult
		err error
	}
	res := make(chan result, 1)
	go func() {
		r, err := s.Send(context.Background(), specEUI, specBeaconTXPK(t))
		res <- result{r, err}
	}()
	var pr PullResp
	if err := pr.UnmarshalBinary(real.recv(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	// Even knowing the token, the spoofer is refused.
	fake, _ := (&TxAck{Version: 2, Token: pr.Token, EUI: specEUI}).MarshalBinary()
	spoof.send(fake)
	waitMetric(t, s.reg, "hexfield_semtech_dropped_total", dropTxAckAddress, 1)
	select {
	case r := <-res:
		t.Fatalf("spoofed TX_ACK completed the Send: %+v", r)
	default:
	}
	realAck, _ := (&TxAck{Version: 2, Token: pr.Token, EUI: specEUI, Status: TxStatusError(TxFreq)}).MarshalBinary()
	real.send(realAck)
	r := <-res
	if r.err != nil || r.r.Accepted() || r.r.Status.Error != TxFreq {
		t.Fatalf("Send = %+v, %v; want the forwarder's TX_FREQ", r.r, r.err)
	}
}

// TestServerTokensUnpredictable: successive downlink tokens are random, not
// a counter a spoofer could follow.
func TestServerTokensUnpredictable(t *testing.T) {
	s := startServer(t, ServerConfig{TxAckTimeout: 5 * time.Second})
	f := newRawForwarder(t, s.Addr())
	f.send(unhex(t, specPullData))
	f.expect(time.Second, unhex(t, specPullAck))
	tokens := acker(t, f, specEUI)
	const n = 64
	for range n {
		if _, err := s.Send(context.Background(), specEUI, specBeaconTXPK(t)); err != nil {
			t.Fatal(err)
		}
	}
	toks := tokens()
	if len(toks) != n {
		t.Fatalf("%d tokens", len(toks))
	}
	// A counter gives n-1 steps of one; random tokens give a step of one
	// with probability 1/65536 each.
	steps := 0
	seen := map[uint16]bool{}
	for i, tok := range toks {
		seen[tok.Uint16()] = true
		if i > 0 && tok.Uint16()-toks[i-1].Uint16() == 1 {
			steps++
		}
	}
	if steps > 2 || len(seen) < n-2 {
		t.Fatalf("tokens look sequential: %d unit steps, %d distinct of %d: %v", steps, len(seen), n, toks)
	}
}

// TestServerLogFlood: a forwarder hopping between source ports (unpinned
// server) and replies the socket cannot send are counted in metrics and
// logged a bounded number of times.
func TestServerLogFlood(t *testing.T) {
	logs := newLogCounter()
	s := startServerLog(t, ServerConfig{}, slog.New(logs))
	const moves = 200
	for range moves {
		f := newRawForwarder(t, s.Addr())
		f.send(unhex(t, specPullData))
		f.expect(time.Second, unhex(t, specPullAck))
	}
	waitMetric(t, s.reg, "hexfield_semtech_forwarder_address_changes_total", "", moves-1)
	if n := logs.count("semtech forwarder downlink address changed"); n < 1 || n > logBurst {
		t.Fatalf("%d address-change lines for %d changes", n, moves-1)
	}

	// Replies the socket refuses: one write error each, a bounded log.
	wlogs := newLogCounter()
	ws, err := NewServer(ServerConfig{Handler: newRecorder()}, failingConn{}, slog.New(wlogs), s.reg)
	if err != nil {
		t.Fatal(err)
	}
	addr := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}
	const writes = 500
	for range writes {
		ws.handle(context.Background(), unhex(t, specPullData), addr)
	}
	if got := metric(t, s.reg, "hexfield_semtech_write_errors_total", ""); got != writes {
		t.Fatalf("write errors counted %v, want %d", got, writes)
	}
	if n := wlogs.count("semtech reply failed"); n < 1 || n > logBurst {
		t.Fatalf("%d write-failure lines for %d failures", n, writes)
	}
}

// failingConn is a PacketConn whose writes all fail (a full socket buffer
// or an unreachable forwarder cannot be produced on demand on loopback).
type failingConn struct{ discardConn }

func (failingConn) WriteTo([]byte, net.Addr) (int, error) { return 0, errors.New("no buffer space") }

// TestServerPinnedPushFromOtherHost: once the pinned forwarder's downlink
// address is known, PUSH_DATA with its EUI from another host is dropped;
// from its own host (another port: the up socket) it is served.
func TestServerPinnedPushFromOtherHost(t *testing.T) {
	s := startServer(t, ServerConfig{PinForwarder: true})
	down := newRawForwarder(t, s.Addr())
	down.send(unhex(t, specPullData))
	down.expect(time.Second, unhex(t, specPullAck))
	up := newRawForwarder(t, s.Addr())
	up.send(datagram(t, specPushDataHeader, specUplinkJSON))
	up.expect(time.Second, unhex(t, specPushAck))
	s.rec.next(t)
	c, err := net.ListenPacket("udp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no second loopback address: %v", err)
	}
	defer c.Close()
	other := &rawForwarder{t: t, conn: c, server: s.Addr()}
	other.send(datagram(t, specPushDataHeader, specUplinkJSON))
	waitMetric(t, s.reg, "hexfield_semtech_dropped_total", dropWrongHost, 1)
	if b, err := other.tryRecv(50 * time.Millisecond); err == nil {
		t.Fatalf("other host got % X", b)
	}
	s.rec.none(t, 20*time.Millisecond)
}
