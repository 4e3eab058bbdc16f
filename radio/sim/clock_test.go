package sim

import (
	"testing"
	"time"
)

func TestManualClockOrder(t *testing.T) {
	c := NewManualClock(t0)
	var got []string
	record := func(s string) func() {
		return func() { got = append(got, s+"@"+c.Now().Sub(t0).String()) }
	}
	c.AfterFunc(3*time.Second, record("c"))
	c.AfterFunc(time.Second, record("a"))
	c.AfterFunc(time.Second, record("a2")) // same time: scheduling order
	stopped := c.AfterFunc(2*time.Second, record("never"))
	c.AfterFunc(2*time.Second, func() {
		got = append(got, "b@"+c.Now().Sub(t0).String())
		c.AfterFunc(500*time.Millisecond, record("nested")) // due within the same Advance
	})
	if !stopped.Stop() || stopped.Stop() {
		t.Fatal("Stop should succeed once")
	}
	if n, ok := c.Next(); !ok || !n.Equal(t0.Add(time.Second)) || c.Pending() != 4 {
		t.Fatalf("Next %v %v, pending %d", n, ok, c.Pending())
	}
	c.Advance(2500 * time.Millisecond)
	want := []string{"a@1s", "a2@1s", "b@2s", "nested@2.5s"}
	if len(got) != len(want) {
		t.Fatalf("ran %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("ran %v, want %v", got, want)
		}
	}
	if !c.Now().Equal(t0.Add(2500 * time.Millisecond)) {
		t.Errorf("now %v", c.Now())
	}
	c.AdvanceTo(t0) // never backwards
	if !c.Now().Equal(t0.Add(2500 * time.Millisecond)) {
		t.Errorf("clock went backwards to %v", c.Now())
	}
	c.Advance(time.Hour)
	if len(got) != 5 || got[4] != "c@3s" || c.Pending() != 0 {
		t.Errorf("ran %v, pending %d", got, c.Pending())
	}
}
