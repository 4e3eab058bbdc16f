package maps

import (
	"net/http"
	"sync"
	"time"
)

// broker fans live-update events out to Server-Sent Events clients. A slow
// client misses events (its buffer is small) rather than holding anyone.
type broker struct {
	mu     sync.Mutex
	subs   map[chan []byte]struct{}
	closed bool
	done   chan struct{}
}

// maxEventClients bounds concurrent SSE clients.
const maxEventClients = 1000

func newBroker() *broker { return &broker{subs: map[chan []byte]struct{}{}, done: make(chan struct{})} }

func (b *broker) subscribe() (chan []byte, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || len(b.subs) >= maxEventClients {
		return nil, false
	}
	ch := make(chan []byte, 8)
	b.subs[ch] = struct{}{}
	return ch, true
}

func (b *broker) unsubscribe(ch chan []byte) {
	b.mu.Lock()
	delete(b.subs, ch)
	b.mu.Unlock()
}

func (b *broker) publish(msg []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs {
		select {
		case ch <- msg:
		default:
		}
	}
}

func (b *broker) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed {
		b.closed = true
		close(b.done)
	}
}

// handleEvents streams "hexes" events ({"version", "hexes": [h3…]}) until
// the client leaves or the server stops.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	ch, ok := s.events.subscribe()
	if !ok {
		writeJSON(w, 503, map[string]string{"code": "unavailable", "message": "too many live clients"})
		return
	}
	defer s.events.unsubscribe(ch)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	rc := http.NewResponseController(w)
	// No write deadline for the stream; the server's WriteTimeout would
	// cut it.
	rc.SetWriteDeadline(time.Time{})
	w.WriteHeader(200)
	w.Write([]byte(": hexfield live hexes\n\n"))
	rc.Flush()
	keep := time.NewTicker(25 * time.Second)
	defer keep.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.events.done:
			return
		case <-keep.C:
			w.Write([]byte(": keep-alive\n\n"))
		case msg := <-ch:
			w.Write([]byte("event: hexes\ndata: "))
			w.Write(msg)
			w.Write([]byte("\n\n"))
		}
		if rc.Flush() != nil {
			return
		}
	}
}
