package semtech

import (
	"fmt"
	"math"

	"github.com/hexfield/hexfield/radio"
)

// TXPK is a transmission request in a PULL_RESP (spec §4). Decoding applies
// the reference forwarder's rules: a txpk missing a field it needs is an
// error, and a forwarder answers such a request with no TX_ACK at all.
type TXPK struct {
	// Imme sends immediately, ignoring Tmst and Tmms.
	Imme bool
	// Tmst is the concentrator counter value to send at (when not Imme and
	// Tmms is nil).
	Tmst uint32
	// Tmms is the GPS time to send at, ms since 1980-01-06.
	Tmms *uint64
	// Freq is the TX frequency in hertz.
	Freq radio.Hz
	// RFCh is the RF chain, 0 on nearly all boards.
	RFCh int
	// Powe is the requested power in dBm; the forwarder subtracts its
	// configured antenna_gain.
	Powe int
	// Modu is "LORA" or "FSK".
	Modu string
	DatR DatR
	// CodR is the LoRa coding rate ("4/5"); required for LoRa.
	CodR string
	// FDev is the FSK frequency deviation in Hz; required for FSK.
	FDev int
	// IPol inverts I/Q: true for downlinks to devices, false for frames
	// other gateways must hear (beacons).
	IPol bool
	// Prea is the preamble length in symbols; 0 omits it (forwarder default).
	Prea int
	// Data is the PHY payload; "size" is written as its length.
	Data []byte
	// NCRC disables the PHY CRC, NHdr the PHY header.
	NCRC bool
	NHdr bool
}

type txpkWire struct {
	Imme jbool
	Tmst num
	Tmms num
	Freq num
	RFCh num
	Powe num
	Modu jstr
	DatR datrField
	CodR jstr
	FDev num
	IPol jbool
	Prea num
	Size num
	Data b64
	NCRC jbool
	NHdr jbool
}

func missing(field string) error { return fmt.Errorf("%s missing: %w", field, ErrInvalidJSON) }

// UnmarshalJSON decodes a txpk object; unknown fields are ignored.
func (t *TXPK) UnmarshalJSON(b []byte) error {
	var w txpkWire
	if err := w.decode(b); err != nil {
		return fmt.Errorf("txpk: %w", err)
	}
	if err := t.fromWire(&w); err != nil {
		return fmt.Errorf("txpk: %w", err)
	}
	return nil
}

func (w *txpkWire) decode(b []byte) error {
	return eachField(b, func(k, v []byte) error {
		switch string(k) {
		case "imme":
			w.Imme.UnmarshalJSON(v)
		case "tmst":
			w.Tmst.UnmarshalJSON(v)
		case "tmms":
			w.Tmms.UnmarshalJSON(v)
		case "freq":
			w.Freq.UnmarshalJSON(v)
		case "rfch":
			w.RFCh.UnmarshalJSON(v)
		case "powe":
			w.Powe.UnmarshalJSON(v)
		case "modu":
			w.Modu.UnmarshalJSON(v)
		case "datr":
			w.DatR.UnmarshalJSON(v)
		case "codr":
			w.CodR.UnmarshalJSON(v)
		case "fdev":
			w.FDev.UnmarshalJSON(v)
		case "ipol":
			w.IPol.UnmarshalJSON(v)
		case "prea":
			w.Prea.UnmarshalJSON(v)
		case "size":
			w.Size.UnmarshalJSON(v)
		case "data":
			w.Data.UnmarshalJSON(v)
		case "ncrc":
			w.NCRC.UnmarshalJSON(v)
		case "nhdr":
			w.NHdr.UnmarshalJSON(v)
		}
		return nil
	})
}

func (t *TXPK) fromWire(w *txpkWire) (err error) {
	var out TXPK
	for _, f := range []struct {
		j    jbool
		name string
		dst  *bool
	}{{w.Imme, "imme", &out.Imme}, {w.IPol, "ipol", &out.IPol}, {w.NCRC, "ncrc", &out.NCRC}, {w.NHdr, "nhdr", &out.NHdr}} {
		if *f.dst, err = f.j.get(f.name); err != nil {
			return err
		}
	}
	if out.Modu, err = w.Modu.get("modu"); err != nil {
		return err
	}
	if out.CodR, err = w.CodR.get("codr"); err != nil {
		return err
	}
	switch {
	case !out.Imme && !w.Tmst.set && !w.Tmms.set:
		return missing("tmst/tmms (without imme)")
	case !w.Freq.set:
		return missing("freq")
	case !w.RFCh.set:
		return missing("rfch")
	case out.Modu == "":
		return missing("modu")
	case !w.DatR.set:
		return missing("datr")
	case out.Modu == "LORA" && out.CodR == "":
		return missing("codr")
	case out.Modu == "FSK" && !w.FDev.set:
		return missing("fdev")
	case !w.Size.set:
		return missing("size")
	case !w.Data.set:
		return missing("data")
	}
	if out.DatR, err = w.DatR.get(); err != nil {
		return err
	}
	if out.Freq, err = w.Freq.hz("freq"); err != nil {
		return err
	}
	if !out.Imme {
		if w.Tmms.set {
			if out.Tmms, err = optInt[uint64](w.Tmms, "tmms", 0, maxSafeInt); err != nil {
				return err
			}
		} else {
			v, err := w.Tmst.int("tmst", 0, math.MaxUint32)
			if err != nil {
				return err
			}
			out.Tmst = uint32(v)
		}
	}
	if err := setInt(w.RFCh, "rfch", 0, math.MaxUint8, &out.RFCh); err != nil {
		return err
	}
	if err := setInt(w.Powe, "powe", math.MinInt8, math.MaxInt8, &out.Powe); err != nil {
		return err
	}
	if err := setInt(w.FDev, "fdev", 0, math.MaxInt32, &out.FDev); err != nil {
		return err
	}
	if err := setInt(w.Prea, "prea", 0, math.MaxUint16, &out.Prea); err != nil {
		return err
	}
	if _, err := w.Size.int("size", 0, math.MaxUint16); err != nil {
		return err
	}
	if w.Data.err != nil {
		return w.Data.err
	}
	out.Data = w.Data.b
	*t = out
	return nil
}

func (t *TXPK) validate() error {
	switch {
	case t.Freq == 0 || t.Freq > maxFreqMHz*1_000_000:
		return fmt.Errorf("txpk: freq %d Hz out of range: %w", t.Freq, ErrInvalidJSON)
	case t.Modu == "":
		return missing("modu")
	case t.DatR.IsZero():
		return missing("datr")
	case t.Modu == "LORA" && t.CodR == "":
		return missing("codr")
	case t.RFCh < 0 || t.RFCh > math.MaxUint8:
		return fmt.Errorf("txpk: rfch %d out of range: %w", t.RFCh, ErrInvalidJSON)
	case t.Powe < math.MinInt8 || t.Powe > math.MaxInt8:
		return fmt.Errorf("txpk: powe %d out of range: %w", t.Powe, ErrInvalidJSON)
	case t.FDev < 0 || t.FDev > math.MaxInt32 || t.Prea < 0 || t.Prea > math.MaxUint16:
		return fmt.Errorf("txpk: fdev %d or prea %d out of range: %w", t.FDev, t.Prea, ErrInvalidJSON)
	case len(t.Data) > MaxPayloadSize:
		return fmt.Errorf("txpk: %d payload bytes, limit %d: %w", len(t.Data), MaxPayloadSize, ErrInvalidJSON)
	}
	return nil
}

// MarshalJSON writes the txpk with only the fields of spec §4 (extra fields
// have broken some forwarders), freq in the shortest MHz form.
func (t TXPK) MarshalJSON() ([]byte, error) {
	w := jsonWriter{b: make([]byte, 0, 256)}
	t.appendJSON(&w)
	return w.b, w.err
}

func (t *TXPK) appendJSON(w *jsonWriter) {
	if err := t.validate(); err != nil {
		if w.err == nil {
			w.err = err
		}
		return
	}
	w.open()
	switch {
	case t.Imme:
		w.bool("imme", true)
	case t.Tmms != nil:
		w.uint("tmms", *t.Tmms)
	default:
		w.uint("tmst", uint64(t.Tmst))
	}
	w.mhz("freq", t.Freq, -1)
	w.int("rfch", int64(t.RFCh))
	w.int("powe", int64(t.Powe))
	w.str("modu", t.Modu)
	w.key("datr")
	w.datr(t.DatR)
	if t.CodR != "" {
		w.str("codr", t.CodR)
	}
	if t.Modu == "FSK" {
		w.int("fdev", int64(t.FDev))
	}
	w.bool("ipol", t.IPol)
	if t.Prea != 0 {
		w.int("prea", int64(t.Prea))
	}
	w.int("size", int64(len(t.Data)))
	w.data("data", t.Data)
	if t.NCRC {
		w.bool("ncrc", true)
	}
	if t.NHdr {
		w.bool("nhdr", true)
	}
	w.close()
}
