package hotspot

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"time"

	"github.com/hexfield/hexfield/radio"
	"github.com/hexfield/hexfield/radio/semtech"
	"github.com/hexfield/hexfield/wire"
)

// transmitter is what the beaconer needs from the bridge: send through a
// live forwarder and wait for its TX_ACK.
type transmitter interface {
	transmit(ctx context.Context, txpk semtech.TXPK) (semtech.EUI, semtech.TxResult, error)
}

const (
	maxBeaconAttempts = 5
	maxRetryDelay     = time.Minute
)

// errRetry marks a beacon attempt that may succeed if tried again.
var errRetry = errors.New("retry")

// BeaconStatus describes the last beacon attempt, for the status API.
type BeaconStatus struct {
	Time      time.Time `json:"time"`
	Result    string    `json:"result"` // sent, tx_error, no_entropy, no_region, no_forwarder, error
	Error     string    `json:"error,omitempty"`
	FreqHz    uint64    `json:"freq_hz,omitempty"`
	DataRate  string    `json:"datarate,omitempty"`
	PowerDBm  int       `json:"power_dbm,omitempty"`
	Payload   string    `json:"payload,omitempty"` // hex of the first 8 bytes
	Attempt   int       `json:"attempt,omitempty"`
	WindowEnd time.Time `json:"window_end"`
}

// windowStart returns the start of the beacon bucket holding t: buckets are
// aligned to the Unix epoch, so 6 h buckets are 00–06, …, 18–24 UTC.
func windowStart(t time.Time, interval time.Duration) time.Time {
	ns := t.UnixNano()
	return time.Unix(0, ns-ns%int64(interval))
}

// runBeaconer beacons once per window at a random instant inside it.
func (h *Hotspot) runBeaconer(ctx context.Context) error {
	var done time.Time // start of the last window beaconed in
	for {
		interval := h.BeaconInterval()
		now := h.now()
		start := windowStart(now, interval)
		end := start.Add(interval)
		if done.Equal(start) {
			if live, _ := h.sleep(ctx, end.Sub(now)); !live {
				return nil
			}
			continue
		}
		if region, _, dataOnly := h.beaconParams(); region == nil || dataOnly {
			// Nothing to beacon until the oracle's config says where the
			// hotspot is (and that it takes part in proof of coverage):
			// wait for a config change or the next window.
			if live, _ := h.sleep(ctx, end.Sub(now)); !live {
				return nil
			}
			continue
		}
		// Leave a tenth of the window (at most a minute) to retry in, plus
		// the airtime a retried beacon needs before the window ends.
		guard := min(interval/10, maxRetryDelay) + airtimeSlack(interval)
		lo, hi := now, end.Add(-guard)
		var at time.Time
		if hi.After(lo) {
			at = lo.Add(time.Duration(mrand.Int64N(int64(hi.Sub(lo)))))
		} else {
			at = lo
		}
		live, woken := h.sleep(ctx, at.Sub(now))
		if !live {
			return nil
		}
		if woken {
			continue // the config changed (region, cadence): plan again
		}
		// Beaconed, or gave up for this window: either way the next try
		// is in the next window.
		h.beaconWindow(ctx, end)
		done = start
		if ctx.Err() != nil {
			return nil
		}
	}
}

// sleep waits d or until ctx ends; it reports whether ctx is still live
// and whether a config change cut the wait short.
func (h *Hotspot) sleep(ctx context.Context, d time.Duration) (live, woken bool) {
	if d <= 0 {
		return ctx.Err() == nil, false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false, false
	case <-t.C:
		return true, false
	case <-h.wake:
		return ctx.Err() == nil, true
	}
}

// beaconWindow tries to beacon, retrying while the window has time left.
// It reports whether a beacon went out.
func (h *Hotspot) beaconWindow(ctx context.Context, end time.Time) bool {
	for attempt := 1; attempt <= maxBeaconAttempts; attempt++ {
		err := h.beaconOnce(ctx, attempt, end)
		if err == nil {
			return true
		}
		if !errors.Is(err, errRetry) || ctx.Err() != nil {
			return false
		}
		// Retry after a random short delay if the window still has room
		// for the attempt and the beacon's airtime.
		delay := h.retryDelay(end)
		if h.now().Add(delay + airtimeSlack(h.BeaconInterval())).After(end) {
			h.log.Warn("beacon: no time left in window", "attempts", attempt)
			return false
		}
		if live, _ := h.sleep(ctx, delay); !live {
			return false
		}
	}
	return false
}

// airtimeSlack is the room a beacon needs at the end of its window for its
// airtime (2.5 s at SF12), shortened for the devnet's short windows.
func airtimeSlack(interval time.Duration) time.Duration {
	return min(3*time.Second, interval/10)
}

func (h *Hotspot) retryDelay(end time.Time) time.Duration {
	left := end.Sub(h.now())
	d := min(left/20, maxRetryDelay)
	if d < 100*time.Millisecond {
		d = 100 * time.Millisecond
	}
	return d/2 + time.Duration(mrand.Int64N(int64(d/2)+1))
}

func (h *Hotspot) setBeaconStatus(st BeaconStatus) {
	h.mu.Lock()
	h.lastBeacon = st
	h.mu.Unlock()
}

// beaconOnce makes one attempt: entropy, construction, transmission and,
// on success, the signed beacon report.
func (h *Hotspot) beaconOnce(ctx context.Context, attempt int, end time.Time) error {
	st := BeaconStatus{Time: h.now().UTC(), Attempt: attempt, WindowEnd: end.UTC()}
	fail := func(result string, err error, retry bool) error {
		st.Result, st.Error = result, err.Error()
		h.setBeaconStatus(st)
		h.m.beacons.WithLabelValues(result).Inc()
		h.log.Warn("beacon attempt failed", "result", result, "attempt", attempt, "err", err)
		if retry {
			return fmt.Errorf("beacon: %w: %w", errRetry, err)
		}
		return fmt.Errorf("beacon: %w", err)
	}
	region, gain, dataOnly := h.beaconParams()
	if dataOnly {
		return fail("data_only", errors.New("data-only hotspots do not beacon"), false)
	}
	if region == nil {
		return fail("no_region", errors.New("region unknown"), true)
	}
	rawEntropy, ent, err := h.entropy(ctx)
	if err != nil {
		return fail("no_entropy", err, true)
	}
	var nonce [16]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return fail("error", err, false)
	}
	var data [32]byte
	copy(data[:], ent.Data)
	b, err := radio.NewBeacon(region, data, ent.Ts, h.pub, nonce, gain)
	if err != nil {
		return fail("error", err, false)
	}
	st.FreqHz, st.DataRate, st.Payload = uint64(b.Frequency), b.DataRate.String(), fmt.Sprintf("%x", b.Payload[:8])
	txpk := semtech.TXPK{
		Imme: true,
		Freq: b.Frequency,
		RFCh: 0,
		Powe: b.PowerDBm,
		Modu: "LORA",
		DatR: semtech.DatRFor(b.DataRate),
		CodR: "4/5",
		IPol: false,
		Data: b.Frame(),
	}
	// The report is signed and on disk before the beacon goes on air;
	// see cancelBeaconReport.
	rep := &wire.BeaconReport{
		PubKey:      h.pub.Bytes(),
		Entropy:     rawEntropy,
		Nonce:       nonce[:],
		Payload:     b.Payload[:],
		FrequencyHz: uint64(b.Frequency),
		Datarate:    b.DataRate.String(),
		TxPowerDbm:  int32(b.PowerDBm),
		TimestampMs: uint64(h.now().UnixMilli()),
	}
	raw, err := wire.Seal(h.key, wire.Kind_KIND_BEACON_REPORT, rep)
	if err != nil {
		return fail("error", err, false)
	}
	held, err := h.outbox.AppendHeld(raw)
	if err != nil {
		// No beacon goes on air without its report on disk.
		return fail("error", fmt.Errorf("beacon report: %w", err), true)
	}
	h.beacons.addOwn(b.Payload)
	eui, res, err := h.tx.transmit(ctx, txpk)
	if err != nil || !res.Accepted() {
		h.cancelBeaconReport(held)
	}
	if err != nil {
		label := "no_forwarder"
		if errors.Is(err, semtech.ErrTxAckTimeout) {
			label = "TIMEOUT"
		}
		err = fail("no_forwarder", err, true)
		h.m.beaconTxErrs.WithLabelValues(label).Inc()
		return err
	}
	if !res.Accepted() {
		err := fail("tx_error", fmt.Errorf("TX_ACK %s from %s", res.Status.Error, eui), true)
		h.m.beaconTxErrs.WithLabelValues(string(res.Status.Error)).Inc()
		return err
	}
	power := res.PowerDBm
	if power != b.PowerDBm {
		h.log.Warn("forwarder used another beacon power: this beacon will be invalid_tx_power",
			"prescribed_dbm", b.PowerDBm, "used_dbm", power)
		// The held report says the prescribed power: replace it by one
		// that says the power used.
		h.cancelBeaconReport(held)
		rep.TxPowerDbm = int32(power)
		if raw, err = wire.Seal(h.key, wire.Kind_KIND_BEACON_REPORT, rep); err != nil {
			return fail("error", err, false)
		}
		if held, err = h.outbox.AppendHeld(raw); err != nil {
			return fail("error", fmt.Errorf("beacon report: %w", err), false)
		}
	}
	h.outbox.Release(held)
	h.m.reports.WithLabelValues("beacon").Inc()
	st.PowerDBm = power
	st.Result = "sent"
	h.setBeaconStatus(st)
	h.m.beacons.WithLabelValues("sent").Inc()
	h.log.Info("beacon sent", "freq_hz", uint64(b.Frequency), "datarate", b.DataRate.String(),
		"power_dbm", power, "eui", eui.String())
	return nil
}

// cancelBeaconReport drops a held beacon report durably: the beacon was
// not on air (or not at the power it states).
//
// Why the report is written before the beacon is transmitted: reports are
// fsynced in batches (OutboxSyncInterval), so a report written after the
// TX_ACK could be lost to a power cut while its beacon, already on air,
// has witnesses; every one of them would then be stale. So beaconOnce
// signs the report with the prescribed power, writes and fsyncs it held
// (Outbox.AppendHeld: on disk, invisible to the oracle clients), and only
// then transmits. The TX_ACK decides what the report becomes:
//
//   - accepted at the prescribed power: released as it is;
//   - accepted with a TX_POWER warning (another power used): the held
//     report would not be true; it is cancelled durably and a report
//     stating the power used is written, fsynced and released (in that
//     order: a power cut between the two fsyncs loses this report rather
//     than leaving two that contradict each other);
//   - refused, no TX_ACK, or not sent: cancelled durably, so the oracles
//     never see a report for a beacon that was not on air and a retry in
//     the same window is not taken for a second beacon.
//
// No oracle ever sees a held report, so it only ever receives the true
// one. If the hotspot dies while a report is held (between the fsync and
// the TX_ACK), the report is sent after the restart: the beacon may have
// gone out, and a report for a beacon that did not costs only that
// beacon, while a lost report of one that did costs all its witnesses.
func (h *Hotspot) cancelBeaconReport(held *HeldReport) {
	if err := h.outbox.Cancel(held); err != nil {
		h.logs.writeErr.Log(h.log, slog.LevelError, "cancel beacon report", "err", err)
	}
}

// fetchEntropy gets fresh entropy from the first oracle that answers.
func (h *Hotspot) fetchEntropy(ctx context.Context) ([]byte, *wire.Entropy, error) {
	if len(h.oracles) == 0 {
		return nil, nil, errors.New("no oracles configured")
	}
	var errs []error
	off := mrand.IntN(len(h.oracles))
	for i := range h.oracles {
		c := h.oracles[(off+i)%len(h.oracles)]
		raw, e, err := c.fetchEntropy(ctx)
		if err != nil {
			h.m.entropy.WithLabelValues("error").Inc()
			errs = append(errs, err)
			continue
		}
		h.m.entropy.WithLabelValues("ok").Inc()
		return raw, e, nil
	}
	return nil, nil, errors.Join(errs...)
}
