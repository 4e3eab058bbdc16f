package radio

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// The hexfield vector of poc-rules §3.
const (
	vecEntropy = "b6aa3f80d9355f139d998626b8d1ff1776cda36ae11a10006a8d516546276b09"
	vecTs      = int64(1677163710)
	vecPubkey  = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
	vecSeed    = "bbab0ccf08b7010248609ee55064fe3ac39b68cdd0112bcec7a1616fa3dd4cd0"
	vecPayload = "ac5dae057696000fe733c884f22c63721151b03ecd34ed4f767c581f500a8e72d3f90ff99f96d85df26f2979cf0d3125d69314"
)

func vecInputs(t testing.TB) (entropy [32]byte, pub [32]byte, nonce [16]byte) {
	t.Helper()
	copy(entropy[:], mustHex(t, vecEntropy))
	copy(pub[:], mustHex(t, vecPubkey))
	for i := range nonce {
		nonce[i] = byte(i)
	}
	return entropy, pub, nonce
}

func TestBeaconSpecVector(t *testing.T) {
	entropy, pub, nonce := vecInputs(t)
	seed := BeaconSeed(entropy, vecTs, pub, nonce)
	if got := hex.EncodeToString(seed[:]); got != vecSeed {
		t.Fatalf("seed = %s, want %s", got, vecSeed)
	}
	payload := BeaconPayload(seed)
	if got := hex.EncodeToString(payload[:]); got != vecPayload {
		t.Fatalf("payload = %s, want %s", got, vecPayload)
	}
	if u := uint16(payload[0]) | uint16(payload[1])<<8; u != 23980 || u%8 != 4 {
		t.Fatalf("u16_le = %d (index %d), want 23980 (index 4)", u, u%8)
	}

	for _, tc := range []struct {
		region string
		freq   Hz
		dr     string
		power  int
	}{
		{"EU868", 867_900_000, "SF12BW125", 10},
		{"US915", 904_700_000, "SF9BW125", 27}, // 30 before the SX1302 cap
		// Derived from the same payload (not in the spec): index
		// 23980 mod 8 = 4, or 23980 mod 3 = 1 for three-channel plans.
		{"AU915", 917_600_000, "SF9BW125", 24},
		{"AS923-1", 924_000_000, "SF9BW125", 10},
		{"AS923-2", 922_200_000, "SF9BW125", 10},
		{"AS923-3", 917_400_000, "SF9BW125", 10},
		{"AS923-4", 918_100_000, "SF9BW125", 10},
		{"KR920", 922_300_000, "SF9BW125", 8},
		{"IN865", 865_402_500, "SF9BW125", 24},
		{"EU433", 433_375_000, "SF9BW125", 6},
	} {
		t.Run(tc.region, func(t *testing.T) {
			r, err := LookupRegion(tc.region)
			if err != nil {
				t.Fatal(err)
			}
			b, err := NewBeacon(r, entropy, vecTs, pub, nonce, 60)
			if err != nil {
				t.Fatal(err)
			}
			if b.Payload != payload {
				t.Errorf("payload = %x, want %x", b.Payload, payload)
			}
			if b.Frequency != tc.freq || b.DataRate.String() != tc.dr || b.PowerDBm != tc.power {
				t.Errorf("beacon = %d Hz %v %d dBm, want %d Hz %s %d dBm",
					b.Frequency, b.DataRate, b.PowerDBm, tc.freq, tc.dr, tc.power)
			}
		})
	}
}

func TestBeaconZeroPubkey(t *testing.T) {
	entropy, _, nonce := vecInputs(t)
	p := BeaconPayload(BeaconSeed(entropy, vecTs, [32]byte{}, nonce))
	if !bytes.HasPrefix(p[:], mustHex(t, "dff1ec2a")) {
		t.Fatalf("zero-pubkey payload = %x, want prefix dff1ec2a", p)
	}
}

// Every input of the seed changes the payload (a beacon is bound to its
// beaconer, entropy and nonce: poc-rules §12a).
func TestBeaconSeedBindsInputs(t *testing.T) {
	entropy, pub, nonce := vecInputs(t)
	base := BeaconSeed(entropy, vecTs, pub, nonce)
	e2 := entropy
	e2[31] ^= 1
	p2 := pub
	p2[0] ^= 1
	n2 := nonce
	n2[15] ^= 1
	for name, s := range map[string][32]byte{
		"entropy": BeaconSeed(e2, vecTs, pub, nonce),
		"ts":      BeaconSeed(entropy, vecTs+1, pub, nonce),
		"pubkey":  BeaconSeed(entropy, vecTs, p2, nonce),
		"nonce":   BeaconSeed(entropy, vecTs, pub, n2),
	} {
		if s == base {
			t.Errorf("changing %s does not change the seed", name)
		}
	}
}

func TestBeaconPower(t *testing.T) {
	for _, tc := range []struct {
		region string
		gain   int32
		want   int
	}{
		{"EU868", 60, 10},   // (161−60)/10 = 10.1 → 10
		{"US915", 60, 27},   // 300/10 = 30, capped at the SX1302's 27
		{"US915", 12, 27},   // 34.8 → 34, capped
		{"US915", 90, 27},   // 27.0, the cap exactly
		{"US915", 100, 26},  // 26.0, under the cap
		{"AU915", 12, 27},   // 28.8 → 28, capped
		{"AU915", 60, 24},   // 24.0, under the cap
		{"IN865", 12, 28},   // no cap outside US915 and AU915
		{"EU868", -25, 18},  // negative gain: 186/10 = 18.6 → 18 (docs/poc-rules.md §3)
		{"EU868", -5, 16},   // 16.6 → 16
		{"EU868", 12, 14},   // 14.9 → 14
		{"AS923-1", 30, 13}, // 13.0
		{"KR920", 12, 12},   // 12.8 → 12
		{"EU433", 200, -7},  // −7.9 → −7 (toward zero, not −8)
		{"EU868", 171, -1},  // −1.0
		{"EU868", 170, 0},   // −0.9 → 0
	} {
		r, err := LookupRegion(tc.region)
		if err != nil {
			t.Fatal(err)
		}
		if got := BeaconPower(r, tc.gain); got != tc.want {
			t.Errorf("BeaconPower(%s, %d) = %d, want %d", tc.region, tc.gain, got, tc.want)
		}
	}
}

func TestNewBeaconNoBeaconRegion(t *testing.T) {
	entropy, pub, nonce := vecInputs(t)
	r, err := LookupRegion("CN470")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewBeacon(r, entropy, vecTs, pub, nonce, 12); !errors.Is(err, ErrNoBeacon) {
		t.Fatalf("CN470 beacon: err = %v, want ErrNoBeacon", err)
	}
	if _, err := NewBeacon(nil, entropy, vecTs, pub, nonce, 12); !errors.Is(err, ErrNoBeacon) {
		t.Fatalf("nil region beacon: err = %v, want ErrNoBeacon", err)
	}
	empty := &Region{Name: "empty", Bandwidth: 125_000, Spreading: auSpreading()}
	if _, err := NewBeacon(empty, entropy, vecTs, pub, nonce, 12); !errors.Is(err, ErrNoBeacon) {
		t.Fatalf("region without channels: err = %v, want ErrNoBeacon", err)
	}
}

// Every beacon region picks a channel of its own table and its beacon data
// rate, for many payloads.
func TestNewBeaconAllRegions(t *testing.T) {
	entropy, pub, _ := vecInputs(t)
	for _, r := range Regions() {
		if r.NoBeacon {
			continue
		}
		seen := map[Hz]bool{}
		for i := range 200 {
			var nonce [16]byte
			nonce[0], nonce[1] = byte(i), byte(i>>8)
			b, err := NewBeacon(r, entropy, vecTs, pub, nonce, 12)
			if err != nil {
				t.Fatalf("%s: %v", r.Name, err)
			}
			if !r.HasChannel(b.Frequency) {
				t.Fatalf("%s: beacon on %d Hz, not a region channel", r.Name, b.Frequency)
			}
			dr, _ := r.BeaconDataRate()
			if b.DataRate != dr {
				t.Fatalf("%s: data rate %v, want %v", r.Name, b.DataRate, dr)
			}
			seen[b.Frequency] = true
		}
		if len(seen) != len(r.Channels) {
			t.Errorf("%s: 200 beacons used %d of %d channels", r.Name, len(seen), len(r.Channels))
		}
	}
}

func TestBeaconFrame(t *testing.T) {
	var payload [BeaconPayloadSize]byte
	copy(payload[:], mustHex(t, vecPayload))
	frame := BeaconFrame(payload)
	want := "e0" + vecPayload
	if got := hex.EncodeToString(frame); got != want {
		t.Fatalf("frame = %s, want %s", got, want)
	}
	if b := (Beacon{Payload: payload}); !bytes.Equal(b.Frame(), frame) {
		t.Fatalf("Beacon.Frame differs from BeaconFrame")
	}
	back, ok := ParseBeaconFrame(frame)
	if !ok || back != payload {
		t.Fatalf("ParseBeaconFrame(frame) = %x, %v", back, ok)
	}

	bad := map[string][]byte{
		"empty":           nil,
		"short":           frame[:51],
		"long":            append(append([]byte{}, frame...), 0),
		"unconfirmed up":  append([]byte{0x40}, frame[1:]...),
		"proprietary rfu": append([]byte{0xE1}, frame[1:]...),
	}
	for name, f := range bad {
		if _, ok := ParseBeaconFrame(f); ok {
			t.Errorf("%s: ParseBeaconFrame accepted %x", name, f)
		}
	}
}

func FuzzParseBeaconFrame(f *testing.F) {
	var payload [BeaconPayloadSize]byte
	copy(payload[:], mustHex(f, vecPayload))
	f.Add(BeaconFrame(payload))
	f.Add(BeaconFrame([BeaconPayloadSize]byte{}))
	f.Add([]byte{0xE0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, ok := ParseBeaconFrame(b)
		if !ok {
			return
		}
		if len(b) != BeaconFrameSize || b[0] != BeaconMHDR {
			t.Fatalf("accepted %x", b)
		}
		if again := BeaconFrame(p); !bytes.Equal(again, b) {
			t.Fatalf("round trip %x → %x", b, again)
		}
	})
}

func BenchmarkNewBeacon(b *testing.B) {
	entropy, pub, nonce := vecInputs(b)
	r, err := LookupRegion("EU868")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := NewBeacon(r, entropy, vecTs, pub, nonce, 60); err != nil {
			b.Fatal(err)
		}
	}
}
