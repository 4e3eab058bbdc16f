package sim

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"
)

// PacketNetwork is an in-memory UDP network: every conn it hands out is a
// net.PacketConn with a *net.UDPAddr, and datagrams written to an address
// arrive at the conn listening there. Like UDP, a datagram to an address
// nobody listens on, or to a conn whose receive queue is full, is dropped.
// Reads block on channels and timers only, so inside a testing/synctest
// bubble a blocked reader is durably blocked and virtual time advances.
type PacketNetwork struct {
	mu       sync.Mutex
	conns    map[netip.AddrPort]*memConn
	nextPort uint16
	// queueLen is the receive queue of each conn, in datagrams, like a
	// socket receive buffer.
	queueLen int
}

// NewPacketNetwork returns an empty network.
func NewPacketNetwork() *PacketNetwork {
	return &PacketNetwork{conns: make(map[netip.AddrPort]*memConn), nextPort: 40000, queueLen: 512}
}

// ErrAddrInUse is returned by ListenPacket when the address is taken.
var ErrAddrInUse = errors.New("address already in use")

// ListenPacket opens a conn at address ("127.0.0.1:1680"; port 0 picks a
// free port). The host must be an IP address; a conn at 0.0.0.0 or [::]
// receives datagrams for any address on its port that no other conn has.
func (n *PacketNetwork) ListenPacket(address string) (net.PacketConn, error) {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return nil, fmt.Errorf("listen %q: %w", address, err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if ap.Port() == 0 {
		for range 1 << 16 {
			n.nextPort++
			if n.nextPort < 1024 {
				n.nextPort = 40000
			}
			cand := netip.AddrPortFrom(ap.Addr(), n.nextPort)
			if _, taken := n.conns[cand]; !taken {
				ap = cand
				break
			}
		}
		if ap.Port() == 0 {
			return nil, fmt.Errorf("listen %q: no free port", address)
		}
	}
	if _, taken := n.conns[ap]; taken {
		return nil, fmt.Errorf("listen %q: %w", address, ErrAddrInUse)
	}
	c := &memConn{
		net:    n,
		local:  ap,
		queue:  make(chan datagram, n.queueLen),
		closed: make(chan struct{}),
	}
	c.readDeadline = newDeadline()
	n.conns[ap] = c
	return c, nil
}

func (n *PacketNetwork) deliver(from, to netip.AddrPort, b []byte) {
	n.mu.Lock()
	dst := n.conns[to]
	if dst == nil { // a conn bound to the wildcard address takes it
		dst = n.conns[netip.AddrPortFrom(netip.IPv4Unspecified(), to.Port())]
	}
	if dst == nil {
		dst = n.conns[netip.AddrPortFrom(netip.IPv6Unspecified(), to.Port())]
	}
	n.mu.Unlock()
	if dst == nil {
		return
	}
	d := datagram{from: from, data: append([]byte(nil), b...)}
	select {
	case <-dst.closed:
	case dst.queue <- d:
	default: // receive queue full: dropped, as by a kernel socket
	}
}

func (n *PacketNetwork) remove(c *memConn) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.conns[c.local] == c {
		delete(n.conns, c.local)
	}
}

type datagram struct {
	from netip.AddrPort
	data []byte
}

// memConn is one endpoint of a PacketNetwork.
type memConn struct {
	net   *PacketNetwork
	local netip.AddrPort
	queue chan datagram

	closeOnce    sync.Once
	closed       chan struct{}
	readDeadline *deadline
	writeMu      sync.Mutex
	writeExpired bool
}

func (c *memConn) ReadFrom(p []byte) (int, net.Addr, error) {
	select {
	case <-c.closed:
		return 0, nil, c.opError("read", net.ErrClosed)
	default:
	}
	select {
	case d := <-c.queue:
		n := copy(p, d.data)
		return n, net.UDPAddrFromAddrPort(d.from), nil
	case <-c.closed:
		return 0, nil, c.opError("read", net.ErrClosed)
	case <-c.readDeadline.wait():
		return 0, nil, c.opError("read", os.ErrDeadlineExceeded)
	}
}

func (c *memConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	select {
	case <-c.closed:
		return 0, c.opError("write", net.ErrClosed)
	default:
	}
	c.writeMu.Lock()
	expired := c.writeExpired
	c.writeMu.Unlock()
	if expired {
		return 0, c.opError("write", os.ErrDeadlineExceeded)
	}
	var to netip.AddrPort
	switch a := addr.(type) {
	case *net.UDPAddr:
		to = a.AddrPort()
	default:
		ap, err := netip.ParseAddrPort(addr.String())
		if err != nil {
			return 0, c.opError("write", fmt.Errorf("address %q: %w", addr, err))
		}
		to = ap
	}
	to = netip.AddrPortFrom(to.Addr().Unmap(), to.Port())
	if len(p) > 65507 {
		return 0, c.opError("write", errors.New("message too long"))
	}
	c.net.deliver(c.local, to, p)
	return len(p), nil
}

func (c *memConn) Close() error {
	err := c.opError("close", net.ErrClosed)
	c.closeOnce.Do(func() {
		close(c.closed)
		c.net.remove(c)
		c.readDeadline.set(time.Time{})
		err = nil
	})
	return err
}

func (c *memConn) LocalAddr() net.Addr { return net.UDPAddrFromAddrPort(c.local) }

func (c *memConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

func (c *memConn) SetReadDeadline(t time.Time) error {
	c.readDeadline.set(t)
	return nil
}

// SetWriteDeadline: writes never block on this network, so only a
// deadline already in the past has an effect (writes fail with a timeout).
func (c *memConn) SetWriteDeadline(t time.Time) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.writeExpired = !t.IsZero() && !time.Now().Before(t)
	return nil
}

func (c *memConn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "udp", Source: c.LocalAddr(), Err: err}
}

// deadline is a resettable read deadline: wait returns a channel that is
// closed once the deadline passes.
type deadline struct {
	mu    sync.Mutex
	timer *time.Timer
	done  chan struct{}
}

func newDeadline() *deadline { return &deadline{done: make(chan struct{})} }

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	select {
	case <-d.done:
		d.done = make(chan struct{}) // expired before: re-arm
	default:
	}
	if t.IsZero() {
		return
	}
	dur := time.Until(t)
	if dur <= 0 {
		close(d.done)
		return
	}
	done := d.done
	d.timer = time.AfterFunc(dur, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.done == done {
			select {
			case <-done:
			default:
				close(done)
			}
		}
	})
}

func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.done
}
