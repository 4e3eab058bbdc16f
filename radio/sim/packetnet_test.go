package sim

import (
	"errors"
	"net"
	"os"
	"testing"
	"testing/synctest"
	"time"
)

func TestPacketNetwork(t *testing.T) {
	n := NewPacketNetwork()
	a, err := n.ListenPacket("127.0.0.1:1680")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := n.ListenPacket("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := n.ListenPacket("127.0.0.1:1680"); !errors.Is(err, ErrAddrInUse) {
		t.Errorf("second listen on the same address: %v", err)
	}
	if _, err := n.ListenPacket("localhost:1"); err == nil {
		t.Error("listen on a host name succeeded")
	}
	if _, ok := b.LocalAddr().(*net.UDPAddr); !ok || b.LocalAddr().(*net.UDPAddr).Port == 0 {
		t.Fatalf("local addr %v", b.LocalAddr())
	}

	msg := []byte("datagram")
	if _, err := b.WriteTo(msg, a.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	msg[0] = 'X' // the network copied it
	buf := make([]byte, 100)
	nr, from, err := a.ReadFrom(buf)
	if err != nil || string(buf[:nr]) != "datagram" || from.String() != b.LocalAddr().String() {
		t.Fatalf("read %q from %v: %v", buf[:nr], from, err)
	}
	// Nobody listens there: dropped silently, as UDP does.
	if _, err := a.WriteTo(msg, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}); err != nil {
		t.Errorf("write to a closed port: %v", err)
	}

	if err := a.SetReadDeadline(time.Now().Add(10 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	_, _, err = a.ReadFrom(buf)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past deadline: %v", err)
	}
	if err := a.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}

	done := make(chan error)
	go func() {
		_, _, err := a.ReadFrom(buf)
		done <- err
	}()
	a.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Errorf("read after close: %v", err)
	}
	if err := a.Close(); err == nil {
		t.Error("second Close succeeded")
	}
	// A wildcard listener takes datagrams to any address on its port.
	w, err := n.ListenPacket("0.0.0.0:1700")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := b.WriteTo([]byte("any"), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 9), Port: 1700}); err != nil {
		t.Fatal(err)
	}
	if nr, _, err := w.ReadFrom(buf); err != nil || string(buf[:nr]) != "any" {
		t.Fatalf("wildcard read %q: %v", buf[:nr], err)
	}
	// The address is free again.
	c, err := n.ListenPacket("127.0.0.1:1680")
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

// TestPacketNetworkSynctest shows the point of the in-memory network: a
// reader blocked on it is durably blocked, so virtual time advances.
func TestPacketNetworkSynctest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := NewPacketNetwork()
		srv, _ := n.ListenPacket("127.0.0.1:1680")
		cli, _ := n.ListenPacket("127.0.0.1:0")
		defer srv.Close()
		defer cli.Close()
		start := time.Now()
		go func() {
			time.Sleep(time.Hour)
			cli.WriteTo([]byte("late"), srv.LocalAddr())
		}()
		buf := make([]byte, 16)
		nr, _, err := srv.ReadFrom(buf)
		if err != nil || string(buf[:nr]) != "late" {
			t.Fatalf("read %q: %v", buf[:nr], err)
		}
		if d := time.Since(start); d != time.Hour {
			t.Errorf("virtual time advanced %v, want 1h", d)
		}
		srv.SetReadDeadline(time.Now().Add(time.Minute))
		if _, _, err := srv.ReadFrom(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("deadline: %v", err)
		}
	})
}
