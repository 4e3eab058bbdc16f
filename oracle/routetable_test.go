package oracle

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hexfield/hexfield/wire"
)

// askTable sends one RouteTableRequest on a fresh stream of hc, as a
// hotspot does, and returns the signed table (nil for unchanged) and the
// unchanged answer (nil for a table).
func askTable(t *testing.T, hc *hotspotConn, oracle wire.PublicKey, req *wire.RouteTableRequest) (*wire.RouteTable, *wire.RouteTableUnchanged) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	str, err := hc.conn.OpenStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	str.SetDeadline(time.Now().Add(10 * time.Second))
	if err := wire.WriteFrame(str, &wire.Frame{Msg: &wire.Frame_RouteTableRequest{RouteTableRequest: req}}); err != nil {
		t.Fatal(err)
	}
	str.Close()
	fr := wire.NewFrameReader(str)
	var a wire.RouteTableAssembler
	for {
		f, err := fr.Read()
		if errors.Is(err, io.EOF) {
			t.Fatal("stream ended inside the table")
		}
		if err != nil {
			t.Fatal(err)
		}
		switch m := f.Msg.(type) {
		case *wire.Frame_RouteTableUnchanged:
			return nil, m.RouteTableUnchanged
		case *wire.Frame_RouteTableChunk:
			done, err := a.Add(m.RouteTableChunk)
			if err != nil {
				t.Fatal(err)
			}
			if !done {
				continue
			}
			tab, signer, err := wire.OpenRouteTable(a.Envelope())
			if err != nil || signer != oracle {
				t.Fatalf("table signed by %s: %v", signer, err)
			}
			return tab, nil
		default:
			t.Fatalf("answer %v", f)
		}
	}
}

func held(tab *wire.RouteTable) *wire.RouteTableRequest {
	return &wire.RouteTableRequest{TableId: tab.TableId, Version: tab.Version, Region: tab.Region}
}

func routeIDs(rs []*wire.TableRoute) []string {
	var ids []string
	for _, r := range rs {
		ids = append(ids, r.Id)
	}
	return ids
}

func tableRouteByID(tab *wire.RouteTable, id string) *wire.TableRoute {
	for _, r := range tab.Routes {
		if r.Id == id {
			return r
		}
	}
	return nil
}

// TestRouteTableFullThenIncremental, over real QUIC and Badger: a hotspot
// gets the full table of its region (the LNS for EU868, EUI pairs as
// ranges, the wildcard as the whole DevEUI range), then unchanged; the
// payer's balance running out (an epoch's charges) locks the organization
// and the next answer is an update turning its routes inactive, another
// organization's route untouched; a credit unlocks it; a deleted route
// comes as removed. Another oracle's or another region's table gets the
// full one, unless its version is not lower; the version and table id
// survive a restart.
func TestRouteTableFullThenIncremental(t *testing.T) {
	dir := t.TempDir()
	key := testKey(t)
	to := startOracle(t, dir, Config{}, Deps{Key: key})
	o := to.o
	now := o.now()
	hs, _ := onboardHotspot(t, o, now, testCell(t, 0))
	payer, other := testKey(t), testKey(t)
	org := putTestRoute(t, o, "acme", "r1", payer, 100)
	b := org.DevAddrBlocks[0]
	j1, j2 := uint64(0x70b3d57ed0000001), uint64(0x70b3d57ed0000002)
	if _, err := change(t, o, payer, &wire.OrgChange{Org: "acme", Op: &wire.OrgChange_PutRoute{PutRoute: &wire.RouteSpec{
		Id: "r2", Active: true, MaxCopies: 2,
		Lns:           []*wire.LNSEndpoint{{Region: "default", Addr: "127.0.0.1:1700"}, {Region: "EU868", Addr: "10.0.0.1:1700"}},
		DevaddrRanges: []*wire.DevAddrRange{{Start: uint32(b.Start), End: uint32(b.Start) + 3}},
		EuiPairs: []*wire.EUIPair{{JoinEui: j1, DevEui: 0}, {JoinEui: j1, DevEui: 9}, {JoinEui: j2, DevEui: 6},
			{JoinEui: j2, DevEui: 5}, {JoinEui: j2, DevEui: 8}},
	}}}); err != nil {
		t.Fatal(err)
	}
	putTestRoute(t, o, "other", "r3", other, 100)
	hc := dialOracle(t, to.quic, hs, o.pub)

	full, _ := askTable(t, hc, o.pub, &wire.RouteTableRequest{})
	if !full.Full || full.Region != "EU868" || len(full.TableId) != wire.TableIDSize || full.Version == 0 ||
		!slices.Equal(routeIDs(full.Routes), []string{"r1", "r2", "r3"}) {
		t.Fatalf("full table %v", full)
	}
	r2 := tableRouteByID(full, "r2")
	const all = ^uint64(0)
	wantPairs := []*wire.EUIPairRange{
		{JoinEui: &wire.EUIRange{Start: j1, End: j1}, DevEui: &wire.EUIRange{Start: 0, End: all}},
		{JoinEui: &wire.EUIRange{Start: j2, End: j2}, DevEui: &wire.EUIRange{Start: 5, End: 6}},
		{JoinEui: &wire.EUIRange{Start: j2, End: j2}, DevEui: &wire.EUIRange{Start: 8, End: 8}},
	}
	if !r2.Active || r2.Lns != "10.0.0.1:1700" || r2.MaxCopies != 2 || len(r2.EuiPairs) != 3 ||
		!slices.EqualFunc(r2.EuiPairs, wantPairs, func(a, b *wire.EUIPairRange) bool { return pairText(a) == pairText(b) }) {
		t.Fatalf("r2 in the table %v", r2)
	}
	if r1 := tableRouteByID(full, "r1"); !r1.Active || r1.Lns != "127.0.0.1:1700" {
		t.Fatalf("r1 (default LNS) %v", r1)
	}
	if _, un := askTable(t, hc, o.pub, held(full)); un == nil || un.Version != full.Version || !bytes.Equal(un.TableId, full.TableId) {
		t.Fatalf("current table: %v", un)
	}

	// The epoch's charges take the payer to 0: acme is locked.
	if err := o.store.putEpochCharged(epochRecord{Epoch: 1, RouteDC: map[string]uint64{"r1": 1000}}, []byte("m"), 0, 0); err != nil {
		t.Fatal(err)
	}
	locked, _ := askTable(t, hc, o.pub, held(full))
	if locked == nil || locked.Full || locked.BaseVersion != full.Version || locked.Version <= full.Version ||
		!slices.Equal(routeIDs(locked.Routes), []string{"r1", "r2"}) || locked.Routes[0].Active || locked.Routes[1].Active ||
		len(locked.Routes[1].EuiPairs) != 0 || len(locked.Removed) != 0 {
		t.Fatalf("update after the lock %v", locked)
	}
	creditTest(t, o, wire.PublicKeyOf(payer), 10)
	unlocked, _ := askTable(t, hc, o.pub, held(locked))
	if unlocked == nil || unlocked.BaseVersion != locked.Version || !slices.Equal(routeIDs(unlocked.Routes), []string{"r1", "r2"}) ||
		!unlocked.Routes[0].Active || !unlocked.Routes[1].Active {
		t.Fatalf("update after the credit %v", unlocked)
	}
	// A second credit crosses nothing: no new version.
	creditTest(t, o, wire.PublicKeyOf(payer), 10)
	if _, un := askTable(t, hc, o.pub, held(unlocked)); un == nil {
		t.Fatal("a credit that unlocks nothing changed the table")
	}
	if _, err := change(t, o, payer, &wire.OrgChange{Org: "acme", Op: &wire.OrgChange_DeleteRoute{DeleteRoute: "r2"}}); err != nil {
		t.Fatal(err)
	}
	// From two versions back: both changes in one update.
	del, _ := askTable(t, hc, o.pub, held(locked))
	if del == nil || del.BaseVersion != locked.Version || !slices.Equal(del.Removed, []string{"r2"}) ||
		!slices.Equal(routeIDs(del.Routes), []string{"r1"}) {
		t.Fatalf("update after the delete %v", del)
	}

	// Another oracle's table: full when ours is newer, unchanged when not.
	foreign := &wire.RouteTableRequest{TableId: bytes.Repeat([]byte{7}, 16), Version: del.Version - 1, Region: "EU868"}
	if f, _ := askTable(t, hc, o.pub, foreign); f == nil || !f.Full || !slices.Equal(routeIDs(f.Routes), []string{"r1", "r3"}) {
		t.Fatalf("another lineage, older: %v", f)
	}
	foreign.Version = del.Version
	if _, un := askTable(t, hc, o.pub, foreign); un == nil {
		t.Fatal("another lineage as new as ours got a table")
	}
	// Our table for another region: full.
	wrong := held(del)
	wrong.Region = "US915"
	if f, _ := askTable(t, hc, o.pub, wrong); f == nil || !f.Full || f.Version != del.Version || f.Region != "EU868" {
		t.Fatalf("another region: %v", f)
	}
	if got := testutil.ToFloat64(o.m.routeTables.WithLabelValues("incremental")); got < 3 {
		t.Errorf("incremental answers counted %v", got)
	}

	// Restart: same table id and version.
	hc.close()
	to.stop(t)
	to = startOracle(t, dir, Config{}, Deps{Key: key})
	hc = dialOracle(t, to.quic, hs, to.o.pub)
	if _, un := askTable(t, hc, to.o.pub, held(del)); un == nil || un.Version != del.Version {
		t.Fatalf("after a restart: %v", un)
	}
}

// TestRouteTableHistoryBound: the history keeps routeHistoryLen versions;
// a hotspot further behind gets the full table.
func TestRouteTableHistoryBound(t *testing.T) {
	now := time.Now()
	o := newRegistryOracle(t, Config{}, &now)
	payer := testKey(t)
	putTestRoute(t, o, "acme", "r1", payer, 100)
	_, v0, _ := o.store.routeTableVersion()
	err := o.store.registryUpdate(func(txn *badger.Txn) error {
		for range routeHistoryLen + 10 {
			if err := bumpRouteTable(txn, routeChange{Routes: []string{"r1"}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	_, v, _ := o.store.routeTableVersion()
	if v != v0+routeHistoryLen+10 {
		t.Fatalf("version %d after %d bumps from %d", v, routeHistoryLen+10, v0)
	}
	n := 0
	o.store.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixRouteHist}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return nil
	})
	if n != routeHistoryLen {
		t.Fatalf("history holds %d versions, want %d", n, routeHistoryLen)
	}
	if _, ok, _, err := o.store.buildRouteTable("EU868", v-routeHistoryLen, false); err != nil || !ok {
		t.Fatalf("update from the oldest kept base: %v %v", ok, err)
	}
	if _, ok, _, err := o.store.buildRouteTable("EU868", v-routeHistoryLen-1, false); err != nil || ok {
		t.Fatalf("update from beyond the history: ok %v, %v", ok, err)
	}
	hs, _ := onboardHotspot(t, o, now, testCell(t, 1))
	id, _, _ := o.store.routeTableVersion()
	frames, label, err := o.routeTableAnswer(wire.PublicKeyOf(hs), &wire.RouteTableRequest{TableId: id, Version: v0, Region: "EU868"})
	if err != nil || label != "full" || len(frames) != 1 {
		t.Fatalf("too old: %s, %d frames, %v", label, len(frames), err)
	}
}

// TestEUIPairRanges: the wildcard swallows a JoinEUI's other pairs,
// consecutive wildcard JoinEUIs share a range, and so do consecutive
// DevEUIs of one JoinEUI.
func TestEUIPairRanges(t *testing.T) {
	got := euiPairRanges([]EUIPair{{3, 0}, {1, 0}, {2, 0}, {2, 7}, {5, 1}, {5, 2}, {5, 4}, {5, 2}, {^HexU64(0), 0}})
	want := []string{"1-3/0-ffffffffffffffff", "5-5/1-2", "5-5/4-4", "ffffffffffffffff-ffffffffffffffff/0-ffffffffffffffff"}
	var s []string
	for _, p := range got {
		s = append(s, pairText(p))
	}
	if !slices.Equal(s, want) {
		t.Fatalf("got %q, want %q", s, want)
	}
}

func pairText(p *wire.EUIPairRange) string {
	return fmt.Sprintf("%x-%x/%x-%x", p.JoinEui.Start, p.JoinEui.End, p.DevEui.Start, p.DevEui.End)
}

// FuzzRouteTableRequest: any request a hotspot can send is answered with
// unchanged or a table that opens and passes wire's checks, never an
// error, and an update only for this store's table id.
func FuzzRouteTableRequest(f *testing.F) {
	now := time.Now()
	o := newRegistryOracle(f, Config{}, &now)
	hs, _ := onboardHotspot(f, o, now, testCell(f, 2))
	payer := testKey(f)
	putTestRoute(f, o, "acme", "r1", payer, 100)
	putTestRoute(f, o, "other", "r2", testKey(f), 0)
	id, v, _ := o.store.routeTableVersion()
	f.Add([]byte{}, uint64(0), "")
	f.Add(id, v, "EU868")
	f.Add(id, v-1, "EU868")
	f.Add(id, v+5, "US915")
	f.Add(bytes.Repeat([]byte{1}, 16), uint64(1<<63), "EU868")
	f.Fuzz(func(t *testing.T, tableID []byte, version uint64, region string) {
		frames, label, err := o.routeTableAnswer(wire.PublicKeyOf(hs), &wire.RouteTableRequest{TableId: tableID, Version: version, Region: region})
		if err != nil {
			t.Fatal(err)
		}
		if un := frames[0].GetRouteTableUnchanged(); un != nil {
			if label != "unchanged" || len(frames) != 1 {
				t.Fatalf("%s with %d frames", label, len(frames))
			}
			return
		}
		var a wire.RouteTableAssembler
		for _, fr := range frames {
			if _, err := a.Add(fr.GetRouteTableChunk()); err != nil {
				t.Fatal(err)
			}
		}
		tab, signer, err := wire.OpenRouteTable(a.Envelope())
		if err != nil || signer != o.pub {
			t.Fatalf("answer does not open: %v", err)
		}
		if !tab.Full && (!bytes.Equal(tableID, id) || tab.BaseVersion != version || label != "incremental") {
			t.Fatalf("an update for request %x v%d: %v", tableID, version, tab)
		}
		if tab.Full && len(tab.Routes) != 2 {
			t.Fatalf("full table %v", tab)
		}
	})
}
