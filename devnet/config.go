package devnet

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hexfield/hexfield/oracle"
)

// Config describes a devnet. The zero value is a working network: defaults
// are filled in by withDefaults.
type Config struct {
	// Dir holds every node's data (stores, keys, outboxes, the chain
	// journal). Default: a new temporary directory, removed afterwards.
	Dir string
	// Hotspots is the number of honest hotspots. Default 12.
	Hotspots int
	// Spoofers is the number of adversarial hotspots: radios that sit
	// together in one place but assert locations spread over the city (a
	// witness ring). Default 3; negative means none.
	Spoofers int
	// Sensors is the number of simulated end devices sending LoRaWAN
	// uplinks. Default 4; negative means none.
	Sensors int
	// Seed fixes the placement, shadowing and fading. Default 1.
	Seed uint64
	// Lat and Lng are the city centre. Default Amsterdam (EU868).
	Lat, Lng float64
	// Spacing is the distance between neighbouring hotspots. Default 1.5 km.
	Spacing float64
	// BeaconInterval is the beacon bucket. Default 10 s.
	BeaconInterval time.Duration
	// EpochLength is the reward epoch; a multiple of BeaconInterval.
	// Default 30 s: epochs are aligned to the Unix epoch, so the first
	// one with the registered hotspots starts within an epoch of
	// onboarding, and it is paid a grace period (EntropyLifetime + 5 s)
	// after its end: the first payout comes a little over a minute after
	// the start.
	EpochLength time.Duration
	// EntropyPeriod and EntropyLifetime shorten the entropy service.
	// Defaults 2 s and 10 s.
	EntropyPeriod, EntropyLifetime time.Duration
	// Oracles is the number of oracles, each with its own store. Default
	// 3, co-signing 2-of-3; 1 is an oracle paying alone. With more than
	// one (and a chain), every oracle holds the deployment's shared payer
	// and distributor keys and leads in turn: the leader of an epoch
	// settles the input with its peers (they fetch and send each other the
	// reports the other lacks), and once a majority computed the same
	// manifest it has phase 1 co-signed and pays. A leader that has not
	// had phase 1 land by the end of its slot (a third of the epoch) hands
	// over to the next; an epoch not agreed within a pass of slots is
	// disputed and tried again after later epochs.
	Oracles int
	// HTTPListen is the first oracle's HTTP API (the others take free
	// loopback ports). Default "127.0.0.1:8080".
	HTTPListen string
	// Out, when set, is a directory where summary.json (the Summary) is
	// written at every summary and at the end.
	Out string
	// Epochs, when positive, stops the devnet after that many epochs with
	// rewards were paid (without a chain: had manifests with earnings),
	// with the final summary.
	Epochs int
	// NoChain runs without the local Solana chain: manifests only.
	NoChain bool
	// SummaryEvery is how often what changed is printed. Default 10 s.
	SummaryEvery time.Duration
	// Verbose sends every node's logs to the output.
	Verbose bool
	// Logs, when set, receives every node's logs instead (text, level
	// info), whether or not Verbose is set.
	Logs io.Writer
}

func (c Config) withDefaults() Config {
	set := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	setD := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	set(&c.Hotspots, 12)
	set(&c.Spoofers, 3)
	set(&c.Sensors, 4)
	set(&c.Oracles, 3)
	c.Spoofers, c.Sensors = max(c.Spoofers, 0), max(c.Sensors, 0)
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Lat == 0 && c.Lng == 0 {
		c.Lat, c.Lng = 52.3676, 4.9041
	}
	if c.Spacing == 0 {
		c.Spacing = 1500
	}
	setD(&c.BeaconInterval, 10*time.Second)
	setD(&c.EpochLength, 30*time.Second)
	setD(&c.EntropyPeriod, 2*time.Second)
	setD(&c.EntropyLifetime, 10*time.Second)
	setD(&c.SummaryEvery, 10*time.Second)
	if c.HTTPListen == "" {
		c.HTTPListen = "127.0.0.1:8080"
	}
	return c
}

// Validate reports a configuration that cannot run.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.Hotspots < 2:
		return errors.New("devnet: at least 2 hotspots are needed to witness each other")
	case c.Oracles < 1 || c.Oracles > oracle.MaxOracles:
		return fmt.Errorf("devnet: %d oracles: 1 to %d", c.Oracles, oracle.MaxOracles)
	case c.Hotspots+c.Spoofers > 500:
		return errors.New("devnet: at most 500 hotspots")
	case c.EpochLength%c.BeaconInterval != 0:
		return fmt.Errorf("devnet: beacon interval %v must divide the epoch length %v", c.BeaconInterval, c.EpochLength)
	case c.EntropyLifetime < c.EntropyPeriod:
		return fmt.Errorf("devnet: entropy lifetime %v is shorter than its period %v", c.EntropyLifetime, c.EntropyPeriod)
	case c.Epochs < 0:
		return fmt.Errorf("devnet: %d epochs", c.Epochs)
	case c.Spacing < 400:
		return errors.New("devnet: spacing below 400 m puts witnesses under the minimum distance")
	}
	return nil
}
