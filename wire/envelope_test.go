package wire

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Golden envelope, computed independently of this package: the body with
// protoc --encode, the signature with Python's cryptography (OpenSSL) over
// "hexfield-v1/entropy\x00" ‖ body with the key of seed 00 01 … 1f.
const (
	goldenEntropyBody = "08011080e2cfaa061a20" + "1111111111111111111111111111111111111111111111111111111111111111"
	goldenEntropySig  = "b2594a49b42cfa66400eecd3fbabe65fcb01716c002364bb73de19449b2f23bc" +
		"c180255a59c5d432c70990abde36fe618731b730dfd29d48ba1da43890baf706"
	goldenEntropyEnvelope = "0804" +
		"122003a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8" +
		"1a2a" + goldenEntropyBody +
		"2240" + goldenEntropySig
	goldenEntropyReportID = "706376d8ccc47c2f0f19df5885c8a739ff14f9b0a3a51c9853536e3ed55b850b"
)

func goldenEntropy() *Entropy {
	return &Entropy{Version: 1, Ts: 1700000000, Data: bytes.Repeat([]byte{0x11}, 32)}
}

func TestSealGolden(t *testing.T) {
	priv := seqSeedKey()
	raw, err := Seal(priv, Kind_KIND_ENTROPY, goldenEntropy())
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(raw); got != goldenEntropyEnvelope {
		t.Errorf("Seal =\n%s\nwant\n%s", got, goldenEntropyEnvelope)
	}
	// The canonical encoding is what deterministic protobuf marshaling makes.
	env := &Envelope{Kind: Kind_KIND_ENTROPY, Signer: PublicKeyOf(priv).Bytes(),
		Body: mustHex(t, goldenEntropyBody), Signature: mustHex(t, goldenEntropySig)}
	pb, err := proto.MarshalOptions{Deterministic: true}.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pb, raw) {
		t.Errorf("protobuf marshal = %x, want %x", pb, raw)
	}
	id := ReportID(raw)
	if got := hex.EncodeToString(id[:]); got != goldenEntropyReportID {
		t.Errorf("ReportID = %s, want %s", got, goldenEntropyReportID)
	}

	opened, err := Open(mustHex(t, goldenEntropyEnvelope), Kind_KIND_ENTROPY)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(opened, env) {
		t.Errorf("Open = %v, want %v", opened, env)
	}
	var e Entropy
	signer, err := Unseal(raw, Kind_KIND_ENTROPY, &e)
	if err != nil || signer != PublicKeyOf(priv) || !proto.Equal(&e, goldenEntropy()) {
		t.Errorf("Unseal = %v, %s, %v", &e, signer, err)
	}
}

func TestDomainTags(t *testing.T) {
	want := map[Kind]string{
		Kind_KIND_BEACON_REPORT:   "hexfield-v1/beacon_report\x00",
		Kind_KIND_WITNESS_REPORT:  "hexfield-v1/witness_report\x00",
		Kind_KIND_PACKET_REPORT:   "hexfield-v1/packet_report\x00",
		Kind_KIND_ENTROPY:         "hexfield-v1/entropy\x00",
		Kind_KIND_CONFIG:          "hexfield-v1/config\x00",
		Kind_KIND_HELLO:           "hexfield-v1/hello\x00",
		Kind_KIND_ONBOARD:         "hexfield-v1/onboard\x00",
		Kind_KIND_ASSERT_LOCATION: "hexfield-v1/assert_location\x00",
		Kind_KIND_ORG_CHANGE:      "hexfield-v1/org_change\x00",
		Kind_KIND_DC_GRANT:        "hexfield-v1/dc_grant\x00",
		Kind_KIND_MAKER_APPROVAL:  "hexfield-v1/maker_approval\x00",
		Kind_KIND_ROUTE_TABLE:     "hexfield-v1/route_table\x00",
	}
	// Every kind in the enum but UNSPECIFIED has a tag.
	for v := range Kind_name {
		k := Kind(v)
		got := DomainTag(k)
		if k == Kind_KIND_UNSPECIFIED {
			if got != nil {
				t.Errorf("UNSPECIFIED has tag %q", got)
			}
			continue
		}
		if string(got) != want[k] {
			t.Errorf("DomainTag(%v) = %q, want %q", k, got, want[k])
		}
	}
	if DomainTag(Kind(99)) != nil {
		t.Error("unknown kind has a tag")
	}
	// Prefix-free: no tag is a prefix of another.
	for a, ta := range want {
		for b, tb := range want {
			if a != b && strings.HasPrefix(tb, ta) {
				t.Errorf("tag %q is a prefix of %q", ta, tb)
			}
		}
	}
}

// sealedReport returns a signed beacon report and its key.
func sealedReport(t testing.TB) (ed25519.PrivateKey, []byte) {
	t.Helper()
	priv := seqSeedKey()
	pk := PublicKeyOf(priv)
	r := &BeaconReport{PubKey: pk[:], Nonce: bytes.Repeat([]byte{7}, 16), Payload: bytes.Repeat([]byte{9}, 51),
		FrequencyHz: 867_900_000, Datarate: "SF9BW125", TxPowerDbm: 14, Tmst: 123456, TimestampMs: 1_700_000_000_000,
		Entropy: mustHex(t, goldenEntropyEnvelope)}
	raw, err := Seal(priv, Kind_KIND_BEACON_REPORT, r)
	if err != nil {
		t.Fatal(err)
	}
	return priv, raw
}

// reencode builds an envelope from parts with protobuf, so tests can
// change one part and keep the encoding canonical.
func reencode(t *testing.T, e *Envelope) []byte {
	t.Helper()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOpenRejects(t *testing.T) {
	priv, raw := sealedReport(t)
	orig, err := Open(raw, Kind_KIND_BEACON_REPORT)
	if err != nil {
		t.Fatal(err)
	}
	clone := func() *Envelope { return proto.Clone(orig).(*Envelope) }
	other, _ := GenerateKey()

	forged := clone()
	forged.Signature = bytes.Repeat([]byte{0x5a}, 64)

	flippedSig := clone()
	flippedSig.Signature[10] ^= 1

	mutatedBody := clone()
	mutatedBody.Body[len(mutatedBody.Body)-1] ^= 0x80

	mutatedSigner := clone()
	mutatedSigner.Signer = PublicKeyOf(other).Bytes()

	// The right signature, but for another kind's domain tag.
	otherKind := clone()
	otherKind.Kind = Kind_KIND_WITNESS_REPORT

	// Signed by another key, with that key as signer, is a valid envelope
	// of that signer: Open succeeds, and the signer tells who it is.
	resignedRaw := SealBytes(other, Kind_KIND_BEACON_REPORT, orig.Body)

	// A signature made with the tag of another kind, placed in an envelope
	// of this kind.
	wrongTag := clone()
	wrongTag.Signature = Sign(priv, Kind_KIND_WITNESS_REPORT, orig.Body)

	// Signed over the body alone, with no tag.
	noTag := clone()
	noTag.Signature = ed25519.Sign(priv, orig.Body)

	// S + L: the same signature with a non-canonical scalar.
	malleable := clone()
	addL(t, malleable.Signature[32:])

	cases := []struct {
		name string
		raw  []byte
		want Kind
		err  error
	}{
		{"forged signature", reencode(t, forged), Kind_KIND_BEACON_REPORT, ErrBadSignature},
		{"flipped signature bit", reencode(t, flippedSig), Kind_KIND_BEACON_REPORT, ErrBadSignature},
		{"mutated body", reencode(t, mutatedBody), Kind_KIND_BEACON_REPORT, ErrBadSignature},
		{"mutated signer", reencode(t, mutatedSigner), Kind_KIND_BEACON_REPORT, ErrBadSignature},
		{"kind changed, opened as the new kind", reencode(t, otherKind), Kind_KIND_WITNESS_REPORT, ErrBadSignature},
		{"kind changed, opened as any kind", reencode(t, otherKind), Kind_KIND_UNSPECIFIED, ErrBadSignature},
		{"kind changed, opened as the old kind", reencode(t, otherKind), Kind_KIND_BEACON_REPORT, ErrWrongKind},
		{"expected another kind", raw, Kind_KIND_ENTROPY, ErrWrongKind},
		{"signature with another kind's tag", reencode(t, wrongTag), Kind_KIND_BEACON_REPORT, ErrBadSignature},
		{"signature without a tag", reencode(t, noTag), Kind_KIND_BEACON_REPORT, ErrBadSignature},
		{"non-canonical signature scalar", reencode(t, malleable), Kind_KIND_BEACON_REPORT, ErrBadSignature},
		{"unknown kind", reencode(t, &Envelope{Kind: 42, Signer: orig.Signer, Body: orig.Body, Signature: orig.Signature}), Kind_KIND_UNSPECIFIED, ErrWrongKind},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env, err := Open(tc.raw, tc.want)
			if !errors.Is(err, tc.err) {
				t.Fatalf("Open = %v, %v; want %v", env, err, tc.err)
			}
		})
	}

	env, err := Open(resignedRaw, Kind_KIND_BEACON_REPORT)
	if err != nil || env.SignerKey() != PublicKeyOf(other) {
		t.Fatalf("resigned: %v", err)
	}
	// ...but Unseal refuses it: the report names the original key.
	var br BeaconReport
	if _, err := Unseal(resignedRaw, Kind_KIND_BEACON_REPORT, &br); !errors.Is(err, ErrSignerMismatch) {
		t.Errorf("Unseal of a report signed by another key: %v, want ErrSignerMismatch", err)
	}

	// Verify itself with a wrong key, kind or tag.
	if !Verify(PublicKeyOf(priv), Kind_KIND_BEACON_REPORT, orig.Body, orig.Signature) {
		t.Fatal("Verify rejects the original")
	}
	if Verify(PublicKeyOf(other), Kind_KIND_BEACON_REPORT, orig.Body, orig.Signature) {
		t.Error("Verify accepts a wrong key")
	}
	if Verify(PublicKeyOf(priv), Kind_KIND_PACKET_REPORT, orig.Body, orig.Signature) {
		t.Error("Verify accepts a wrong kind")
	}
	if Verify(PublicKeyOf(priv), Kind_KIND_UNSPECIFIED, orig.Body, orig.Signature) {
		t.Error("Verify accepts UNSPECIFIED")
	}
	if Verify(PublicKeyOf(priv), Kind_KIND_BEACON_REPORT, orig.Body, orig.Signature[:63]) {
		t.Error("Verify accepts a short signature")
	}
}

// addL adds the ed25519 group order L to a little-endian 32-byte scalar.
func addL(t *testing.T, s []byte) {
	l := mustHex(t, "edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")
	carry := 0
	for i := range 32 {
		v := int(s[i]) + int(l[i]) + carry
		s[i] = byte(v)
		carry = v >> 8
	}
}

func TestOpenRejectsNonCanonical(t *testing.T) {
	_, raw := sealedReport(t)
	orig, err := Open(raw, Kind_KIND_BEACON_REPORT)
	if err != nil {
		t.Fatal(err)
	}
	field := func(num protowire.Number, v []byte) []byte {
		b := protowire.AppendTag(nil, num, protowire.BytesType)
		return protowire.AppendBytes(b, v)
	}
	kindField := []byte{0x08, byte(orig.Kind)}
	signer := field(2, orig.Signer)
	body := field(3, orig.Body)
	sig := field(4, orig.Signature)
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

	longBody := protowire.AppendTag(nil, 3, protowire.BytesType)
	longBody = append(longBody, byte(len(orig.Body))|0x80, byte(len(orig.Body)>>7)|0x80, 0)
	longBody = append(longBody, orig.Body...)

	cases := []struct {
		name string
		raw  []byte
	}{
		{"empty", nil},
		{"signer first", cat(signer, kindField, body, sig)},
		{"signature before body", cat(kindField, signer, sig, body)},
		{"unknown field appended", cat(raw, []byte{0x28, 0x01})},
		{"unknown field in the middle", cat(kindField, signer, []byte{0x28, 0x01}, body, sig)},
		{"duplicate signature", cat(raw, sig)},
		{"duplicate kind", cat(kindField, kindField, signer, body, sig)},
		{"non-minimal kind varint", cat([]byte{0x08, byte(orig.Kind) | 0x80, 0x00}, signer, body, sig)},
		{"non-minimal body length", cat(kindField, signer, longBody, sig)},
		{"explicit zero kind", cat([]byte{0x08, 0x00}, signer, body, sig)},
		{"missing kind", cat(signer, body, sig)},
		{"31-byte signer", cat(kindField, field(2, orig.Signer[:31]), body, sig)},
		{"63-byte signature", cat(kindField, signer, body, field(4, orig.Signature[:63]))},
		{"missing signature", cat(kindField, signer, body)},
		{"trailing byte", cat(raw, []byte{0})},
		{"truncated by one", raw[:len(raw)-1]},
		{"truncated in body", raw[:40]},
		{"explicit empty body", cat(kindField, signer, []byte{0x1a, 0x00}, sig)},
		{"kind over int32", cat([]byte{0x08, 0x80, 0x80, 0x80, 0x80, 0x08}, signer, body, sig)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Open(tc.raw, Kind_KIND_UNSPECIFIED); !errors.Is(err, ErrMalformedEnvelope) {
				t.Fatalf("Open(%x) err = %v, want ErrMalformedEnvelope", tc.raw, err)
			}
		})
	}
	// The original still opens, and Open does not alias its input.
	buf := bytes.Clone(raw)
	env, err := Open(buf, Kind_KIND_BEACON_REPORT)
	if err != nil {
		t.Fatal(err)
	}
	for i := range buf {
		buf[i] = 0
	}
	if !proto.Equal(env, orig) {
		t.Error("Open's result changed when the input buffer was overwritten")
	}
}

func TestSealEmptyBody(t *testing.T) {
	priv := seqSeedKey()
	raw, err := Seal(priv, Kind_KIND_HELLO, &Hello{})
	if err != nil {
		t.Fatal(err)
	}
	env, err := Open(raw, Kind_KIND_HELLO)
	if err != nil || len(env.Body) != 0 {
		t.Fatalf("Open = %v, %v", env, err)
	}
	if !bytes.Equal(reencode(t, env), raw) {
		t.Error("empty-body envelope is not canonical protobuf")
	}
}

func TestSealErrors(t *testing.T) {
	priv := seqSeedKey()
	if _, err := Seal(priv, Kind_KIND_UNSPECIFIED, &Hello{}); !errors.Is(err, ErrWrongKind) {
		t.Errorf("UNSPECIFIED: %v", err)
	}
	if _, err := Seal(priv[:32], Kind_KIND_HELLO, &Hello{}); err == nil {
		t.Error("short key accepted")
	}
	if _, err := Unseal(nil, Kind_KIND_UNSPECIFIED, &Hello{}); !errors.Is(err, ErrWrongKind) {
		t.Errorf("Unseal UNSPECIFIED: %v", err)
	}
	// A body that is not the expected message.
	raw := SealBytes(priv, Kind_KIND_HELLO, []byte{0xff, 0xff})
	if _, err := Unseal(raw, Kind_KIND_HELLO, &Hello{}); !errors.Is(err, ErrMalformedEnvelope) {
		t.Errorf("garbled body: %v", err)
	}
}

func TestCodeOf(t *testing.T) {
	cases := []struct {
		err  error
		want Code
	}{
		{nil, Code_CODE_OK},
		{fmt.Errorf("x: %w", ErrBadSignature), Code_CODE_BAD_SIGNATURE},
		{ErrSignerMismatch, Code_CODE_WRONG_KEY},
		{ErrWrongKind, Code_CODE_UNSUPPORTED},
		{ErrMalformedEnvelope, Code_CODE_MALFORMED},
		{ErrMalformedFrame, Code_CODE_MALFORMED},
		{ErrFrameTooLarge, Code_CODE_OVERSIZE},
		{errors.New("disk full"), Code_CODE_INTERNAL},
	}
	for _, tc := range cases {
		if got := CodeOf(tc.err); got != tc.want {
			t.Errorf("CodeOf(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestReportID(t *testing.T) {
	_, raw := sealedReport(t)
	if ReportID(raw) != sha256.Sum256(raw) {
		t.Error("ReportID is not SHA-256 of the bytes")
	}
}

func FuzzOpen(f *testing.F) {
	_, raw := sealedReport(f)
	f.Add(raw)
	f.Add(mustHex(f, goldenEntropyEnvelope))
	hello, _ := Seal(seqSeedKey(), Kind_KIND_HELLO, &Hello{})
	f.Add(hello)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, raw []byte) {
		env, err := Open(raw, Kind_KIND_UNSPECIFIED)
		k, _, _, _, perr := parseEnvelope(raw)
		if perr == nil {
			// Anything the strict parser accepts decodes with protobuf and
			// re-encodes to the same bytes.
			var pe Envelope
			if err := proto.Unmarshal(raw, &pe); err != nil {
				t.Fatalf("parser accepted what protobuf rejects: %v", err)
			}
			b, err := proto.MarshalOptions{Deterministic: true}.Marshal(&pe)
			if err != nil || !bytes.Equal(b, raw) {
				t.Fatalf("accepted a non-canonical envelope %x (canonical %x)", raw, b)
			}
			if pe.Kind != k {
				t.Fatalf("kind %v, protobuf says %v", k, pe.Kind)
			}
		}
		if err != nil {
			if CodeOf(err) == Code_CODE_INTERNAL {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if !Verify(env.SignerKey(), env.Kind, env.Body, env.Signature) {
			t.Fatal("Open accepted an envelope Verify rejects")
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	priv, raw := sealedReport(b)
	env, err := Open(raw, Kind_KIND_BEACON_REPORT)
	if err != nil {
		b.Fatal(err)
	}
	pub := PublicKeyOf(priv)
	tagged := append(DomainTag(Kind_KIND_BEACON_REPORT), env.Body...)
	// The same-run baseline: one raw ed25519.Verify of the same bytes.
	b.Run("baseline=ed25519.Verify", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !ed25519.Verify(pub[:], tagged, env.Signature) {
				b.Fatal("verify failed")
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	})
	b.Run("Verify", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !Verify(pub, Kind_KIND_BEACON_REPORT, env.Body, env.Signature) {
				b.Fatal("verify failed")
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	})
	b.Run("Open", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			if _, err := Open(raw, Kind_KIND_BEACON_REPORT); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	})
	b.Run("Unseal", func(b *testing.B) {
		b.ReportAllocs()
		var r BeaconReport
		for b.Loop() {
			if _, err := Unseal(raw, Kind_KIND_BEACON_REPORT, &r); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	})
}

// BenchmarkVerifyInterleaved runs Open and the raw ed25519.Verify baseline
// alternately in one loop and times each separately, so a machine whose
// load changes during the run slows both alike. It reports both rates and
// their ratio (open/baseline time per op; 1.0 means no overhead).
func BenchmarkVerifyInterleaved(b *testing.B) {
	priv, raw := sealedReport(b)
	env, err := Open(raw, Kind_KIND_BEACON_REPORT)
	if err != nil {
		b.Fatal(err)
	}
	pub := PublicKeyOf(priv)
	tagged := append(DomainTag(Kind_KIND_BEACON_REPORT), env.Body...)
	var base, open time.Duration
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		if !ed25519.Verify(pub[:], tagged, env.Signature) {
			b.Fatal("verify failed")
		}
		t1 := time.Now()
		if _, err := Open(raw, Kind_KIND_BEACON_REPORT); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		base += t1.Sub(t0)
		open += t2.Sub(t1)
	}
	b.ReportMetric(float64(b.N)/base.Seconds(), "baseline-ops/s")
	b.ReportMetric(float64(b.N)/open.Seconds(), "open-ops/s")
	b.ReportMetric(open.Seconds()/base.Seconds(), "open/baseline")
}

func BenchmarkSeal(b *testing.B) {
	priv := seqSeedKey()
	pk := PublicKeyOf(priv)
	r := &WitnessReport{PubKey: pk[:], Payload: bytes.Repeat([]byte{9}, 51), FrequencyHz: 867_900_000,
		Datarate: "SF9BW125", RssiDdbm: -1050, SnrDdb: 55, Tmst: 1, TimestampMs: 1_700_000_000_000}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Seal(priv, Kind_KIND_WITNESS_REPORT, r); err != nil {
			b.Fatal(err)
		}
	}
}

var envelopeVectors = []golden{
	// Field layout only: Open would reject these lengths.
	{"short fields", &Envelope{Kind: Kind_KIND_ASSERT_LOCATION, Signer: []byte{1}, Body: []byte{2, 3}, Signature: []byte{4}},
		"0808" + "120101" + "1a020203" + "220104"},
	{"golden entropy", &Envelope{Kind: Kind_KIND_ENTROPY, Signer: vecHotspot, Body: hexBytes(goldenEntropyBody), Signature: hexBytes(goldenEntropySig)},
		goldenEntropyEnvelope},
}

func TestEnvelopeGolden(t *testing.T) { testGolden(t, envelopeVectors) }
