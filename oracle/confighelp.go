package oracle

// configHelp is the one-line description of every config key, shown by
// "oracled run -h" (a word in backquotes names the flag's value). A test
// fails when a key of Config has none. Keys whose default is derived from
// another key say so here and list no default value (derivedDefault).
var configHelp = map[string]string{
	"data_dir":                   "`directory` of the Badger store and, by default, the keys",
	"key_file":                   "the oracle's ed25519 identity, a Solana keypair JSON `file` created on first start (default <data_dir>/oracle-key.json)",
	"quic_listen":                "UDP `address` for hotspot ingest (QUIC)",
	"http_listen":                "TCP `address` of the HTTP API",
	"metrics_listen":             "TCP `address` of /metrics (Prometheus), loopback by default; off disables it",
	"log_level":                  "log `level`: debug, info, warn or error",
	"retention":                  "how long reports and PoC outcomes are kept; must cover 7 epochs plus grace (`duration`)",
	"sweep_interval":             "how often value-log garbage collection runs (`duration`)",
	"commit_queue":               "reports waiting for group commit before streams are slowed (`count`)",
	"commit_max_batch":           "most reports written in one synced transaction (`count`)",
	"stream_window":              "unacknowledged reports allowed on one QUIC stream (`count`)",
	"max_report_bytes":           "largest accepted report envelope, in `bytes`",
	"max_streams":                "most concurrent QUIC streams per connection (`count`)",
	"rate_limit":                 "average reports per second one hotspot key may submit, over all its connections (`count`)",
	"max_conns_per_key":          "most concurrent QUIC connections of one hotspot key; newer ones are refused (`count`)",
	"max_handshakes":             "most QUIC handshakes in progress on the ingest port; from half of it clients must prove their address (`count`)",
	"max_handshakes_per_source":  "most QUIC handshakes in progress from one IPv4 address or IPv6 /64 (`count`)",
	"max_conns_per_source":       "most QUIC connections, handshaking or open, from one IPv4 address or IPv6 /64 (`count`)",
	"entropy_period":             "how often a new entropy value is issued (`duration`)",
	"entropy_lifetime":           "how long an entropy value is valid (`duration`)",
	"beacon_interval":            "beacon bucket sent to hotspots; must divide epoch_length (`duration`)",
	"verify_interval":            "how often verification looks for beacons whose witness window closed (`duration`)",
	"witness_window_slack":       "added to the entropy lifetime before a beacon is verified (`duration`)",
	"epoch_length":               "reward epoch length (`duration`)",
	"epoch_grace":                "how long after an epoch's end its inputs stay open (`duration`)",
	"first_epoch":                "first `epoch` closed on a fresh store; 0 means the epoch current at first start",
	"emission":                   "reward token emission per epoch, in base `units`",
	"tokens_per_dc":              "data-credit peg, token base `units` per DC",
	"charge_without_poc":         "pay hotspots without valid PoC for the packets they deliver (private networks only: it lets sybils take copies)",
	"solana_rpc":                 "Solana JSON-RPC `URL` for blockhashes and payouts; empty means no chain (epochs end with their manifest)",
	"solana_payer_key":           "keypair `file` paying transaction fees, created if missing (default <data_dir>/solana-payer.json)",
	"solana_distributor_key":     "keypair `file` of the hot key signing reward transfers (default <data_dir>/solana-distributor.json)",
	"solana_seed":                "`prefix` of the mint and multisig seeds",
	"solana_decimals":            "decimals of the reward mint (`0..18`)",
	"solana_payer_address":       "the leader's fee payer `address` (base58); required on non-leaders with peers and solana_rpc",
	"solana_distributor_address": "the leader's distributor `address` (base58); required on non-leaders with peers and solana_rpc",
	"peers":                      "the other oracles of an M-of-N deployment, comma-separated `ADDRESS@host:port` of their cosign_listen",
	"cosign_listen":              "UDP `address` answering peers' co-signing requests (with peers and solana_rpc)",
	"threshold":                  "co-signatures (`M`) phase 1 needs, more than half of peers+1 (default (peers+1)/2+1)",
	"leader":                     "with peers: this oracle coordinates phase 1 and pays (exactly one oracle is the leader)",
	"admin_token":                "bearer `token` authorising route changes over HTTP; empty allows them from loopback only",
}

// derivedDefault lists the keys whose default depends on another key: their
// help text states the rule instead of one value.
var derivedDefault = map[string]bool{
	"key_file": true, "solana_payer_key": true, "solana_distributor_key": true, "threshold": true,
}
