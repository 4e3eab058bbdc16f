package oracle

import (
	"context"
	"google.golang.org/protobuf/proto"
	"testing"
	"time"

	"github.com/hexfield/hexfield/wire"
)

// FuzzSubmit feeds arbitrary envelopes to ingest's report path as if they
// came from an authenticated hotspot: it never panics, and a report is
// stored only if its signature verifies and its signer is the peer.
func FuzzSubmit(f *testing.F) {
	o, err := New(Config{DataDir: f.TempDir()}, Deps{Key: seedKey("fuzz-oracle")})
	if err != nil {
		f.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.commit.Run(ctx) }()
	f.Cleanup(func() {
		cancel()
		<-done
		o.store.Close()
	})
	packetRoute(f, o)
	hs := seedKey("fuzz-hotspot")
	peer := wire.PublicKeyOf(hs)
	in := &ingest{o: o}
	good := packetReport(f, hs, 1)
	f.Add(good)
	forged := append([]byte(nil), good...)
	forged[len(forged)-3] ^= 0x10
	f.Add(forged)
	f.Add(packetReport(f, seedKey("other"), 1))
	f.Add([]byte{0x08, 0x01, 0x12, 0x20})
	f.Fuzz(func(t *testing.T, env []byte) {
		a := in.submit(ctx, &wire.Submit{Envelope: env}, peer)
		select {
		case <-a.ready:
		case <-time.After(10 * time.Second):
			t.Fatal("no answer within 10 s")
		}
		ack := a.frame.GetAck()
		_, stored, err := o.store.Report(wire.ReportID(env))
		if err != nil {
			t.Fatal(err)
		}
		switch ack.GetCode() {
		case wire.Code_CODE_OK, wire.Code_CODE_DUPLICATE:
			opened, err := wire.Open(env, wire.Kind_KIND_UNSPECIFIED)
			if err != nil || opened.SignerKey() != peer || !stored {
				t.Fatalf("accepted %x: open err %v, stored %v", env, err, stored)
			}
			if opened.Kind == wire.Kind_KIND_PACKET_REPORT {
				var r wire.PacketReport
				if err := proto.Unmarshal(opened.Body, &r); err != nil {
					t.Fatalf("accepted a packet report whose body does not decode: %v", err)
				}
				if err := o.checkPacketReport(&r); err != nil {
					t.Fatalf("accepted a packet report that fails the ingest checks: %v", err)
				}
			}
		default:
			if stored && ack.GetCode() != wire.Code_CODE_INTERNAL {
				t.Fatalf("rejected (%v) but stored", ack.GetCode())
			}
		}
	})
}
