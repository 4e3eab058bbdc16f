package semtech

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// eightRXPK is a PUSH_DATA with the SX1301 forwarder's maximum of 8 rxpk
// (NB_PKT_MAX), mixing SX1302 fields.
func eightRXPK(b *testing.B) []byte {
	b.Helper()
	one := `{"jver":1,"tmst":3512348611,"time":"2024-05-01T12:00:00.123456Z","tmms":1398600018123,"ftime":123456789,"chan":2,"rfch":0,"freq":868.500000,"mid":8,"stat":1,"modu":"LORA","datr":"SF7BW125","codr":"4/5","rssis":-62,"rssi":-57,"lsnr":9.5,"foff":-1234,"size":51,"data":"QNobASYAAQABYWJjZKGyw9RhYmNkYWJjZGFiY2RhYmNkYWJjZGFiY2RhYmNkYWJjZGFiY2Rh"}`
	parts := make([]string, 8)
	for i := range parts {
		parts[i] = one
	}
	return datagram(b, specPushDataHeader, `{"rxpk":[`+strings.Join(parts, ",")+`]}`)
}

// BenchmarkPushDataDecode measures PUSH_DATA decoding. The "baseline"
// sub-benchmark decodes the same spec datagram's JSON generically into
// map[string]any with encoding/json, as a same-run reference.
func BenchmarkPushDataDecode(b *testing.B) {
	spec := datagram(b, specPushDataHeader, specUplinkJSON)
	eight := eightRXPK(b)
	for _, c := range []struct {
		name string
		data []byte
		n    int
	}{{"spec235B", spec, 1}, {"8rxpk", eight, 8}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.data)))
			b.ReportAllocs()
			for b.Loop() {
				var p PushData
				if err := p.UnmarshalBinary(c.data); err != nil || len(p.RXPK) != c.n {
					b.Fatal(err, len(p.RXPK))
				}
			}
		})
	}
	b.Run("baseline_map_spec235B", func(b *testing.B) {
		b.SetBytes(int64(len(spec)))
		b.ReportAllocs()
		for b.Loop() {
			var m map[string]any
			if err := json.Unmarshal(spec[12:], &m); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkPushDataEncode(b *testing.B) {
	p := PushData{Version: 2, Token: Token{0x1A, 0x2B}, EUI: specEUI, RXPK: []RXPK{specUplinkRXPK()}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.MarshalBinary(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseHeader(b *testing.B) {
	spec := datagram(b, specPushDataHeader, specUplinkJSON)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseHeader(spec); err != nil {
			b.Fatal(err)
		}
	}
}

// countingHandler counts uplinks for the loopback benchmark.
type countingHandler struct{ n chan struct{} }

func (h countingHandler) HandleUplink(context.Context, Uplink) { h.n <- struct{}{} }

// BenchmarkLoopbackUplink measures one PUSH_DATA (the spec's uplink) from a
// Client to a Server over loopback UDP: send, PUSH_ACK back, decode,
// filter, and delivery to the handler.
func BenchmarkLoopbackUplink(b *testing.B) {
	h := countingHandler{n: make(chan struct{}, 1024)}
	s := startServer(b, ServerConfig{Handler: h})
	c := startClient(b, ClientConfig{PushTimeout: 5 * time.Second, KeepaliveInterval: time.Hour}, s.Addr())
	rx := []RXPK{specUplinkRXPK()}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Push(ctx, rx, nil); err != nil {
			b.Fatal(err)
		}
		<-h.n
	}
}
