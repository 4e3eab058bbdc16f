package oracle

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"

	"github.com/quic-go/quic-go"
)

// Admission of QUIC connections, before any TLS or connection state.
//
// quic-go calls connContext for every new connection attempt (an Initial
// packet that is not part of an existing connection) before it builds the
// connection. admission counts, per source address and in total, the
// handshakes in progress and the connections (handshaking or established)
// and refuses an attempt over a cap with CONNECTION_REFUSED, which costs
// the oracle one small packet. A source address is an IPv4 address or an
// IPv6 /64 (one subscriber's prefix). Once half of the handshake budget is
// in use, new clients must first prove their address with a Retry
// (verifySource), so spoofed source addresses cannot fill it.
//
// The counts are released when the connection's context ends (the
// handshake failed or the connection closed); a handshake ends when the
// accept loop takes the connection (handshakeDone).

// admissionLimits are the caps of one QUIC listener; a zero field is no cap.
type admissionLimits struct {
	handshakes          int // in progress, in total
	handshakesPerSource int // in progress, per source address
	connsPerSource      int // handshaking or established, per source address
}

// admission tracks a listener's connections against its limits.
type admission struct {
	lim admissionLimits
	// refused is called with the reason of every refused attempt
	// ("handshake_limit", "source_handshake_limit", "source_conn_limit")
	// and its unverified source; handshaking with the change of the
	// handshakes in progress. Both may be nil.
	refused     func(reason string, remote net.Addr)
	handshaking func(delta int)

	mu         sync.Mutex
	handshakes int
	sources    map[netip.Prefix]*sourceCount
}

type sourceCount struct {
	handshakes, conns int
}

func newAdmission(lim admissionLimits, refused func(string, net.Addr), handshaking func(int)) *admission {
	return &admission{lim: lim, refused: refused, handshaking: handshaking, sources: map[netip.Prefix]*sourceCount{}}
}

// errAdmission refuses a connection attempt over a cap.
var errAdmission = errors.New("connection limit")

// sourceOf is the source address a cap applies to: the IPv4 address, or
// the IPv6 /64.
func sourceOf(a net.Addr) netip.Prefix {
	var ip netip.Addr
	switch a := a.(type) {
	case *net.UDPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	default:
		if ap, err := netip.ParseAddrPort(a.String()); err == nil {
			ip = ap.Addr()
		}
	}
	ip = ip.Unmap()
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, err := ip.Prefix(bits)
	if err != nil {
		return netip.Prefix{} // unknown address family: one shared bucket
	}
	return p
}

// ticket is one admitted connection; it lives in the connection's context.
type ticket struct {
	a    *admission
	src  netip.Prefix
	once sync.Once // the handshake ended
}

type ticketKey struct{}

// connContext admits or refuses a new connection attempt (the quic.Transport
// ConnContext hook).
func (a *admission) connContext(ctx context.Context, info *quic.ClientInfo) (context.Context, error) {
	src := sourceOf(info.RemoteAddr)
	a.mu.Lock()
	sc := a.sources[src]
	if sc == nil {
		sc = &sourceCount{}
	}
	reason := ""
	switch {
	case a.lim.handshakes > 0 && a.handshakes >= a.lim.handshakes:
		reason = "handshake_limit"
	case a.lim.handshakesPerSource > 0 && sc.handshakes >= a.lim.handshakesPerSource:
		reason = "source_handshake_limit"
	case a.lim.connsPerSource > 0 && sc.conns >= a.lim.connsPerSource:
		reason = "source_conn_limit"
	}
	if reason != "" {
		a.mu.Unlock()
		if a.refused != nil {
			a.refused(reason, info.RemoteAddr)
		}
		return nil, errAdmission
	}
	a.sources[src] = sc
	sc.handshakes++
	sc.conns++
	a.handshakes++
	a.mu.Unlock()
	if a.handshaking != nil {
		a.handshaking(1)
	}
	t := &ticket{a: a, src: src}
	ctx = context.WithValue(ctx, ticketKey{}, t)
	context.AfterFunc(ctx, t.closed)
	return ctx, nil
}

// verifySource asks for a Retry (address validation) once half of the
// handshake budget is in use (the quic.Transport VerifySourceAddress hook).
func (a *admission) verifySource(net.Addr) bool {
	if a.lim.handshakes <= 0 {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.handshakes >= a.lim.handshakes/2
}

// handshakeDone ends the handshake of the connection whose context is ctx
// (the connection stays counted against its source until it closes).
func handshakeDone(ctx context.Context) {
	if t, ok := ctx.Value(ticketKey{}).(*ticket); ok {
		t.once.Do(t.endHandshake)
	}
}

func (t *ticket) endHandshake() {
	a := t.a
	a.mu.Lock()
	a.handshakes--
	if sc := a.sources[t.src]; sc != nil {
		sc.handshakes--
	}
	a.mu.Unlock()
	if a.handshaking != nil {
		a.handshaking(-1)
	}
}

func (t *ticket) closed() {
	t.once.Do(t.endHandshake)
	a := t.a
	a.mu.Lock()
	defer a.mu.Unlock()
	if sc := a.sources[t.src]; sc != nil {
		if sc.conns--; sc.conns <= 0 {
			delete(a.sources, t.src)
		}
	}
}

// counts returns the handshakes in progress and the tracked sources (tests).
func (a *admission) counts() (handshakes, sources int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.handshakes, len(a.sources)
}
