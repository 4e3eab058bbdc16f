package sim

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hexfield/hexfield/radio"
)

var (
	t0      = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	sf7     = radio.DataRate{SF: 7, Bandwidth: 125_000}
	sf9     = radio.DataRate{SF: 9, Bandwidth: 125_000}
	sf12    = radio.DataRate{SF: 12, Bandwidth: 125_000}
	f8671   = radio.Hz(867_100_000)
	f8673   = radio.Hz(867_300_000)
	baseLat = 52.37
	baseLng = 4.89
)

// at returns the position north and east metres from the base point.
func at(north, east float64) (lat, lng float64) {
	const mPerDeg = 6_371_007.180918475 * math.Pi / 180
	return baseLat + north/mPerDeg, baseLng + east/(mPerDeg*math.Cos(baseLat*math.Pi/180))
}

// exactMedium is a medium without shadowing or fading on a manual clock.
func exactMedium(t *testing.T) (*Medium, *ManualClock) {
	t.Helper()
	clk := NewManualClock(t0)
	m, err := NewMedium(MediumConfig{Clock: clk, ShadowingSigma: -1, FadingSigma: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m, clk
}

// recorder collects the receptions of one radio.
type recorder struct {
	mu   sync.Mutex
	recs []Reception
}

func (r *recorder) add(rec Reception) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec)
}

func (r *recorder) all() []Reception {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.recs)
}

func attach(t *testing.T, m *Medium, name string, north, east float64) (*Radio, *recorder) {
	t.Helper()
	lat, lng := at(north, east)
	r, err := m.Attach(RadioConfig{Name: name, Lat: lat, Lng: lng})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	r.Listen(rec.add)
	return r, rec
}

func send(t *testing.T, r *Radio, tx Transmission) Sent {
	t.Helper()
	s, err := r.Transmit(tx)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRSSIDecreasesWithDistance(t *testing.T) {
	m, clk := exactMedium(t)
	tx, _ := attach(t, m, "tx", 0, 0)
	dists := []float64{200, 500, 1000, 2000, 4000}
	var recs []*recorder
	for i, d := range dists {
		_, rec := attach(t, m, string(rune('a'+i)), 0, d)
		recs = append(recs, rec)
	}
	payload := []byte("hello, medium")
	s := send(t, tx, Transmission{Frequency: f8671, DataRate: sf12, Power: 14, Payload: payload})
	if want := radio.Airtime(sf12, len(payload)); s.Airtime != want || !s.End.Equal(t0.Add(want)) {
		t.Fatalf("sent %+v, want airtime %v from %v", s, want, t0)
	}

	clk.Advance(s.Airtime - time.Microsecond)
	for i, rec := range recs {
		if n := len(rec.all()); n != 0 {
			t.Fatalf("receiver %d heard the frame %v before its airtime ended", i, n)
		}
	}
	clk.Advance(time.Microsecond)

	noise := float64(radio.NoiseFloor(125_000, 6))
	prev := math.Inf(1)
	for i, rec := range recs {
		got := rec.all()
		if len(got) != 1 {
			t.Fatalf("receiver at %v m: %d receptions, want 1", dists[i], len(got))
		}
		r := got[0]
		loss := float64(radio.LogDistanceLoss(r.Distance, f8671, 3, 1))
		if want := 14 - loss; math.Abs(float64(r.RSSIS)-want) > 1e-9 {
			t.Errorf("at %v m: rssis %v, want %v", dists[i], r.RSSIS, want)
		}
		if math.Abs(float64(r.Distance)-dists[i]) > 1 {
			t.Errorf("distance %v, want %v", r.Distance, dists[i])
		}
		if math.Abs(float64(r.SNR)-(float64(r.RSSIS)-noise)) > 1e-9 {
			t.Errorf("snr %v, want rssis−noise %v", r.SNR, float64(r.RSSIS)-noise)
		}
		// The channel RSSI is signal plus noise: the implied noise of
		// poc-rules §12c recovers the thermal floor.
		implied := float64(radio.ImpliedNoise(r.RSSI, r.SNR))
		if math.Abs(implied-noise) > 1e-6 {
			t.Errorf("implied noise %v, want %v", implied, noise)
		}
		if r.RSSIS >= radio.DBm(prev) {
			t.Errorf("rssis %v at %v m not below %v nearer", r.RSSIS, dists[i], prev)
		}
		prev = float64(r.RSSIS)
		if r.Frequency != f8671 || r.DataRate != sf12 || string(r.Payload) != string(payload) || r.From != "tx" {
			t.Errorf("reception %+v does not describe the frame", r)
		}
		rx := m.Radio(r.Receiver)
		if r.Tmst != rx.Counter(s.End) || !r.End.Equal(s.End) {
			t.Errorf("tmst %d end %v, want counter %d at %v", r.Tmst, r.End, rx.Counter(s.End), s.End)
		}
	}
	if st := m.Stats(); st.Transmissions != 1 || st.Deliveries != uint64(len(dists)) {
		t.Errorf("stats %+v", st)
	}
}

func TestSensitivityPerSpreadingFactor(t *testing.T) {
	m, clk := exactMedium(t)
	tx, _ := attach(t, m, "tx", 0, 0)
	_, near := attach(t, m, "near", 2000, 0)
	_, far := attach(t, m, "far", 6000, 0)
	// SF7 needs SNR ≥ −7.5 dB: 14 dBm reaches about 3.7 km with n = 3.
	// SF12 needs −20 dB: about 9.8 km.
	send(t, tx, Transmission{Frequency: f8671, DataRate: sf7, Power: 14, Payload: []byte{1}})
	clk.Advance(time.Second)
	if len(near.all()) != 1 || len(far.all()) != 0 {
		t.Fatalf("SF7: near %d far %d receptions, want 1 and 0", len(near.all()), len(far.all()))
	}
	if st := m.Stats(); st.BelowSensitivity != 1 {
		t.Errorf("below sensitivity %d, want 1", st.BelowSensitivity)
	}
	send(t, tx, Transmission{Frequency: f8671, DataRate: sf12, Power: 14, Payload: []byte{2}})
	clk.Advance(5 * time.Second)
	if len(near.all()) != 2 || len(far.all()) != 1 {
		t.Fatalf("SF12: near %d far %d receptions, want 2 and 1", len(near.all()), len(far.all()))
	}
	if snr := far.all()[0].SNR; snr >= radio.SNRMin(7) || snr < radio.SNRMin(12) {
		t.Errorf("far SNR %v should lie between the SF12 and SF7 limits", snr)
	}
}

func TestCollisions(t *testing.T) {
	frame := func(f radio.Hz, dr radio.DataRate, b byte) Transmission {
		return Transmission{Frequency: f, DataRate: dr, Power: 14, Payload: []byte{b, b, b, b}}
	}
	tests := []struct {
		name       string
		bEast      float64 // position of B; A is 1 km west of the receiver
		a, b       Transmission
		bDelay     time.Duration
		heard      []byte // first payload bytes the receiver gets, in order
		collisions uint64
	}{
		{"equal power, both lost", 1000, frame(f8671, sf9, 'A'), frame(f8671, sf9, 'B'), 10 * time.Millisecond, nil, 2},
		{"stronger by 14 dB captures", 3000, frame(f8671, sf9, 'A'), frame(f8671, sf9, 'B'), 10 * time.Millisecond, []byte("A"), 1},
		{"weaker first still lost", 3000, frame(f8671, sf9, 'A'), frame(f8671, sf9, 'B'), -10 * time.Millisecond, []byte("A"), 1},
		{"other spreading factor", 1000, frame(f8671, sf9, 'A'), frame(f8671, sf7, 'B'), 10 * time.Millisecond, []byte("BA"), 0},
		{"other channel", 1000, frame(f8671, sf9, 'A'), frame(f8673, sf9, 'B'), 10 * time.Millisecond, []byte("AB"), 0},
		{"no time overlap", 1000, frame(f8671, sf9, 'A'), frame(f8671, sf9, 'B'), time.Second, []byte("AB"), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, clk := exactMedium(t)
			_, rx := attach(t, m, "rx", 0, 0)
			a, _ := attach(t, m, "a", 0, -1000)
			b, _ := attach(t, m, "b", 0, tt.bEast)
			start := t0.Add(time.Second)
			tt.a.At = start
			tt.b.At = start.Add(tt.bDelay)
			send(t, a, tt.a)
			send(t, b, tt.b)
			clk.Advance(5 * time.Second)
			var heard []byte
			for _, r := range rx.all() {
				heard = append(heard, r.Payload[0])
			}
			if string(heard) != string(tt.heard) {
				t.Errorf("heard %q, want %q", heard, tt.heard)
			}
			if st := m.Stats(); st.Collisions != tt.collisions {
				t.Errorf("collisions %d, want %d", st.Collisions, tt.collisions)
			}
		})
	}
}

func TestHalfDuplexAndOwnFrames(t *testing.T) {
	m, clk := exactMedium(t)
	gw, gwRec := attach(t, m, "gw", 0, 0)
	dev, devRec := attach(t, m, "dev", 0, 1000)
	// Alone on the air, a frame reaches the other radio but not its sender.
	send(t, gw, Transmission{Frequency: f8673, DataRate: sf7, Power: 14, Payload: []byte("alone")})
	clk.Advance(time.Second)
	if got := devRec.all(); len(got) != 1 || string(got[0].Payload) != "alone" {
		t.Fatalf("device heard %v, want the gateway's frame", got)
	}
	if n := len(gwRec.all()); n != 0 {
		t.Fatalf("gateway heard its own frame")
	}
	// The gateway transmits (on another channel) while the device's frame
	// is on the air: half-duplex radios lose what arrives while they send,
	// so neither hears the other.
	send(t, dev, Transmission{Frequency: f8671, DataRate: sf9, Power: 14, Payload: []byte("up"), At: t0.Add(2 * time.Second)})
	send(t, gw, Transmission{Frequency: f8673, DataRate: sf7, Power: 14, Payload: []byte("down"), At: t0.Add(2050 * time.Millisecond)})
	clk.Advance(3 * time.Second)
	if n := len(gwRec.all()); n != 0 {
		t.Errorf("gateway heard %d frames while transmitting", n)
	}
	if n := len(devRec.all()); n != 1 {
		t.Errorf("device heard %d frames, want only the first", n)
	}
	if st := m.Stats(); st.HalfDuplex != 2 {
		t.Errorf("half duplex losses %d, want 2", st.HalfDuplex)
	}
}

func TestPolarityAndChannels(t *testing.T) {
	m, clk := exactMedium(t)
	tx, _ := attach(t, m, "tx", 0, 0)
	lat, lng := at(0, 500)
	gw, err := m.Attach(RadioConfig{Name: "gw", Lat: lat, Lng: lng, Channels: []radio.Hz{f8673}})
	if err != nil {
		t.Fatal(err)
	}
	gwRec := &recorder{}
	gw.Listen(gwRec.add)
	dev, err := m.Attach(RadioConfig{Name: "dev", Lat: lat, Lng: lng + 0.001, InvertIQ: true})
	if err != nil {
		t.Fatal(err)
	}
	devRec := &recorder{}
	dev.Listen(devRec.add)
	send(t, tx, Transmission{Frequency: f8671, DataRate: sf7, Power: 14, Payload: []byte{1}})
	clk.Advance(time.Second)
	send(t, tx, Transmission{Frequency: f8673, DataRate: sf7, Power: 14, Payload: []byte{2}})
	clk.Advance(time.Second)
	send(t, tx, Transmission{Frequency: f8673, DataRate: sf7, Power: 14, Payload: []byte{3}, InvertIQ: true})
	clk.Advance(time.Second)
	if got := gwRec.all(); len(got) != 1 || got[0].Payload[0] != 2 {
		t.Errorf("gateway heard %v, want only frame 2 (its channel, uplink polarity)", got)
	}
	if got := devRec.all(); len(got) != 1 || got[0].Payload[0] != 3 || !got[0].InvertIQ {
		t.Errorf("device heard %v, want only frame 3 (inverted IQ)", got)
	}
}

// layout attaches n radios at pseudo-random positions within a 20 km
// square, named r000…, each listening with its own recorder unless record
// is false.
func layout(t testing.TB, m *Medium, n int, seed uint64, record bool) ([]*Radio, []*recorder) {
	rng := rand.New(rand.NewPCG(seed, 1))
	radios := make([]*Radio, n)
	recs := make([]*recorder, n)
	for i := range n {
		lat, lng := at(rng.Float64()*20_000-10_000, rng.Float64()*20_000-10_000)
		r, err := m.Attach(RadioConfig{
			Name: "r" + string(rune('0'+i/100)) + string(rune('0'+i/10%10)) + string(rune('0'+i%10)),
			Lat:  lat, Lng: lng, Elevation: radio.Meters(rng.Float64() * 30), Gain: radio.DBi(rng.IntN(7)),
		})
		if err != nil {
			t.Fatal(err)
		}
		if record {
			recs[i] = &recorder{}
			r.Listen(recs[i].add)
		}
		radios[i] = r
	}
	return radios, recs
}

// run transmits one SF9 frame from every 10th radio, spaced so they do not
// overlap, and returns every reception of every radio.
func run(t *testing.T, seed uint64) [][]Reception {
	t.Helper()
	clk := NewManualClock(t0)
	m, err := NewMedium(MediumConfig{Clock: clk, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	radios, recs := layout(t, m, 60, 7, true)
	for i := 0; i < len(radios); i += 10 {
		send(t, radios[i], Transmission{Frequency: f8671, DataRate: sf9, Power: 20, Payload: []byte{byte(i)}})
		clk.Advance(time.Second)
	}
	out := make([][]Reception, len(recs))
	for i, r := range recs {
		out[i] = r.all()
	}
	return out
}

func TestShadowingIsDeterministic(t *testing.T) {
	a, b := run(t, 42), run(t, 42)
	other := run(t, 43)
	var total, differ int
	for i := range a {
		if len(a[i]) != len(b[i]) {
			t.Fatalf("radio %d: %d vs %d receptions with the same seed", i, len(a[i]), len(b[i]))
		}
		for j := range a[i] {
			x, y := a[i][j], b[i][j]
			if x.RSSI != y.RSSI || x.RSSIS != y.RSSIS || x.SNR != y.SNR || x.Tmst != y.Tmst || x.From != y.From {
				t.Fatalf("radio %d reception %d differs with the same seed: %+v vs %+v", i, j, x, y)
			}
			total++
		}
		for j := range min(len(a[i]), len(other[i])) {
			if a[i][j].RSSIS != other[i][j].RSSIS {
				differ++
			}
		}
	}
	if total == 0 {
		t.Fatal("no receptions at all")
	}
	if differ == 0 {
		t.Error("another seed gave identical signals")
	}
}

func TestShadowingStatistics(t *testing.T) {
	clk := NewManualClock(t0)
	m, err := NewMedium(MediumConfig{Clock: clk, Seed: 9, ShadowingSigma: 8})
	if err != nil {
		t.Fatal(err)
	}
	radios, _ := layout(t, m, 60, 3, false)
	var sum, sq float64
	var n int
	for i, a := range radios {
		for _, b := range radios[i+1:] {
			ab := m.Link(a, b, f8671, 14)
			ba := m.Link(b, a, f8671, 14)
			if ab.Shadowing != ba.Shadowing || ab.PathLoss != ba.PathLoss {
				t.Fatalf("link %s–%s not symmetric: %+v vs %+v", a.Name(), b.Name(), ab, ba)
			}
			if math.Abs(float64(ab.Shadowing)) > 24+1e-9 {
				t.Fatalf("shadowing %v beyond 3σ", ab.Shadowing)
			}
			if ab.PathLoss < ab.FreeSpace {
				t.Fatalf("path loss %v below free space %v", ab.PathLoss, ab.FreeSpace)
			}
			s := float64(ab.Shadowing)
			sum += s
			sq += s * s
			n++
		}
	}
	mean := sum / float64(n)
	sd := math.Sqrt(sq/float64(n) - mean*mean)
	// 1 770 pairs: the sample mean is within ±0.6 dB and the deviation
	// within ±0.6 dB of σ = 8 with overwhelming probability (and the draw
	// is fixed by the seed).
	if math.Abs(mean) > 0.6 || math.Abs(sd-8) > 0.6 {
		t.Errorf("shadowing mean %.2f dB, sd %.2f dB over %d pairs; want about 0 and 8", mean, sd, n)
	}
}

// TestPrunedLinksLoseNothing checks that the link cache reaches exactly the
// receivers a brute-force evaluation of every pair says can hear.
func TestPrunedLinksLoseNothing(t *testing.T) {
	clk := NewManualClock(t0)
	m, err := NewMedium(MediumConfig{Clock: clk, Seed: 5, FadingSigma: -1, PathLossExponent: 3.5})
	if err != nil {
		t.Fatal(err)
	}
	radios, recs := layout(t, m, 200, 11, true)
	for k, p := range []radio.DBm{-10, 14, 27} {
		for _, r := range recs {
			r.mu.Lock()
			r.recs = nil
			r.mu.Unlock()
		}
		tx := radios[k]
		send(t, tx, Transmission{Frequency: f8671, DataRate: sf12, Power: p, Payload: []byte{1}})
		clk.Advance(3 * time.Second)
		floor := float64(radio.NoiseFloor(125_000, 6) + radio.DBm(radio.SNRMin(12)))
		var heard, want int
		for i, rx := range radios {
			if rx == tx {
				continue
			}
			expect := float64(m.Link(tx, rx, f8671, p).Signal) >= floor
			got := len(recs[i].all()) == 1
			if expect != got {
				t.Errorf("power %v: %s heard=%v, link budget says %v", p, rx.Name(), got, expect)
			}
			if expect {
				want++
			}
			if got {
				heard++
			}
		}
		if want == 0 || want == len(radios)-1 {
			t.Errorf("power %v: %d of %d receivers in range; the layout tests nothing", p, want, len(radios)-1)
		}
	}
}

func TestCounter(t *testing.T) {
	clk := NewManualClock(t0)
	m, err := NewMedium(MediumConfig{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	off := uint32(math.MaxUint32 - 500_000) // wraps 0.5 s after attach
	r, err := m.Attach(RadioConfig{Name: "gw", Lat: baseLat, Lng: baseLng, CounterOffset: &off})
	if err != nil {
		t.Fatal(err)
	}
	if c := r.Counter(t0); c != off {
		t.Errorf("counter at attach %d, want %d", c, off)
	}
	if c := r.Counter(t0.Add(time.Second)); c != 499_999 {
		t.Errorf("counter after 1 s %d, want 499999 (wrapped)", c)
	}
	now := t0.Add(700 * time.Millisecond)
	for _, ahead := range []time.Duration{-3 * time.Second, -time.Microsecond, 0, time.Second, 30 * time.Minute} {
		want := now.Add(ahead)
		if got := r.CounterTime(r.Counter(want), now); !got.Equal(want) {
			t.Errorf("CounterTime(Counter(now%+v)) = %v, want %v", ahead, got, want)
		}
	}
	other, err := m.Attach(RadioConfig{Name: "gw2", Lat: baseLat, Lng: baseLng})
	if err != nil {
		t.Fatal(err)
	}
	if other.Counter(t0) == r.Counter(t0) {
		t.Error("two radios share a counter")
	}
}

func TestCloseCancelsFrames(t *testing.T) {
	m, clk := exactMedium(t)
	tx, _ := attach(t, m, "tx", 0, 0)
	_, rec := attach(t, m, "rx", 0, 100)
	send(t, tx, Transmission{Frequency: f8671, DataRate: sf7, Power: 14, Payload: []byte{1}})
	m.Close()
	clk.Advance(time.Second)
	if n := len(rec.all()); n != 0 {
		t.Errorf("%d receptions after Close", n)
	}
	if _, err := tx.Transmit(Transmission{Frequency: f8671, DataRate: sf7, Power: 14, Payload: []byte{1}}); err == nil {
		t.Error("Transmit after Close succeeded")
	}
}

func TestTransmitRejects(t *testing.T) {
	m, _ := exactMedium(t)
	tx, _ := attach(t, m, "tx", 0, 0)
	for _, bad := range []Transmission{
		{Frequency: f8671, DataRate: radio.DataRate{SF: 6, Bandwidth: 125_000}, Power: 14, Payload: []byte{1}},
		{Frequency: f8671, DataRate: radio.DataRate{SF: 7, Bandwidth: 100_000}, Power: 14, Payload: []byte{1}},
		{Frequency: f8671, DataRate: sf7, Power: 14},
		{Frequency: f8671, DataRate: sf7, Power: 14, Payload: make([]byte, 256)},
		{Frequency: 0, DataRate: sf7, Power: 14, Payload: []byte{1}},
		{Frequency: f8671, DataRate: sf7, Power: 31, Payload: []byte{1}},
		{Frequency: f8671, DataRate: sf7, Power: radio.DBm(math.NaN()), Payload: []byte{1}},
	} {
		if _, err := tx.Transmit(bad); err == nil {
			t.Errorf("Transmit(%+v) succeeded", bad)
		}
	}
	for _, cfg := range []RadioConfig{
		{},
		{Name: "x", Lat: 91},
		{Name: "x", Lng: math.NaN()},
		{Name: "x", Gain: 100},
		{Name: "tx"},
	} {
		if _, err := m.Attach(cfg); err == nil {
			t.Errorf("Attach(%+v) succeeded", cfg)
		}
	}
	for _, cfg := range []MediumConfig{
		{PathLossExponent: 0.5},
		{ReferenceDistance: -1},
		{ShadowingSigma: radio.DB(math.Inf(1))},
		{MaxTxPower: 100},
	} {
		if _, err := NewMedium(cfg); err == nil {
			t.Errorf("NewMedium(%+v) succeeded", cfg)
		}
	}
}

func TestMoveAndDetach(t *testing.T) {
	m, clk := exactMedium(t)
	tx, _ := attach(t, m, "tx", 0, 0)
	rx, rec := attach(t, m, "rx", 0, 500)
	send(t, tx, Transmission{Frequency: f8671, DataRate: sf7, Power: 14, Payload: []byte{1}})
	clk.Advance(time.Second)
	lat, lng := at(0, 1000)
	if err := rx.Move(lat, lng, 0); err != nil {
		t.Fatal(err)
	}
	send(t, tx, Transmission{Frequency: f8671, DataRate: sf7, Power: 14, Payload: []byte{2}})
	clk.Advance(time.Second)
	got := rec.all()
	if len(got) != 2 || got[1].RSSIS >= got[0].RSSIS || math.Abs(float64(got[1].Distance)-1000) > 1 {
		t.Fatalf("after moving: %+v", got)
	}
	rx.Detach()
	send(t, tx, Transmission{Frequency: f8671, DataRate: sf7, Power: 14, Payload: []byte{3}})
	clk.Advance(time.Second)
	if len(rec.all()) != 2 {
		t.Error("a detached radio still hears")
	}
	if m.Radio("rx") != nil || len(m.Radios()) != 1 {
		t.Error("detached radio still listed")
	}
}

// FuzzMedium places two radios anywhere with any gains and sends any frame:
// nothing panics, and every reception has finite, consistent numbers.
func FuzzMedium(f *testing.F) {
	f.Add(52.37, 4.89, 52.38, 4.90, 10.0, 3.0, 14.0, uint8(9), uint32(867_100_000), uint8(52), uint64(1))
	f.Add(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, uint8(7), uint32(1), uint8(1), uint64(0))
	f.Add(89.9, 179.9, -89.9, -179.9, 9999.0, 40.0, 30.0, uint8(12), uint32(4_000_000_000), uint8(255), uint64(7))
	f.Add(52.37, 4.89, 52.37, 4.89, -500.0, -20.0, -30.0, uint8(12), uint32(433_175_000), uint8(51), uint64(3))
	f.Fuzz(func(t *testing.T, lat1, lng1, lat2, lng2, elev, gain, power float64, sf uint8, freq uint32, size uint8, seed uint64) {
		clk := NewManualClock(t0)
		m, err := NewMedium(MediumConfig{Clock: clk, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		a, err := m.Attach(RadioConfig{Name: "a", Lat: lat1, Lng: lng1, Elevation: radio.Meters(elev), Gain: radio.DBi(gain)})
		if err != nil {
			return
		}
		b, err := m.Attach(RadioConfig{Name: "b", Lat: lat2, Lng: lng2, Gain: radio.DBi(gain)})
		if err != nil {
			return
		}
		var got []Reception
		b.Listen(func(r Reception) { got = append(got, r) })
		dr := radio.DataRate{SF: int(sf), Bandwidth: 125_000}
		if _, err := a.Transmit(Transmission{Frequency: radio.Hz(freq), DataRate: dr, Power: radio.DBm(power), Payload: make([]byte, size)}); err != nil {
			return
		}
		clk.Advance(20 * time.Second)
		for _, r := range got {
			for _, v := range []float64{float64(r.RSSI), float64(r.RSSIS), float64(r.SNR), float64(r.Distance)} {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatalf("non-finite value in %+v", r)
				}
			}
			if r.RSSI < r.RSSIS || r.SNR < radio.SNRMin(int(sf)) {
				t.Fatalf("inconsistent reception %+v", r)
			}
		}
		if lb := m.Link(a, b, radio.Hz(max(freq, 1)), radio.DBm(power)); lb.PathLoss < lb.FreeSpace {
			t.Fatalf("path loss below free space: %+v", lb)
		}
	})
}

// TestAttachAfterFrames checks that radios attached after a transmitter's
// links were cached still hear it.
func TestAttachAfterFrames(t *testing.T) {
	m, clk := exactMedium(t)
	tx, _ := attach(t, m, "tx", 0, 0)
	_, first := attach(t, m, "first", 0, 300)
	send(t, tx, Transmission{Frequency: f8671, DataRate: sf7, Power: 14, Payload: []byte{1}})
	clk.Advance(time.Second)
	_, late := attach(t, m, "late", 300, 0)
	gone, goneRec := attach(t, m, "gone", -300, 0)
	gone.Detach()
	send(t, tx, Transmission{Frequency: f8671, DataRate: sf7, Power: 14, Payload: []byte{2}})
	clk.Advance(time.Second)
	if len(first.all()) != 2 || len(late.all()) != 1 || len(goneRec.all()) != 0 {
		t.Errorf("receptions: first %d (want 2), late %d (want 1), detached %d (want 0)", len(first.all()), len(late.all()), len(goneRec.all()))
	}
	if got := late.all(); len(got) == 1 && math.Abs(float64(got[0].RSSIS-first.all()[1].RSSIS)) > 0.01 {
		t.Errorf("equal distances, different signals: %v vs %v", got[0].RSSIS, first.all()[1].RSSIS)
	}
}

func TestFadingDistribution(t *testing.T) {
	tab := newNormalTable()
	const n = 200_000
	var sum, sq float64
	var beyond2 int
	for i := range uint64(n) {
		z := tab.draw(fadingKey(1, i, 7))
		if z < -3 || z > 3 || math.IsNaN(z) {
			t.Fatalf("draw %v outside ±3", z)
		}
		sum += z
		sq += z * z
		if math.Abs(z) > 2 {
			beyond2++
		}
	}
	mean, sd := sum/n, math.Sqrt(sq/n-(sum/n)*(sum/n))
	// Standard normal: mean 0, sd 1 (0.987 after clipping at ±3), 4.55 %
	// beyond ±2.
	if math.Abs(mean) > 0.01 || math.Abs(sd-0.987) > 0.01 || math.Abs(float64(beyond2)/n-0.0455) > 0.003 {
		t.Errorf("mean %.4f sd %.4f beyond ±2 %.4f", mean, sd, float64(beyond2)/n)
	}
}
