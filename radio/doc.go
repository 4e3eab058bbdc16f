// Package radio models the LoRa radio layer of hexfield: typed units
// (DBm, DBi, DB, Hz, Meters), LoRa data rates, regional channel plans, the
// region map that derives a region from an asserted location, time on air,
// the link budget (free-space and log-distance path loss, noise floor,
// demodulation SNR limits, sensitivity, the free-space RSSI bound of
// poc-rules §5) and the construction of proof-of-coverage beacons
// (poc-rules §3).
//
// Regions wrap github.com/brocaar/lorawan/band: each region lives in its
// own file (region_*.go) as plain data — beacon channels in the order of the
// poc-rules §3 table, maximum EIRP in tenths of a dBm, and the spreading
// list (maximum packet size → spreading factor) — and the tests check that
// data against the LoRaWAN regional parameters encoded in band.
//
// Everything here is pure and deterministic: the hotspot uses it to build
// beacons and the verifier uses it to regenerate and check them, so two
// oracles must compute identical results. Floating-point products are
// wrapped in explicit float64(...) conversions so the compiler never fuses
// them into FMA instructions, whose rounding differs between CPUs.
//
// The physics functions are total and never panic. An input outside a
// function's domain (NaN, infinite, a negative or zero distance, a zero
// bandwidth, an unknown spreading factor) gives NaN, which compares false
// with everything: write checks so that NaN fails them, e.g.
// `!(signal <= MaxRSSI(...))` for the free-space bound. CheckPath reports
// the reason as an error when a caller wants one.
//
// radio imports only brocaar/lorawan and the standard library (its rules
// also allow wire, but wire pulls in quic-go and with it net, which radio
// must not depend on); it must not import net or any storage package.
package radio
