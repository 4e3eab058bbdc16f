// Package sim is a simulated LoRa radio medium with virtual concentrators
// and end devices: the test bed for the hotspot, the verifier's fraud
// scenarios and the devnet.
//
// A [Medium] holds [Radio]s placed at a latitude, longitude and elevation,
// each with an antenna gain. A transmission reaches every radio listening on
// its frequency and polarity whose signal clears the receiver's sensitivity
// for the spreading factor. Path loss is log-distance (exponent and
// reference distance configurable), never below free space, plus log-normal
// shadowing that is stable per link pair and seed and a smaller per-packet
// fading term, so a run is reproducible. Frames arrive after their airtime
// with RSSI (channel power), RSSIS (signal power), SNR against the thermal
// noise floor, frequency, data rate and the receiver's uint32 µs counter.
// Frames that overlap in time on the same channel and spreading factor
// collide: the weaker is lost, and the stronger survives only with a capture
// margin. A radio never hears its own transmissions and cannot receive while
// it transmits.
//
// A [Concentrator] drives one radio and speaks the Semtech UDP packet
// forwarder protocol (GWMP, spec/semtech-udp.md) to a server such as the
// hotspot's bridge, exactly as lora_pkt_fwd does: PUSH_DATA for receptions
// and status, PULL_DATA keepalives, PULL_RESP downlinks transmitted into the
// medium at the requested counter value (or, for immediate frames, in the
// JIT queue's first free slot), and TX_ACK with the forwarder's real error
// values: TOO_LATE, TOO_EARLY, COLLISION_PACKET, TX_FREQ, GPS_UNLOCKED and
// the TX_POWER warning with the power its table actually used. Fault knobs
// let tests force TX_ACK errors, suppress TX_ACKs, send garbage datagrams
// and drop PUSH_ACKs. Medium and concentrator counters can be registered as
// Prometheus metrics. A [Device] is a radio that transmits raw frames
// into the medium and hears downlinks; a [Sensor] builds on it as a
// LoRaWAN 1.0.x end device (brocaar/lorawan frames: OTAA join or ABP,
// encrypted FRMPayload, MICs, frame counters, RX1/RX2 windows, Class C).
// An [LNS] is a test network server behind the server side of Semtech UDP,
// as a gateway bridge speaks it: it joins devices with their real keys,
// refuses bad MICs and replayed counters, answers in the RX1 and RX2
// windows, sends Class C downlinks at any time and records every TX_ACK.
// A [Relay] re-transmits what
// one radio hears from another place (the relayed-beacon fraud); two
// concentrators on one radio model one antenna behind a splitter.
//
// A [World] is a more realistic, deterministic propagation model for
// statistical tests: log-distance loss with spatially correlated
// (Gudmundson) shadowing from [ShadowField]s, [Ridge]s that obstruct the
// links crossing them (knife-edge diffraction), and line-of-sight links
// between hilltop sites. Real shadowing is correlated: neighbouring roofs
// see nearly the same shadowing towards a third site, so a detector must
// not rely on independent shadowing per pair.
//
// Time comes from a [Clock]: the real clock for loopback tests and the
// devnet (it also works inside testing/synctest bubbles), or a
// [ManualClock] that tests advance by hand. [PacketNetwork] is an in-memory
// net.PacketConn network for tests that run under testing/synctest, where
// real sockets do not block durably.
//
// sim imports only radio, radio/semtech, brocaar/lorawan, Prometheus and
// the standard library; it must never import hotspot or oracle.
package sim
