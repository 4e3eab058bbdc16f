package oracle

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/proto"

	"github.com/hexfield/hexfield/wire"
)

func countReports(t *testing.T, s *Store, kind wire.Kind) int {
	t.Helper()
	n := 0
	if err := s.ScanReports(kind, 0, 1<<62, func(StoredReport) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestIngestEndToEnd(t *testing.T) {
	to := startOracle(t, t.TempDir(), Config{}, Deps{})
	packetRoute(t, to.o)
	o := to.o
	now := time.Now()
	const hotspots, perHotspot = 4, 50
	keys := make([]*hotspotConn, hotspots)
	privs := make([][]byte, hotspots)
	stored := map[[32]byte]uint64{}
	for i := range hotspots {
		hs, _ := onboardHotspot(t, o, now, testCell(t, i))
		privs[i] = hs
		keys[i] = dialOracle(t, to.quic, hs, o.PublicKey())
		// Hello first.
		pub := wire.PublicKeyOf(hs)
		keys[i].send(t, &wire.Frame{Msg: &wire.Frame_Hello{Hello: &wire.Hello{ProtocolVersion: wire.ProtocolVersion, PubKey: pub[:], Role: wire.Role_ROLE_HOTSPOT}}})
		if a := keys[i].recv(t).GetAck(); a.GetCode() != wire.Code_CODE_OK || !strings.Contains(a.GetMessage(), o.PublicKey().String()) {
			t.Fatalf("hello ack = %v", a)
		}
		// Pipeline every report, then read the acks in order.
		envs := make([][]byte, perHotspot)
		for j := range envs {
			envs[j] = packetReport(t, hs, uint64(j))
			if err := keys[i].fw.Write(submitFrame(envs[j])); err != nil {
				t.Fatal(err)
			}
		}
		if err := keys[i].fw.Flush(); err != nil {
			t.Fatal(err)
		}
		for j := range envs {
			a := keys[i].recv(t).GetAck()
			id := wire.ReportID(envs[j])
			if a.GetCode() != wire.Code_CODE_OK || !bytes.Equal(a.GetId(), id[:]) || a.GetReceivedMs() == 0 {
				t.Fatalf("hotspot %d report %d: ack %v", i, j, a)
			}
			stored[id] = a.GetReceivedMs()
		}
	}
	for id, ms := range stored {
		r, found, err := o.store.Report(id)
		if err != nil || !found {
			t.Fatalf("acked report %x not stored (err %v)", id[:4], err)
		}
		if uint64(r.ReceivedMs) != ms {
			t.Fatalf("stored received_ms %d, acked %d", r.ReceivedMs, ms)
		}
	}
	if n := countReports(t, o.store, wire.Kind_KIND_PACKET_REPORT); n != hotspots*perHotspot {
		t.Fatalf("stored %d reports, want %d", n, hotspots*perHotspot)
	}

	for id := range stored { // one acked report over HTTP
		code, body := httpGet(t, to.http+"/v1/reports/"+hexID(id))
		if code != 200 || !bytes.Contains(body, []byte(`"kind": "packet_report"`)) {
			t.Fatalf("GET report: %d %s", code, body)
		}
		break
	}
	good := packetReport(t, privs[0], 1000)
	first := keys[0].submit(t, good)
	if first.GetCode() != wire.Code_CODE_OK {
		t.Fatalf("first submit: %v", first)
	}
	before := countReports(t, o.store, wire.Kind_KIND_PACKET_REPORT)

	t.Run("replayed", func(t *testing.T) {
		a := keys[0].submit(t, good)
		if a.GetCode() != wire.Code_CODE_DUPLICATE || a.GetReceivedMs() != first.GetReceivedMs() {
			t.Fatalf("replay ack = %v, want DUPLICATE with received_ms %d", a, first.GetReceivedMs())
		}
	})
	t.Run("forged", func(t *testing.T) {
		bad := bytes.Clone(good)
		bad[len(bad)-1] ^= 1 // the signature is the last field
		a := keys[0].submit(t, bad)
		if a.GetCode() != wire.Code_CODE_BAD_SIGNATURE {
			t.Fatalf("forged ack = %v", a)
		}
		if _, found, _ := o.store.Report(wire.ReportID(bad)); found {
			t.Fatal("forged report stored")
		}
	})
	t.Run("wrong key", func(t *testing.T) {
		other := packetReport(t, privs[1], 2000) // valid, but hotspot 1's
		a := keys[0].submit(t, other)
		if a.GetCode() != wire.Code_CODE_WRONG_KEY {
			t.Fatalf("wrong-key ack = %v", a)
		}
		if _, found, _ := o.store.Report(wire.ReportID(other)); found {
			t.Fatal("wrong-key report stored")
		}
	})
	t.Run("body key mismatch", func(t *testing.T) {
		pub1 := wire.PublicKeyOf(privs[1])
		raw, err := wire.Seal(privs[0], wire.Kind_KIND_PACKET_REPORT, &wire.PacketReport{PubKey: pub1[:], PayloadSize: 3})
		if err != nil {
			t.Fatal(err)
		}
		if a := keys[0].submit(t, raw); a.GetCode() != wire.Code_CODE_WRONG_KEY {
			t.Fatalf("ack = %v", a)
		}
	})
	t.Run("oversize report", func(t *testing.T) {
		pub := wire.PublicKeyOf(privs[0])
		raw, err := wire.Seal(privs[0], wire.Kind_KIND_PACKET_REPORT, &wire.PacketReport{PubKey: pub[:], RouteId: strings.Repeat("x", 5000)})
		if err != nil {
			t.Fatal(err)
		}
		if a := keys[0].submit(t, raw); a.GetCode() != wire.Code_CODE_OVERSIZE {
			t.Fatalf("ack = %v", a)
		}
		if _, found, _ := o.store.Report(wire.ReportID(raw)); found {
			t.Fatal("oversize report stored")
		}
	})
	t.Run("malformed", func(t *testing.T) {
		if a := keys[0].submit(t, []byte("not an envelope")); a.GetCode() != wire.Code_CODE_MALFORMED {
			t.Fatalf("ack = %v", a)
		}
	})
	t.Run("not a report", func(t *testing.T) {
		raw, err := wire.Seal(privs[0], wire.Kind_KIND_ENTROPY, &wire.Entropy{Version: 1, Ts: 1, Data: make([]byte, 32)})
		if err != nil {
			t.Fatal(err)
		}
		if a := keys[0].submit(t, raw); a.GetCode() != wire.Code_CODE_UNSUPPORTED {
			t.Fatalf("ack = %v", a)
		}
	})
	t.Run("stream still serves", func(t *testing.T) {
		if a := keys[0].submit(t, packetReport(t, privs[0], 3000)); a.GetCode() != wire.Code_CODE_OK {
			t.Fatalf("ack after rejects = %v", a)
		}
	})
	t.Run("oversize frame", func(t *testing.T) {
		hc := dialOracle(t, to.quic, privs[2], o.PublicKey())
		// A raw length prefix larger than MaxFrameSize.
		hdr := []byte{0, 2, 0, 0}
		if _, err := hc.str.Write(append(hdr, make([]byte, 1024)...)); err != nil {
			t.Fatal(err)
		}
		if a := hc.recv(t).GetAck(); a.GetCode() != wire.Code_CODE_OVERSIZE {
			t.Fatalf("ack = %v", a)
		}
		// The connection still works on a new stream.
		str, err := hc.conn.OpenStreamSync(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		hc2 := &hotspotConn{conn: hc.conn, str: str, fw: wire.NewFrameWriter(str), fr: wire.NewFrameReader(str)}
		if a := hc2.submit(t, packetReport(t, privs[2], 4000)); a.GetCode() != wire.Code_CODE_OK {
			t.Fatalf("ack on new stream = %v", a)
		}
	})
	if n := countReports(t, o.store, wire.Kind_KIND_PACKET_REPORT); n != before+2 {
		t.Fatalf("stored %d reports, want %d (only the two valid new ones)", n, before+2)
	}

	t.Run("unknown hotspot", func(t *testing.T) {
		// Refused inside the TLS handshake: no connection, no stream, no ack.
		stranger := testKey(t)
		okBefore := testutil.ToFloat64(o.m.connsTotal.WithLabelValues("ok"))
		hc, err := dialOracleErr(to.quic, stranger, o.PublicKey())
		if err == nil {
			// The client's handshake may end before the server's verdict
			// arrives; the next read sees it.
			defer hc.close()
			hc.str.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err = hc.fr.Read()
		}
		if !wire.KeyRefused(err) {
			t.Fatalf("unknown key: err = %v, want the handshake refused", err)
		}
		if v := testutil.ToFloat64(o.m.connsTotal.WithLabelValues("unknown_hotspot")); v != 1 {
			t.Fatalf("unknown connections counted %v", v)
		}
		if v := testutil.ToFloat64(o.m.connsTotal.WithLabelValues("ok")); v != okBefore {
			t.Fatalf("an unknown key's connection was accepted (ok %v → %v)", okBefore, v)
		}
	})
	t.Run("entropy and config", func(t *testing.T) {
		keys[1].send(t, &wire.Frame{Msg: &wire.Frame_EntropyRequest{EntropyRequest: &wire.EntropyRequest{}}})
		f := keys[1].recv(t)
		env := f.GetEntropy()
		if env == nil {
			t.Fatalf("want entropy, got %v", f)
		}
		raw, _ := proto.Marshal(env)
		var e wire.Entropy
		signer, err := wire.Unseal(raw, wire.Kind_KIND_ENTROPY, &e)
		if err != nil || signer != o.PublicKey() || len(e.GetData()) != 32 || e.GetVersion() != 1 {
			t.Fatalf("entropy %v signer %s err %v", &e, signer, err)
		}
		keys[1].send(t, &wire.Frame{Msg: &wire.Frame_ConfigRequest{ConfigRequest: &wire.ConfigRequest{}}})
		cf := keys[1].recv(t).GetConfig()
		raw, _ = proto.Marshal(cf)
		var c wire.Config
		if _, err := wire.Unseal(raw, wire.Kind_KIND_CONFIG, &c); err != nil {
			t.Fatal(err)
		}
		if c.GetRegion() != "EU868" || !c.GetAsserted() || c.GetGainDdbi() != 30 {
			t.Fatalf("config = %v", &c)
		}
	})
	// Metrics: rejections are counted by code.
	for code, want := range map[string]float64{"bad_signature": 1, "wrong_key": 2, "duplicate": 1} {
		if got := testutil.ToFloat64(o.m.rejected.WithLabelValues(code)); got != want {
			t.Errorf("rejected{%s} = %v, want %v", code, got, want)
		}
	}
}

// TestIngestRateLimit: a hotspot over its report rate gets
// CODE_OVERLOADED for the excess, which is not stored.
func TestIngestRateLimit(t *testing.T) {
	to := startOracle(t, t.TempDir(), Config{RateLimit: 2}, Deps{}) // burst 20
	packetRoute(t, to.o)
	hs, _ := onboardHotspot(t, to.o, time.Now(), 0)
	hc := dialOracle(t, to.quic, hs, to.o.PublicKey())
	envs := make([][]byte, 30)
	for i := range envs {
		envs[i] = packetReport(t, hs, uint64(i))
		if err := hc.fw.Write(submitFrame(envs[i])); err != nil {
			t.Fatal(err)
		}
	}
	if err := hc.fw.Flush(); err != nil {
		t.Fatal(err)
	}
	ok, overloaded := 0, 0
	for i := range envs {
		a := hc.recv(t).GetAck()
		_, stored, _ := to.o.store.Report(wire.ReportID(envs[i]))
		switch a.GetCode() {
		case wire.Code_CODE_OK:
			ok++
		case wire.Code_CODE_OVERLOADED:
			overloaded++
			if stored {
				t.Fatal("a rate-limited report was stored")
			}
		default:
			t.Fatalf("ack %v", a)
		}
	}
	if ok < 20 || ok > 22 || overloaded != 30-ok {
		t.Fatalf("%d stored, %d overloaded; want the burst of 20 (plus refill) stored", ok, overloaded)
	}
}

func TestTokenBucket(t *testing.T) {
	t0 := time.Unix(1000, 0)
	b := newTokenBucket(10, 20, t0)
	n := 0
	for b.take(t0) {
		n++
	}
	if n != 20 {
		t.Fatalf("burst %d, want 20", n)
	}
	if !b.take(t0.Add(100*time.Millisecond)) || b.take(t0.Add(100*time.Millisecond)) {
		t.Fatal("refill of one token after 100 ms at 10/s")
	}
	n = 0
	for b.take(t0.Add(time.Hour)) {
		n++
	}
	if n != 20 {
		t.Fatalf("refill capped at %d, want the burst of 20", n)
	}
}
