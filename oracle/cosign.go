package oracle

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"google.golang.org/protobuf/proto"

	"github.com/hexfield/hexfield/oracle/solana"
	"github.com/hexfield/hexfield/wire"
)

// Phase-1 co-signing between oracles (shared/spec/solana-rewards.md §3): the leader sends a
// wire.CosignRequest on a QUIC stream to each peer (keys pinned by TLS on both sides); the
// peer recomputes the epoch summary from its own store, rebuilds the phase-1 message and
// signs only if both are identical, else answers with the first differing field.

// CosignServerConfig configures a CosignServer.
type CosignServerConfig struct {
	// Key is this oracle's identity and multisig member key. Required.
	Key ed25519.PrivateKey
	// Leaders are the keys allowed to ask for signatures (the other oracles). Required.
	Leaders []wire.PublicKey
	// Accounts is the deployment's on-chain accounts (as configured on every oracle).
	Accounts solana.Accounts
	// Own returns the summary this oracle computed for an epoch from the
	// input it accepted from leader (consensus.go); only that is signed.
	// Required.
	Own func(ctx context.Context, leader wire.PublicKey, epoch uint64) (solana.Summary, error)
	// Consensus answers the reconciliation requests; nil refuses them.
	Consensus *consensus
	// Payouts returns this oracle's own payout lines of an epoch; when set, a leader can
	// page through them to log the first line where the manifests differ.
	Payouts func(ctx context.Context, epoch uint64) ([]solana.Payout, error)
	// Chain, when set, is checked before signing: this oracle's marker for the epoch must
	// not exist and the previous epoch's allowance must be used up
	// (solana.Chain.CheckAuthorizable).
	Chain *solana.Chain
	// Timeout bounds one request (read, check, answer). Default 10 s.
	Timeout time.Duration
	// Logger; nil discards.
	Logger *slog.Logger
}

func (c *CosignServerConfig) fill() {
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate checks the configuration after defaults are filled.
func (c *CosignServerConfig) Validate() error {
	switch {
	case len(c.Key) != ed25519.PrivateKeySize:
		return errors.New("cosign config: no key")
	case len(c.Leaders) == 0:
		return errors.New("cosign config: no leaders")
	case c.Own == nil:
		return errors.New("cosign config: no own summary function")
	}
	return nil
}

// CosignServer answers co-signing requests over QUIC.
type CosignServer struct {
	cfg CosignServerConfig
	pc  net.PacketConn
	log *slog.Logger
}

// NewCosignServer returns a server for the open socket pc (closed when Run returns).
func NewCosignServer(cfg CosignServerConfig, pc net.PacketConn) (*CosignServer, error) {
	cfg.fill()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &CosignServer{cfg: cfg, pc: pc, log: cfg.Logger}, nil
}

// Run serves until ctx ends.
func (s *CosignServer) Run(ctx context.Context) error {
	tlsConf, err := wire.ServerTLSConfig(s.cfg.Key, func(k wire.PublicKey) error {
		if slices.Contains(s.cfg.Leaders, k) {
			return nil
		}
		return errors.New("not a known oracle")
	})
	if err != nil {
		return fmt.Errorf("cosign tls: %w", err)
	}
	// Only a few peers ever connect: small caps before the handshake.
	adm := newAdmission(admissionLimits{handshakes: 64, handshakesPerSource: 8, connsPerSource: 32}, nil, nil)
	if err := serveQUIC(ctx, s.pc, tlsConf, wire.QUICConfig(), adm, s.handleConn); err != nil {
		return fmt.Errorf("cosign: %w", err)
	}
	return nil
}

func (s *CosignServer) handleConn(ctx context.Context, conn *quic.Conn) {
	peer, err := wire.PeerKey(conn.ConnectionState().TLS)
	if err != nil {
		conn.CloseWithError(quic.ApplicationErrorCode(wire.Code_CODE_MALFORMED), "no peer key")
		return
	}
	// Streams are answered concurrently, a few at a time: a peer that is
	// reconciling with this oracle also fetches from it.
	sem := make(chan struct{}, 8)
	for {
		str, err := conn.AcceptStream(ctx)
		if err != nil {
			return
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		go func() {
			defer func() { <-sem }()
			s.handleStream(ctx, peer, str)
		}()
	}
}

func (s *CosignServer) handleStream(ctx context.Context, peer wire.PublicKey, str *quic.Stream) {
	defer str.Close()
	timeout := s.cfg.Timeout
	if s.cfg.Consensus != nil {
		timeout = max(timeout, s.cfg.Consensus.slot) // a reconcile fetches a whole input
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_ = str.SetDeadline(time.Now().Add(timeout))
	var req wire.CosignStream
	if err := readMessage(str, &req); err != nil {
		s.log.Warn("cosign: bad request", "peer", peer.String(), "err", err)
		_ = writeMessage(str, &wire.CosignResponse{Refused: "malformed request: " + err.Error()})
		return
	}
	var resp proto.Message
	switch {
	case req.GetCosign() != nil:
		resp = s.answer(ctx, peer, req.GetCosign())
	case req.GetPayouts() != nil:
		resp = s.payouts(ctx, req.GetPayouts())
	case s.cfg.Consensus == nil:
		resp = &wire.CosignResponse{Refused: "reconciliation not served by this oracle"}
	case req.GetReconcile() != nil:
		resp = s.cfg.Consensus.reconcile(ctx, peer, req.GetReconcile().GetRef())
	case req.GetInput() != nil:
		resp = s.cfg.Consensus.serveInput(req.GetInput())
	case req.GetReports() != nil:
		resp = s.cfg.Consensus.serveReports(req.GetReports())
	case req.GetPush() != nil:
		resp = s.cfg.Consensus.received(req.GetPush())
	case req.GetAgreed() != nil:
		resp = s.cfg.Consensus.serveAgreed(ctx, req.GetAgreed())
	default:
		resp = &wire.CosignResponse{Refused: "malformed request: empty"}
	}
	if err := writeMessage(str, resp); err != nil {
		s.log.Warn("cosign: write response", "peer", peer.String(), "err", err)
	}
}

const maxPayoutsPage = 1000

// payouts answers a page of this oracle's payout lines.
func (s *CosignServer) payouts(ctx context.Context, req *wire.PayoutsRequest) *wire.PayoutsResponse {
	if s.cfg.Payouts == nil {
		return &wire.PayoutsResponse{Error: "payout lines not served by this oracle"}
	}
	ps, err := s.cfg.Payouts(ctx, req.GetEpoch())
	if err != nil {
		return &wire.PayoutsResponse{Error: err.Error()}
	}
	resp := &wire.PayoutsResponse{Count: uint64(len(ps))}
	limit := uint64(min(req.GetLimit(), maxPayoutsPage))
	for i := req.GetOffset(); i < uint64(len(ps)) && i < req.GetOffset()+limit; i++ {
		resp.Payouts = append(resp.Payouts, &wire.PayoutLine{Owner: ps[i].Owner[:], Amount: ps[i].Amount})
	}
	return resp
}

// answer checks one request against this oracle's own view.
func (s *CosignServer) answer(ctx context.Context, peer wire.PublicKey, req *wire.CosignRequest) *wire.CosignResponse {
	p, err := proposalOf(req)
	if err != nil {
		return &wire.CosignResponse{Refused: err.Error()}
	}
	own, err := s.cfg.Own(ctx, peer, p.Summary.Epoch)
	if err != nil {
		s.log.Warn("cosign: own summary", "epoch", p.Summary.Epoch, "err", err)
		return &wire.CosignResponse{Refused: "own summary: " + err.Error()}
	}
	if s.cfg.Chain != nil {
		if err := s.cfg.Chain.CheckAuthorizable(ctx, s.cfg.Accounts, wire.PublicKeyOf(s.cfg.Key), p.Summary.Epoch); err != nil {
			s.log.Warn("cosign: refused", "epoch", p.Summary.Epoch, "leader", peer.String(), "reason", err.Error())
			return &wire.CosignResponse{Refused: err.Error()}
		}
	}
	// A nil *solana.Chain must reach Cosign as a nil Phase1Reader, not as a typed nil
	// inside the interface (which Cosign would call and crash on).
	var r solana.Phase1Reader
	if s.cfg.Chain != nil {
		r = s.cfg.Chain
	}
	sig, err := solana.Cosign(ctx, r, s.cfg.Key, s.cfg.Accounts, own, p)
	if err != nil {
		var mm *solana.MismatchError
		resp := &wire.CosignResponse{Refused: err.Error()}
		if errors.As(err, &mm) {
			resp.Field, resp.Proposed, resp.Own = mm.Field, mm.Proposed, mm.Own
		}
		s.log.Warn("cosign: refused", "epoch", p.Summary.Epoch, "leader", peer.String(), "reason", err.Error())
		return resp
	}
	s.log.Info("cosigned phase 1", "epoch", p.Summary.Epoch, "leader", peer.String())
	return &wire.CosignResponse{Signature: sig[:]}
}

func proposalOf(req *wire.CosignRequest) (solana.Proposal, error) {
	if len(req.GetRoot()) != 32 {
		return solana.Proposal{}, fmt.Errorf("root of %d bytes", len(req.GetRoot()))
	}
	p := solana.Proposal{
		Summary: solana.Summary{Epoch: req.GetEpoch(), Count: req.GetCount(), Total: req.GetTotal(), Root: [32]byte(req.GetRoot())},
		Message: req.GetMessage(),
	}
	for _, q := range req.GetQuorum() {
		if len(q) != 32 {
			return solana.Proposal{}, fmt.Errorf("quorum key of %d bytes", len(q))
		}
		p.Quorum = append(p.Quorum, [32]byte(q))
	}
	return p, nil
}

// CosignClient asks one peer oracle for its signature; it implements solana.Cosigner.
type CosignClient struct {
	// sent and received count the bytes of requests and responses.
	sent, received atomic.Int64
	key            ed25519.PrivateKey
	peer           wire.PublicKey
	addr           string
	mu             sync.Mutex
	tr             *quic.Transport
	conn           *quic.Conn
	closed         bool
	failedAt       time.Time // the last failed dial
}

// NewCosignClient returns a client with identity key for the peer at "ADDRESS@host:port",
// sending from the open socket pc (closed by Close).
func NewCosignClient(key ed25519.PrivateKey, peerAddr string, pc net.PacketConn) (*CosignClient, error) {
	peer, addr, err := wire.ParseOracleAddr(peerAddr)
	if err != nil {
		return nil, fmt.Errorf("cosign client: %w", err)
	}
	return &CosignClient{key: key, peer: peer, addr: addr, tr: &quic.Transport{Conn: pc}}, nil
}

// dialTimeout bounds a connection attempt to a peer: an oracle that is
// down must not eat a leader's slot.
const dialTimeout = 3 * time.Second

// redialAfter is how long a peer that could not be dialled is skipped.
const redialAfter = 5 * time.Second

// dialError: the peer could not be reached at all.
type dialError struct{ err error }

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// Key is the peer's key (its multisig member key).
func (c *CosignClient) Key() [32]byte { return c.peer }

func (c *CosignClient) connect(ctx context.Context) (*quic.Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errors.New("cosign client closed")
	}
	if c.conn != nil && c.conn.Context().Err() == nil {
		return c.conn, nil
	}
	// A peer that could not be reached a moment ago is not dialled again
	// at once: a dead oracle must not take every request's time.
	if time.Since(c.failedAt) < redialAfter {
		return nil, &dialError{fmt.Errorf("oracle %s unreachable %s ago", c.peer, time.Since(c.failedAt).Round(time.Millisecond))}
	}
	udp, err := net.ResolveUDPAddr("udp", c.addr)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", c.addr, err)
	}
	tlsConf, err := wire.ClientTLSConfig(c.key, c.peer)
	if err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	conn, err := c.tr.Dial(dctx, udp, tlsConf, wire.QUICConfig())
	if err != nil {
		if ctx.Err() == nil {
			c.failedAt = time.Now()
		}
		return nil, &dialError{fmt.Errorf("dial oracle %s: %w", c.peer, err)}
	}
	c.conn = conn
	return conn, nil
}

// Cosign sends the proposal and returns the peer's signature, or a *solana.MismatchError
// (wrapped) naming the first differing field when the peer refused.
func (c *CosignClient) Cosign(ctx context.Context, p solana.Proposal) ([64]byte, error) {
	var sig [64]byte
	req := &wire.CosignRequest{Epoch: p.Summary.Epoch, Count: p.Summary.Count, Total: p.Summary.Total,
		Root: p.Summary.Root[:], Message: p.Message}
	for _, q := range p.Quorum {
		req.Quorum = append(req.Quorum, q[:])
	}
	var resp wire.CosignResponse
	if err := c.roundTrip(ctx, &wire.CosignStream{Msg: &wire.CosignStream_Cosign{Cosign: req}}, &resp); err != nil {
		return sig, err
	}
	if resp.GetRefused() != "" {
		if resp.GetField() != "" {
			return sig, fmt.Errorf("oracle %s refused: %w", c.peer, &solana.MismatchError{Field: resp.GetField(), Proposed: resp.GetProposed(), Own: resp.GetOwn()})
		}
		return sig, fmt.Errorf("oracle %s refused: %s", c.peer, resp.GetRefused())
	}
	if len(resp.GetSignature()) != 64 || !ed25519.Verify(c.peer.Ed25519(), p.Message, resp.GetSignature()) {
		return sig, fmt.Errorf("oracle %s: invalid signature", c.peer)
	}
	copy(sig[:], resp.GetSignature())
	return sig, nil
}

// roundTrip sends one request on a new stream and reads the answer.
func (c *CosignClient) roundTrip(ctx context.Context, req *wire.CosignStream, resp proto.Message) error {
	conn, err := c.connect(ctx)
	if err != nil {
		return err
	}
	str, err := conn.OpenStreamSync(ctx)
	if err != nil {
		c.drop(conn)
		return fmt.Errorf("open stream to %s: %w", c.peer, err)
	}
	defer str.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = str.SetDeadline(dl)
	}
	if err := writeMessage(str, req); err != nil {
		c.drop(conn)
		return fmt.Errorf("request to %s: %w", c.peer, err)
	}
	_ = str.Close() // the request is complete
	if err := readMessage(str, resp); err != nil {
		c.drop(conn)
		return fmt.Errorf("response from %s: %w", c.peer, err)
	}
	// Nothing follows the response: finish the stream's receive side too,
	// so that it no longer counts against the peer's stream limit.
	str.CancelRead(0)
	c.sent.Add(int64(proto.Size(req)) + 4)
	c.received.Add(int64(proto.Size(resp)) + 4)
	return nil
}

// Transferred returns the bytes of requests sent and responses received.
func (c *CosignClient) Transferred() (sent, received int64) { return c.sent.Load(), c.received.Load() }

// markDown records that the peer did not answer: its connection is
// dropped and it is not dialled again for redialAfter.
func (c *CosignClient) markDown() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		c.conn.CloseWithError(0, "peer did not answer")
		c.conn = nil
	}
	c.failedAt = time.Now()
}

// drop closes a connection that failed (the peer may have restarted), so
// that the next request dials again.
func (c *CosignClient) drop(conn *quic.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == conn {
		conn.CloseWithError(0, "request failed")
		c.conn = nil
	}
}

// FirstDifference pages through the peer's payout lines of ours.Epoch and describes the
// first line that differs from ours ("" when identical).
func (c *CosignClient) FirstDifference(ctx context.Context, ours solana.EpochPayout) (string, error) {
	var theirs []solana.Payout
	var count uint64
	for off := uint64(0); ; {
		var resp wire.PayoutsResponse
		req := &wire.CosignStream{Msg: &wire.CosignStream_Payouts{Payouts: &wire.PayoutsRequest{Epoch: ours.Epoch, Offset: off, Limit: maxPayoutsPage}}}
		if err := c.roundTrip(ctx, req, &resp); err != nil {
			return "", err
		}
		if resp.GetError() != "" {
			return "", fmt.Errorf("oracle %s: %s", c.peer, resp.GetError())
		}
		count = resp.GetCount()
		for _, l := range resp.GetPayouts() {
			if len(l.GetOwner()) != 32 {
				return "", fmt.Errorf("oracle %s: payout owner of %d bytes", c.peer, len(l.GetOwner()))
			}
			theirs = append(theirs, solana.Payout{Owner: [32]byte(l.GetOwner()), Amount: l.GetAmount()})
		}
		// Stop at the first page that already differs.
		if d := solana.PayoutDiff(ours.Payouts[:min(len(theirs), len(ours.Payouts))], theirs[:min(len(theirs), len(ours.Payouts))]); d != "" {
			return d, nil
		}
		if len(resp.GetPayouts()) == 0 || uint64(len(theirs)) >= count {
			break
		}
		off = uint64(len(theirs))
	}
	return solana.PayoutDiff(ours.Payouts, theirs), nil
}

// Close closes the connection and the socket.
func (c *CosignClient) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.conn != nil {
		c.conn.CloseWithError(0, "closing")
	}
	return c.tr.Close()
}

// writeMessage writes one length-prefixed message in wire's frame format (u32 big-endian
// length, at most wire.MaxFrameSize).
func writeMessage(w io.Writer, m proto.Message) error {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	if len(b) > wire.MaxFrameSize {
		return fmt.Errorf("encode: %w: %d bytes", wire.ErrFrameTooLarge, len(b))
	}
	out := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(b)), uint32(len(b)))
	if _, err := w.Write(append(out, b...)); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// readMessage reads one length-prefixed message with wire's frame reader.
func readMessage(r io.Reader, m proto.Message) error {
	payload, err := wire.NewFrameReader(r).Next()
	if err != nil {
		return err
	}
	if err := proto.Unmarshal(payload, m); err != nil {
		return fmt.Errorf("%w: %w", wire.ErrMalformedFrame, err)
	}
	return nil
}
