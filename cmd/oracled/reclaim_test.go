package main

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRentReclaimedOnLocalnet: two oracles (2-of-2) with a reclaim horizon
// of one epoch authorise every epoch, empty ones too, creating markers.
// Once epochs fall more than the horizon behind the newest authorised one,
// the oracles close their markers and the rent comes back, while later
// epochs are still agreed and paid as before.
func TestRentReclaimedOnLocalnet(t *testing.T) {
	t.Parallel() // wall-clock epochs, little CPU
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c := startCluster(t, ctx, 2, 2, 10*time.Second, make([]time.Duration, 2))
	for i := range c.nodes {
		c.stop(i)
		c.cfgs[i].ReclaimHorizon = 1
		c.start(i)
	}
	reclaimed := regexp.MustCompile(`msg="rent reclaimed".* lamports=(\d+)`)
	deadline := time.Now().Add(3 * time.Minute)
	for {
		var lamports uint64
		for i := range c.nodes {
			for _, m := range reclaimed.FindAllStringSubmatch(c.logs[i].String(), -1) {
				n, _ := strconv.ParseUint(m[1], 10, 64)
				lamports += n
			}
		}
		if lamports > 0 {
			t.Logf("%d lamports of rent reclaimed", lamports)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no rent reclaimed within 3 minutes; oracle A's log:\n%s", lastLines(c.logs[0].String(), 40))
		}
		time.Sleep(500 * time.Millisecond)
	}
	// Payment goes on: the next epoch is agreed on both.
	e := uint64(time.Now().UnixMilli()/c.epochLen.Milliseconds()) + 1
	ms := c.waitAgreed(e, 0, 1)
	if string(ms[0].ManifestBytes) != string(ms[1].ManifestBytes) {
		t.Fatalf("epoch %d: manifests differ", e)
	}
	for i := range c.nodes {
		if log := c.logs[i].String(); strings.Contains(log, "reclaiming rent") {
			t.Fatalf("oracle %c: a reclaim failed:\n%s", 'A'+i, lastLines(log, 40))
		}
	}
}

// lastLines is the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
