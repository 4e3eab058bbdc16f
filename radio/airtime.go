package radio

import "time"

// MaxAirtimePayload is the largest payload Airtime accepts. LoRa frames
// carry at most 255 bytes; the bound only keeps the integer arithmetic far
// from overflow.
const MaxAirtimePayload = 1 << 16

// Airtime returns the time on air of a LoRa frame of payloadBytes bytes
// (the PHYPayload, e.g. 52 for a beacon) at data rate dr, with the
// LoRaWAN framing: coding rate 4/5, 8-symbol preamble, explicit header, CRC
// on. It uses the formula of Semtech's SX1272/76 datasheets and AN1200.13:
//
//	T_sym      = 2^SF / BW
//	T_preamble = (8 + 4.25) · T_sym
//	n_payload  = 8 + max(⌈(8·PL − 4·SF + 28 + 16) / (4·(SF − 2·DE))⌉ · 5, 0)
//
// with low-data-rate optimisation DE = 1 when a symbol lasts more than
// 16 ms (SF11 and SF12 at BW125, SF12 at BW250), as LoRaWAN devices use.
// The result is exact to the nanosecond: the 52-byte beacon takes
// 328.704 ms at SF9BW125 and 2 465.792 ms at SF12BW125 (poc-rules §3: 329
// and 2 466 ms). A data rate outside SF6–SF12, a bandwidth of 0 or above
// 1 GHz, or a payload size outside [0, MaxAirtimePayload] gives 0.
func Airtime(dr DataRate, payloadBytes int) time.Duration {
	const (
		preamble = 8
		cr       = 1 // 4/5
		crc      = 1
		header   = 0 // explicit header
	)
	if dr.SF < 6 || dr.SF > 12 || dr.Bandwidth == 0 || dr.Bandwidth > 1_000_000_000 || payloadBytes < 0 || payloadBytes > MaxAirtimePayload {
		return 0
	}
	sf := dr.SF
	de := 0
	// T_sym > 16 ms ⇔ 2^SF · 1000 > 16 · BW (integer, no rounding).
	if uint64(1)<<sf*1000 > 16*uint64(dr.Bandwidth) {
		de = 1
	}
	num := 8*payloadBytes - 4*sf + 28 + 16*crc - 20*header
	den := 4 * (sf - 2*de)
	n := 0
	if num > 0 {
		n = (num + den - 1) / den * (cr + 4)
	}
	// Quarter symbols: 4·(preamble + 4.25 + 8 + n).
	quarters := uint64(4*(preamble+8+n) + 17)
	// T = quarters/4 · 2^SF / BW seconds, in nanoseconds.
	ns := quarters * (uint64(1) << sf) * 1_000_000_000 / (4 * uint64(dr.Bandwidth))
	return time.Duration(ns)
}
