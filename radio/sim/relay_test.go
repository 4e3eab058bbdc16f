package sim

import (
	"testing"
	"time"
)

func TestRelay(t *testing.T) {
	m, clk := exactMedium(t)
	beaconer, _ := attach(t, m, "beaconer", 0, 0)
	in, _ := attach(t, m, "relay-in", 0, 1000)
	out, _ := attach(t, m, "relay-out", 0, 60_000) // 60 km away
	_, far := attach(t, m, "far", 0, 61_000)
	r, err := NewRelay(in, out, RelayConfig{Delay: 10 * time.Millisecond, Power: 14})
	if err != nil {
		t.Fatal(err)
	}
	s := send(t, beaconer, Transmission{Frequency: f8671, DataRate: sf12, Power: 14, Payload: []byte("beacon")})
	clk.Advance(10 * time.Second)
	got := far.all()
	if len(got) != 1 || string(got[0].Payload) != "beacon" || got[0].From != "relay-out" {
		t.Fatalf("far heard %+v, want the relayed beacon", got)
	}
	if want := s.End.Add(10 * time.Millisecond); !got[0].Start.Equal(want) {
		t.Errorf("relayed frame started %v, want %v", got[0].Start, want)
	}
	r.Stop()
	send(t, beaconer, Transmission{Frequency: f8671, DataRate: sf12, Power: 14, Payload: []byte("again")})
	clk.Advance(10 * time.Second)
	if len(far.all()) != 1 {
		t.Error("relay still relays after Stop")
	}
}
