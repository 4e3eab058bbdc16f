// Package maps serves hexfield's coverage map: it folds verified coverage
// (valid PoC witness receipts, and uplinks from Helium-Mappers-style
// integrations) into H3 cells with signal statistics, and serves them as a
// JSON API, Mapbox Vector Tiles and an embedded web page (vendored MapLibre
// GL JS and an offline Natural Earth base map), all from the oracle binary.
// See ../shared/spec/maps.md.
//
// The base cells are resolution 9, placed at the transmitter's position
// (the beaconer's asserted cell, or the mapper's reported position). Each
// keeps, per hearing hotspot, hourly buckets of best and median RSSI, best
// SNR, count and last seen; coarser resolutions 8 → 3 are rollups, kept per
// time window (24 h, 7 d, 30 d, all) and updated as observations are folded
// in, and repaired cell by cell as hours leave a window. Nothing is rebuilt
// per request or per epoch; the state is written through Store and read
// back on start.
//
// maps never imports Badger or the oracle: it declares the small Store and
// Registry interfaces it needs, and the oracle implements them. It imports
// h3-go, which needs cgo, so it must never reach hotspotd.
package maps
