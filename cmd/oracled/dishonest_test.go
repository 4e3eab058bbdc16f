package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"google.golang.org/protobuf/proto"

	"github.com/hexfield/hexfield/oracle"
	"github.com/hexfield/hexfield/oracle/solana"
	"github.com/hexfield/hexfield/wire"
)

// liar plays a dishonest oracle D: a member of the deployment that runs
// no oracle, but speaks the co-signing protocol with whatever input it
// likes. It serves the input it proposes and the reports in it.
type liar struct {
	key     ed25519.PrivateKey
	pc      net.PacketConn
	mu      sync.Mutex
	entries []*wire.InputEntry // sorted by id
	funded  [][32]byte         // sorted
	reports map[[32]byte][]byte
	// The honest registry input it proposes (changes_count, changes_root).
	changes     uint64
	changesRoot []byte
}

func writeFramed(w io.Writer, m proto.Message) error {
	b, err := proto.Marshal(m)
	if err != nil {
		return err
	}
	_, err = w.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...))
	return err
}

func readFramed(r io.Reader, m proto.Message) error {
	p, err := wire.NewFrameReader(r).Next()
	if err != nil {
		return err
	}
	return proto.Unmarshal(p, m)
}

// serve answers the honest oracles' requests for its input and reports.
func (l *liar) serve(ctx context.Context, t *testing.T) {
	tlsConf, err := wire.ServerTLSConfig(l.key, func(wire.PublicKey) error { return nil })
	if err != nil {
		t.Error(err)
		return
	}
	ln, err := quic.Listen(l.pc, tlsConf, wire.QUICConfig())
	if err != nil {
		t.Error(err)
		return
	}
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	for {
		conn, err := ln.Accept(ctx)
		if err != nil {
			return
		}
		go func() {
			for {
				str, err := conn.AcceptStream(ctx)
				if err != nil {
					return
				}
				go l.answer(str)
			}
		}()
	}
}

func (l *liar) answer(str *quic.Stream) {
	defer str.Close()
	var req wire.CosignStream
	if readFramed(str, &req) != nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case req.GetInput() != nil && req.GetInput().GetFunded():
		page := &wire.InputPage{}
		for _, k := range l.funded {
			if bytes.Compare(k[:], req.GetInput().GetAfter()) > 0 {
				page.Entries = append(page.Entries, &wire.InputEntry{Id: k[:]})
			}
		}
		writeFramed(str, page)
	case req.GetInput() != nil:
		after := req.GetInput().GetAfter()
		page := &wire.InputPage{}
		for _, e := range l.entries {
			if len(after) == 0 || bytes.Compare(e.GetId(), after) > 0 {
				page.Entries = append(page.Entries, e)
			}
		}
		writeFramed(str, page)
	case req.GetReports() != nil:
		resp := &wire.ReportsResponse{}
		for _, id := range req.GetReports().GetIds() {
			resp.Reports = append(resp.Reports, &wire.StampedReport{Envelope: l.reports[[32]byte(id)]})
		}
		writeFramed(str, resp)
	case req.GetPush() != nil:
		writeFramed(str, &wire.PushResponse{Stored: uint64(len(req.GetPush().GetReports()))})
	case req.GetReconcile() != nil:
		writeFramed(str, &wire.ReconcileResponse{Refused: "dishonest oracle"})
	default:
		writeFramed(str, &wire.CosignResponse{Refused: "dishonest oracle"})
	}
}

// propose sets the input it serves and returns its ref.
func (l *liar) propose(epoch uint64, from, to int64, entries []*wire.InputEntry) *wire.InputRef {
	slices.SortFunc(entries, func(a, b *wire.InputEntry) int { return bytes.Compare(a.GetId(), b.GetId()) })
	h := sha256.New()
	for _, e := range entries {
		var b [41]byte
		copy(b[:32], e.GetId())
		b[32] = byte(e.GetKind())
		binary.BigEndian.PutUint64(b[33:], uint64(e.GetMs()))
		h.Write(b[:])
	}
	f := sha256.New()
	l.mu.Lock()
	for _, k := range l.funded {
		f.Write(k[:])
	}
	l.entries = entries
	l.mu.Unlock()
	// The accrual parent is the epoch before: the honest oracles settled it.
	return &wire.InputRef{Epoch: epoch, FromMs: from, ToMs: to, Count: uint64(len(entries)), Root: h.Sum(nil),
		Parent: epoch - 1, FundedCount: uint64(len(l.funded)), FundedRoot: f.Sum(nil),
		ChangesCount: l.changes, ChangesRoot: l.changesRoot}
}

// learnChanges reads the registry changes an honest oracle holds before
// epoch's start, the registry input the liar proposes unaltered.
func (l *liar) learnChanges(ctx context.Context, peer wire.PublicKey, addr string, epoch uint64) error {
	h := sha256.New()
	var n uint64
	var after []byte
	for {
		var page wire.InputPage
		req := &wire.InputPageRequest{Ref: &wire.InputRef{Epoch: epoch}, After: after, Limit: 1024, Changes: true}
		if err := l.ask(ctx, peer, addr, &wire.CosignStream{Msg: &wire.CosignStream_Input{Input: req}}, &page); err != nil {
			return err
		}
		if page.GetError() != "" {
			return errors.New(page.GetError())
		}
		for _, e := range page.GetEntries() {
			after = binary.BigEndian.AppendUint64(nil, uint64(e.GetMs()))
			after = append(after, e.GetId()...)
			h.Write(after)
			h.Write([]byte{byte(e.GetKind())})
			n++
		}
		if !page.GetMore() || len(page.GetEntries()) == 0 {
			break
		}
	}
	l.changes, l.changesRoot = n, h.Sum(nil)
	return nil
}

// ask sends one request to an honest oracle's co-signing endpoint.
func (l *liar) ask(ctx context.Context, peer wire.PublicKey, addr string, req *wire.CosignStream, resp proto.Message) error {
	tlsConf, err := wire.ClientTLSConfig(l.key, peer)
	if err != nil {
		return err
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer pc.Close()
	tr := &quic.Transport{Conn: pc}
	defer tr.Close()
	ua, _ := net.ResolveUDPAddr("udp", addr)
	conn, err := tr.Dial(ctx, ua, tlsConf, wire.QUICConfig())
	if err != nil {
		return err
	}
	defer conn.CloseWithError(0, "")
	str, err := conn.OpenStreamSync(ctx)
	if err != nil {
		return err
	}
	if err := writeFramed(str, req); err != nil {
		return err
	}
	return readFramed(str, resp)
}

// TestDishonestLeaderOnLocalnet: of four oracles (3-of-4) one, D, is
// dishonest, and leads the epoch's first slot. It proposes, in turn, the
// real reports with their stamps moved by a minute, the real reports plus
// one it invented, and the real input honestly but then asks for
// signatures on a tampered manifest. The honest oracles refuse all three;
// the next leader pays the honest manifest, once.
func TestDishonestLeaderOnLocalnet(t *testing.T) {
	t.Parallel() // wall-clock epochs, little CPU: the clusters run side by side
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const epochLen = 30 * time.Second
	// The epoch D will lead first: choose D's key so that it sorts at the
	// position that leads that epoch's slot 0.
	e := uint64(time.Now().Add(epochLen).UnixMilli()/epochLen.Milliseconds()) + 1
	honest := make([]ed25519.PrivateKey, 3)
	for i := range honest {
		honest[i], _ = wire.GenerateKey()
	}
	var dKey ed25519.PrivateKey
	for {
		dKey, _ = wire.GenerateKey()
		ks := [][32]byte{wire.PublicKeyOf(dKey)}
		for _, k := range honest {
			ks = append(ks, wire.PublicKeyOf(k))
		}
		slices.SortFunc(ks, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
		if ks[e%4] == wire.PublicKeyOf(dKey) {
			break
		}
	}
	dpc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &liar{key: dKey, pc: dpc, reports: map[[32]byte][]byte{}}
	go d.serve(ctx, t)
	c := startClusterWithKeys(t, ctx, honest, 3, epochLen, fmt.Sprintf("%s@%s", wire.PublicKeyOf(dKey), dpc.LocalAddr()))
	hs, owners := c.onboard(2)
	d.funded = slices.Clone(owners)
	slices.SortFunc(d.funded, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
	time.Sleep(time.Until(c.epochStart(e).Add(2 * time.Second)))
	var real []*wire.InputEntry
	for h, k := range hs {
		for r := range 5 {
			env := packetEnvelope(t, k, 10*h+r)
			id := wire.ReportID(env)
			d.reports[id] = env
			real = append(real, &wire.InputEntry{Id: id[:], Kind: wire.Kind_KIND_PACKET_REPORT, Ms: time.Now().UnixMilli()})
			for o := range c.nodes {
				submitEnvelopes(t, ctx, c.quic[o], c.nodes[o].Oracle().PublicKey(), k, env)
			}
		}
	}
	closeAt := c.epochStart(e + 1).Add(time.Second)
	slotStart := closeAt.Add(2 * time.Second) // the oracle's settle
	time.Sleep(time.Until(slotStart.Add(300 * time.Millisecond)))
	from := c.epochStart(e).Add(time.Second).UnixMilli()
	to := closeAt.UnixMilli()
	if err := d.learnChanges(ctx, wire.PublicKeyOf(c.keys[0]), c.cfgs[0].CosignListen, e); err != nil {
		t.Fatal(err)
	}
	reconcile := func(ref *wire.InputRef) []string {
		var out []string
		for i := range c.nodes {
			var resp wire.ReconcileResponse
			err := d.ask(ctx, wire.PublicKeyOf(c.keys[i]), c.cfgs[i].CosignListen,
				&wire.CosignStream{Msg: &wire.CosignStream_Reconcile{Reconcile: &wire.ReconcileRequest{Ref: ref}}}, &resp)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, resp.GetRefused())
			if resp.GetAgree() {
				out[i] = "agreed"
			}
		}
		return out
	}
	// 1. The real reports, stamps moved a minute later.
	var moved []*wire.InputEntry
	for _, en := range real {
		moved = append(moved, &wire.InputEntry{Id: en.GetId(), Kind: en.GetKind(), Ms: min(en.GetMs()+60_000, to-1)})
	}
	for i, r := range reconcile(d.propose(e, from, to, moved)) {
		if !strings.Contains(r, "stamp") {
			t.Errorf("oracle %c on moved stamps: %q", 'A'+i, r)
		}
	}
	// 2. The real reports and an invented one (signature forged).
	forged := packetEnvelope(t, hs[0], 99)
	forged[len(forged)-1] ^= 1
	fid := wire.ReportID(forged)
	d.reports[fid] = forged
	invented := append(slices.Clone(real), &wire.InputEntry{Id: fid[:], Kind: wire.Kind_KIND_PACKET_REPORT, Ms: time.Now().UnixMilli() - 5000})
	for i, r := range reconcile(d.propose(e, from, to, invented)) {
		if !strings.Contains(r, "signature") {
			t.Errorf("oracle %c on an invented report: %q", 'A'+i, r)
		}
	}
	// 3. The real input, then a tampered manifest to sign.
	ref := d.propose(e, from, to, slices.Clone(real))
	for i, r := range reconcile(ref) {
		if r != "agreed" {
			t.Fatalf("oracle %c on the honest input: %q", 'A'+i, r)
		}
	}
	acc, err := oracle.ConfiguredAccounts(c.cfgs[0])
	if err != nil {
		t.Fatal(err)
	}
	// Both owners earn, so the count matches and the total is the field
	// that differs.
	tampered := solana.Summary{Epoch: e, Count: 2, Total: 987_654_321, Root: [32]byte{1, 2, 3}}
	quorum := c.members(wire.PublicKeyOf(dKey))[:3]
	payer, _ := wire.ParsePublicKey(c.cfgs[0].SolanaPayerAddress)
	// The durable-nonce form, as the deployment's co-signers require (a
	// legacy 3-of-N phase 1 no longer fits a transaction), on a lookup
	// table of D's; the honest oracles compare the summary first.
	recent, err := wire.ParsePublicKey("SysvarRecentB1ockHashes11111111111111111111")
	if err != nil {
		t.Fatal(err)
	}
	table := solana.LookupTable{Address: [32]byte{9}, Entries: [][32]byte{acc.Mint, acc.Escrow, acc.Multisig, acc.Distributor, recent}}
	msg, err := solana.BuildPhase1Nonce(acc, payer, tampered, quorum, [32]byte{7}, table)
	if err != nil {
		t.Fatal(err)
	}
	req := &wire.CosignRequest{Epoch: e, Count: tampered.Count, Total: tampered.Total, Root: tampered.Root[:], Message: msg}
	for _, q := range quorum {
		req.Quorum = append(req.Quorum, q[:])
	}
	for i := range c.nodes {
		var resp wire.CosignResponse
		if err := d.ask(ctx, wire.PublicKeyOf(c.keys[i]), c.cfgs[i].CosignListen, &wire.CosignStream{Msg: &wire.CosignStream_Cosign{Cosign: req}}, &resp); err != nil {
			t.Fatal(err)
		}
		inQuorum := slices.Contains(quorum, [32]byte(wire.PublicKeyOf(c.keys[i])))
		if len(resp.GetSignature()) != 0 || resp.GetRefused() == "" || (inQuorum && resp.GetField() != "total") {
			t.Errorf("oracle %c signed or refused the tampered manifest for another reason: %q field %q", 'A'+i, resp.GetRefused(), resp.GetField())
		}
	}
	// The next leader pays the honest manifest.
	ms := c.waitAgreed(e, 0, 1, 2)
	for i := 1; i < 3; i++ {
		if !bytes.Equal(ms[i].ManifestBytes, ms[0].ManifestBytes) {
			t.Fatalf("oracle %c's manifest differs from A's", 'A'+i)
		}
	}
	if got := payoutOf(ms[0]); got == tampered || got.Count != 2 {
		t.Fatalf("paid %+v", got)
	}
	if ms[0].State.Leader == wire.PublicKeyOf(dKey).String() {
		t.Fatal("the dishonest oracle is recorded as leader")
	}
	c.checkPaidOnce(owners, ms[0])
}

func payoutOf(r oracle.EpochResponse) solana.Summary {
	m := r.Manifest
	return solana.Summary{Epoch: m.Epoch, Count: uint64(len(m.Payouts)), Total: m.Total, Root: m.Root}
}
